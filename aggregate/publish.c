#include "publish.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "common/pg.h"
#include "record.h"

#define PUBLISH_SWEEP_MS     1000    /* between two sweeps */
#define PUBLISH_RETENTION_MS 60000   /* between two retention deletes */
#define PUBLISH_SWEEP_MAX    "10000" /* partials produced by one sweep at most */
#define PUBLISH_DRAIN_MS     10000   /* aggregate_publisher_free waits this long for deliveries */

/* One record produced whose published_version is not written yet. */
struct publish_flight {
    struct publish_flight *next;
    char *category;
    int64_t window_start_ms;
    int32_t partition;
    int64_t version;
    bool delivered; /* acknowledged: goes into the next UPDATE */
    bool failed;    /* refused: forgotten (the sweep produces it again) */
};

struct aggregate_publisher {
    struct aggregate_publisher_options opts;
    struct journal_producer *producer;
    PGconn *db;
    struct publish_flight *flights;
    bool hold;                                /* TP_TEST_AGGREGATE_HOLD: produce nothing */
    int64_t last_sweep_ms, last_retention_ms; /* monotonic, 0 = never */
    int64_t update_failed_ms; /* monotonic time the last UPDATE failed, 0 = it did not */
    _Atomic int64_t st_produced, st_published, st_failed, st_swept, st_deleted;
};

static void publish_delivered(void *opaque, const struct journal_delivery *d, void *arg)
{
    struct aggregate_publisher *pub = arg;
    struct publish_flight *f = opaque;
    if (d->err == TP_OK) {
        f->delivered = true;
        return;
    }
    f->failed = true;
    atomic_fetch_add(&pub->st_failed, 1);
    log_warn("aggregate partial \"%s\" (partition %d, version %lld) not acknowledged by kafka, "
             "the sweep produces it again: %s",
             f->category, f->partition, (long long)f->version, d->errstr);
}

enum tp_err aggregate_publisher_new(const struct aggregate_publisher_options *opts,
                                    struct aggregate_publisher **out, char *errstr,
                                    size_t errstr_size)
{
    struct aggregate_publisher *pub = tp_calloc(1, sizeof(*pub));
    pub->opts = *opts;
    const char *hold = getenv("TP_TEST_AGGREGATE_HOLD");
    pub->hold = hold && !strcmp(hold, "1");
    if (pub->hold)
        log_warn("TP_TEST_AGGREGATE_HOLD=1: aggregate partials are not produced (test hook)");
    enum tp_err err = journal_producer_new(opts->journal, publish_delivered, pub, &pub->producer,
                                           errstr, errstr_size);
    if (err != TP_OK) {
        free(pub);
        return err;
    }
    *out = pub;
    return TP_OK;
}

static void publish_flight_free(struct publish_flight *f)
{
    free(f->category);
    free(f);
}

/* Whether the partial of r is in flight at r's version or a later one. */
static bool publish_in_flight(const struct aggregate_publisher *pub, const struct aggregate_row *r)
{
    for (const struct publish_flight *f = pub->flights; f; f = f->next)
        if (!f->failed && f->version >= r->version && f->partition == r->partition &&
            f->window_start_ms == r->window_start_ms && !strcmp(f->category, r->category))
            return true;
    return false;
}

/* Produces r (closed, not in flight); false when it could not be enqueued. */
static bool publish_row(struct aggregate_publisher *pub, const struct aggregate_row *r)
{
    char errstr[256];
    uint8_t *bytes = NULL;
    size_t len = 0;
    if (aggregate_record_encode(r, pub->opts.region, pub->opts.schema_id, &bytes, &len, errstr,
                                sizeof(errstr)) != TP_OK) {
        log_error("could not encode an aggregate partial: %s", errstr);
        return false;
    }
    struct publish_flight *f = tp_calloc(1, sizeof(*f));
    f->category = tp_strdup(r->category);
    f->window_start_ms = r->window_start_ms;
    f->partition = r->partition;
    f->version = r->version;
    enum tp_err err = journal_producer_append_record(
        pub->producer, r->category, strlen(r->category), bytes, len, f, errstr, sizeof(errstr));
    free(bytes);
    if (err != TP_OK) {
        log_warn("could not produce an aggregate partial (the sweep tries again): %s", errstr);
        publish_flight_free(f);
        return false;
    }
    f->next = pub->flights;
    pub->flights = f;
    atomic_fetch_add(&pub->st_produced, 1);
    return true;
}

