#include "projector.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/metrics.h"
#include "common/mem.h"
#include "common/service.h"
#include "twin/history.h"
#include "twin/fold.h"
#include "store.h"
#include "twin/twins.h"

#define PROJECTOR_FINAL_ATTEMPTS  5     /* flushes on revoke and at stop (then state is dropped) */
#define PROJECTOR_ASSIGN_ATTEMPTS 12    /* offset loads on assign, backoff up to 5 s: ~35 s */
#define PROJECTOR_BACKOFF_MAX_MS  5000  /* between attempts while postgresql does not answer */
#define PROJECTOR_RETENTION_EVERY 60000 /* ms between two history retention deletes */
#define PROJECTOR_FRESH_MAX       (1 << 20) /* freshness samples per flush (then skipped) */
#define PROJECTOR_DECODE_WAIT_MS  250   /* first wait while the registry cannot decode an event */
#define PROJECTOR_DLQ_FLUSH_MS    15000 /* dead letters acknowledged before a flush commits */
#define PROJECTOR_SKIP_LOG_MS     10000 /* events not applied: one log line per this period */

enum projector_job_state {
    PROJECTOR_JOB_IDLE,    /* none, or a failed one kept for a retry (job.built) */
    PROJECTOR_JOB_QUEUED,  /* handed to the flusher thread */
    PROJECTOR_JOB_RUNNING, /* on the flusher thread */
    PROJECTOR_JOB_DONE,    /* finished: its outcome waits for projector_job_collect */
};

/* One flush: built on the loop thread (store_job_build: owns its bytes), run on the
 * flusher thread's connection, collected on the loop thread. */
struct projector_job {
    struct store_job sj;
    bool built;        /* sj holds a job not committed yet */
    int64_t *fresh_ts; /* journal append times of its readings (freshness on commit) */
    size_t n_fresh, cap_fresh;
    enum tp_err err; /* written by the run, read after it (job_mu orders the two) */
    char errstr[512];
    int64_t ms;
};

struct projector {
    struct projector_options opts;
    struct store *store;
    struct journal_consumer *consumer;
    struct twins *twins;
    struct history *history; /* of the applied readings since the last flush */
    /* likewise per aggregate partial, the partials' outbox and the assigned partitions for
     * its sweep (NULL: aggregate.enabled off) */
    struct aggregate_map *agg;
    struct aggregate_publisher *agg_pub;
    int32_t *agg_parts;
    /* per partition: next offset to read, whether it moved since the last flush, and the
     * next offset postgresql holds (the flush's compare-and-set expects it there) */
    int64_t *next_offset;
    bool *offset_dirty;
    int64_t *stored_offset;
    bool *assigned;
    /* per partition: waiting for the schema registry to decode the event at blocked_offset
     * (rewound there; nothing after it is folded until it decodes) */
    bool *blocked;
    int64_t *blocked_offset;
    size_t n_parts;
    size_t n_blocked;
    int64_t decode_retry_ms; /* monotonic time of the next try while n_blocked > 0 */
    int decode_backoff_ms;
    /* dead letters (events not applied): the producer, its config, and the first failure
     * since the last resync (the flush then fails and the events are read again) */
    struct journal_config dlq_cfg;
    struct journal_producer *dlq;
    bool dlq_error;
    char dlq_error_msg[256];
    int64_t skip_logged_ms, skip_unlogged;
    int64_t first_change_ms;   /* monotonic time of the oldest unflushed change, 0 if none */
    int64_t last_flush_ms;     /* how long the last flush took */
    int64_t last_retention_ms; /* monotonic time of the last retention delete, 0 = never */
    struct journal_event *batch;
    /* per batch event, set by projector_load_missing for projector_fold_batch: whether the
     * reading can be folded, and its twin (NULL: not in memory before the load) */
    bool *batch_valid;
    struct twin **batch_twin;
    uint64_t generation; /* bumped by every revoke: a batch gathered before is stale */
    atomic_bool running;
    atomic_bool failed;
    char fail_msg[512];
    /* written on the loop thread, read by /metrics-like callers */
    _Atomic int64_t st_events, st_applied, st_duplicates, st_invalid, st_flushes, st_twins;
    _Atomic int64_t st_twins_flushed, st_loop_ms, st_assigned;
    _Atomic int64_t st_history_rows, st_history_deleted, st_resyncs, st_evicted, st_reloaded;
    _Atomic int64_t st_too_late, st_seq_jumps, st_dead_lettered, st_decode_waits;
    atomic_bool st_flush_failing, st_decode_waiting;
    struct metrics_histogram flush_latency;
    /* freshness: journal append time (Kafka CreateTime, set by tp-ingest) of each reading
     * applied since the last flush; observed as commit time - append time on commit */
    int64_t *fresh_ts;
    size_t n_fresh, cap_fresh;
    struct metrics_histogram freshness;
    /* the flush job (one at most: built here, run by the flusher thread on its own
     * connection, or here without it) and its state, under job_mu */
    struct projector_job job;
    enum projector_job_state job_state;
    struct store *flush_store; /* the flusher thread's connection */
    pthread_t flusher;
    bool flusher_started;
    bool flusher_quit;
    struct service_beat *flusher_beat; /* busy while it runs a job, else idle */
    struct service_beat *fold_beat;    /* during projector_run */
    pthread_mutex_t job_mu;
    pthread_cond_t job_cv;
    _Atomic int64_t st_fold_wait_ms;
    _Atomic int64_t lag[PROJECTOR_LAG_PARTITIONS]; /* -1: not assigned or unknown */
    struct http_server *srv;
};

static void projector_parts_grow(struct projector *pj, int32_t partition)
{
    size_t need = (size_t)partition + 1;
    if (need <= pj->n_parts)
        return;
    pj->next_offset = tp_realloc(pj->next_offset, need * sizeof(*pj->next_offset));
    pj->offset_dirty = tp_realloc(pj->offset_dirty, need * sizeof(*pj->offset_dirty));
    pj->stored_offset = tp_realloc(pj->stored_offset, need * sizeof(*pj->stored_offset));
    pj->assigned = tp_realloc(pj->assigned, need * sizeof(*pj->assigned));
    pj->blocked = tp_realloc(pj->blocked, need * sizeof(*pj->blocked));
    pj->blocked_offset = tp_realloc(pj->blocked_offset, need * sizeof(*pj->blocked_offset));
    for (size_t i = pj->n_parts; i < need; i++) {
        pj->next_offset[i] = JOURNAL_OFFSET_BEGINNING;
        pj->stored_offset[i] = JOURNAL_OFFSET_BEGINNING;
        pj->offset_dirty[i] = false;
        pj->assigned[i] = false;
        pj->blocked[i] = false;
        pj->blocked_offset[i] = 0;
    }
    pj->n_parts = need;
}

/* Sleeps ms, in steps that notice projector_stop. */
static void projector_sleep(struct projector *pj, int ms)
{
    for (int slept = 0; slept < ms && atomic_load(&pj->running); slept += 100)
        usleep((useconds_t)(ms - slept < 100 ? ms - slept : 100) * 1000);
}

