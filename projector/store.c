#include "store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/pg.h"

#define STORE_COPY_CHUNK (1 << 20)

struct store {
    PGconn *db;
    char *dsn;
    char *group;
    char *topic;
};

static const char store_stage_sql[] =
    "CREATE TEMP TABLE IF NOT EXISTS twins_stage ("
    " device_id text, first_seen_ms bigint, last_seen_ms bigint, last_sequence bigint,"
    " events bigint, metrics jsonb, location jsonb, attributes jsonb) ON COMMIT DELETE ROWS";

static const char store_upsert_sql[] =
    "INSERT INTO twins AS t (device_id, first_seen, last_seen, last_sequence, events, metrics,"
    " location, attributes, updated_at)"
    " SELECT device_id, timestamptz 'epoch' + first_seen_ms * interval '1 millisecond',"
    " timestamptz 'epoch' + last_seen_ms * interval '1 millisecond', last_sequence, events,"
    " metrics, location, attributes, now() FROM twins_stage"
    " ON CONFLICT (device_id) DO UPDATE SET first_seen = EXCLUDED.first_seen,"
    " last_seen = EXCLUDED.last_seen, last_sequence = EXCLUDED.last_sequence,"
    " events = EXCLUDED.events, metrics = EXCLUDED.metrics, location = EXCLUDED.location,"
    " attributes = EXCLUDED.attributes, updated_at = now()"
    " WHERE t.last_sequence <= EXCLUDED.last_sequence";

static const char store_offsets_sql[] =
    "INSERT INTO projector_offsets (consumer_group, topic, partition, next_offset)"
    " SELECT $1, $2, p, o FROM unnest($3::int[], $4::bigint[]) AS x(p, o)"
    " ON CONFLICT (consumer_group, topic, partition)"
    " DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()";

static enum tp_err store_connect(struct store *st, char *errstr, size_t errstr_size)
{
    PQfinish(st->db);
    st->db = NULL;
    enum tp_err err = pg_connect(st->dsn, "tp-projector", &st->db, errstr, errstr_size);
    if (err == TP_OK)
        err = pg_command(st->db, store_stage_sql, errstr, errstr_size);
    return err;
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

static void store_apply_row(struct twins *tt, PGresult *res, int r)
{
    struct twin *t = twins_put(tt, twin_new(PQgetvalue(res, r, 0)));
    t->first_seen_ms = strtoll(PQgetvalue(res, r, 1), NULL, 10);
    t->last_seen_ms = strtoll(PQgetvalue(res, r, 2), NULL, 10);
    t->last_sequence = strtoll(PQgetvalue(res, r, 3), NULL, 10);
    t->events = strtoll(PQgetvalue(res, r, 4), NULL, 10);
    if (!PQgetisnull(res, r, 5)) {
        t->has_location = true;
        t->location_ts_ms = strtoll(PQgetvalue(res, r, 5), NULL, 10);
        for (int i = 0; i < TWIN_LOC_N; i++) {
            if (PQgetisnull(res, r, 6 + i))
                continue;
            t->loc[i] = strtod(PQgetvalue(res, r, 6 + i), NULL);
            t->loc_mask |= 1u << i;
        }
    }
    const char *attrs[] = {"model", "firmware", "region"};
    for (int i = 0; i < 3; i++)
        if (!PQgetisnull(res, r, 6 + TWIN_LOC_N + i))
            twin_attr_set(t, attrs[i], PQgetvalue(res, r, 6 + TWIN_LOC_N + i));
}

enum tp_err store_load_twins(struct store *st, char *const *ids, size_t n, struct twins *tt,
                             char *errstr, size_t errstr_size)
{
    PGresult *res = NULL;
    struct buf arr;
    buf_init(&arr, SIZE_MAX / 2);
    store_text_array(&arr, ids, n);
    const char *params[] = {arr.data};
    enum tp_err err = store_ready(st, errstr, errstr_size);
    if (err != TP_OK)
        goto out;
    err = pg_exec_params(st->db,
                         "SELECT device_id, (extract(epoch FROM first_seen) * 1000)::bigint,"
                         " (extract(epoch FROM last_seen) * 1000)::bigint, last_sequence, events,"
                         " (location->>'ts')::bigint, (location->>'lat')::float8,"
                         " (location->>'lon')::float8, (location->>'altitude_m')::float8,"
                         " (location->>'heading_deg')::float8, (location->>'accuracy_m')::float8,"
                         " attributes->>'model', attributes->>'firmware', attributes->>'region'"
                         " FROM twins WHERE device_id = ANY($1::text[])",
                         1, params, PGRES_TUPLES_OK, &res, errstr, errstr_size);
    if (err != TP_OK)
        goto out;
    for (int r = 0; r < PQntuples(res); r++)
        store_apply_row(tt, res, r);
    PQclear(res);
    err = pg_exec_params(st->db,
                         "SELECT t.device_id, m.key, (m.value->>'value')::float8,"
                         " (m.value->>'ts')::bigint FROM twins t"
                         " CROSS JOIN LATERAL jsonb_each(t.metrics) m"
                         " WHERE t.device_id = ANY($1::text[])",
                         1, params, PGRES_TUPLES_OK, &res, errstr, errstr_size);
    if (err != TP_OK)
        goto out;
    for (int r = 0; r < PQntuples(res); r++) {
        struct twin *t = twins_get(tt, PQgetvalue(res, r, 0));
        if (t)
            twin_metric_set(t, PQgetvalue(res, r, 1), strtod(PQgetvalue(res, r, 2), NULL),
                            strtoll(PQgetvalue(res, r, 3), NULL, 10));
    }
out:
    PQclear(res);
    buf_release(&arr);
    return err;
}

/* Appends s with COPY text-format escaping. */
static void store_copy_escape(struct buf *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        const char *esc = c == '\\'   ? "\\\\"
                          : c == '\n' ? "\\n"
                          : c == '\r' ? "\\r"
                          : c == '\t' ? "\\t"
                                      : NULL;
        if (esc)
            buf_append_str(out, esc);
        else
            buf_append(out, &c, 1);
    }
}