/* Produces the closed rows of rows not in flight; returns how many. */
static int64_t publish_rows(struct aggregate_publisher *pub, const struct aggregate_rows *rows)
{
    if (pub->hold)
        return 0;
    int64_t now = tp_now_ms(), n = 0;
    for (size_t i = 0; i < rows->n; i++) {
        const struct aggregate_row *r = &rows->v[i];
        if (now < r->window_start_ms + r->window_ms + pub->opts.grace_ms ||
            publish_in_flight(pub, r))
            continue;
        n += publish_row(pub, r);
    }
    return n;
}

void aggregate_publisher_offer(struct aggregate_publisher *pub, const struct aggregate_rows *rows)
{
    publish_rows(pub, rows);
    journal_producer_poll(pub->producer, 0);
}

static enum tp_err publish_ready(struct aggregate_publisher *pub, char *errstr, size_t errstr_size)
{
    if (pub->db && PQstatus(pub->db) == CONNECTION_OK)
        return TP_OK;
    PQfinish(pub->db);
    pub->db = NULL;
    return pg_connect(pub->opts.pg_dsn, "tp-projector aggregates", &pub->db, errstr, errstr_size);
}

/* {"a","b"} for a text[] parameter. */
static void publish_text_elem(struct buf *b, const char *s)
{
    buf_append_str(b, "\"");
    for (const char *p = s; *p; p++) {
        if (*p == '"' || *p == '\\')
            buf_append(b, "\\", 1);
        buf_append(b, p, 1);
    }
    buf_append_str(b, "\"");
}

/* One UPDATE of published_version for every acknowledged record; they leave the flights
 * once it committed (until then they keep their partials from being produced again). */
static void publish_record_delivered(struct aggregate_publisher *pub)
{
    struct buf cats, starts, parts, versions;
    buf_init(&cats, SIZE_MAX / 2);
    buf_init(&starts, SIZE_MAX / 2);
    buf_init(&parts, SIZE_MAX / 2);
    buf_init(&versions, SIZE_MAX / 2);
    size_t n = 0;
    for (struct publish_flight *f = pub->flights; f; f = f->next) {
        if (!f->delivered)
            continue;
        const char *sep = n++ ? "," : "{";
        buf_append_str(&cats, sep);
        publish_text_elem(&cats, f->category);
        buf_printf(&starts, "%s%" PRId64, sep, f->window_start_ms);
        buf_printf(&parts, "%s%d", sep, f->partition);
        buf_printf(&versions, "%s%" PRId64, sep, f->version);
    }
    char errstr[512];
    enum tp_err err = TP_OK;
    if (n > 0 && pub->update_failed_ms && tp_mono_ms() - pub->update_failed_ms < PUBLISH_SWEEP_MS)
        err = TP_DB_TRANSIENT; /* postgresql failed a moment ago: once a second, not per turn */
    else if (n > 0) {
        buf_append_str(&cats, "}");
        buf_append_str(&starts, "}");
        buf_append_str(&parts, "}");
        buf_append_str(&versions, "}");
        const char *params[] = {cats.data, starts.data, parts.data, versions.data};
        err = publish_ready(pub, errstr, sizeof(errstr));
        if (err == TP_OK)
            err = pg_exec_params(pub->db, aggregate_rows_published_sql, 4, params, PGRES_COMMAND_OK,
                                 NULL, errstr, sizeof(errstr));
        pub->update_failed_ms = err == TP_OK ? 0 : tp_mono_ms();
        if (err != TP_OK)
            log_warn("could not record %zu published aggregate partials (next try in a "
                     "second): %s",
                     n, errstr);
    }
    /* forget what is recorded, and what failed (the sweep finds it unpublished) */
    for (struct publish_flight **pp = &pub->flights; *pp;) {
        struct publish_flight *f = *pp;
        if ((f->delivered && err == TP_OK) || f->failed) {
            *pp = f->next;
            publish_flight_free(f);
        } else {
            pp = &f->next;
        }
    }
    if (n > 0 && err == TP_OK)
        atomic_fetch_add(&pub->st_published, (int64_t)n);
    buf_release(&cats);
    buf_release(&starts);
    buf_release(&parts);
    buf_release(&versions);
}