static int projector_backoff(int ms)
{
    return ms * 2 > PROJECTOR_BACKOFF_MAX_MS ? PROJECTOR_BACKOFF_MAX_MS : ms * 2;
}

/* Stops waiting for the registry on partition p (decoded, revoked or rewound). */
static void projector_unblock(struct projector *pj, size_t p)
{
    if (p >= pj->n_parts || !pj->blocked[p])
        return;
    pj->blocked[p] = false;
    if (--pj->n_blocked == 0) {
        pj->decode_backoff_ms = PROJECTOR_DECODE_WAIT_MS;
        atomic_store(&pj->st_decode_waiting, false);
        log_info("events decode again: resuming");
    }
}

/* Runs the job handed over last on st (the flusher thread's connection, or the loop
 * thread's without one), and counts it at once when it committed (the metrics and /readyz
 * never lag behind postgresql). */
static void projector_job_exec(struct projector *pj, struct store *st)
{
    struct projector_job *job = &pj->job;
    int64_t t0 = tp_mono_ms();
    job->err = store_job_run(st, &job->sj, job->errstr, sizeof(job->errstr));
    job->ms = tp_mono_ms() - t0;
    atomic_store(&pj->st_flush_failing, job->err != TP_OK);
    if (job->err != TP_OK)
        return;
    log_debug("flushed %zu twins, %zu history rows and %zu offsets in %lld ms", job->sj.n_twins,
              job->sj.n_history, job->sj.n_parts, (long long)job->ms);
    metrics_histogram_observe(&pj->flush_latency, (double)job->ms);
    atomic_fetch_add(&pj->st_twins_flushed, (int64_t)job->sj.n_twins);
    atomic_fetch_add(&pj->st_history_rows, (int64_t)job->sj.n_history);
    int64_t committed = tp_now_ms();
    for (size_t i = 0; i < job->n_fresh; i++)
        metrics_histogram_observe(&pj->freshness, (double)(committed - job->fresh_ts[i]));
    job->n_fresh = 0;
    atomic_fetch_add(&pj->st_flushes, 1);
}

/* The flusher thread: runs each queued job on its own connection, one at a time. */
static void *projector_flusher_main(void *arg)
{
    struct projector *pj = arg;
    pthread_mutex_lock(&pj->job_mu);
    for (;;) {
        service_beat_idle(pj->flusher_beat); /* waiting for a job is not being stuck */
        while (pj->job_state != PROJECTOR_JOB_QUEUED && !pj->flusher_quit)
            pthread_cond_wait(&pj->job_cv, &pj->job_mu);
        if (pj->job_state != PROJECTOR_JOB_QUEUED)
            break; /* told to quit, nothing queued */
        pj->job_state = PROJECTOR_JOB_RUNNING;
        pthread_mutex_unlock(&pj->job_mu);
        service_beat(pj->flusher_beat); /* one job: a flush that hangs shows on /healthz */
        projector_job_exec(pj, pj->flush_store);
        pthread_mutex_lock(&pj->job_mu);
        pj->job_state = PROJECTOR_JOB_DONE;
        pthread_cond_broadcast(&pj->job_cv);
    }
    pthread_mutex_unlock(&pj->job_mu);
    return NULL;
}

/* Whether a job is queued or running (loop thread). */
static bool projector_job_busy(struct projector *pj)
{
    pthread_mutex_lock(&pj->job_mu);
    bool busy = pj->job_state == PROJECTOR_JOB_QUEUED || pj->job_state == PROJECTOR_JOB_RUNNING;
    pthread_mutex_unlock(&pj->job_mu);
    return busy;
}

/* Whether a job that failed is kept for a retry: built, neither in flight nor finished. */
static bool projector_job_kept(struct projector *pj)
{
    pthread_mutex_lock(&pj->job_mu);
    bool kept = pj->job.built && pj->job_state == PROJECTOR_JOB_IDLE;
    pthread_mutex_unlock(&pj->job_mu);
    return kept;
}

/* Hands the built job over: to the flusher thread, or runs it here without one. */
static void projector_job_start(struct projector *pj)
{
    if (!pj->opts.flush_thread) {
        projector_job_exec(pj, pj->store);
        atomic_fetch_add(&pj->st_fold_wait_ms, pj->job.ms);
        pj->job_state = PROJECTOR_JOB_DONE;
        return;
    }
    pthread_mutex_lock(&pj->job_mu);
    pj->job_state = PROJECTOR_JOB_QUEUED;
    pthread_cond_broadcast(&pj->job_cv);
    pthread_mutex_unlock(&pj->job_mu);
}

/*
 * Collects the outcome of the job handed over last (loop thread): when it finished, or, with
 * wait, once it finished (the fold waits: back pressure; counted). Committed (counted by
 * projector_job_exec already): its twins packed unless changed again since it was built
 * (twins_pack_clean: those stay hot and dirty, for the next job). Failed: its error, the job
 * kept for a retry (projector_flush_final); every change folded after it builds on it, so the
 * caller resyncs. TP_OK while it still runs, or when there is none.
 */
static enum tp_err projector_job_collect(struct projector *pj, bool wait, char *errstr,
                                         size_t errstr_size)
{
    pthread_mutex_lock(&pj->job_mu);
    if (wait && (pj->job_state == PROJECTOR_JOB_QUEUED || pj->job_state == PROJECTOR_JOB_RUNNING)) {
        int64_t t0 = tp_mono_ms();
        while (pj->job_state == PROJECTOR_JOB_QUEUED || pj->job_state == PROJECTOR_JOB_RUNNING)
            pthread_cond_wait(&pj->job_cv, &pj->job_mu);
        atomic_fetch_add(&pj->st_fold_wait_ms, tp_mono_ms() - t0);
    }
    bool done = pj->job_state == PROJECTOR_JOB_DONE;
    if (done)
        pj->job_state = PROJECTOR_JOB_IDLE;
    pthread_mutex_unlock(&pj->job_mu);
    if (!done)
        return TP_OK;
    struct projector_job *job = &pj->job;
    if (job->err != TP_OK)
        return tp_err_set(job->err, errstr, errstr_size, "%s", job->errstr);
    pj->last_flush_ms = job->ms;
    if (pj->agg_pub && job->sj.merged)
        aggregate_publisher_offer(pj->agg_pub, job->sj.merged); /* committed: closed ones out */
    twins_pack_clean(pj->twins);
    store_job_release(&job->sj);
    job->built = false;
    return TP_OK;
}

/* Waits for the job in flight, if any, and collects it; a failure is only logged (the caller
 * drops the unflushed state: whatever the job did, postgresql's offsets tell). */
static void projector_job_drain(struct projector *pj)
{
    char errstr[512];
    if (projector_job_collect(pj, true, errstr, sizeof(errstr)) != TP_OK)
        log_warn("flush failed: %s", errstr);
}

