#include "store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "common/pg.h"
#include "twin/record.h"
#include "twin/rows.h"

struct store {
    PGconn *db;
    char *dsn;
    char *group;
    char *topic;
    /* pg_class oid of the twins table this projector's state comes from (0: not known yet);
     * tp-replay swaps in a rebuilt table, and a flush of state from the old one must fail */
    int64_t twins_oid;
    bool agg_stage; /* aggregate_windows_stage exists on this connection */
};

/*
 * The twins of twins_stage, never moving a stored twin back to a lower version. One upsert
 * rather than UPDATE .. FROM + INSERT of the new devices, or a plain INSERT of the new ones
 * followed by this upsert for the rest: bench/flush measured all three
 * (projector/README.md, "Upsert or UPDATE + INSERT?").
 */
const char store_upsert_sql[] =
    "INSERT INTO twins AS t (device_id, version, last_seen, state)"
    " SELECT device_id, version, last_seen, state FROM twins_stage"
    " ON CONFLICT (device_id) DO UPDATE SET version = EXCLUDED.version,"
    " last_seen = EXCLUDED.last_seen, updated_at = now(), written_xid = pg_current_xact_id(),"
    " state = EXCLUDED.state WHERE t.version <= EXCLUDED.version";

static const char store_history_sql[] =
    "INSERT INTO metric_minutes AS m (device_id, metric, minute, min, max, sum, count)"
    " SELECT device_id, metric, minute, min, max, sum, count FROM metric_minutes_stage"
    " ON CONFLICT (device_id, metric, minute) DO UPDATE SET min = least(m.min, EXCLUDED.min),"
    " max = greatest(m.max, EXCLUDED.max), sum = m.sum + EXCLUDED.sum,"
    " count = m.count + EXCLUDED.count";

/*
 * Compare-and-set of the offsets, first in the flush transaction: every
 * partition must still be at the offset this projector last read or wrote
 * ($5, negative = no row yet), else the row is left alone and the count
 * falls short. The rows stay locked until COMMIT, so a concurrent flush of
 * the same partitions (a zombie after a lost assignment) waits and then
 * fails the comparison instead of adding its history a second time.
 */
static const char store_offsets_sql[] =
    "WITH x AS (SELECT * FROM unnest($3::int[], $4::bigint[], $5::bigint[]) AS x(p, o, e)),"
    " ins AS (INSERT INTO projector_offsets (consumer_group, topic, partition, next_offset)"
    " SELECT $1, $2, p, o FROM x WHERE e < 0 ON CONFLICT DO NOTHING RETURNING 1),"
    " upd AS (UPDATE projector_offsets AS po SET next_offset = x.o, updated_at = now() FROM x"
    " WHERE po.consumer_group = $1 AND po.topic = $2 AND po.partition = x.p AND x.e >= 0"
    " AND po.next_offset = x.e RETURNING 1)"
    " SELECT (SELECT count(*) FROM ins) + (SELECT count(*) FROM upd)";

/*
 * The twins table's identity, read from pg_class with the statement's snapshot (not the
 * syscache, which may not have processed a concurrent rename yet): a replay swap (tp-replay)
 * renames a rebuilt table to twins in the transaction that moves this group's offsets.
 */
static const char store_twins_oid_sql[] =
    "SELECT coalesce((SELECT c.oid::bigint FROM pg_class c JOIN pg_namespace n"
    " ON n.oid = c.relnamespace WHERE c.relname = 'twins' AND n.nspname = current_schema()), 0)";

static const char store_retention_sql[] =
    "DELETE FROM metric_minutes WHERE minute < now() - $1::bigint * interval '1 hour'";

static enum tp_err store_connect(struct store *st, char *errstr, size_t errstr_size)
{
    PQfinish(st->db);
    st->db = NULL;
    st->agg_stage = false;
    enum tp_err err = pg_connect(st->dsn, "tp-projector", &st->db, errstr, errstr_size);
    if (err == TP_OK)
        err = pg_command(st->db, twin_rows_stage_sql, errstr, errstr_size);
    return err;
}