/* Appends a JSON document, COPY-escaped. */
static void store_copy_json(struct buf *out, struct buf *json)
{
    store_copy_escape(out, json->data ? json->data : "", json->len);
    buf_reset(json);
}

enum tp_err store_twin_row(struct buf *out, const struct twin *t)
{
    struct buf j;
    buf_init(&j, SIZE_MAX / 2);
    store_copy_escape(out, t->device_id, strlen(t->device_id));
    buf_printf(out, "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t", t->first_seen_ms,
               t->last_seen_ms, t->last_sequence, t->events);

    buf_append_str(&j, "{");
    for (size_t i = 0; i < t->n_metrics; i++) {
        if (i)
            buf_append_str(&j, ",");
        json_str(&j, t->metrics[i].name);
        buf_append_str(&j, ":{\"value\":");
        json_double(&j, t->metrics[i].value);
        buf_printf(&j, ",\"ts\":%" PRId64 "}", t->metrics[i].ts_ms);
    }
    buf_append_str(&j, "}");
    store_copy_json(out, &j);
    buf_append_str(out, "\t");

    if (t->has_location) {
        buf_append_str(&j, "{");
        for (int i = 0; i < TWIN_LOC_N; i++) {
            if (!(t->loc_mask & (1u << i)))
                continue;
            json_str(&j, twin_loc_names[i]);
            buf_append_str(&j, ":");
            json_double(&j, t->loc[i]);
            buf_append_str(&j, ",");
        }
        buf_printf(&j, "\"ts\":%" PRId64 "}", t->location_ts_ms);
        store_copy_json(out, &j);
    } else {
        buf_append_str(out, "\\N");
    }
    buf_append_str(out, "\t");