static void publish_sweep(struct aggregate_publisher *pub, const int32_t *parts, size_t n)
{
    if (n == 0 || pub->hold)
        return;
    struct buf arr;
    buf_init(&arr, SIZE_MAX / 2);
    for (size_t i = 0; i < n; i++)
        buf_printf(&arr, "%s%d", i ? "," : "{", parts[i]);
    buf_append_str(&arr, "}");
    char grace[24], errstr[512];
    snprintf(grace, sizeof(grace), "%" PRId64, pub->opts.grace_ms);
    const char *params[] = {arr.data, grace, PUBLISH_SWEEP_MAX};
    PGresult *res = NULL;
    struct aggregate_rows rows = {0};
    enum tp_err err = publish_ready(pub, errstr, sizeof(errstr));
    if (err == TP_OK)
        err = pg_exec_params(pub->db, aggregate_rows_sweep_sql, 3, params, PGRES_TUPLES_OK, &res,
                             errstr, sizeof(errstr));
    if (err == TP_OK)
        err = aggregate_rows_read(res, &rows, errstr, sizeof(errstr));
    if (err == TP_OK) {
        int64_t produced = publish_rows(pub, &rows);
        if (produced > 0) {
            atomic_fetch_add(&pub->st_swept, produced);
            log_debug("sweep: %lld unpublished aggregate partials produced", (long long)produced);
        }
    } else {
        log_warn("could not look for unpublished aggregate partials (next try in a second): %s",
                 errstr);
    }
    PQclear(res);
    aggregate_rows_release(&rows);
    buf_release(&arr);
}

static void publish_retention(struct aggregate_publisher *pub)
{
    char hours[24], errstr[512];
    snprintf(hours, sizeof(hours), "%" PRId64, pub->opts.retention_h);
    const char *params[] = {hours};
    PGresult *res = NULL;
    enum tp_err err = publish_ready(pub, errstr, sizeof(errstr));
    if (err == TP_OK)
        err = pg_exec_params(pub->db, aggregate_rows_retention_sql, 1, params, PGRES_COMMAND_OK,
                             &res, errstr, sizeof(errstr));
    if (err == TP_OK) {
        int64_t deleted = strtoll(PQcmdTuples(res), NULL, 10);
        if (deleted > 0)
            log_info("deleted %lld aggregate partials older than %lld h", (long long)deleted,
                     (long long)pub->opts.retention_h);
        atomic_fetch_add(&pub->st_deleted, deleted);
    } else {
        log_warn("could not delete aggregate partials older than %lld h (next try in a minute): "
                 "%s",
                 (long long)pub->opts.retention_h, errstr);
    }
    PQclear(res);
}

void aggregate_publisher_tick(struct aggregate_publisher *pub, const int32_t *parts, size_t n)
{
    journal_producer_poll(pub->producer, 0);
    publish_record_delivered(pub);
    int64_t now = tp_mono_ms();
    if (!pub->last_sweep_ms || now - pub->last_sweep_ms >= PUBLISH_SWEEP_MS) {
        pub->last_sweep_ms = now;
        publish_sweep(pub, parts, n);
    }
    if (pub->opts.retention_h > 0 &&
        (!pub->last_retention_ms || now - pub->last_retention_ms >= PUBLISH_RETENTION_MS)) {
        pub->last_retention_ms = now;
        publish_retention(pub);
    }
}

void aggregate_publisher_stats_get(struct aggregate_publisher *pub,
                                   struct aggregate_publisher_stats *out)
{
    out->produced = atomic_load(&pub->st_produced);
    out->published = atomic_load(&pub->st_published);
    out->failed = atomic_load(&pub->st_failed);
    out->swept = atomic_load(&pub->st_swept);
    out->deleted = atomic_load(&pub->st_deleted);
}

void aggregate_publisher_free(struct aggregate_publisher *pub)
{
    if (!pub)
        return;
    if (pub->flights) {
        journal_producer_flush(pub->producer, PUBLISH_DRAIN_MS);
        publish_record_delivered(pub);
    }
    journal_producer_free(pub->producer); /* served reports may still name flights: free after */
    while (pub->flights) {
        struct publish_flight *f = pub->flights;
        pub->flights = f->next;
        publish_flight_free(f);
    }
    PQfinish(pub->db);
    free(pub);
}