static enum tp_err store_twins_oid(struct store *st, int64_t *oid, char *errstr, size_t errstr_size)
{
    PGresult *res = NULL;
    enum tp_err err = pg_exec_params(st->db, store_twins_oid_sql, 0, NULL, PGRES_TUPLES_OK, &res,
                                     errstr, errstr_size);
    if (err == TP_OK)
        *oid = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return err;
}

/*
 * In the flush transaction, after the offsets' compare-and-set (whose row locks a replay
 * swap holds until it commits): TP_CONFLICT when the twins table is no longer the one this
 * projector's state came from, so that state is dropped and reloaded (a resync) instead of
 * written over the rebuilt projection.
 */
static enum tp_err store_check_projection(struct store *st, char *errstr, size_t errstr_size)
{
    int64_t oid = 0;
    enum tp_err err = store_twins_oid(st, &oid, errstr, errstr_size);
    if (err != TP_OK)
        return err;
    if (st->twins_oid != 0 && oid != st->twins_oid) {
        st->twins_oid = oid;
        return tp_err_set(TP_CONFLICT, errstr, errstr_size,
                          "the projection was rebuilt and swapped in (tp-replay) since this "
                          "projector loaded its state");
    }
    st->twins_oid = oid;
    return TP_OK;
}

/* Reconnects when a previous failure left the connection broken. */
static enum tp_err store_ready(struct store *st, char *errstr, size_t errstr_size)
{
    if (st->db && PQstatus(st->db) == CONNECTION_OK)
        return TP_OK;
    log_warn("reconnecting to postgresql");
    return store_connect(st, errstr, errstr_size);
}

enum tp_err store_new(const char *dsn, const char *group, const char *topic, struct store **out,
                      char *errstr, size_t errstr_size)
{
    struct store *st = tp_calloc(1, sizeof(*st));
    st->dsn = tp_strdup(dsn);
    st->group = tp_strdup(group);
    st->topic = tp_strdup(topic);
    enum tp_err err = store_connect(st, errstr, errstr_size);
    if (err == TP_OK)
        err = store_twins_oid(st, &st->twins_oid, errstr, errstr_size);
    if (err != TP_OK) {
        store_free(st);
        return err;
    }
    *out = st;
    return TP_OK;
}

void store_free(struct store *st)
{
    if (!st)
        return;
    PQfinish(st->db);
    free(st->dsn);
    free(st->group);
    free(st->topic);
    free(st);
}

/* {1,2,3} for an int[] / bigint[] parameter. */
static void store_int_array(struct buf *b, const int64_t *v, const int32_t *v32, size_t n)
{
    buf_append_str(b, "{");
    for (size_t i = 0; i < n; i++)
        buf_printf(b, "%s%" PRId64, i ? "," : "", v ? v[i] : (int64_t)v32[i]);
    buf_append_str(b, "}");
}

/* {"a","b"} for a text[] parameter, quoting every element. */
static void store_text_array(struct buf *b, char *const *v, size_t n)
{
    buf_append_str(b, "{");
    for (size_t i = 0; i < n; i++) {
        buf_append_str(b, i ? ",\"" : "\"");
        for (const char *p = v[i]; *p; p++) {
            if (*p == '"' || *p == '\\')
                buf_append(b, "\\", 1);
            buf_append(b, p, 1);
        }
        buf_append_str(b, "\"");
    }
    buf_append_str(b, "}");
}

enum tp_err store_load_offsets(struct store *st, const int32_t *parts, int64_t *offsets, size_t n,
                               char *errstr, size_t errstr_size)
{
    PGresult *res = NULL;
    struct buf arr;
    buf_init(&arr, SIZE_MAX / 2);
    store_int_array(&arr, NULL, parts, n);
    for (size_t i = 0; i < n; i++)
        offsets[i] = JOURNAL_OFFSET_BEGINNING;
    enum tp_err err = store_ready(st, errstr, errstr_size);
    /* the projection's identity first: if a swap commits between the two statements, the
     * offsets read are the swap's, and the next flush finds the old identity and resyncs */
    int64_t oid = 0;
    if (err == TP_OK)
        err = store_twins_oid(st, &oid, errstr, errstr_size);
    if (err != TP_OK)
        goto out;
    const char *params[] = {st->group, st->topic, arr.data};
    err = pg_exec_params(st->db,
                         "SELECT partition, next_offset FROM projector_offsets"
                         " WHERE consumer_group = $1 AND topic = $2"
                         " AND partition = ANY($3::int[])",
                         3, params, PGRES_TUPLES_OK, &res, errstr, errstr_size);
    if (err != TP_OK)
        goto out;
    st->twins_oid = oid; /* called holding no unflushed state: on assign and on resync */
    for (int r = 0; r < PQntuples(res); r++) {
        int32_t p = (int32_t)strtol(PQgetvalue(res, r, 0), NULL, 10);
        for (size_t i = 0; i < n; i++)
            if (parts[i] == p)
                offsets[i] = strtoll(PQgetvalue(res, r, 1), NULL, 10);
    }
out:
    PQclear(res);
    buf_release(&arr);
    return err;
}

