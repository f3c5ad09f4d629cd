#include "replay.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/arena.h"
#include "common/log.h"
#include "common/mem.h"
#include "twin/history.h"
#include "twin/fold.h"
#include "twin/twins.h"
#include "shadow.h"

#define REPLAY_MAX_PARTITIONS 10000 /* journal.partitions' bound */
#define REPLAY_KAFKA_TIMEOUT  15000 /* ms for metadata and offset requests */
#define REPLAY_SWAP_ATTEMPTS  10    /* swaps that time out on their locks, then give up */
#define REPLAY_CATCHUP_ROUNDS 20    /* then swap anyway: the rest is read under the lock */
#define REPLAY_INVALID_LOGGED 10    /* invalid events logged one by one, then only counted */

/*
 * A worker owns the partitions p with p % n_workers == its index, with their reader, twins
 * and history: devices never cross partitions, so workers share nothing but counters. The
 * build runs one thread per worker; catch-up and swap run them one after another on the
 * calling thread (the swap's transaction is one connection).
 */
struct replay_pending;

struct replay_worker {
    struct replay *rp;
    int index;
    pthread_t thread;
    struct journal_reader *reader;
    struct shadow *shadow; /* its own connection for the bulk COPY (not the swap's) */
    struct twins *twins;
    struct history *history;
    struct journal_event *batch;
    struct arena arena;             /* the batch's readings */
    struct replay_pending *pending; /* the batch's valid readings, sorted by device */
    size_t cap_pending;
    int spills;        /* history parts written before the end of the build */
    atomic_bool built; /* its build thread finished (err says how) */
    enum tp_err err;
    char errstr[512];
};

struct replay {
    struct replay_options opts;
    struct journal_reader *reader; /* watermarks and offsets by time */
    struct shadow *shadow;         /* exclusive; the swap's connection */
    struct replay_worker *workers;
    int n_workers;
    size_t n_parts;
    int32_t *parts;       /* 0 .. n_parts - 1 */
    _Atomic int64_t *pos; /* next offset to read (= next offset of the rebuilt projection) */
    int64_t *target;      /* a phase reads until pos >= target everywhere */
    bool indexed;         /* the shadows have their indexes: changes go in as upserts */
    atomic_bool running;
    /* progress of the current phase */
    const char *phase;
    int64_t phase_t0, phase_events0, phase_total, last_progress_ms;
    int64_t t0;
    _Atomic int64_t st_events, st_applied, st_duplicates, st_invalid, st_twins, st_history;
    _Atomic int64_t st_too_late, st_seq_jumps;
    _Atomic int64_t st_build_events, st_build_ms, st_total_ms;
    atomic_int st_swaps;
};

enum tp_err replay_from_parse(const char *s, bool *from_start, int64_t *ms, char *errstr,
                              size_t errstr_size)
{
    *from_start = false;
    *ms = 0;
    if (!*s || !strcmp(s, "start")) {
        *from_start = true;
        return TP_OK;
    }
    if (strspn(s, "0123456789") == strlen(s) && strlen(s) <= 15) {
        *ms = strtoll(s, NULL, 10);
        return TP_OK;
    }
    struct tm tm = {0};
    int used = 0, frac_ms = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &used) != 6 ||
        used != 19 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
        tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
        goto bad;
    const char *p = s + used;
    if (*p == '.') {
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 3)
                frac_ms = frac_ms * 10 + (*p - '0');
        if (digits == 0)
            goto bad;
        for (; digits < 3; digits++)
            frac_ms *= 10;
    }
    int offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int hh, mm, n = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &hh, &mm, &n) != 2 || n != 5 || hh > 23 || mm > 59)
            goto bad;
        offset_min = (*p == '-' ? -1 : 1) * (hh * 60 + mm);
        p += 6;
    } else {
        goto bad;
    }
    if (*p)
        goto bad;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *ms = ((int64_t)timegm(&tm) - (int64_t)offset_min * 60) * 1000 + frac_ms;
    return TP_OK;
