/*
 * fuzz_migrate - tp-migrate's reading of the migrations folder
 * (migrations/migrate.c, migrate_plan_*): which file names are migrations,
 * their versions, their order, and the refusals (misnamed .sql files,
 * shared versions, too many files). The SQL inside a file is not parsed by
 * twinpipe: PostgreSQL runs it as one statement string.
 *
 * Input: file names separated by '\n' (a name holds any byte but '/' and
 * NUL in a real folder; '/' is kept here too).
 *
 * Checked: on success the list is in strictly increasing version order,
 * every entry is a "NNNN_*.sql" name whose first four digits are its
 * version, and exactly the names ending in ".sql" (9 bytes or longer) were
 * taken.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "migrations/migrate.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *names = malloc(size + 1);
    memcpy(names, data, size);
    names[size] = '\0';
    struct migrate_plan p;
    migrate_plan_init(&p);
    char err[512];
    enum tp_err e = TP_OK;
    size_t sql = 0;
    for (char *save = NULL, *nm = strtok_r(names, "\n", &save); nm && e == TP_OK;
         nm = strtok_r(NULL, "\n", &save)) {
        size_t l = strlen(nm);
        if (l >= 9 && !strcmp(nm + l - 4, ".sql"))
            sql++;
        e = migrate_plan_add(&p, nm, err, sizeof(err));
    }
    if (e == TP_OK)
        e = migrate_plan_finish(&p, err, sizeof(err));
    if (e != TP_OK) {
        if (e != TP_CONFIG || !err[0])
            abort();
    } else {
        if (p.n != sql)
            abort();
        for (size_t i = 0; i < p.n; i++) {
            const struct migration *m = &p.list[i];
            size_t l = strlen(m->name);
            if (l < 9 || strcmp(m->name + l - 4, ".sql") || m->name[4] != '_')
                abort();
            for (int k = 0; k < 4; k++)
                if (!isdigit((unsigned char)m->name[k]))
                    abort();
            if (m->version != atoi(m->name) || (i && m->version <= p.list[i - 1].version))
                abort();
        }
    }
    migrate_plan_release(&p);
    free(names);
    return 0;
}