/* The stored rows of the twins among $1, in binary: device_id, version, state. */
static const char store_load_sql[] =
    "SELECT device_id, version, state FROM twins WHERE device_id = ANY($1::text[])";

static int64_t store_get_int8(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return (int64_t)v;
}

/* The twin of binary row r of store_load_sql, decoded from its record; NULL with errstr
 * filled when the row does not hold a twin this projector could continue. */
static struct twin *store_twin_decode(PGresult *res, int r, char *errstr, size_t errstr_size)
{
    const char *id = PQgetvalue(res, r, 0);
    int id_len = PQgetlength(res, r, 0);
    if (id_len > FOLD_DEVICE_ID_MAX || memchr(id, '\0', (size_t)id_len)) {
        tp_err_set(TP_DECODE, errstr, errstr_size, "a device id of %d bytes", id_len);
        return NULL;
    }
    if (PQgetlength(res, r, 1) != 8) {
        tp_err_set(TP_DECODE, errstr, errstr_size, "a version of %d bytes", PQgetlength(res, r, 1));
        return NULL;
    }
    int64_t version = store_get_int8((const uint8_t *)PQgetvalue(res, r, 1));
    struct twin *t = twin_new(id);
    if (twin_record_read(t, (const uint8_t *)PQgetvalue(res, r, 2), (size_t)PQgetlength(res, r, 2),
                         errstr, errstr_size) != TP_OK) {
        twin_free(t);
        return NULL;
    }
    if (t->events != version) {
        tp_err_set(TP_DECODE, errstr, errstr_size,
                   "the record holds %lld events but the row's version is %lld",
                   (long long)t->events, (long long)version);
        twin_free(t);
        return NULL;
    }
    return t;
}

enum tp_err store_load_twins(struct store *st, char *const *ids, size_t n, struct twins *tt,
                             char *errstr, size_t errstr_size)
{
    PGresult *res = NULL;
    struct twin **loaded = NULL;
    int n_loaded = 0;
    struct buf arr;
    buf_init(&arr, SIZE_MAX / 2);
    store_text_array(&arr, ids, n);
    const char *params[] = {arr.data};
    enum tp_err err = store_ready(st, errstr, errstr_size);
    if (err != TP_OK)
        goto out;
    /* one query, every twin decoded before any goes into tt: a failure leaves tt untouched */
    err = pg_check(st->db, PQexecParams(st->db, store_load_sql, 1, NULL, params, NULL, NULL, 1),
                   PGRES_TUPLES_OK, &res, errstr, errstr_size);
    if (err != TP_OK)
        goto out;
    loaded = tp_calloc((size_t)PQntuples(res) + 1, sizeof(*loaded));
    for (int r = 0; r < PQntuples(res); r++) {
        char why[256];
        struct twin *t = store_twin_decode(res, r, why, sizeof(why));
        if (!t) {
            char id[FOLD_DEVICE_ID_MAX + 1];
            snprintf(id, sizeof(id), "%.*s",
                     PQgetlength(res, r, 0) > FOLD_DEVICE_ID_MAX ? FOLD_DEVICE_ID_MAX
                                                                 : PQgetlength(res, r, 0),
                     PQgetvalue(res, r, 0));
            log_error("the stored twin of device \"%s\" does not decode: %s", id, why);
            err = tp_err_set(TP_DECODE, errstr, errstr_size,
                             "could not load the twin of device \"%s\": its stored record does "
                             "not decode (%s)",
                             id, why);
            goto out;
        }
        loaded[n_loaded++] = t;
    }
    for (int i = 0; i < n_loaded; i++) {
        if (twins_get(tt, loaded[i]->device_id))
            twin_free(loaded[i]); /* already in memory (not asked for): memory's is current */
        else
            twins_put(tt, loaded[i]);
        loaded[i] = NULL;
    }
    n_loaded = 0;
out:
    for (int i = 0; i < n_loaded; i++)
        twin_free(loaded[i]);
    free(loaded);
    PQclear(res);
    buf_release(&arr);
    return err;
}

