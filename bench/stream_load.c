/*
 * tp-bench-stream: bench/stream's flow of twin changes and its SSE clients,
 * in one process so every latency is taken on one clock.
 *
 *   query DSN TWINS RATE FLUSHES SECONDS CLIENTS PORT KEY
 *       a feeder thread writes RATE changed twins a second into DSN's twins
 *       table (of the TWINS twins b-0000000.. tp-bench-query-gen load wrote),
 *       in FLUSHES transactions a second as a projector flush does (binary COPY
 *       into the staging table + one UPDATE setting written_xid), round r
 *       giving every twin it touches version 1000000 + r; it notes the wall
 *       time when its COMMIT returned. CLIENTS connections read GET /v1/stream
 *       of tp-query on 127.0.0.1:PORT (HTTP/1.0: the body unchunked), client c
 *       filtered by region=region-(c % 10) (a tenth of the changes each), in
 *       one epoll thread. Each change event's latency = its arrival - the
 *       commit of its round (its version).
 *   responder RATE FLUSHES SECONDS CLIENTS
 *       the limit: the same clients on a trivial SSE responder in this process
 *       (one thread, epoll): each flush it writes to each client the events a
 *       tenth of RATE / FLUSHES changes give (the same size as tp-query's),
 *       noting the time first; its thread's CPU is printed.
 *
 * Prints one line of key=value figures: events, latency p50/p99/max ms,
 * clients still open, responder CPU seconds.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/mem.h"
#include "twin/rows.h"
#include "twin/twin.h"

#define SB_VERSION0   1000000
#define SB_ROUNDS_MAX 100000
#define SB_SAMPLES    4000000
#define SB_READ       (256 * 1024)

static int64_t sb_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double sb_thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static _Atomic int64_t sb_commit_ms[SB_ROUNDS_MAX]; /* per round: its COMMIT returned */
static atomic_bool sb_stop;

struct sb_feed {
    const char *dsn;
    long twins, rate, flushes, seconds;
};

static void sb_must(PGconn *db, PGresult *r, ExecStatusType want, const char *what)
{
    if (PQresultStatus(r) != want) {
        fprintf(stderr, "tp-bench-stream: %s: %s", what, PQerrorMessage(db));
        exit(1);
    }
    PQclear(r);
}

/* The twin i of tp-bench-query-gen's table at round r: same attributes, new values. */
static void sb_twin(struct twin *t, long i, long r, int64_t now_ms)
{
    char s[32];
    t->first_seen_ms = now_ms - 30LL * 86400000;
    t->last_seen_ms = now_ms;
    t->last_sequence = t->events = SB_VERSION0 + r;
    twin_metric_set(t, "speed_kmh", (double)((i + r) % 200), now_ms)->count = 1;
    twin_metric_set(t, "fuel_level_pct", (double)(i % 100), now_ms)->count = 1;
    t->has_location = true;
    t->loc_mask = (1u << TWIN_LAT) | (1u << TWIN_LON);
    t->loc[TWIN_LAT] = 52 + (double)((i + r) % 1000) / 1000.0;
    t->loc[TWIN_LON] = 13.5;
    t->location_ts_ms = now_ms;
    snprintf(s, sizeof(s), "model-%ld", i % 20);
    twin_attr_set(t, "model", s);
    snprintf(s, sizeof(s), "region-%ld", i % 10);
    twin_attr_set(t, "region", s);
    snprintf(s, sizeof(s), "fw-%ld", i % 50);
    twin_attr_set(t, "firmware", s);
}

