#include "fleet_store.h"

#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/pg.h"
#include "journal/journal.h"

struct fleet_store {
    PGconn *db;
    char *dsn;
    char *group;
};

/* Compare-and-set of the offsets ($2: [{"topic","p","o","e"}], e < 0: no row yet), as the
 * twin fold's (store.c) but with a topic per row; the count of rows moved comes back. */
static const char fleet_offsets_sql[] =
    "WITH x AS (SELECT * FROM jsonb_to_recordset($2::jsonb) AS x(topic text, p int, o bigint,"
    " e bigint)),"
    " ins AS (INSERT INTO projector_offsets (consumer_group, topic, partition, next_offset)"
    " SELECT $1, topic, p, o FROM x WHERE e < 0 ON CONFLICT DO NOTHING RETURNING 1),"
    " upd AS (UPDATE projector_offsets AS po SET next_offset = x.o, updated_at = now() FROM x"
    " WHERE po.consumer_group = $1 AND po.topic = x.topic AND po.partition = x.p AND x.e >= 0"
    " AND po.next_offset = x.e RETURNING 1)"
    " SELECT (SELECT count(*) FROM ins) + (SELECT count(*) FROM upd)";

/* The partials ($1: fleet_map_rows_json), each replacing its row only with a higher version;
 * the rows inserted (xmax = 0: first versions here) return their window's end. */
static const char fleet_upsert_sql[] =
    "INSERT INTO fleet_aggregates AS f (region, category, window_start, window_ms,"
    " journal_partition, version, readings, metrics, received_at)"
    " SELECT region, category, timestamptz 'epoch' + window_start_ms * interval '1 millisecond',"
    " window_ms, journal_partition, version, readings, metrics, now()"
    " FROM jsonb_to_recordset($1::jsonb) AS s(region text, category text, window_start_ms bigint,"
    " window_ms int, journal_partition int, version bigint, readings bigint, metrics jsonb)"
    " ON CONFLICT (region, category, window_start, journal_partition) DO UPDATE SET"
    " window_ms = EXCLUDED.window_ms, version = EXCLUDED.version, readings = EXCLUDED.readings,"
    " metrics = EXCLUDED.metrics, received_at = EXCLUDED.received_at"
    " WHERE f.version < EXCLUDED.version"
    " RETURNING f.xmax = 0, (extract(epoch FROM f.window_start) * 1000)::int8 + f.window_ms";

static const char fleet_load_sql[] =
    "SELECT x.i, po.next_offset FROM jsonb_to_recordset($2::jsonb) AS x(i int, topic text, p int)"
    " JOIN projector_offsets po ON po.consumer_group = $1 AND po.topic = x.topic"
    " AND po.partition = x.p";

static enum tp_err fleet_store_ready(struct fleet_store *st, char *errstr, size_t errstr_size)
{
    if (st->db && PQstatus(st->db) == CONNECTION_OK)
        return TP_OK;
    if (st->db)
        log_warn("reconnecting to postgresql");
    PQfinish(st->db);
    st->db = NULL;
    return pg_connect(st->dsn, "tp-projector", &st->db, errstr, errstr_size);
}

enum tp_err fleet_store_new(const char *dsn, const char *group, struct fleet_store **out,
                            char *errstr, size_t errstr_size)
{
    struct fleet_store *st = tp_calloc(1, sizeof(*st));
    st->dsn = tp_strdup(dsn);
    st->group = tp_strdup(group);
    enum tp_err err = fleet_store_ready(st, errstr, errstr_size);
    if (err != TP_OK) {
        fleet_store_free(st);
        return err;
    }
    *out = st;
    return TP_OK;
}

void fleet_store_free(struct fleet_store *st)
{
    if (!st)
        return;
    PQfinish(st->db);
    free(st->dsn);
    free(st->group);
    free(st);
}