/*
 * Builds the next job from the dirty twins, the history map and the offsets that moved
 * (expecting each where the job before leaves it: the compare-and-set chains the jobs) and
 * hands it over; nothing may be in flight. The twins stay hot (never evicted) until it
 * committed; what changes meanwhile goes to the next job. First, the dead letters of the
 * events it moves past must be in kafka (at least once: a resync writes them again).
 */
static enum tp_err projector_job_submit(struct projector *pj, char *errstr, size_t errstr_size)
{
    /* the dead letters of the events whose offsets this job moves past must be in kafka
     * first (at least once: a resync writes them again) */
    if (pj->dlq && journal_producer_flush(pj->dlq, PROJECTOR_DLQ_FLUSH_MS) != TP_OK &&
        !pj->dlq_error) {
        pj->dlq_error = true;
        snprintf(pj->dlq_error_msg, sizeof(pj->dlq_error_msg),
                 "not acknowledged by kafka within %d ms", PROJECTOR_DLQ_FLUSH_MS);
    }
    if (pj->dlq_error)
        return tp_err_set(TP_KAFKA_TRANSIENT, errstr, errstr_size,
                          "could not write to the dead-letter topic \"%s\": %s",
                          pj->dlq_cfg.dlq_topic, pj->dlq_error_msg);
    pj->first_change_ms = 0;
    size_t cap = pj->n_parts ? pj->n_parts : 1;
    int32_t *parts = tp_calloc(cap, sizeof(*parts));
    int64_t *offs = tp_calloc(cap, sizeof(*offs));
    int64_t *expected = tp_calloc(cap, sizeof(*expected));
    size_t n = 0;
    for (size_t p = 0; p < pj->n_parts; p++) {
        if (pj->offset_dirty[p]) {
            parts[n] = (int32_t)p;
            expected[n] = pj->stored_offset[p];
            offs[n++] = pj->next_offset[p];
        }
    }
    if (n > 0 || pj->twins->n_dirty > 0) {
        struct projector_job *job = &pj->job;
        assert(!job->built && pj->job_state == PROJECTOR_JOB_IDLE);
        struct store_batch b = {.twins = pj->twins->dirty,
                                .n_twins = pj->twins->n_dirty,
                                .history = pj->history,
                                .aggregates = pj->agg,
                                .parts = parts,
                                .offsets = offs,
                                .expected = expected,
                                .n_parts = n};
        store_job_build(&job->sj, &b);
        job->built = true;
        twins_dirty_detach(pj->twins);
        history_clear(pj->history);
        if (pj->agg)
            aggregate_map_clear(pj->agg);
        /* the readings' append times go with the job (observed when it committed) */
        int64_t *ts = job->fresh_ts;
        size_t cap_ts = job->cap_fresh;
        job->fresh_ts = pj->fresh_ts;
        job->n_fresh = pj->n_fresh;
        job->cap_fresh = pj->cap_fresh;
        pj->fresh_ts = ts;
        pj->cap_fresh = cap_ts;
        pj->n_fresh = 0;
        for (size_t i = 0; i < n; i++) {
            pj->offset_dirty[parts[i]] = false;
            pj->stored_offset[parts[i]] = offs[i]; /* what the next job expects */
        }
        projector_job_start(pj);
    } else {
        twins_pack_clean(pj->twins); /* loaded or unpacked, never changed: clean */
    }
    free(parts);
    free(offs);
    free(expected);
    return TP_OK;
}

/* Flushes on revoke and at stop: the job in flight, then everything folded since, waited
 * for; a transient failure is retried a few times (the failed job itself, unchanged: its
 * compare-and-set refuses it if an earlier run committed after all). */
static enum tp_err projector_flush_final(struct projector *pj, char *errstr, size_t errstr_size)
{
    int backoff = 200;
    for (int attempt = 1;; attempt++) {
        if (projector_job_kept(pj))
            projector_job_start(pj); /* a failed job kept (an earlier attempt): again */
        enum tp_err err = projector_job_collect(pj, true, errstr, errstr_size);
        if (err == TP_OK)
            err = projector_job_submit(pj, errstr, errstr_size);
        if (err == TP_OK)
            err = projector_job_collect(pj, true, errstr, errstr_size);
        if (err == TP_OK || !tp_err_retriable(err) || attempt == PROJECTOR_FINAL_ATTEMPTS)
            return err;
        log_warn("flush failed, retrying in %d ms: %s", backoff, errstr);
        usleep((useconds_t)backoff * 1000);
        backoff = projector_backoff(backoff);
    }
}

/* Forgets every change not in postgresql: twins, history, moved offsets, and the job in
 * flight once it finished (or a failed one kept for a retry). */
static void projector_drop_state(struct projector *pj)
{
    projector_job_drain(pj);
    if (pj->job.built) {
        store_job_release(&pj->job.sj);
        pj->job.built = false;
        pj->job.n_fresh = 0;
    }
    twins_clear(pj->twins);
    history_clear(pj->history);
    if (pj->agg)
        aggregate_map_clear(pj->agg);
    pj->n_fresh = 0;
    for (size_t p = 0; p < pj->n_parts; p++) {
        pj->offset_dirty[p] = false;
        projector_unblock(pj, p); /* the partitions are rewound or released */
    }
    pj->dlq_error = false; /* what failed is read and dead-lettered again */
    pj->first_change_ms = 0;
    atomic_store(&pj->st_twins, 0);
}

/*
 * After a failed flush or load: drops every change not in postgresql and
 * rewinds the assigned partitions to the offsets stored there (with the twins
 * and history they match), waiting with backoff until postgresql answers or
 * the projector stops. Events consumed since the last flush are read again;
 * twins come back from postgresql as their devices reappear. Only errors
 * that are not retriable come back.
 */
static enum tp_err projector_resync(struct projector *pj, char *errstr, size_t errstr_size)
{
    pj->generation++; /* a batch being gathered is stale */
    projector_drop_state(pj);
    atomic_store(&pj->st_flush_failing, true);
    int32_t *parts = tp_calloc(pj->n_parts ? pj->n_parts : 1, sizeof(*parts));
    int64_t *offs = tp_calloc(pj->n_parts ? pj->n_parts : 1, sizeof(*offs));
    size_t n = 0;
    for (size_t p = 0; p < pj->n_parts; p++)
        if (pj->assigned[p])
            parts[n++] = (int32_t)p;
    enum tp_err err = TP_OK;
    int backoff = 100;
    while (atomic_load(&pj->running)) {
        err = store_load_offsets(pj->store, parts, offs, n, errstr, errstr_size);
        if (err == TP_OK)
            err = journal_consumer_seek(pj->consumer, parts, offs, n, errstr, errstr_size);
        if (err == TP_OK) {
            for (size_t i = 0; i < n; i++)
                pj->next_offset[parts[i]] = pj->stored_offset[parts[i]] = offs[i];
            atomic_fetch_add(&pj->st_resyncs, 1);
            atomic_store(&pj->st_flush_failing, false);
            log_info("resumed %zu partitions from the offsets in postgresql", n);
            break;
        }
        if (!tp_err_retriable(err))
            break;
        log_warn("could not resume from postgresql, retrying in %d ms: %s", backoff, errstr);
        service_beat(pj->fold_beat); /* retrying while postgresql is down is /readyz's concern */
        projector_sleep(pj, backoff);
        backoff = projector_backoff(backoff);
    }
    if (err != TP_OK && tp_err_retriable(err))
        err = TP_OK; /* stopped while waiting: nothing is owed, the state is dropped */
    free(parts);
    free(offs);
    return err;
}