static void *sb_feed_main(void *arg)
{
    struct sb_feed *f = arg;
    PGconn *db = PQconnectdb(f->dsn);
    if (PQstatus(db) != CONNECTION_OK) {
        fprintf(stderr, "tp-bench-stream: %s", PQerrorMessage(db));
        exit(1);
    }
    sb_must(db, PQexec(db, twin_rows_stage_sql), PGRES_COMMAND_OK, "stage");
    struct buf b;
    buf_init(&b, 1 << 30);
    long per = f->rate / f->flushes, rounds = f->seconds * f->flushes;
    int64_t start = sb_wall_ms();
    unsigned seed = 7;
    for (long r = 1; r <= rounds && r < SB_ROUNDS_MAX && !atomic_load(&sb_stop); r++) {
        int64_t due = start + r * 1000 / f->flushes;
        while (sb_wall_ms() < due)
            usleep(1000);
        int64_t now = sb_wall_ms();
        buf_reset(&b);
        twin_rows_header(&b);
        for (long n = 0; n < per; n++) {
            long i = (long)(((uint64_t)rand_r(&seed) << 16 ^ (uint64_t)rand_r(&seed)) %
                            (uint64_t)f->twins);
            char id[32];
            snprintf(id, sizeof(id), "b-%07ld", i);
            struct twin *t = twin_new(id);
            sb_twin(t, i, r, now);
            twin_rows_twin(&b, t);
            twin_free(t);
        }
        twin_rows_trailer(&b);
        sb_must(db, PQexec(db, "BEGIN"), PGRES_COMMAND_OK, "begin");
        sb_must(db, PQexec(db, twin_rows_copy_twins_sql), PGRES_COPY_IN, "copy");
        if (PQputCopyData(db, b.data, (int)b.len) != 1 || PQputCopyEnd(db, NULL) != 1) {
            fprintf(stderr, "tp-bench-stream: copy: %s", PQerrorMessage(db));
            exit(1);
        }
        sb_must(db, PQgetResult(db), PGRES_COMMAND_OK, "copy end");
        sb_must(db,
                PQexec(db, "UPDATE twins t SET version = s.version, last_seen = s.last_seen,"
                           " state = s.state, updated_at = now(),"
                           " written_xid = pg_current_xact_id()"
                           " FROM (SELECT DISTINCT ON (device_id) * FROM twins_stage) s"
                           " WHERE t.device_id = s.device_id"),
                PGRES_COMMAND_OK, "update");
        sb_must(db, PQexec(db, "COMMIT"), PGRES_COMMAND_OK, "commit");
        atomic_store(&sb_commit_ms[r], sb_wall_ms());
    }
    buf_release(&b);
    PQfinish(db);
    return NULL;
}

/* ---- the clients ---- */

struct sb_conn {
    int fd;
    bool head_done, closed;
    char *buf;
    size_t len;
};

struct sb_sample {
    int32_t round;
    int64_t at_ms;
};

static struct sb_sample *sb_samples;
static size_t sb_n_samples;
static uint64_t sb_events;

static int sb_connect(uint16_t port, const char *req)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        fprintf(stderr, "tp-bench-stream: connect: %s\n", strerror(errno));
        exit(1);
    }
    if (req && write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
        fprintf(stderr, "tp-bench-stream: write request failed\n");
        exit(1);
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

/* Takes the complete blocks of c's buffer: each change event's round and arrival. */
static void sb_blocks(struct sb_conn *c, int64_t now)
{
    size_t at = 0;
    if (!c->head_done) {
        char *e = memmem(c->buf, c->len, "\r\n\r\n", 4);
        if (!e)
            return;
        if (strncmp(c->buf, "HTTP/1.", 7) || strncmp(c->buf + 9, "200", 3)) {
            fprintf(stderr, "tp-bench-stream: answer %.40s\n", c->buf);
            exit(1);
        }
        c->head_done = true;
        at = (size_t)(e - c->buf) + 4;
    }
    for (;;) {
        char *end = memmem(c->buf + at, c->len - at, "\n\n", 2);
        if (!end)
            break;
        size_t blen = (size_t)(end - (c->buf + at));
        char *v = memmem(c->buf + at, blen, "\"version\":", 10);
        if (v && memmem(c->buf + at, blen, "event: change", 13)) {
            long version = strtol(v + 10, NULL, 10);
            sb_events++;
            if (sb_n_samples < SB_SAMPLES)
                sb_samples[sb_n_samples++] =
                    (struct sb_sample){(int32_t)(version - SB_VERSION0), now};
        }
        at += blen + 2;
    }
    memmove(c->buf, c->buf + at, c->len - at);
    c->len -= at;
}

/* Reads every connection until `until_ms` (wall); returns the ones still open. */
static int sb_read_loop(struct sb_conn *cs, int n, int64_t until_ms)
{
    int ep = epoll_create1(0);
    for (int i = 0; i < n; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
    }
    struct epoll_event evs[256];
    int open = n;
    while (sb_wall_ms() < until_ms && open > 0) {
        int k = epoll_wait(ep, evs, 256, 100);
        int64_t now = sb_wall_ms();
        for (int j = 0; j < k; j++) {
            struct sb_conn *c = &cs[evs[j].data.u32];
            for (;;) {
                ssize_t r = read(c->fd, c->buf + c->len, SB_READ - c->len);
                if (r > 0) {
                    c->len += (size_t)r;
                    sb_blocks(c, now);
                    if (c->len == SB_READ) { /* one block over the buffer: drop it */
                        c->len = 0;
                    }
                    continue;
                }
                if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                    c->closed = true;
                    open--;
                }
                break;
            }
        }
    }
    close(ep);
    return open;
}

