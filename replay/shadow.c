#include "shadow.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "common/pg.h"
#include "twin/rows.h"

#define SHADOW_SUFFIX   "_shadow"
#define SHADOW_NAME_MAX 63 /* PostgreSQL's NAMEDATALEN - 1 */

struct shadow {
    PGconn *db;
    char *group;
    char *topic;
    int lock_timeout_ms;
    bool in_swap;
};

/* The live tables and their shadows (fixed names: the tables of migrations/). */
static const char *const shadow_live[] = {"twins", "metric_minutes"};
static const char *const shadow_tables[] = {"twins_shadow", "metric_minutes_shadow"};

/* LIKE copies columns, defaults, checks and column storage but not the table's storage
 * parameters (twins' fillfactor, migration 0009): those are copied from pg_class. */
static const char shadow_create_sql[] =
    "DROP TABLE IF EXISTS twins_shadow, metric_minutes_shadow, metric_minutes_shadow_merged;"
    "CREATE TABLE twins_shadow (LIKE twins INCLUDING ALL EXCLUDING INDEXES);"
    "CREATE TABLE metric_minutes_shadow (LIKE metric_minutes INCLUDING ALL EXCLUDING INDEXES);"
    "DO $$ DECLARE r record; BEGIN"
    " FOR r IN SELECT relname, array_to_string(reloptions, ', ') AS o FROM pg_class"
    " WHERE oid IN ('twins'::regclass, 'metric_minutes'::regclass) AND reloptions IS NOT NULL"
    " LOOP EXECUTE format('ALTER TABLE %I SET (%s)', r.relname || '_shadow', r.o); END LOOP;"
    " END $$;"
    "CREATE TEMP TABLE IF NOT EXISTS twins_shadow_stage"
    " (device_id text, version bigint, last_seen timestamptz, state bytea)"
    " ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS metric_minutes_shadow_stage (LIKE metric_minutes_shadow)"
    " ON COMMIT DELETE ROWS";

/* the columns of twin_rows_twin's and twin_rows_history's binary COPY rows (twin/rows.h) */
static const char shadow_twin_cols[] = "(device_id, version, last_seen, state)";
static const char shadow_history_cols[] = "(device_id, metric, minute, min, max, sum, count)";

/* Several history parts: one row per (device, metric, minute), as the projector's upserts. */
static const char shadow_merge_sql[] =
    "CREATE TABLE metric_minutes_shadow_merged (LIKE metric_minutes_shadow INCLUDING ALL);"
    "INSERT INTO metric_minutes_shadow_merged (device_id, metric, minute, min, max, sum, count)"
    " SELECT device_id, metric, minute, min(min), max(max), sum(sum), sum(count)::bigint"
    " FROM metric_minutes_shadow GROUP BY device_id, metric, minute;"
    "DROP TABLE metric_minutes_shadow;"
    "ALTER TABLE metric_minutes_shadow_merged RENAME TO metric_minutes_shadow";

/* As the projector's upsert: a twin never moves back to a lower version (= events), and a
 * written row carries its transaction (written_xid: tp-query's search index follows it). */
static const char shadow_upsert_twins_sql[] =
    "INSERT INTO twins_shadow AS t (device_id, version, last_seen, state)"
    " SELECT device_id, version, last_seen, state FROM twins_shadow_stage"
    " ON CONFLICT (device_id) DO UPDATE SET version = EXCLUDED.version,"
    " last_seen = EXCLUDED.last_seen, state = EXCLUDED.state, updated_at = now(),"
    " written_xid = pg_current_xact_id() WHERE t.version <= EXCLUDED.version";

static const char shadow_upsert_history_sql[] =
    "INSERT INTO metric_minutes_shadow AS m (device_id, metric, minute, min, max, sum, count)"
    " SELECT device_id, metric, minute, min, max, sum, count FROM metric_minutes_shadow_stage"
    " ON CONFLICT (device_id, metric, minute) DO UPDATE SET min = least(m.min, EXCLUDED.min),"
    " max = greatest(m.max, EXCLUDED.max), sum = m.sum + EXCLUDED.sum,"
    " count = m.count + EXCLUDED.count";