    const char *names[] = {"model", "firmware", "region"};
    const char *values[] = {t->model, t->firmware, t->region};
    buf_append_str(&j, "{");
    bool first = true;
    for (int i = 0; i < 3; i++) {
        if (!values[i])
            continue;
        if (!first)
            buf_append_str(&j, ",");
        first = false;
        json_str(&j, names[i]);
        buf_append_str(&j, ":");
        json_str(&j, values[i]);
    }
    buf_append_str(&j, "}");
    store_copy_json(out, &j);
    buf_append_str(out, "\n");
    buf_release(&j);
    return TP_OK;
}

static enum tp_err store_copy_put(struct store *st, struct buf *chunk, char *errstr,
                                  size_t errstr_size)
{
    if (chunk->len == 0)
        return TP_OK;
    if (PQputCopyData(st->db, chunk->data, (int)chunk->len) != 1)
        return tp_err_set(TP_DB_TRANSIENT, errstr, errstr_size, "could not send COPY data: %s",
                          PQerrorMessage(st->db));
    buf_reset(chunk);
    return TP_OK;
}

static enum tp_err store_copy_twins(struct store *st, struct twin *const *twins, size_t n,
                                    char *errstr, size_t errstr_size)
{
    struct buf chunk;
    buf_init(&chunk, SIZE_MAX / 2);
    enum tp_err err = pg_check(st->db, PQexec(st->db, "COPY twins_stage FROM STDIN"), PGRES_COPY_IN,
                               NULL, errstr, errstr_size);
    if (err != TP_OK)
        goto out;
    for (size_t i = 0; i < n && err == TP_OK; i++) {
        store_twin_row(&chunk, twins[i]);
        if (chunk.len >= STORE_COPY_CHUNK)
            err = store_copy_put(st, &chunk, errstr, errstr_size);
    }
    if (err == TP_OK)
        err = store_copy_put(st, &chunk, errstr, errstr_size);
    if (PQputCopyEnd(st->db, err == TP_OK ? NULL : "aborted by tp-projector") != 1 && err == TP_OK)
        err = tp_err_set(TP_DB_TRANSIENT, errstr, errstr_size, "could not end COPY: %s",
                         PQerrorMessage(st->db));
    enum tp_err end = pg_check(st->db, PQgetResult(st->db), PGRES_COMMAND_OK, NULL,
                               err == TP_OK ? errstr : NULL, errstr_size);
    if (err == TP_OK)
        err = end;
    PGresult *extra;
    while ((extra = PQgetResult(st->db)) != NULL)
        PQclear(extra);
out:
    buf_release(&chunk);
    return err;
}

enum tp_err store_flush(struct store *st, struct twin *const *twins, size_t n, const int32_t *parts,
                        const int64_t *offsets, size_t n_parts, char *errstr, size_t errstr_size)
{
    struct buf p_arr, o_arr;
    buf_init(&p_arr, SIZE_MAX / 2);
    buf_init(&o_arr, SIZE_MAX / 2);
    enum tp_err err = store_ready(st, errstr, errstr_size);
    if (err == TP_OK)
        err = pg_command(st->db, "BEGIN", errstr, errstr_size);
    if (err != TP_OK)
        goto out;
    if (n > 0) {
        err = store_copy_twins(st, twins, n, errstr, errstr_size);
        if (err == TP_OK)
            err = pg_command(st->db, store_upsert_sql, errstr, errstr_size);
    }
    if (err == TP_OK && n_parts > 0) {
        store_int_array(&p_arr, NULL, parts, n_parts);
        store_int_array(&o_arr, offsets, NULL, n_parts);
        const char *params[] = {st->group, st->topic, p_arr.data, o_arr.data};
        err = pg_exec_params(st->db, store_offsets_sql, 4, params, PGRES_COMMAND_OK, NULL, errstr,
                             errstr_size);
    }
    if (err == TP_OK)
        err = pg_command(st->db, "COMMIT", errstr, errstr_size);
    else
        pg_command(st->db, "ROLLBACK", NULL, 0);
out:
    buf_release(&p_arr);
    buf_release(&o_arr);
    return err;
}