static void projector_fail(struct projector *pj, const char *msg)
{
    snprintf(pj->fail_msg, sizeof(pj->fail_msg), "%s", msg);
    atomic_store(&pj->failed, true);
}

static enum tp_err projector_on_assign(void *arg, const int32_t *partitions, int64_t *offsets,
                                       size_t n)
{
    struct projector *pj = arg;
    char errstr[512];
    enum tp_err err = TP_OK;
    int backoff = 100;
    /* offsets and the projection's identity are read with no job in flight (the eager
     * assignors revoke, and so flush, everything first: normally there is none) */
    if (projector_job_collect(pj, true, errstr, sizeof(errstr)) != TP_OK) {
        log_warn("flush failed, dropping unflushed state: %s", errstr);
        projector_drop_state(pj);
    }
    for (int attempt = 1; attempt <= PROJECTOR_ASSIGN_ATTEMPTS; attempt++) {
        err = store_load_offsets(pj->store, partitions, offsets, n, errstr, sizeof(errstr));
        if (err == TP_OK || !tp_err_retriable(err) || attempt == PROJECTOR_ASSIGN_ATTEMPTS ||
            !atomic_load(&pj->running))
            break;
        log_warn("could not load offsets, retrying in %d ms: %s", backoff, errstr);
        projector_sleep(pj, backoff);
        backoff = projector_backoff(backoff);
    }
    if (err != TP_OK) {
        log_error("could not load offsets: %s", errstr);
        projector_fail(pj, errstr);
        return err;
    }
    for (size_t i = 0; i < n; i++) {
        projector_parts_grow(pj, partitions[i]);
        pj->assigned[partitions[i]] = true;
        pj->next_offset[partitions[i]] = pj->stored_offset[partitions[i]] = offsets[i];
        atomic_fetch_add(&pj->st_assigned, 1);
        pj->offset_dirty[partitions[i]] = false;
        log_info("partition %d resumes at offset %lld (from postgresql)", partitions[i],
                 (long long)offsets[i]);
    }
    return TP_OK;
}

static void projector_on_revoke(void *arg, const int32_t *partitions, size_t n, bool lost)
{
    struct projector *pj = arg;
    char errstr[512];
    pj->generation++;
    if (lost) {
        /* another projector owns them already: writing our twins or offsets now
         * could move its state back; it resumes from postgresql, losing nothing (a job
         * in flight is let finish: its compare-and-set refuses it if the owner wrote) */
        projector_job_drain(pj);
    } else if (projector_flush_final(pj, errstr, sizeof(errstr)) != TP_OK) {
        /* Nothing unflushed is lost: whoever owns the partitions next resumes
         * from the offsets in postgresql, which match the twins there. */
        log_error("could not flush before releasing partitions: %s", errstr);
    }
    for (size_t i = 0; i < n; i++)
        if ((size_t)partitions[i] < pj->n_parts) {
            if (pj->assigned[partitions[i]])
                atomic_fetch_sub(&pj->st_assigned, 1);
            pj->assigned[partitions[i]] = false;
        }
    projector_drop_state(pj);
}

static int projector_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Loads the twins of batch devices not in memory, in one query. */
static enum tp_err projector_load_missing(struct projector *pj, size_t n, char *errstr,
                                          size_t errstr_size)
{
    char **ids = tp_calloc(n ? n : 1, sizeof(*ids));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const journal_reading *r = pj->batch[i].reading;
        pj->batch_valid[i] = r && fold_valid(r);
        pj->batch_twin[i] = pj->batch_valid[i] ? twins_get(pj->twins, r->device_id) : NULL;
        if (pj->batch_valid[i] && !pj->batch_twin[i])
            ids[k++] = r->device_id;
    }
    qsort(ids, k, sizeof(*ids), projector_cmp_str);
    size_t u = 0;
    for (size_t i = 0; i < k; i++)
        if (u == 0 || strcmp(ids[u - 1], ids[i]) != 0)
            ids[u++] = ids[i];
    enum tp_err err = TP_OK;
    size_t before = pj->twins->count;
    if (u > 0)
        err = store_load_twins(pj->store, ids, u, pj->twins, errstr, errstr_size);
    if (err == TP_OK)
        atomic_fetch_add(&pj->st_reloaded, (int64_t)(pj->twins->count - before));
    free(ids);
    return err;
}

/* Logs an event that is not applied (the first, then one line per PROJECTOR_SKIP_LOG_MS). */
static void projector_skip_log(struct projector *pj, const struct journal_event *ev,
                               const char *reason, const char *detail)
{
    int64_t now = tp_mono_ms();
    if (pj->skip_logged_ms && now - pj->skip_logged_ms < PROJECTOR_SKIP_LOG_MS) {
        pj->skip_unlogged++;
        return;
    }
    log_warn("event at partition %d offset %lld not applied (%s: %s)%s%s; %lld more since the "
             "last such line",
             ev->partition, (long long)ev->offset, reason, detail,
             pj->dlq ? ", written to the dead-letter topic " : "",
             pj->dlq ? pj->dlq_cfg.dlq_topic : "", (long long)pj->skip_unlogged);
    pj->skip_logged_ms = now;
    pj->skip_unlogged = 0;
}

/* An event the projector will never apply: logged and written to the dead-letter topic
 * (reason: "undecodable", "invalid", "too_late", "sequence_jump"), never skipped silently. A
 * failure to enqueue it fails the next flush: the projector resyncs and reads it again. */
static void projector_dead_letter(struct projector *pj, const struct journal_event *ev,
                                  const char *reason, const char *detail)
{
    projector_skip_log(pj, ev, reason, detail);
    if (!pj->dlq)
        return;
    char errstr[256];
    if (journal_producer_dead_letter(pj->dlq, ev, reason, detail, NULL, errstr, sizeof(errstr)) !=
            TP_OK &&
        !pj->dlq_error) {
        pj->dlq_error = true;
        snprintf(pj->dlq_error_msg, sizeof(pj->dlq_error_msg), "%s", errstr);
    }
}

static void projector_dlq_delivered(void *opaque, const struct journal_delivery *d, void *arg)
{
    struct projector *pj = arg;
    (void)opaque;
    if (d->err == TP_OK) {
        atomic_fetch_add(&pj->st_dead_lettered, 1);
    } else if (!pj->dlq_error) {
        pj->dlq_error = true;
        snprintf(pj->dlq_error_msg, sizeof(pj->dlq_error_msg), "%s", d->errstr);
    }
}