bad:
    return tp_err_set(TP_CONFIG, errstr, errstr_size,
                      "invalid replay.from \"%s\": use an RFC 3339 time "
                      "(2026-11-23T10:00:00Z), milliseconds since the epoch, or \"start\"",
                      s);
}

void replay_progress_format(char *out, size_t n, const char *phase, int64_t done, int64_t total,
                            double rate, int64_t lag)
{
    char eta[32] = "?";
    if (rate > 0 && total >= done) {
        double s = (double)(total - done) / rate;
        if (s < 60)
            snprintf(eta, sizeof(eta), "%.0f s", s);
        else if (s < 3600)
            snprintf(eta, sizeof(eta), "%dm%02ds", (int)(s / 60), (int)s % 60);
        else
            snprintf(eta, sizeof(eta), "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
    }
    int pct = total > 0 ? (int)(100 * (done < total ? done : total) / total) : 100;
    snprintf(out, n, "%s: %lld of %lld events (%d%%), %.0f events/s, ETA %s, lag %lld", phase,
             (long long)done, (long long)total, pct, rate, eta, (long long)lag);
}

/* Events left to the current end of the journal (cached high watermarks). */
static int64_t replay_lag(struct replay *rp)
{
    int64_t lag = 0;
    for (size_t p = 0; p < rp->n_parts; p++) {
        int64_t pos = atomic_load(&rp->pos[p]);
        int64_t l =
            journal_reader_lag(rp->workers[p % (size_t)rp->n_workers].reader, (int32_t)p, pos);
        if (l < 0) /* not fetched yet: what the phase still has to read */
            l = rp->target[p] > pos ? rp->target[p] - pos : 0;
        lag += l;
    }
    return lag;
}

/* The progress line: \r on a TTY (every 200 ms), else a log line every 10 s. */
static void replay_progress(struct replay *rp, bool final)
{
    int64_t now = tp_mono_ms();
    if (!final && now - rp->last_progress_ms < (rp->opts.progress_tty ? 200 : 10000))
        return;
    rp->last_progress_ms = now;
    int64_t done = atomic_load(&rp->st_events) - rp->phase_events0;
    double secs = (double)(now - rp->phase_t0) / 1000.0;
    char line[256];
    if (done > rp->phase_total) /* events past the phase's end come in the same batches */
        rp->phase_total = done;
    replay_progress_format(line, sizeof(line), rp->phase, done, rp->phase_total,
                           secs > 0 ? (double)done / secs : 0, replay_lag(rp));
    if (rp->opts.progress_tty)
        fprintf(stderr, "\r%s   %s", line, final ? "\n" : "");
    else
        log_info("%s", line);
}

static void replay_phase(struct replay *rp, const char *phase)
{
    rp->phase = phase;
    rp->phase_t0 = tp_mono_ms();
    rp->phase_events0 = atomic_load(&rp->st_events);
    rp->phase_total = 0;
    for (size_t p = 0; p < rp->n_parts; p++) {
        int64_t pos = atomic_load(&rp->pos[p]);
        if (rp->target[p] > pos)
            rp->phase_total += rp->target[p] - pos;
    }
    rp->last_progress_ms = 0;
}

enum tp_err replay_new(const struct replay_options *opts, struct replay **out, char *errstr,
                       size_t errstr_size)
{
    struct replay *rp = tp_calloc(1, sizeof(*rp));
    rp->opts = *opts;
    if (rp->opts.max_sequence_jump <= 0)
        rp->opts.max_sequence_jump = FOLD_MAX_JUMP_DEFAULT;
    rp->t0 = tp_mono_ms();
    rp->n_workers = opts->threads > 0 ? opts->threads : 1;
    rp->workers = tp_calloc((size_t)rp->n_workers, sizeof(*rp->workers));
    atomic_store(&rp->running, true);
    enum tp_err err = shadow_new(opts->pg_dsn, opts->group, opts->journal->topic,
                                 opts->lock_timeout_ms, true, &rp->shadow, errstr, errstr_size);
    if (err == TP_OK)
        err = journal_reader_new(opts->journal, &rp->reader, errstr, errstr_size);
    for (int i = 0; i < rp->n_workers; i++) {
        struct replay_worker *w = &rp->workers[i];
        w->rp = rp;
        w->index = i;
        w->twins = twins_new();
        w->history = history_new();
        w->batch = tp_calloc(opts->batch_max, sizeof(*w->batch));
        arena_init(&w->arena);
        if (err == TP_OK)
            err = journal_reader_new(opts->journal, &w->reader, errstr, errstr_size);
        if (err == TP_OK)
            err = shadow_new(opts->pg_dsn, opts->group, opts->journal->topic, opts->lock_timeout_ms,
                             false, &w->shadow, errstr, errstr_size);
    }
    if (err != TP_OK) {
        replay_free(rp);
        return err;
    }
    *out = rp;
    return TP_OK;
}

/* Per-batch counts, added to the shared ones once per batch. */
struct replay_counts {
    int64_t applied, duplicates, invalid, too_late, seq_jumps;
};

/* A valid reading waiting in the worker's sorted batch. */
struct replay_pending {
    uint64_t device; /* hash of the device_id: the sort key */
    int32_t partition;
    int64_t offset;
    const journal_reading *reading;
};

static uint64_t replay_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

/* By device, then partition and offset: each device's readings stay in journal order. */
static int replay_pending_cmp(const void *a, const void *b)
{
    const struct replay_pending *x = a, *y = b;
    if (x->device != y->device)
        return x->device < y->device ? -1 : 1;
    if (x->partition != y->partition)
        return x->partition < y->partition ? -1 : 1;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Folds one valid reading as the live projector does (projector_fold_batch). */
static void replay_fold(struct replay_worker *w, const journal_reading *r, struct replay_counts *c)
{
    struct twin *t = twins_get(w->twins, r->device_id);
    if (!t)
        t = twins_put(w->twins, twin_new(r->device_id));
    /* too late or too far ahead: the live projector dead-lettered it, counted here only */
    switch (fold_apply(t, r, w->history, w->rp->opts.max_sequence_jump)) {
    case FOLD_APPLIED:
        twins_mark_dirty(w->twins, t);
        c->applied++;
        break;
    case FOLD_TOO_LATE:
        c->too_late++;
        break;
    case FOLD_JUMP:
        c->seq_jumps++;
        break;
    default:
        c->duplicates++;
        break;
    }
}

/* Counts (and logs, the first few) an event the projector would skip. */
static void replay_skip(struct replay_worker *w, const struct journal_event *ev,
                        struct replay_counts *c)
{
    if (atomic_load(&w->rp->st_invalid) + c->invalid < REPLAY_INVALID_LOGGED)
        log_warn("skipping event at partition %d offset %lld: %s", ev->partition,
                 (long long)ev->offset,
                 ev->reading ? "reading lacks device_id, sequence or timestamp" : ev->error);
    c->invalid++;
}

/* Writes what the worker changed since its last write into the shadows: before the indexes
 * exist a bulk COPY on its own connection (history only: a spill), after them upserts in the
 * main connection (the swap's transaction when one is open). Forgets it unless keep. */
static enum tp_err replay_write(struct replay_worker *w, bool keep, char *errstr,
                                size_t errstr_size)
{
    struct replay *rp = w->rp;
    enum tp_err err;
    atomic_fetch_add(&rp->st_history, (int64_t)history_count(w->history));
    if (!rp->indexed) {
        err = shadow_copy(w->shadow, NULL, 0, w->history, errstr, errstr_size);
        w->spills++;
    } else {
        err = shadow_apply(rp->shadow, w->twins->dirty, w->twins->n_dirty, w->history, errstr,
                           errstr_size);
    }
    if (err != TP_OK || keep)
        return err;
    if (rp->indexed)
        twins_clean(w->twins);
    history_clear(w->history);
    return TP_OK;
}

/* Whether the worker's partitions all reached their targets. */
static bool replay_reached(const struct replay_worker *w)
{
    const struct replay *rp = w->rp;
    for (size_t p = (size_t)w->index; p < rp->n_parts; p += (size_t)rp->n_workers)
        if (atomic_load(&rp->pos[p]) < rp->target[p])
            return false;
    return true;
}

/*
 * Gathers up to replay.sort_events events (one poll waiting up to 100 ms, then what is
 * there) and folds them sorted by device: a device's readings then come one after another,
 * so its twin and its history entries are in the cache for all but the first (with 10,000
 * devices interleaved a batch of 10,000 holds about one reading per device, and every
 * history value costs two cache misses). Each device's readings keep their journal order,
 * and a device's twin and history depend on nothing else: the result is the live fold's.
 * *n = events taken (folded or skipped).
 */
static enum tp_err replay_batch(struct replay_worker *w, size_t *n, struct replay_counts *c,
                                char *errstr, size_t errstr_size)
{
    struct replay *rp = w->rp;
    enum tp_err err = TP_OK;
    size_t k = 0, got;
    *n = 0;
    do {
        got = 0;
        err = journal_reader_poll(w->reader, *n ? 0 : 100, w->batch, rp->opts.batch_max, &w->arena,
                                  &got, errstr, errstr_size);
        for (size_t i = 0; err == TP_OK && i < got; i++) {
            const struct journal_event *ev = &w->batch[i];
            if ((size_t)ev->partition >= rp->n_parts ||
                ev->offset < atomic_load(&rp->pos[ev->partition]))
                continue; /* a partition added since the start, or read already */
            if (ev->reading && fold_valid(ev->reading)) {
                if (k == w->cap_pending) {
                    w->cap_pending = w->cap_pending ? 2 * w->cap_pending : 16384;
                    w->pending = tp_realloc(w->pending, w->cap_pending * sizeof(*w->pending));
                }
                w->pending[k++] = (struct replay_pending){replay_hash(ev->reading->device_id),
                                                          ev->partition, ev->offset, ev->reading};
            } else {
                replay_skip(w, ev, c);
                if (ev->offset + 1 > atomic_load(&rp->pos[ev->partition]))
                    atomic_store(&rp->pos[ev->partition], ev->offset + 1);
            }
        }
        *n += got;
    } while (err == TP_OK && got > 0 && *n + rp->opts.batch_max <= rp->opts.sort_events);
    if (k > 1 && rp->opts.sort_events > rp->opts.batch_max)
        qsort(w->pending, k, sizeof(*w->pending), replay_pending_cmp);
    for (size_t i = 0; i < k; i++) {
        const struct replay_pending *e = &w->pending[i];
        replay_fold(w, e->reading, c);
        if (e->offset + 1 > atomic_load(&rp->pos[e->partition]))
            atomic_store(&rp->pos[e->partition], e->offset + 1);
    }
    arena_release(&w->arena);
    journal_reader_release(w->reader); /* readings of registered versions (cfg->decoder) */
    return err;
}

/*
 * Reads and folds the worker's partitions until they reached their targets (events past it
 * that come in the same batches are folded too: pos is what counts). A full history map is
 * written out (never inside a swap: keep_history). progress: print it (the calling thread
 * owns the progress line). *read = events of this call.
 */
static enum tp_err replay_read(struct replay_worker *w, bool keep_history, bool progress,
                               int64_t *read, char *errstr, size_t errstr_size)
{
    struct replay *rp = w->rp;
    enum tp_err err = TP_OK;
    *read = 0;
    while (err == TP_OK && !replay_reached(w)) {
        if (!atomic_load(&rp->running))
            return tp_err_set(TP_TIMEOUT, errstr, errstr_size, "stopped before the swap");
        size_t n = 0;
        struct replay_counts c = {0};
        err = replay_batch(w, &n, &c, errstr, errstr_size);
        *read += (int64_t)n;
        atomic_fetch_add(&rp->st_events, (int64_t)n);
        atomic_fetch_add(&rp->st_applied, c.applied);
        atomic_fetch_add(&rp->st_duplicates, c.duplicates);
        atomic_fetch_add(&rp->st_invalid, c.invalid);
        atomic_fetch_add(&rp->st_too_late, c.too_late);
        atomic_fetch_add(&rp->st_seq_jumps, c.seq_jumps);
        if (err == TP_OK && !keep_history &&
            history_count(w->history) >= rp->opts.history_max_rows / (size_t)rp->n_workers)
            err = replay_write(w, false, errstr, errstr_size);
        if (progress)
            replay_progress(rp, false);
    }
    return err;
}

/* target = the current end of every partition. */
static enum tp_err replay_end_offsets(struct replay *rp, char *errstr, size_t errstr_size)
{
    int64_t *lo = tp_calloc(rp->n_parts, sizeof(*lo));
    int64_t *hi = tp_calloc(rp->n_parts, sizeof(*hi));
    size_t n = 0;
    enum tp_err err = journal_reader_watermarks(rp->reader, REPLAY_KAFKA_TIMEOUT, lo, hi,
                                                rp->n_parts, &n, errstr, errstr_size);
    if (err == TP_OK && n != rp->n_parts)
        err = tp_err_set(TP_CONFLICT, errstr, errstr_size,
                         "topic \"%s\" has %zu partitions, %zu when the replay started",
                         rp->opts.journal->topic, n, rp->n_parts);
    for (size_t p = 0; err == TP_OK && p < n; p++)
        rp->target[p] = hi[p];
    free(lo);
    free(hi);
    return err;
}

enum tp_err replay_check_truncated(const char *topic, const int64_t *lo, size_t n, bool allow,
                                   char *errstr, size_t errstr_size)
{
    char list[512] = "";
    size_t len = 0, shown = 0, truncated = 0;
    for (size_t p = 0; p < n; p++) {
        if (lo[p] <= 0)
            continue;
        truncated++;
        if (shown < 8 && len < sizeof(list)) {
            int w =
                snprintf(list + len, sizeof(list) - len, "%spartition %zu starts at offset %lld",
                         shown ? ", " : "", p, (long long)lo[p]);
            len += w > 0 ? (size_t)w : 0;
            shown++;
        }
    }
    if (errstr && errstr_size)
        errstr[0] = '\0';
    if (truncated == 0)
        return TP_OK;
    char more[48] = "";
    if (truncated > shown)
        snprintf(more, sizeof(more), " (and %zu more partitions)", truncated - shown);
    if (allow) {
        tp_err_set(TP_OK, errstr, errstr_size,
                   "journal \"%s\" is truncated: %s%s; rebuilding from what is left "
                   "(replay.allow_truncated): devices whose events were all deleted are missing",
                   topic, list, more);
        return TP_OK;
    }
    return tp_err_set(TP_CONFLICT, errstr, errstr_size,
                      "journal \"%s\" is truncated: %s%s; the events before were deleted "
                      "(retention or DeleteRecords), so a rebuild from the start would lack them: "
                      "set replay.allow_truncated=true to rebuild from what is left",
                      topic, list, more);
}

/* Phase 1: partitions, start and end offsets, each worker's assignment. */
static enum tp_err replay_start(struct replay *rp, char *errstr, size_t errstr_size)
{
    int64_t *lo = tp_calloc(REPLAY_MAX_PARTITIONS, sizeof(*lo));
    int64_t *hi = tp_calloc(REPLAY_MAX_PARTITIONS, sizeof(*hi));
    int64_t *start = tp_calloc(REPLAY_MAX_PARTITIONS, sizeof(*start));
    size_t n = 0;
    enum tp_err err = journal_reader_watermarks(rp->reader, REPLAY_KAFKA_TIMEOUT, lo, hi,
                                                REPLAY_MAX_PARTITIONS, &n, errstr, errstr_size);
    if (err == TP_OK && rp->opts.from_start) {
        char why[1024];
        err = replay_check_truncated(rp->opts.journal->topic, lo, n, rp->opts.allow_truncated, why,
                                     sizeof(why));
        if (err != TP_OK)
            tp_err_set(err, errstr, errstr_size, "%s", why);
        else if (why[0])
            log_warn("%s", why);
    }
    if (err == TP_OK) {
        memcpy(start, lo, n * sizeof(*start));
        if (!rp->opts.from_start)
            err = journal_reader_offsets_for_time(
                rp->reader, rp->opts.from_ms, REPLAY_KAFKA_TIMEOUT, start, n, errstr, errstr_size);
    }
    if (err == TP_OK) {
        rp->n_parts = n;
        rp->parts = tp_calloc(n ? n : 1, sizeof(*rp->parts));
        rp->pos = tp_calloc(n ? n : 1, sizeof(*rp->pos));
        rp->target = tp_calloc(n ? n : 1, sizeof(*rp->target));
        for (size_t p = 0; p < n; p++) {
            rp->parts[p] = (int32_t)p;
            atomic_store(&rp->pos[p], start[p]);
            rp->target[p] = hi[p];
            log_info("partition %zu: rebuilding from offset %lld to %lld", p, (long long)start[p],
                     (long long)hi[p]);
        }
    }
    /* worker i reads partitions i, i + n_workers, ... */
    for (int i = 0; err == TP_OK && i < rp->n_workers; i++) {
        size_t k = 0;
        for (size_t p = (size_t)i; p < n; p += (size_t)rp->n_workers, k++) {
            lo[k] = start[p];
            hi[k] = (int64_t)p;
        }
        int32_t *mine = tp_calloc(k ? k : 1, sizeof(*mine));
        for (size_t j = 0; j < k; j++)
            mine[j] = (int32_t)hi[j];
        err = journal_reader_assign(rp->workers[i].reader, mine, lo, k, errstr, errstr_size);
        free(mine);
    }
    free(lo);
    free(hi);
    free(start);
    return err;
}

/* A worker's build: its partitions to their targets, then its twins and history COPYed. */
static void *replay_worker_build(void *arg)
{
    struct replay_worker *w = arg;
    int64_t read;
    w->err = replay_read(w, false, false, &read, w->errstr, sizeof(w->errstr));
    atomic_fetch_add(&w->rp->st_twins, (int64_t)w->twins->count);
    if (w->err == TP_OK) {
        atomic_fetch_add(&w->rp->st_history, (int64_t)history_count(w->history));
        w->err = shadow_copy(w->shadow, w->twins->dirty, w->twins->n_dirty, w->history, w->errstr,
                             sizeof(w->errstr));
    }
    if (w->err == TP_OK) {
        twins_clean(w->twins);
        history_clear(w->history);
    } else if (w->err != TP_TIMEOUT) {
        atomic_store(&w->rp->running, false); /* the others stop too: the run failed */
    }
    atomic_store(&w->built, true);
    return NULL;
}

/* Phases 1 and 2: journal -> memory -> indexed shadow tables. */
static enum tp_err replay_build(struct replay *rp, char *errstr, size_t errstr_size)
{
    enum tp_err err = shadow_create(rp->shadow, errstr, errstr_size);
    if (err == TP_OK)
        err = replay_start(rp, errstr, errstr_size);
    if (err != TP_OK)
        return err;
    replay_phase(rp, "replay build");
    int started = 0;
    for (; started < rp->n_workers; started++)
        if (pthread_create(&rp->workers[started].thread, NULL, replay_worker_build,
                           &rp->workers[started]) != 0)
            break;
    if (started < rp->n_workers) {
        atomic_store(&rp->running, false);
        err = tp_err_set(TP_IO, errstr, errstr_size, "could not start worker threads");
    }
    bool reading = true, building = true;
    int64_t t = tp_mono_ms(); /* when the last partition reached its end: then the COPYs */
    while (building && started == rp->n_workers) {
        usleep(100 * 1000);
        bool was_reading = reading;
        reading = building = false;
        for (int i = 0; i < rp->n_workers; i++) {
            reading = reading || !replay_reached(&rp->workers[i]);
            building = building || !atomic_load(&rp->workers[i].built);
        }
        if (was_reading)
            replay_progress(rp, !reading || !building);
        if (was_reading && !reading)
            t = tp_mono_ms();
    }
    bool spilled = false;
    for (int i = 0; i < started; i++) {
        struct replay_worker *w = &rp->workers[i];
        pthread_join(w->thread, NULL);
        spilled = spilled || w->spills > 0;
        /* the first worker's error that is not "stopped" (the others stop because of it) */
        if (w->err != TP_OK && (err == TP_OK || (err == TP_TIMEOUT && w->err != TP_TIMEOUT)))
            err = tp_err_set(w->err, errstr, errstr_size, "%s", w->errstr);
    }
    if (err != TP_OK)
        return err;
    log_info("wrote %lld twins into the shadow tables (%d connections) in %lld ms after the last "
             "event",
             (long long)atomic_load(&rp->st_twins), rp->n_workers, (long long)(tp_mono_ms() - t));
    t = tp_mono_ms();
    err = shadow_index(rp->shadow, spilled, errstr, errstr_size);
    if (err != TP_OK)
        return err;
    rp->indexed = true;
    log_info("indexed the shadow tables in %lld ms%s", (long long)(tp_mono_ms() - t),
             spilled ? " (history merged: it was spilled)" : "");
    atomic_store(&rp->st_build_events, atomic_load(&rp->st_events));
    atomic_store(&rp->st_build_ms, tp_mono_ms() - rp->t0);
    return TP_OK;
}

/* Every worker reads to the targets; their changes are written (kept inside a swap). */
static enum tp_err replay_read_all(struct replay *rp, bool in_swap, int64_t *read, char *errstr,
                                   size_t errstr_size)
{
    enum tp_err err = TP_OK;
    *read = 0;
    for (int i = 0; i < rp->n_workers && err == TP_OK; i++) {
        int64_t n = 0;
        err = replay_read(&rp->workers[i], in_swap, true, &n, errstr, errstr_size);
        *read += n;
        if (err == TP_OK)
            err = replay_write(&rp->workers[i], in_swap, errstr, errstr_size);
    }
    atomic_store(&rp->st_twins, 0);
    for (int i = 0; i < rp->n_workers; i++)
        atomic_fetch_add(&rp->st_twins, (int64_t)rp->workers[i].twins->count);
    return err;
}

/* Phase 3: catch-up rounds until one reads fewer than replay.catchup_events, or no fewer than
 * the round before (ingest as fast as the catch-up: it would never end), or
 * REPLAY_CATCHUP_ROUNDS: the rest is read under the swap's lock. */
static enum tp_err replay_catch_up(struct replay *rp, char *errstr, size_t errstr_size)
{
    enum tp_err err = TP_OK;
    int64_t read = 0, before = INT64_MAX;
    for (int round = 0; err == TP_OK && round < REPLAY_CATCHUP_ROUNDS; round++) {
        err = replay_end_offsets(rp, errstr, errstr_size);
        if (err != TP_OK)
            break;
        replay_phase(rp, "replay catch-up");
        err = replay_read_all(rp, false, &read, errstr, errstr_size);
        if (err == TP_OK && read > 0)
            log_info("caught up %lld events", (long long)read);
        if (read < rp->opts.catchup_events || read >= before)
            break;
        before = read;
    }
    return err;
}

/* Phase 4: one swap attempt (see replay.h). */
static enum tp_err replay_swap(struct replay *rp, char *errstr, size_t errstr_size)
{
    int64_t read = 0, t = tp_mono_ms();
    int64_t *pos = tp_calloc(rp->n_parts ? rp->n_parts : 1, sizeof(*pos));
    for (size_t p = 0; p < rp->n_parts; p++)
        pos[p] = atomic_load(&rp->pos[p]);
    enum tp_err err =
        shadow_swap_begin(rp->shadow, rp->parts, pos, rp->n_parts, errstr, errstr_size);
    if (err != TP_OK)
        goto out;
    /* the live projector's flushes wait from here: read to the end as it stands now */
    err = replay_end_offsets(rp, errstr, errstr_size);
    if (err == TP_OK) {
        replay_phase(rp, "replay swap");
        err = replay_read_all(rp, true, &read, errstr, errstr_size); /* kept until COMMIT */
    }
    if (err == TP_OK) {
        atomic_fetch_add(&rp->st_swaps, 1);
        for (size_t p = 0; p < rp->n_parts; p++)
            pos[p] = atomic_load(&rp->pos[p]);
        err = shadow_swap_commit(rp->shadow, rp->parts, pos, rp->n_parts, errstr, errstr_size);
    } else {
        shadow_swap_abort(rp->shadow); /* the folded events stay dirty for the next attempt */
    }
    if (err != TP_OK)
        goto out;
    for (int i = 0; i < rp->n_workers; i++) {
        twins_clean(rp->workers[i].twins);
        history_clear(rp->workers[i].history);
    }
    log_info("swapped the rebuilt projection in (%lld events read under the lock, %lld ms)",
             (long long)read, (long long)(tp_mono_ms() - t));
out:
    free(pos);
    return err;
}

enum tp_err replay_run(struct replay *rp, char *errstr, size_t errstr_size)
{
    enum tp_err err = replay_build(rp, errstr, errstr_size);
    if (err == TP_OK && !rp->opts.swap) {
        log_info("shadow tables twins_shadow and metric_minutes_shadow built; not swapped "
                 "(replay.swap=false)");
        goto out;
    }
    for (int attempt = 1; err == TP_OK; attempt++) {
        err = replay_catch_up(rp, errstr, errstr_size);
        if (err != TP_OK)
            break;
        err = replay_swap(rp, errstr, errstr_size);
        if (err == TP_OK || !tp_err_retriable(err) || attempt == REPLAY_SWAP_ATTEMPTS ||
            !atomic_load(&rp->running))
            break;
        log_warn("swap attempt %d failed, catching up and retrying: %s", attempt, errstr);
        err = TP_OK;
        usleep(500 * 1000);
    }
out:
    if (err != TP_OK) {
        char ignore[256];
        if (shadow_drop(rp->shadow, ignore, sizeof(ignore)) != TP_OK)
            log_warn("could not drop the shadow tables: %s", ignore);
    }
    atomic_store(&rp->st_total_ms, tp_mono_ms() - rp->t0);
    return err;
}

void replay_stop(struct replay *rp)
{
    atomic_store(&rp->running, false);
}

void replay_stats_get(struct replay *rp, struct replay_stats *out)
{
    out->events = atomic_load(&rp->st_events);
    out->applied = atomic_load(&rp->st_applied);
    out->duplicates = atomic_load(&rp->st_duplicates);
    out->invalid = atomic_load(&rp->st_invalid);
    out->too_late = atomic_load(&rp->st_too_late);
    out->seq_jumps = atomic_load(&rp->st_seq_jumps);
    out->twins = atomic_load(&rp->st_twins);
    out->history_rows = atomic_load(&rp->st_history);
    out->build_events = atomic_load(&rp->st_build_events);
    out->build_ms = atomic_load(&rp->st_build_ms);
    out->total_ms = atomic_load(&rp->st_total_ms);
    out->swap_attempts = atomic_load(&rp->st_swaps);
}

void replay_free(struct replay *rp)
{
    if (!rp)
        return;
    for (int i = 0; rp->workers && i < rp->n_workers; i++) {
        struct replay_worker *w = &rp->workers[i];
        journal_reader_free(w->reader);
        shadow_free(w->shadow);
        twins_free(w->twins);
        history_free(w->history);
        arena_release(&w->arena);
        free(w->batch);
        free(w->pending);
    }
    free(rp->workers);
    journal_reader_free(rp->reader);
    shadow_free(rp->shadow);
    free(rp->parts);
    free(rp->pos);
    free(rp->target);
    free(rp);
}