/* Every index of table $1: name, unique, constraint type ('p', 'u' or ''), definition. */
static const char shadow_indexes_sql[] =
    "SELECT i.relname, x.indisunique, coalesce(c.contype::text, ''), pg_get_indexdef(i.oid)"
    " FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
    " LEFT JOIN pg_constraint c ON c.conindid = x.indexrelid AND c.conrelid = x.indrelid"
    " WHERE x.indrelid = $1::regclass ORDER BY i.relname";

/* The group's offset rows: the missing ones inserted (then locked by this transaction), all
 * locked FOR UPDATE: the live projector's compare-and-set waits for the swap. */
static const char shadow_lock_offsets_sql[] =
    "WITH x AS (SELECT * FROM unnest($3::int[], $4::bigint[]) AS x(p, o))"
    " INSERT INTO projector_offsets (consumer_group, topic, partition, next_offset)"
    " SELECT $1, $2, p, o FROM x ON CONFLICT DO NOTHING";
static const char shadow_lock_rows_sql[] =
    "SELECT partition FROM projector_offsets WHERE consumer_group = $1 AND topic = $2"
    " ORDER BY partition FOR UPDATE";

static const char shadow_set_offsets_sql[] =
    "INSERT INTO projector_offsets (consumer_group, topic, partition, next_offset)"
    " SELECT $1, $2, p, o FROM unnest($3::int[], $4::bigint[]) AS x(p, o)"
    " ON CONFLICT (consumer_group, topic, partition) DO UPDATE"
    " SET next_offset = EXCLUDED.next_offset, updated_at = now()";

/* PostgreSQL's notices ("table ... does not exist, skipping") at debug level. */
static void shadow_notice(void *arg, const char *message)
{
    (void)arg;
    log_debug("postgresql: %.*s", (int)strcspn(message, "\n"), message);
}

enum tp_err shadow_new(const char *dsn, const char *group, const char *topic, int lock_timeout_ms,
                       bool exclusive, struct shadow **out, char *errstr, size_t errstr_size)
{
    PGresult *res = NULL;
    struct shadow *sh = tp_calloc(1, sizeof(*sh));
    sh->group = tp_strdup(group);
    sh->topic = tp_strdup(topic);
    sh->lock_timeout_ms = lock_timeout_ms;
    enum tp_err err = pg_connect(dsn, "tp-replay", &sh->db, errstr, errstr_size);
    if (err == TP_OK)
        PQsetNoticeProcessor(sh->db, shadow_notice, NULL);
    if (err == TP_OK && exclusive)
        err = pg_exec_params(sh->db, "SELECT pg_try_advisory_lock(hashtext('tp-replay'))", 0, NULL,
                             PGRES_TUPLES_OK, &res, errstr, errstr_size);
    if (err == TP_OK && exclusive && strcmp(PQgetvalue(res, 0, 0), "t") != 0)
        err = tp_err_set(TP_CONFLICT, errstr, errstr_size,
                         "another tp-replay is running on this database");
    PQclear(res);
    if (err != TP_OK) {
        shadow_free(sh);
        return err;
    }
    *out = sh;
    return TP_OK;
}

void shadow_free(struct shadow *sh)
{
    if (!sh)
        return;
    PQfinish(sh->db); /* also releases the advisory lock */
    free(sh->group);
    free(sh->topic);
    free(sh);
}

/* Row i of a COPY: twin/rows.h's binary tuple. */
typedef void (*shadow_row_fn)(struct buf *out, const void *ctx, size_t i);

static void shadow_twin_row(struct buf *out, const void *ctx, size_t i)
{
    twin_rows_twin(out, ((struct twin *const *)ctx)[i]);
}

static void shadow_history_row(struct buf *out, const void *ctx, size_t i)
{
    const struct history *h = ctx;
    twin_rows_history(out, h, &h->entries[i]);
}

/* COPY <table> <cols> FROM STDIN (FORMAT binary): n rows of row(), sent in PG_COPY_CHUNK
 * pieces as they are written. */