/* Whether the event waits for the schema registry: it could not be decoded for a reason
 * that may pass (the registry does not answer). Never decoded otherwise (see
 * journal_decoder): its version's fields would be lost. */
static bool projector_must_wait(const struct journal_event *ev)
{
    return !ev->reading && ev->decode_err != TP_OK && tp_err_retriable(ev->decode_err);
}

/* Folds one decoded, valid reading; counts it and dead-letters what cannot apply. */
static void projector_fold_one(struct projector *pj, size_t i, struct journal_event *ev)
{
    /* the twin projector_load_missing found (pointers stay valid until the next flush),
     * else loaded by it, or new: the first reading of a device creates it */
    struct twin *t = pj->batch_twin[i];
    if (!t)
        t = twins_get(pj->twins, ev->reading->device_id);
    if (!t)
        t = twins_put(pj->twins, twin_new(ev->reading->device_id));
    enum fold_result res = fold_apply(t, ev->reading, pj->history, pj->opts.max_sequence_jump);
    char detail[160];
    switch (res) {
    case FOLD_APPLIED:
        twins_mark_dirty(pj->twins, t);
        if (pj->agg) /* after the fold: the category is the twin's attributes now */
            aggregate_map_add(pj->agg, t, ev->reading, ev->partition);
        if (ev->timestamp_ms > 0 && pj->n_fresh < PROJECTOR_FRESH_MAX) {
            if (pj->n_fresh == pj->cap_fresh) {
                pj->cap_fresh = pj->cap_fresh ? 2 * pj->cap_fresh : 4096;
                pj->fresh_ts = tp_realloc(pj->fresh_ts, pj->cap_fresh * sizeof(int64_t));
            }
            pj->fresh_ts[pj->n_fresh++] = ev->timestamp_ms;
        }
        atomic_fetch_add(&pj->st_applied, 1);
        break;
    case FOLD_DUPLICATE:
        atomic_fetch_add(&pj->st_duplicates, 1);
        break;
    case FOLD_TOO_LATE:
    case FOLD_JUMP:
        atomic_fetch_add(res == FOLD_TOO_LATE ? &pj->st_too_late : &pj->st_seq_jumps, 1);
        if (res == FOLD_TOO_LATE)
            snprintf(detail, sizeof(detail),
                     "sequence %llu is more than %d below the device's highest, %lld",
                     (unsigned long long)ev->reading->sequence, TWIN_SEQ_WINDOW,
                     (long long)t->last_sequence);
        else
            snprintf(detail, sizeof(detail),
                     "sequence %llu is more than %lld above the device's highest, %lld",
                     (unsigned long long)ev->reading->sequence,
                     (long long)pj->opts.max_sequence_jump, (long long)t->last_sequence);
        projector_dead_letter(pj, ev, fold_result_name(res), detail);
        break;
    case FOLD_INVALID: /* batch_valid said otherwise: not reached */
        atomic_fetch_add(&pj->st_invalid, 1);
        break;
    }
}

/*
 * Folds the batch. An event that waits for the registry (projector_must_wait) blocks its
 * partition there: it and the partition's later events are not folded and its offset does
 * not move; the partition is rewound to it and tried again after a backoff (projector_run
 * stops consuming meanwhile). Non-OK only when that rewind failed.
 */
static enum tp_err projector_fold_batch(struct projector *pj, size_t n, char *errstr,
                                        size_t errstr_size)
{
    bool reblock = false;
    for (size_t i = 0; i < n; i++) {
        struct journal_event *ev = &pj->batch[i];
        if ((size_t)ev->partition >= pj->n_parts || !pj->assigned[ev->partition]) {
            journal_event_release(ev); /* not ours (any more) */
            continue;
        }
        size_t p = (size_t)ev->partition;
        if (pj->blocked[p] && ev->offset == pj->blocked_offset[p] && !projector_must_wait(ev))
            projector_unblock(pj, p); /* the event it waited for decodes now */
        if (pj->blocked[p] || projector_must_wait(ev)) {
            if (!pj->blocked[p]) {
                pj->blocked[p] = true;
                pj->blocked_offset[p] = ev->offset;
                if (pj->n_blocked++ == 0)
                    log_warn("cannot decode the event at partition %d offset %lld yet, waiting "
                             "for the schema registry: %s",
                             ev->partition, (long long)ev->offset, ev->error);
                atomic_store(&pj->st_decode_waiting, true);
                reblock = true;
            } else if (ev->offset == pj->blocked_offset[p]) {
                reblock = true; /* tried again: still waiting */
            }
            if (ev->offset == pj->blocked_offset[p])
                atomic_fetch_add(&pj->st_decode_waits, 1);
            journal_event_release(ev); /* read again after the rewind */
            continue;
        }
        atomic_fetch_add(&pj->st_events, 1);
        if (pj->batch_valid[i]) {
            projector_fold_one(pj, i, ev);
        } else {
            atomic_fetch_add(&pj->st_invalid, 1);
            if (!ev->reading)
                projector_dead_letter(pj, ev, "undecodable", ev->error);
            else
                projector_dead_letter(pj, ev, "invalid",
                                      "reading lacks device_id, sequence or timestamp, or they "
                                      "are out of range");
        }
        pj->next_offset[ev->partition] = ev->offset + 1;
        pj->offset_dirty[ev->partition] = true;
        journal_event_release(ev);
    }
    atomic_store(&pj->st_twins, (int64_t)pj->twins->count);
    if (n > 0 && pj->first_change_ms == 0)
        pj->first_change_ms = tp_mono_ms();
    if (!reblock)
        return TP_OK;
    /* rewind every waiting partition to its event, and try again after the backoff */
    int32_t *parts = tp_calloc(pj->n_blocked, sizeof(*parts));
    int64_t *offs = tp_calloc(pj->n_blocked, sizeof(*offs));
    size_t k = 0;
    for (size_t p = 0; p < pj->n_parts; p++)
        if (pj->blocked[p]) {
            parts[k] = (int32_t)p;
            offs[k++] = pj->blocked_offset[p];
        }
    enum tp_err err = journal_consumer_seek(pj->consumer, parts, offs, k, errstr, errstr_size);
    free(parts);
    free(offs);
    pj->decode_retry_ms = tp_mono_ms() + pj->decode_backoff_ms;
    pj->decode_backoff_ms = projector_backoff(pj->decode_backoff_ms);
    return err;
}