static int sb_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The latencies of the samples whose round committed (the responder notes its own). */
static void sb_report(int open, int clients, double responder_cpu)
{
    int64_t *lat = tp_malloc((sb_n_samples ? sb_n_samples : 1) * sizeof(*lat));
    size_t n = 0;
    for (size_t i = 0; i < sb_n_samples; i++) {
        int32_t r = sb_samples[i].round;
        int64_t c = r > 0 && r < SB_ROUNDS_MAX ? atomic_load(&sb_commit_ms[r]) : 0;
        if (c)
            lat[n++] = sb_samples[i].at_ms - c;
    }
    qsort(lat, n, sizeof(*lat), sb_cmp_i64);
    printf("events=%llu samples=%zu p50_ms=%lld p99_ms=%lld max_ms=%lld open=%d clients=%d "
           "responder_cpu_s=%.3f\n",
           (unsigned long long)sb_events, n, n ? (long long)lat[n / 2] : -1,
           n ? (long long)lat[(size_t)((double)n * 0.99)] : -1, n ? (long long)lat[n - 1] : -1,
           open, clients, responder_cpu);
    free(lat);
}

/* ---- the trivial responder ---- */

struct sb_responder {
    int listen_fd;
    long rate, flushes, seconds;
    int clients;
    double cpu_s;
};

static void *sb_responder_main(void *arg)
{
    struct sb_responder *r = arg;
    int *fds = tp_calloc((size_t)r->clients, sizeof(*fds));
    for (int i = 0; i < r->clients; i++) {
        fds[i] = accept(r->listen_fd, NULL, NULL);
        char req[1024];
        if (read(fds[i], req, sizeof(req)) <= 0)
            exit(1);
        static const char head[] = "HTTP/1.0 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"
                                   "retry: 1000\n\n";
        if (write(fds[i], head, sizeof(head) - 1) < 0)
            exit(1);
    }
    double cpu0 = sb_thread_cpu_s();
    long per = r->rate / r->flushes / 10, rounds = r->seconds * r->flushes;
    int64_t start = sb_wall_ms();
    struct buf b;
    buf_init(&b, 1 << 30);
    for (long k = 1; k <= rounds && k < SB_ROUNDS_MAX; k++) {
        int64_t due = start + k * 1000 / r->flushes;
        while (sb_wall_ms() < due)
            usleep(1000);
        atomic_store(&sb_commit_ms[k], sb_wall_ms());
        /* a tenth of the round's changes, shaped like tp-query's events */
        buf_reset(&b);
        for (long n = 0; n < per; n++)
            buf_printf(&b,
                       "id: 1a2b3c4d-%ld\nevent: change\ndata: {\"device_id\":\"b-%07ld\","
                       "\"version\":%ld,\"changed\":{\"last_seen\":\"2026-12-03T03:00:00.000Z\","
                       "\"metrics\":{\"speed_kmh\":{\"value\":%ld,\"ts\":1796266800000,\"min\":"
                       "null,\"max\":null,\"sum\":null,\"count\":1}},\"location\":{\"lat\":52.5,"
                       "\"lon\":13.5,\"ts\":1796266800000}}}\n\n",
                       k * per + n, n, SB_VERSION0 + k, n % 200);
        for (int i = 0; i < r->clients; i++) {
            size_t off = 0;
            while (off < b.len) {
                ssize_t w = write(fds[i], b.data + off, b.len - off);
                if (w <= 0)
                    break;
                off += (size_t)w;
            }
        }
    }
    r->cpu_s = sb_thread_cpu_s() - cpu0;
    buf_release(&b);
    for (int i = 0; i < r->clients; i++)
        close(fds[i]);
    free(fds);
    return NULL;
}