static enum tp_err shadow_copy_rows(struct shadow *sh, const char *table, const char *cols,
                                    shadow_row_fn row, const void *ctx, size_t n, char *errstr,
                                    size_t errstr_size)
{
    struct buf chunk;
    char sql[256];
    snprintf(sql, sizeof(sql), "COPY %s %s FROM STDIN (FORMAT binary)", table, cols);
    enum tp_err err = pg_copy_begin(sh->db, sql, errstr, errstr_size);
    if (err != TP_OK)
        return err;
    buf_init(&chunk, SIZE_MAX / 2);
    twin_rows_header(&chunk);
    for (size_t i = 0; i < n && err == TP_OK; i++) {
        row(&chunk, ctx, i);
        if (chunk.len >= PG_COPY_CHUNK) {
            err = pg_copy_put(sh->db, chunk.data, chunk.len, errstr, errstr_size);
            buf_reset(&chunk);
        }
    }
    if (err == TP_OK) {
        twin_rows_trailer(&chunk);
        err = pg_copy_put(sh->db, chunk.data, chunk.len, errstr, errstr_size);
    }
    buf_release(&chunk);
    return pg_copy_end(sh->db, err, errstr, errstr_size);
}

enum tp_err shadow_create(struct shadow *sh, char *errstr, size_t errstr_size)
{
    return pg_command(sh->db, shadow_create_sql, errstr, errstr_size);
}

enum tp_err shadow_copy(struct shadow *sh, struct twin *const *twins, size_t n_twins,
                        const struct history *h, char *errstr, size_t errstr_size)
{
    enum tp_err err = TP_OK;
    if (n_twins > 0)
        err = shadow_copy_rows(sh, "twins_shadow", shadow_twin_cols, shadow_twin_row, twins,
                               n_twins, errstr, errstr_size);
    size_t n_hist = h ? history_count(h) : 0;
    if (err == TP_OK && n_hist > 0) {
        err = shadow_copy_rows(sh, "metric_minutes_shadow", shadow_history_cols, shadow_history_row,
                               h, n_hist, errstr, errstr_size);
    }
    return err;
}

/* s as a quoted SQL identifier */
static void shadow_ident(struct buf *out, const char *s, size_t len)
{
    buf_append(out, "\"", 1);
    for (size_t i = 0; i < len; i++)
        buf_append(out, s[i] == '"' ? "\"\"" : s + i, 1 + (s[i] == '"'));
    buf_append(out, "\"", 1);
}

enum tp_err shadow_index_sql(struct buf *out, const char *index, const char *shadow, bool unique,
                             char contype, const char *def, char *errstr, size_t errstr_size)
{
    const char *using = strstr(def, " USING ");
    if (!using || (contype && contype != 'p' && contype != 'u'))
        return tp_err_set(TP_CONFIG, errstr, errstr_size,
                          "cannot rebuild index \"%s\" on a shadow table: %s", index, def);
    if (strlen(index) + strlen(SHADOW_SUFFIX) > SHADOW_NAME_MAX)
        return tp_err_set(TP_CONFIG, errstr, errstr_size,
                          "index \"%s\" has too long a name for its shadow \"%s%s\"", index, index,
                          SHADOW_SUFFIX);
    char full[SHADOW_NAME_MAX + 1];
    snprintf(full, sizeof(full), "%s%s", index, SHADOW_SUFFIX);
    struct buf name;
    buf_init(&name, SIZE_MAX / 2);
    shadow_ident(&name, full, strlen(full));
    buf_printf(out, "CREATE %sINDEX %s ON %s%s", unique ? "UNIQUE " : "", name.data, shadow, using);
    if (contype)
        buf_printf(out, "; ALTER TABLE %s ADD CONSTRAINT %s %s USING INDEX %s", shadow, name.data,
                   contype == 'p' ? "PRIMARY KEY" : "UNIQUE", name.data);
    buf_release(&name);
    return TP_OK;
}

/* Creates on shadow every index of live (named <name>_shadow; keys as constraints). */
static enum tp_err shadow_index_like(struct shadow *sh, const char *live, const char *shadow,
                                     char *errstr, size_t errstr_size)
{
    PGresult *res = NULL;
    struct buf sql;
    buf_init(&sql, SIZE_MAX / 2);
    const char *params[] = {live};
    enum tp_err err = pg_exec_params(sh->db, shadow_indexes_sql, 1, params, PGRES_TUPLES_OK, &res,
                                     errstr, errstr_size);
    for (int r = 0; err == TP_OK && r < PQntuples(res); r++) {
        buf_reset(&sql);
        err = shadow_index_sql(&sql, PQgetvalue(res, r, 0), shadow,
                               !strcmp(PQgetvalue(res, r, 1), "t"), PQgetvalue(res, r, 2)[0],
                               PQgetvalue(res, r, 3), errstr, errstr_size);
        if (err != TP_OK)
            break;
        log_debug("%s", sql.data);
        err = pg_command(sh->db, sql.data, errstr, errstr_size);
    }
    PQclear(res);
    buf_release(&sql);
    return err;
}