enum tp_err projector_new(const struct projector_options *opts, struct projector **out,
                          char *errstr, size_t errstr_size)
{
    struct projector *pj = tp_calloc(1, sizeof(*pj));
    pj->opts = *opts;
    if (pj->opts.health_stall_ms <= 0)
        pj->opts.health_stall_ms = SERVICE_STALL_DEFAULT_MS;
    pj->decode_backoff_ms = PROJECTOR_DECODE_WAIT_MS;
    if (pj->opts.max_sequence_jump <= 0)
        pj->opts.max_sequence_jump = FOLD_MAX_JUMP_DEFAULT;
    pj->twins = twins_new();
    pj->history = history_new();
    if (opts->agg_spec)
        pj->agg = aggregate_map_new(opts->agg_spec, opts->agg_window_ms);
    pj->batch = tp_calloc(opts->batch_max, sizeof(*pj->batch));
    pj->batch_valid = tp_calloc(opts->batch_max, sizeof(*pj->batch_valid));
    pj->batch_twin = tp_calloc(opts->batch_max, sizeof(*pj->batch_twin));
    atomic_store(&pj->running, true);
    for (size_t p = 0; p < PROJECTOR_LAG_PARTITIONS; p++)
        atomic_store(&pj->lag[p], -1);
    pthread_mutex_init(&pj->job_mu, NULL);
    pthread_cond_init(&pj->job_cv, NULL);
    enum tp_err err =
        store_new(opts->pg_dsn, opts->group, opts->journal->topic, &pj->store, errstr, errstr_size);
    if (err == TP_OK && opts->flush_thread) {
        err = store_new(opts->pg_dsn, opts->group, opts->journal->topic, &pj->flush_store, errstr,
                        errstr_size);
        if (err == TP_OK) {
            pj->flusher_beat =
                service_beat_new(NULL, "projector flusher", pj->opts.health_stall_ms);
            service_beat_idle(pj->flusher_beat);
            int rc = pthread_create(&pj->flusher, NULL, projector_flusher_main, pj);
            if (rc != 0)
                err = tp_err_set(TP_IO, errstr, errstr_size,
                                 "could not start the flusher thread: %s", strerror(rc));
            pj->flusher_started = rc == 0;
        }
    }
    if (err == TP_OK && opts->dlq_topic) {
        /* the producer's own topic is the journal's (never written: the tp-topic header) */
        pj->dlq_cfg = *opts->journal;
        pj->dlq_cfg.decoder = NULL;
        pj->dlq_cfg.dlq_topic = opts->dlq_topic;
        err = journal_producer_new(&pj->dlq_cfg, projector_dlq_delivered, pj, &pj->dlq, errstr,
                                   errstr_size);
    }
    if (err == TP_OK && opts->agg_spec && opts->agg_publish)
        err = aggregate_publisher_new(opts->agg_publish, &pj->agg_pub, errstr, errstr_size);
    if (err == TP_OK) {
        struct journal_rebalance rb = {projector_on_assign, projector_on_revoke, pj};
        err = journal_consumer_new(opts->journal, opts->group, &rb, &pj->consumer, errstr,
                                   errstr_size);
    }
    if (err != TP_OK) {
        projector_free(pj);
        return err;
    }
    *out = pj;
    return TP_OK;
}

/* Publishes per-partition lag for /metrics (loop thread; at most every 500 ms). */
static void projector_update_lag(struct projector *pj)
{
    int64_t now = tp_mono_ms();
    if (now - atomic_load(&pj->st_loop_ms) < 500)
        return;
    atomic_store(&pj->st_loop_ms, now);
    for (size_t p = 0; p < PROJECTOR_LAG_PARTITIONS; p++) {
        int64_t lag = -1;
        if (p < pj->n_parts && pj->assigned[p])
            lag = journal_consumer_lag(pj->consumer, (int32_t)p, pj->next_offset[p]);
        atomic_store(&pj->lag[p], lag);
    }
}

void projector_attach_server(struct projector *pj, struct http_server *srv)
{
    pj->srv = srv;
}

void projector_handle_metrics(struct http_request *req, void *arg)
{
    struct projector *pj = arg;
    struct buf b;
    char labels[48];
    buf_init(&b, 1 << 20);
    if (pj->srv)
        http_server_metrics(pj->srv, "tp_projector", &b);
    metrics_sample(&b, "tp_projector_events_total", "counter", "journal events consumed", NULL,
                   (double)atomic_load(&pj->st_events));
    metrics_sample(&b, "tp_projector_applied_total", "counter", "readings folded into twins", NULL,
                   (double)atomic_load(&pj->st_applied));
    metrics_sample(&b, "tp_projector_duplicates_total", "counter",
                   "readings ignored: sequence not above the twin's", NULL,
                   (double)atomic_load(&pj->st_duplicates));
    metrics_sample(&b, "tp_projector_invalid_total", "counter",
                   "events skipped: undecodable or unusable", NULL,
                   (double)atomic_load(&pj->st_invalid));
    metrics_sample(&b, "tp_projector_too_late_total", "counter",
                   "readings older than their twin's window of 128 sequences: not applied, "
                   "dead-lettered",
                   NULL, (double)atomic_load(&pj->st_too_late));
    metrics_sample(&b, "tp_projector_sequence_jumps_total", "counter",
                   "readings more than projector.max_sequence_jump above their twin's sequence: "
                   "not applied, dead-lettered",
                   NULL, (double)atomic_load(&pj->st_seq_jumps));
    metrics_sample(&b, "tp_projector_dead_lettered_total", "counter",
                   "events written to the dead-letter topic (undecodable, invalid, too_late, "
                   "sequence_jump)",
                   NULL, (double)atomic_load(&pj->st_dead_lettered));
    metrics_sample(&b, "tp_projector_decode_waits_total", "counter",
                   "tries to decode an event while the schema registry could not be asked", NULL,
                   (double)atomic_load(&pj->st_decode_waits));
    metrics_sample(&b, "tp_projector_decode_waiting", "gauge",
                   "1 while events wait for the schema registry (their partitions do not advance)",
                   NULL, atomic_load(&pj->st_decode_waiting) ? 1.0 : 0.0);
    metrics_sample(&b, "tp_projector_flushes_total", "counter", "transactions committed", NULL,
                   (double)atomic_load(&pj->st_flushes));
    metrics_sample(&b, "tp_projector_twins_flushed_total", "counter", "twin rows written", NULL,
                   (double)atomic_load(&pj->st_twins_flushed));
    metrics_sample(&b, "tp_projector_twins_in_memory", "gauge", "twins held in memory", NULL,
                   (double)atomic_load(&pj->st_twins));
    metrics_sample(&b, "tp_projector_history_rows_written_total", "counter",
                   "metric_minutes rows inserted or updated by flushes", NULL,
                   (double)atomic_load(&pj->st_history_rows));
    metrics_sample(&b, "tp_projector_history_rows_deleted_total", "counter",
                   "metric_minutes rows deleted by retention", NULL,
                   (double)atomic_load(&pj->st_history_deleted));
    metrics_sample(&b, "tp_projector_resyncs_total", "counter",
                   "unflushed state dropped and partitions rewound to postgresql's offsets "
                   "after a failed flush or load",
                   NULL, (double)atomic_load(&pj->st_resyncs));
    metrics_sample(&b, "tp_projector_twins_evicted_total", "counter",
                   "clean twins dropped from memory under projector.max_twins", NULL,
                   (double)atomic_load(&pj->st_evicted));
    metrics_sample(&b, "tp_projector_twins_reloaded_total", "counter",
                   "twins loaded from PostgreSQL for devices not in memory (evicted, or after a "
                   "start, rebalance or resync)",
                   NULL, (double)atomic_load(&pj->st_reloaded));
    if (pj->agg_pub) { /* aggregate.enabled */
        struct aggregate_publisher_stats as;
        aggregate_publisher_stats_get(pj->agg_pub, &as);
        metrics_sample(&b, "tp_projector_aggregates_produced_total", "counter",
                       "aggregate partial records produced (a version at least once)", NULL,
                       (double)as.produced);
        metrics_sample(&b, "tp_projector_aggregates_published_total", "counter",
                       "aggregate partial records acknowledged by kafka and recorded as published",
                       NULL, (double)as.published);
        metrics_sample(&b, "tp_projector_aggregates_swept_total", "counter",
                       "aggregate partial records produced by the sweep of unpublished partials",
                       NULL, (double)as.swept);
    }
    metrics_histogram_write(
        &b, "tp_projector_freshness_seconds",
        "journal append (tp-ingest) to twin committed in PostgreSQL, per reading", &pj->freshness);
    metrics_histogram_write(&b, "tp_projector_flush_duration_seconds", "flush transaction latency",
                            &pj->flush_latency);
    metrics_sample(&b, "tp_projector_fold_wait_seconds_total", "counter",
                   "seconds the fold did not fold because of flush jobs: waiting for the flusher "
                   "thread (back pressure, final flushes), or running them without it",
                   NULL, (double)atomic_load(&pj->st_fold_wait_ms) / 1000.0);
    bool first = true;
    for (size_t p = 0; p < PROJECTOR_LAG_PARTITIONS; p++) {
        int64_t lag = atomic_load(&pj->lag[p]);
        if (lag < 0)
            continue;
        snprintf(labels, sizeof(labels), "partition=\"%zu\"", p);
        metrics_sample(&b, "tp_projector_lag_events", "gauge",
                       first ? "events in the journal not yet consumed, by partition" : NULL,
                       labels, (double)lag);
        first = false;
    }
    metrics_runtime_write(&b);
    http_reply(req, 200, "text/plain; version=0.0.4", b.data, b.len);
    buf_release(&b);
}