/* The offsets' compare-and-set (store_offsets_sql); TP_CONFLICT when one had moved. */
static enum tp_err store_offsets_cas(struct store *st, const struct store_job *job, char *errstr,
                                     size_t errstr_size)
{
    struct buf p_arr, o_arr, e_arr;
    PGresult *res = NULL;
    buf_init(&p_arr, SIZE_MAX / 2);
    buf_init(&o_arr, SIZE_MAX / 2);
    buf_init(&e_arr, SIZE_MAX / 2);
    store_int_array(&p_arr, NULL, job->parts, job->n_parts);
    store_int_array(&o_arr, job->offsets, NULL, job->n_parts);
    store_int_array(&e_arr, job->expected, NULL, job->n_parts);
    const char *params[] = {st->group, st->topic, p_arr.data, o_arr.data, e_arr.data};
    enum tp_err err = pg_exec_params(st->db, store_offsets_sql, 5, params, PGRES_TUPLES_OK, &res,
                                     errstr, errstr_size);
    if (err == TP_OK) {
        long long moved = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        if (moved != (long long)job->n_parts)
            err = tp_err_set(TP_CONFLICT, errstr, errstr_size,
                             "offsets of %zu of %zu partitions in postgresql are not where this "
                             "projector left them (written by another projector, or an earlier "
                             "commit whose answer was lost)",
                             job->n_parts - (size_t)moved, job->n_parts);
    }
    PQclear(res);
    buf_release(&p_arr);
    buf_release(&o_arr);
    buf_release(&e_arr);
    return err;
}

/* The partials of the aggregate map merged into aggregate_windows (aggregate/rows.h), in the
 * flush transaction; the merged rows it returns into *merged. */
static enum tp_err store_aggregates(struct store *st, const struct store_job *job,
                                    struct aggregate_rows *merged, char *errstr, size_t errstr_size)
{
    PGresult *res = NULL;
    enum tp_err err = pg_copy(st->db, aggregate_rows_copy_sql, job->aggregates.data,
                              job->aggregates.len, errstr, errstr_size);
    if (err == TP_OK)
        err = pg_exec_params(st->db, aggregate_rows_upsert_sql, 0, NULL, PGRES_TUPLES_OK, &res,
                             errstr, errstr_size);
    if (err == TP_OK)
        err = aggregate_rows_read(res, merged, errstr, errstr_size);
    PQclear(res);
    return err;
}

void store_job_build(struct store_job *job, const struct store_batch *b)
{
    memset(job, 0, sizeof(*job));
    buf_init(&job->twins, SIZE_MAX / 2);
    buf_init(&job->history, SIZE_MAX / 2);
    if (b->n_twins > 0) {
        twin_rows_header(&job->twins);
        for (size_t i = 0; i < b->n_twins; i++)
            twin_rows_twin(&job->twins, b->twins[i]);
        twin_rows_trailer(&job->twins);
        job->n_twins = b->n_twins;
    }
    size_t n_hist = b->history ? history_count(b->history) : 0;
    if (n_hist > 0) {
        twin_rows_header(&job->history);
        for (size_t i = 0; i < n_hist; i++)
            twin_rows_history(&job->history, b->history, &b->history->entries[i]);
        twin_rows_trailer(&job->history);
        job->n_history = n_hist;
    }
    buf_init(&job->aggregates, SIZE_MAX / 2);
    if (b->aggregates)
        job->n_aggregates = aggregate_rows_copy(&job->aggregates, b->aggregates);
    if (job->n_aggregates > 0)
        job->merged = tp_calloc(1, sizeof(*job->merged));
    job->n_parts = b->n_parts;
    size_t cap = b->n_parts ? b->n_parts : 1;
    job->parts = tp_calloc(cap, sizeof(*job->parts));
    job->offsets = tp_calloc(cap, sizeof(*job->offsets));
    job->expected = tp_calloc(cap, sizeof(*job->expected));
    if (b->n_parts > 0) {
        memcpy(job->parts, b->parts, b->n_parts * sizeof(*job->parts));
        memcpy(job->offsets, b->offsets, b->n_parts * sizeof(*job->offsets));
        memcpy(job->expected, b->expected, b->n_parts * sizeof(*job->expected));
    }
}

