/* tp-migrate: applies migrations/NNNN_name.sql to the database in order. */
#include <stdio.h>
#include <stdlib.h>

#include "common/config.h"
#include "common/log.h"
#include "common/pg.h"
#include "common/service.h"
#include "migrate.h"

extern char **environ;

struct migrate_config {
    char *pg_dsn;
    char *migrations_dir;
    char *log_level;
};

static const struct config_entry migrate_table[] = {
    SERVICE_PG_DSN_ENTRY(struct migrate_config, pg_dsn),
    {"migrations.dir", CONFIG_STRING, TP_MIGRATIONS_DIR, 0, 0,
     offsetof(struct migrate_config, migrations_dir), "folder of NNNN_name.sql files"},
    SERVICE_LOG_ENTRY(struct migrate_config, log_level),
};
#define MIGRATE_TABLE_N (sizeof(migrate_table) / sizeof(migrate_table[0]))

int main(int argc, char **argv)
{
    struct migrate_config cfg = {0};
    char errstr[1024];
    bool help;
    int rc = 1;
    PGconn *db = NULL;
    if (config_load(migrate_table, MIGRATE_TABLE_N, &cfg, NULL, argc, argv, environ, &help, errstr,
                    sizeof(errstr)) != TP_OK) {
        fprintf(stderr, "tp-migrate: %s\n", errstr);
        goto out;
    }
    if (help) {
        config_print_help(stdout, "tp-migrate", migrate_table, MIGRATE_TABLE_N, NULL);
        rc = 0;
        goto out;
    }
    int level = log_level_parse(cfg.log_level);
    log_init("tp-migrate", level < 0 ? LOG_INFO : (enum log_level)level);
    if (pg_connect(cfg.pg_dsn, "tp-migrate", &db, errstr, sizeof(errstr)) != TP_OK) {
        log_error("%s", errstr);
        goto out;
    }
    int applied;
    if (migrate_run(db, cfg.migrations_dir, &applied, errstr, sizeof(errstr)) != TP_OK) {
        log_error("%s", errstr);
        goto out;
    }
    log_info("database is up to date (%d migrations applied now)", applied);
    rc = 0;
out:
    PQfinish(db);
    config_release(migrate_table, MIGRATE_TABLE_N, &cfg, NULL);
    return rc;
}