void projector_handle_ready(struct http_request *req, void *arg)
{
    struct projector *pj = arg;
    /* ready: the loop turns, the last flush went through, partitions are assigned */
    bool loop_ok = tp_mono_ms() - atomic_load(&pj->st_loop_ms) < 5000;
    bool flush_ok = !atomic_load(&pj->st_flush_failing);
    bool assigned = atomic_load(&pj->st_assigned) > 0;
    bool decode_ok = !atomic_load(&pj->st_decode_waiting);
    if (loop_ok && flush_ok && assigned && decode_ok) {
        static const char body[] = "{\"status\":\"ready\"}";
        http_reply(req, 200, "application/json", body, sizeof(body) - 1);
    } else {
        http_reply_error(req, 503, "not_ready", "%s",
                         !assigned    ? "no journal partition assigned yet"
                         : !decode_ok ? "events wait for the schema registry to decode them"
                         : !loop_ok   ? "the consume loop is stuck"
                                      : "flushes to postgresql are failing");
    }
}

/* Whether events wait in an assigned partition (the consumer's cached high watermarks). */
static bool projector_behind(struct projector *pj)
{
    for (size_t p = 0; p < pj->n_parts; p++)
        if (pj->assigned[p] &&
            journal_consumer_lag(pj->consumer, (int32_t)p, pj->next_offset[p]) > 0)
            return true;
    return false;
}

/* Deletes history older than projector.history_retention_h, once a minute. */
static void projector_retention(struct projector *pj)
{
    int64_t now = tp_mono_ms();
    if (pj->opts.history_retention_h <= 0 ||
        (pj->last_retention_ms && now - pj->last_retention_ms < PROJECTOR_RETENTION_EVERY))
        return;
    pj->last_retention_ms = now;
    char errstr[512];
    int64_t deleted;
    if (store_retention(pj->store, pj->opts.history_retention_h, &deleted, errstr,
                        sizeof(errstr)) != TP_OK) {
        log_warn("could not delete history older than %d h (next try in a minute): %s",
                 pj->opts.history_retention_h, errstr);
        return;
    }
    if (deleted > 0)
        log_info("deleted %lld history rows older than %d h", (long long)deleted,
                 pj->opts.history_retention_h);
    atomic_fetch_add(&pj->st_history_deleted, deleted);
}

/* The aggregates' outbox: deliveries, and the sweep of the assigned partitions. */
static void projector_aggregate_tick(struct projector *pj)
{
    pj->agg_parts = tp_realloc(pj->agg_parts, (pj->n_parts ? pj->n_parts : 1) * sizeof(int32_t));
    size_t n = 0;
    for (size_t p = 0; p < pj->n_parts; p++)
        if (pj->assigned[p])
            pj->agg_parts[n++] = (int32_t)p;
    aggregate_publisher_tick(pj->agg_pub, pj->agg_parts, n);
}

/* After a failed load or flush: resync when postgresql may come back, else give up. */
static enum tp_err projector_recover(struct projector *pj, enum tp_err err, const char *what,
                                     char *errstr, size_t errstr_size)
{
    if (!tp_err_retriable(err) && err != TP_CONFLICT)
        return err;
    log_warn("%s failed, dropping unflushed state and resuming from postgresql: %s", what, errstr);
    return projector_resync(pj, errstr, errstr_size);
}