void store_job_release(struct store_job *job)
{
    buf_release(&job->twins);
    buf_release(&job->history);
    buf_release(&job->aggregates);
    if (job->merged)
        aggregate_rows_release(job->merged);
    free(job->merged);
    job->merged = NULL;
    job->n_aggregates = 0;
    free(job->parts);
    free(job->offsets);
    free(job->expected);
    job->parts = NULL;
    job->offsets = job->expected = NULL;
    job->n_twins = job->n_history = job->n_parts = 0;
}

enum tp_err store_job_run(struct store *st, const struct store_job *job, char *errstr,
                          size_t errstr_size)
{
    enum tp_err err = store_ready(st, errstr, errstr_size);
    if (err == TP_OK && job->n_aggregates > 0 && !st->agg_stage) {
        err = pg_command(st->db, aggregate_rows_stage_sql, errstr, errstr_size);
        st->agg_stage = err == TP_OK;
    }
    if (err == TP_OK)
        err = pg_command(st->db, "BEGIN", errstr, errstr_size);
    if (err != TP_OK)
        return err;
    struct aggregate_rows merged = {0};
    if (job->n_parts > 0)
        err = store_offsets_cas(st, job, errstr, errstr_size);
    if (err == TP_OK)
        err = store_check_projection(st, errstr, errstr_size);
    if (err == TP_OK && job->n_twins > 0) {
        err = pg_copy(st->db, twin_rows_copy_twins_sql, job->twins.data, job->twins.len, errstr,
                      errstr_size);
        if (err == TP_OK)
            err = pg_command(st->db, store_upsert_sql, errstr, errstr_size);
    }
    if (err == TP_OK && job->n_history > 0) {
        err = pg_copy(st->db, twin_rows_copy_history_sql, job->history.data, job->history.len,
                      errstr, errstr_size);
        if (err == TP_OK)
            err = pg_command(st->db, store_history_sql, errstr, errstr_size);
    }
    if (err == TP_OK && job->n_aggregates > 0)
        err = store_aggregates(st, job, &merged, errstr, errstr_size);
    if (err == TP_OK)
        err = pg_command(st->db, "COMMIT", errstr, errstr_size);
    else
        pg_command(st->db, "ROLLBACK", NULL, 0);
    if (err == TP_OK && job->merged) {
        aggregate_rows_release(job->merged);
        *job->merged = merged;
    } else {
        aggregate_rows_release(&merged);
    }
    return err;
}

enum tp_err store_flush(struct store *st, const struct store_batch *b, char *errstr,
                        size_t errstr_size)
{
    struct store_job job;
    store_job_build(&job, b);
    enum tp_err err = store_job_run(st, &job, errstr, errstr_size);
    store_job_release(&job);
    return err;
}

enum tp_err store_retention(struct store *st, int64_t hours, int64_t *deleted, char *errstr,
                            size_t errstr_size)
{
    char h[24];
    PGresult *res = NULL;
    *deleted = 0;
    snprintf(h, sizeof(h), "%" PRId64, hours);
    const char *params[] = {h};
    enum tp_err err = store_ready(st, errstr, errstr_size);
    if (err == TP_OK)
        err = pg_exec_params(st->db, store_retention_sql, 1, params, PGRES_COMMAND_OK, &res, errstr,
                             errstr_size);
    if (err == TP_OK)
        *deleted = strtoll(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return err;
}