enum tp_err shadow_index(struct shadow *sh, bool merge, char *errstr, size_t errstr_size)
{
    enum tp_err err = TP_OK;
    if (merge)
        err = pg_command(sh->db, shadow_merge_sql, errstr, errstr_size);
    for (size_t i = 0; i < 2 && err == TP_OK; i++)
        err = shadow_index_like(sh, shadow_live[i], shadow_tables[i], errstr, errstr_size);
    if (err == TP_OK)
        err = pg_command(sh->db, "ANALYZE twins_shadow; ANALYZE metric_minutes_shadow", errstr,
                         errstr_size);
    return err;
}

enum tp_err shadow_apply(struct shadow *sh, struct twin *const *twins, size_t n_twins,
                         const struct history *h, char *errstr, size_t errstr_size)
{
    size_t n_hist = h ? history_count(h) : 0;
    if (n_twins == 0 && n_hist == 0)
        return TP_OK;
    enum tp_err err = TP_OK;
    if (!sh->in_swap)
        err = pg_command(sh->db, "BEGIN", errstr, errstr_size);
    if (err == TP_OK && n_twins > 0) {
        err = shadow_copy_rows(sh, "twins_shadow_stage", shadow_twin_cols, shadow_twin_row, twins,
                               n_twins, errstr, errstr_size);
        if (err == TP_OK)
            err = pg_command(sh->db, shadow_upsert_twins_sql, errstr, errstr_size);
        if (err == TP_OK)
            err = pg_command(sh->db, "TRUNCATE twins_shadow_stage", errstr, errstr_size);
    }
    if (err == TP_OK && n_hist > 0) {
        err = shadow_copy_rows(sh, "metric_minutes_shadow_stage", shadow_history_cols,
                               shadow_history_row, h, n_hist, errstr, errstr_size);
        if (err == TP_OK)
            err = pg_command(sh->db, shadow_upsert_history_sql, errstr, errstr_size);
        if (err == TP_OK)
            err = pg_command(sh->db, "TRUNCATE metric_minutes_shadow_stage", errstr, errstr_size);
    }
    if (!sh->in_swap) {
        if (err == TP_OK)
            err = pg_command(sh->db, "COMMIT", errstr, errstr_size);
        else
            pg_command(sh->db, "ROLLBACK", NULL, 0);
    }
    return err;
}

/* {1,2,3} for an int[] or bigint[] parameter. */
static void shadow_int_array(struct buf *b, const int32_t *v32, const int64_t *v64, size_t n)
{
    buf_append_str(b, "{");
    for (size_t i = 0; i < n; i++)
        buf_printf(b, "%s%" PRId64, i ? "," : "", v64 ? v64[i] : (int64_t)v32[i]);
    buf_append_str(b, "}");
}

/* Runs an offsets statement with $1 group, $2 topic, $3 partitions, $4 offsets. */
static enum tp_err shadow_offsets_exec(struct shadow *sh, const char *sql, const int32_t *parts,
                                       const int64_t *offsets, size_t n, char *errstr,
                                       size_t errstr_size)
{
    struct buf p, o;
    buf_init(&p, SIZE_MAX / 2);
    buf_init(&o, SIZE_MAX / 2);
    shadow_int_array(&p, parts, NULL, n);
    shadow_int_array(&o, NULL, offsets, n);
    const char *params[] = {sh->group, sh->topic, p.data, o.data};
    enum tp_err err =
        pg_exec_params(sh->db, sql, 4, params, PGRES_COMMAND_OK, NULL, errstr, errstr_size);
    buf_release(&p);
    buf_release(&o);
    return err;
}