enum tp_err projector_run(struct projector *pj, char *errstr, size_t errstr_size)
{
    enum tp_err err = TP_OK;
    /* every turn: a poll (100 ms), a fold pass, at most a wait for the flush in flight */
    pj->fold_beat = service_beat_new(NULL, "projector fold", pj->opts.health_stall_ms);
    while (atomic_load(&pj->running) && err == TP_OK) {
        service_beat(pj->fold_beat);
        /* Gather a batch: wait up to 100 ms for the first event, then take what is there. */
        size_t n = 0;
        int wait = 100;
        uint64_t gen = pj->generation;
        if (pj->n_blocked > 0 && tp_mono_ms() < pj->decode_retry_ms) {
            /* events wait for the registry: consume nothing until the next try (which
             * asks it once: the gathering below stops at the first event that waits) */
            int64_t left = pj->decode_retry_ms - tp_mono_ms();
            projector_sleep(pj, left < 100 ? (int)left : 100);
        } else {
            while (n < pj->opts.batch_max && err == TP_OK) {
                bool got;
                err = journal_consumer_poll(pj->consumer, wait, &pj->batch[n], &got, errstr,
                                            errstr_size);
                if (pj->generation != gen) { /* a revoke ran inside that poll */
                    for (size_t i = 0; i < n; i++)
                        journal_event_release(&pj->batch[i]);
                    n = 0;
                    gen = pj->generation;
                }
                if (!got)
                    break;
                if (projector_must_wait(&pj->batch[n++]))
                    break; /* the registry does not answer: do not ask it per event */
                wait = 0;
            }
        }
        if (atomic_load(&pj->failed))
            err = tp_err_set(TP_DB, errstr, errstr_size, "%s", pj->fail_msg);
        if (err != TP_OK) {
            for (size_t i = 0; i < n; i++)
                journal_event_release(&pj->batch[i]);
            break;
        }
        if (n > 0) {
            err = projector_load_missing(pj, n, errstr, errstr_size);
            if (err != TP_OK) {
                for (size_t i = 0; i < n; i++)
                    journal_event_release(&pj->batch[i]);
                err = projector_recover(pj, err, "loading twins", errstr, errstr_size);
                continue;
            }
        }
        err = projector_fold_batch(pj, n, errstr, errstr_size);
        if (pj->dlq)
            journal_producer_poll(pj->dlq, 0); /* dead letters' delivery reports */
        if (err == TP_OK && pj->dlq_error)
            err = tp_err_set(TP_KAFKA_TRANSIENT, errstr, errstr_size,
                             "could not write to the dead-letter topic \"%s\": %s",
                             pj->dlq_cfg.dlq_topic, pj->dlq_error_msg);
        if (err != TP_OK) {
            err = projector_recover(pj, err, "dead-lettering or rewinding", errstr, errstr_size);
            continue;
        }
        projector_update_lag(pj);
        /* the job in flight: committed (its twins packed), or failed (resync) */
        err = projector_job_collect(pj, false, errstr, errstr_size);
        if (err != TP_OK) {
            err = projector_recover(pj, err, "flush", errstr, errstr_size);
            continue;
        }
        /* by age: flush_interval_ms. Without the flusher thread, stretched while events are
         * waiting in the journal to flush_pace times the last flush's duration, so that each
         * flush covers more readings per twin row (a flush costs per twin, not per reading)
         * and the fold keeps most of the time. With it, the job in flight is the pace: the
         * next starts once it committed, with what was folded meanwhile (the window grows
         * with the flush's duration, so with the backlog). Caught up, the plain interval. */
        int64_t age = pj->first_change_ms ? tp_mono_ms() - pj->first_change_ms : -1;
        int64_t paced =
            pj->opts.flush_thread ? 0 : (int64_t)pj->opts.flush_pace * pj->last_flush_ms;
        bool busy = projector_behind(pj);
        bool due = age >= 0 && age >= pj->opts.flush_interval_ms && (age >= paced || !busy);
        /* over the cap with twins that are not evictable yet: flush to make them clean */
        bool over =
            pj->opts.max_twins > 0 && pj->twins->count > pj->opts.max_twins && pj->twins->n_hot > 0;
        bool full = pj->twins->n_dirty >= pj->opts.flush_max_twins ||
                    history_count(pj->history) >= pj->opts.history_max_rows || over ||
                    (pj->agg && aggregate_map_count(pj->agg) >= AGGREGATE_MAP_MAX);
        if (full || due) {
            /* one job in flight at most: a full table waits for it (back pressure), a due
             * one starts once it committed */
            if (full)
                err = projector_job_collect(pj, true, errstr, errstr_size);
            if (err == TP_OK && !projector_job_busy(pj)) {
                err = projector_job_submit(pj, errstr, errstr_size);
                if (err == TP_OK) /* without the flusher thread, it ran already */
                    err = projector_job_collect(pj, false, errstr, errstr_size);
            }
            if (err != TP_OK)
                err = projector_recover(pj, err, "flush", errstr, errstr_size);
        }
        if (err == TP_OK && pj->opts.max_twins > 0) {
            size_t evicted = twins_evict(pj->twins, pj->opts.max_twins);
            atomic_fetch_add(&pj->st_evicted, (int64_t)evicted);
            atomic_store(&pj->st_twins, (int64_t)pj->twins->count);
        }
        if (err == TP_OK)
            projector_retention(pj);
        if (err == TP_OK && pj->agg_pub)
            projector_aggregate_tick(pj);
    }
    service_beat(pj->fold_beat);
    if (err == TP_OK)
        err = projector_flush_final(pj, errstr, errstr_size);
    service_beat_free(pj->fold_beat);
    pj->fold_beat = NULL;
    return err;
}

void projector_stop(struct projector *pj)
{
    atomic_store(&pj->running, false);
}

void projector_stats_get(struct projector *pj, struct projector_stats *out)
{
    out->events = atomic_load(&pj->st_events);
    out->applied = atomic_load(&pj->st_applied);
    out->duplicates = atomic_load(&pj->st_duplicates);
    out->invalid = atomic_load(&pj->st_invalid);
    out->flushes = atomic_load(&pj->st_flushes);
    out->twins_in_memory = atomic_load(&pj->st_twins);
    out->history_rows = atomic_load(&pj->st_history_rows);
    out->history_deleted = atomic_load(&pj->st_history_deleted);
    out->resyncs = atomic_load(&pj->st_resyncs);
    out->evicted = atomic_load(&pj->st_evicted);
    out->reloaded = atomic_load(&pj->st_reloaded);
    out->too_late = atomic_load(&pj->st_too_late);
    out->seq_jumps = atomic_load(&pj->st_seq_jumps);
    out->dead_lettered = atomic_load(&pj->st_dead_lettered);
    out->decode_waits = atomic_load(&pj->st_decode_waits);
}

void projector_free(struct projector *pj)
{
    if (!pj)
        return;
    journal_consumer_free(pj->consumer); /* runs on_revoke: the final flush */
    if (pj->flusher_started) { /* it finishes a job it runs (a fatal error left it) first */
        pthread_mutex_lock(&pj->job_mu);
        pj->flusher_quit = true;
        pthread_cond_broadcast(&pj->job_cv);
        pthread_mutex_unlock(&pj->job_mu);
        pthread_join(pj->flusher, NULL);
    }
    service_beat_free(pj->flusher_beat);
    if (pj->job.built)
        store_job_release(&pj->job.sj);
    free(pj->job.fresh_ts);
    pthread_mutex_destroy(&pj->job_mu);
    pthread_cond_destroy(&pj->job_cv);
    journal_producer_free(pj->dlq);
    aggregate_publisher_free(pj->agg_pub); /* after the final flush offered its partials */
    aggregate_map_free(pj->agg);
    free(pj->agg_parts);
    store_free(pj->flush_store);
    store_free(pj->store);
    twins_free(pj->twins);
    history_free(pj->history);
    free(pj->batch);
    free(pj->batch_valid);
    free(pj->batch_twin);
    free(pj->fresh_ts);
    free(pj->next_offset);
    free(pj->offset_dirty);
    free(pj->stored_offset);
    free(pj->assigned);
    free(pj->blocked);
    free(pj->blocked_offset);
    free(pj);
}
