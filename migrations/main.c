/* tp-migrate: applies migrations/NNNN_name.sql to the database in order. */
#include <stdio.h>
#include <stdlib.h>

#include "common/config.h"
#include "common/log.h"
#include "common/pg.h"
#include "common/service.h"
#include "migrate.h"

struct migrate_config {
    char *pg_dsn;
    char *migrations_dir;
    enum log_level log_level;
    enum log_format log_format;
};

static const struct config_entry migrate_rows[] = {
    SERVICE_PG_DSN_ENTRY(struct migrate_config, pg_dsn),
    CONFIG_ROW_STR("migrations.dir", struct migrate_config, migrations_dir, TP_MIGRATIONS_DIR,
                   "folder of NNNN_name.sql files",
                   .doc_default = "this folder (its path at build time)"),
    SERVICE_LOG_ENTRY(struct migrate_config, log_level),
    SERVICE_LOG_FORMAT_ENTRY(struct migrate_config, log_format),
};

static const struct config_table migrate_table = CONFIG_TABLE("tp-migrate", migrate_rows, NULL);

int main(int argc, char **argv)
{
    struct migrate_config cfg = {0};
    char errstr[1024];
    int rc = 1;
    PGconn *db = NULL;
    /* a tool: signals keep their default action */
    if (service_configure(&migrate_table, &cfg, NULL, argc, argv, &rc))
        goto out;
    rc = 1;
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
    config_release(migrate_rows, migrate_table.n, &cfg, NULL);
    return rc;
}