int main(int argc, char **argv)
{
    bool query = argc == 10 && !strcmp(argv[1], "query");
    bool responder = argc == 6 && !strcmp(argv[1], "responder");
    if (!query && !responder) {
        fprintf(stderr, "usage: tp-bench-stream query DSN TWINS RATE FLUSHES SECONDS CLIENTS "
                        "PORT KEY | responder RATE FLUSHES SECONDS CLIENTS\n");
        return 2;
    }
    sb_samples = tp_malloc(SB_SAMPLES * sizeof(*sb_samples));
    int clients = atoi(argv[query ? 7 : 5]);
    long seconds = atol(argv[query ? 6 : 4]);
    struct sb_conn *cs = tp_calloc((size_t)(clients ? clients : 1), sizeof(*cs));
    pthread_t th;
    if (query) {
        for (int i = 0; i < clients; i++) {
            char r[600];
            snprintf(r, sizeof(r),
                     "GET /v1/stream?region=region-%d HTTP/1.0\r\nAuthorization: Bearer %s\r\n\r\n",
                     i % 10, argv[9]);
            cs[i].fd = sb_connect((uint16_t)atoi(argv[8]), r);
            cs[i].buf = tp_malloc(SB_READ);
        }
        struct sb_feed f = {argv[2], atol(argv[3]), atol(argv[4]), atol(argv[5]), seconds};
        pthread_create(&th, NULL, sb_feed_main, &f);
        /* the feed's time, then a few seconds for the last events */
        int open = sb_read_loop(cs, clients, sb_wall_ms() + seconds * 1000 + 3000);
        if (!clients)
            sleep((unsigned)seconds + 3);
        atomic_store(&sb_stop, true);
        pthread_join(th, NULL);
        sb_report(open, clients, 0);
    } else {
        struct sb_responder r = {0, atol(argv[2]), atol(argv[3]), seconds, clients, 0};
        r.listen_fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET};
        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
        socklen_t sl = sizeof(sa);
        if (bind(r.listen_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
            listen(r.listen_fd, 4096) != 0 ||
            getsockname(r.listen_fd, (struct sockaddr *)&sa, &sl) != 0)
            return 1;
        pthread_create(&th, NULL, sb_responder_main, &r);
        for (int i = 0; i < clients; i++) {
            cs[i].fd = sb_connect(ntohs(sa.sin_port), "GET / HTTP/1.0\r\n\r\n");
            cs[i].buf = tp_malloc(SB_READ);
        }
        int open = sb_read_loop(cs, clients, sb_wall_ms() + seconds * 1000 + 3000);
        pthread_join(th, NULL);
        close(r.listen_fd);
        sb_report(open, clients, r.cpu_s);
    }
    for (int i = 0; i < clients; i++) {
        close(cs[i].fd);
        free(cs[i].buf);
    }
    free(cs);
    free(sb_samples);
    return 0;
}