enum tp_err shadow_swap_begin(struct shadow *sh, const int32_t *parts, const int64_t *offsets,
                              size_t n, char *errstr, size_t errstr_size)
{
    char sql[64];
    snprintf(sql, sizeof(sql), "SET LOCAL lock_timeout = %d", sh->lock_timeout_ms);
    enum tp_err err = pg_command(sh->db, "BEGIN", errstr, errstr_size);
    if (err == TP_OK)
        err = pg_command(sh->db, sql, errstr, errstr_size);
    if (err == TP_OK)
        err = shadow_offsets_exec(sh, shadow_lock_offsets_sql, parts, offsets, n, errstr,
                                  errstr_size);
    if (err == TP_OK) {
        const char *params[] = {sh->group, sh->topic};
        err = pg_exec_params(sh->db, shadow_lock_rows_sql, 2, params, PGRES_TUPLES_OK, NULL, errstr,
                             errstr_size);
    }
    if (err != TP_OK) {
        pg_command(sh->db, "ROLLBACK", NULL, 0);
        return err;
    }
    sh->in_swap = true;
    return TP_OK;
}

/* Renames every index of table (now named like the live one) from <name>_shadow to <name>. */
static enum tp_err shadow_rename_indexes(struct shadow *sh, const char *table, char *errstr,
                                         size_t errstr_size)
{
    PGresult *res = NULL;
    struct buf sql;
    buf_init(&sql, SIZE_MAX / 2);
    const char *params[] = {table};
    enum tp_err err = pg_exec_params(sh->db, shadow_indexes_sql, 1, params, PGRES_TUPLES_OK, &res,
                                     errstr, errstr_size);
    size_t suffix = strlen(SHADOW_SUFFIX);
    for (int r = 0; err == TP_OK && r < PQntuples(res); r++) {
        const char *idx = PQgetvalue(res, r, 0);
        size_t len = strlen(idx);
        if (len <= suffix || strcmp(idx + len - suffix, SHADOW_SUFFIX) != 0)
            continue;
        char *from = PQescapeIdentifier(sh->db, idx, len);
        char *to = PQescapeIdentifier(sh->db, idx, len - suffix);
        buf_reset(&sql);
        buf_printf(&sql, "ALTER INDEX %s RENAME TO %s", from, to); /* a key's constraint too */
        PQfreemem(from);
        PQfreemem(to);
        err = pg_command(sh->db, sql.data, errstr, errstr_size);
    }
    PQclear(res);
    buf_release(&sql);
    return err;
}

enum tp_err shadow_swap_commit(struct shadow *sh, const int32_t *parts, const int64_t *offsets,
                               size_t n, char *errstr, size_t errstr_size)
{
    /* Dropping the old tables here, not after COMMIT, frees their index names for the
     * rebuilt ones in the same transaction; their files go at COMMIT either way. */
    enum tp_err err = pg_command(sh->db,
                                 "LOCK TABLE twins, metric_minutes IN ACCESS EXCLUSIVE MODE;"
                                 "DROP TABLE twins, metric_minutes;"
                                 "ALTER TABLE twins_shadow RENAME TO twins;"
                                 "ALTER TABLE metric_minutes_shadow RENAME TO metric_minutes",
                                 errstr, errstr_size);
    for (size_t i = 0; i < 2 && err == TP_OK; i++)
        err = shadow_rename_indexes(sh, shadow_live[i], errstr, errstr_size);
    if (err == TP_OK)
        err =
            shadow_offsets_exec(sh, shadow_set_offsets_sql, parts, offsets, n, errstr, errstr_size);
    if (err == TP_OK)
        err = pg_command(sh->db, "COMMIT", errstr, errstr_size);
    else
        pg_command(sh->db, "ROLLBACK", NULL, 0);
    sh->in_swap = false;
    return err;
}

void shadow_swap_abort(struct shadow *sh)
{
    if (sh->in_swap)
        pg_command(sh->db, "ROLLBACK", NULL, 0);
    sh->in_swap = false;
}

enum tp_err shadow_drop(struct shadow *sh, char *errstr, size_t errstr_size)
{
    shadow_swap_abort(sh);
    return pg_command(sh->db,
                      "DROP TABLE IF EXISTS twins_shadow, metric_minutes_shadow,"
                      " metric_minutes_shadow_merged",
                      errstr, errstr_size);
}