enum tp_err fleet_store_load_offsets(struct fleet_store *st, const char *const *topics,
                                     const int32_t *parts, int64_t *offsets, size_t n, char *errstr,
                                     size_t errstr_size)
{
    PGresult *res = NULL;
    struct buf b;
    buf_init(&b, SIZE_MAX / 2);
    buf_append_str(&b, "[");
    for (size_t i = 0; i < n; i++) {
        offsets[i] = JOURNAL_OFFSET_BEGINNING;
        buf_printf(&b, "%s{\"i\":%zu,\"topic\":", i ? "," : "", i);
        json_str(&b, topics[i]);
        buf_printf(&b, ",\"p\":%d}", (int)parts[i]);
    }
    buf_append_str(&b, "]");
    enum tp_err err = fleet_store_ready(st, errstr, errstr_size);
    if (err == TP_OK) {
        const char *params[] = {st->group, b.data};
        err = pg_exec_params(st->db, fleet_load_sql, 2, params, PGRES_TUPLES_OK, &res, errstr,
                             errstr_size);
    }
    for (int r = 0; err == TP_OK && r < PQntuples(res); r++) {
        size_t i = (size_t)strtoul(PQgetvalue(res, r, 0), NULL, 10);
        if (i < n)
            offsets[i] = strtoll(PQgetvalue(res, r, 1), NULL, 10);
    }
    PQclear(res);
    buf_release(&b);
    return err;
}

/* The compare-and-set; TP_CONFLICT when one had moved. */
static enum tp_err fleet_store_offsets_cas(struct fleet_store *st,
                                           const struct fleet_store_offset *offs, size_t n,
                                           char *errstr, size_t errstr_size)
{
    PGresult *res = NULL;
    struct buf b;
    buf_init(&b, SIZE_MAX / 2);
    buf_append_str(&b, "[");
    for (size_t i = 0; i < n; i++) {
        buf_append_str(&b, i ? ",{\"topic\":" : "{\"topic\":");
        json_str(&b, offs[i].topic);
        buf_printf(&b, ",\"p\":%d,\"o\":%lld,\"e\":%lld}", (int)offs[i].partition,
                   (long long)offs[i].next,
                   (long long)(offs[i].expected < 0 ? -1 : offs[i].expected));
    }
    buf_append_str(&b, "]");
    const char *params[] = {st->group, b.data};
    enum tp_err err = pg_exec_params(st->db, fleet_offsets_sql, 2, params, PGRES_TUPLES_OK, &res,
                                     errstr, errstr_size);
    if (err == TP_OK) {
        long long moved = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        if (moved != (long long)n)
            err = tp_err_set(TP_CONFLICT, errstr, errstr_size,
                             "offsets of %zu of %zu partitions in postgresql are not where this "
                             "projector left them (written by another projector, or an earlier "
                             "commit whose answer was lost)",
                             n - (size_t)moved, n);
    }
    PQclear(res);
    buf_release(&b);
    return err;
}

enum tp_err fleet_store_flush(struct fleet_store *st, const struct fleet_map *m,
                              const struct fleet_store_offset *offs, size_t n_offs,
                              struct fleet_store_result *out, char *errstr, size_t errstr_size)
{
    PGresult *res = NULL;
    memset(out, 0, sizeof(*out));
    enum tp_err err = fleet_store_ready(st, errstr, errstr_size);
    if (err == TP_OK)
        err = pg_command(st->db, "BEGIN", errstr, errstr_size);
    if (err != TP_OK)
        return err;
    if (n_offs > 0)
        err = fleet_store_offsets_cas(st, offs, n_offs, errstr, errstr_size);
    if (err == TP_OK && fleet_map_count(m) > 0) {
        struct buf rows;
        buf_init(&rows, SIZE_MAX / 2);
        fleet_map_rows_json(m, &rows);
        const char *params[] = {rows.data};
        err = pg_exec_params(st->db, fleet_upsert_sql, 1, params, PGRES_TUPLES_OK, &res, errstr,
                             errstr_size);
        buf_release(&rows);
    }
    if (err == TP_OK)
        err = pg_command(st->db, "COMMIT", errstr, errstr_size);
    else
        pg_command(st->db, "ROLLBACK", NULL, 0);
    if (err == TP_OK && res) {
        int rows = PQntuples(res);
        out->upserted = rows;
        out->window_ends = tp_calloc(rows > 0 ? (size_t)rows : 1, sizeof(*out->window_ends));
        for (int r = 0; r < rows; r++)
            if (!strcmp(PQgetvalue(res, r, 0), "t"))
                out->window_ends[out->n_inserted++] = strtoll(PQgetvalue(res, r, 1), NULL, 10);
    }
    PQclear(res);
    return err;
}
