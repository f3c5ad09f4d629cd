#include "stack.h"

#include <arpa/inet.h>
#include <check.h>
#include <curl/curl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/mem.h"

void stack_init(struct stack *st, const char *name)
{
    const char *dsn = getenv("TP_PG_DSN");
    const char *bootstrap = getenv("TP_KAFKA_BOOTSTRAP_SERVERS");
    ck_assert_msg(dsn && bootstrap,
                  "integration tests need the dev stack: run `make test` (or `eval "
                  "\"$(scripts/devstack env)\"` after `scripts/devstack up`)");
    snprintf(st->bootstrap, sizeof(st->bootstrap), "%s", bootstrap);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned long long u =
        (unsigned long long)ts.tv_sec * 1000 + (unsigned long long)ts.tv_nsec / 1000000;
    snprintf(st->db, sizeof(st->db), "tp_it_%s_%d_%llu", name, (int)getpid(), u);
    snprintf(st->topic, sizeof(st->topic), "tp-it-%s-%d-%llu", name, (int)getpid(), u);
    stack_set_admin_dsn(st, dsn);
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

void stack_set_admin_dsn(struct stack *st, const char *admin_dsn)
{
    snprintf(st->admin_dsn, sizeof(st->admin_dsn), "%s", admin_dsn);
    /* later keywords win in a libpq conninfo string */
    snprintf(st->dsn, sizeof(st->dsn), "%s dbname=%s", admin_dsn, st->db);
}

static void stack_admin_exec(const struct stack *st, const char *sql)
{
    PGconn *db = PQconnectdb(st->admin_dsn);
    ck_assert_msg(PQstatus(db) == CONNECTION_OK, "cannot connect to %s: %s", st->admin_dsn,
                  PQerrorMessage(db));
    PGresult *res = PQexec(db, sql);
    ck_assert_msg(PQresultStatus(res) == PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(db));
    PQclear(res);
    PQfinish(db);
}

void stack_db_create(struct stack *st)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", st->db);
    stack_admin_exec(st, sql);
    ck_assert_int_eq(stack_run(st, "tp-migrate", NULL), 0);
}

void stack_release(struct stack *st)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", st->db);
    stack_admin_exec(st, sql);
}

uint16_t stack_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    socklen_t l = sizeof(sa);
    getsockname(fd, (struct sockaddr *)&sa, &l);
    close(fd);
    return ntohs(sa.sin_port);
}

static pid_t stack_spawn(const struct stack *st, const char *program, const char *const *extra,
                         uint16_t port)
{
    char path[1024], log[1024];
    snprintf(path, sizeof(path), "%s/%s", TP_BIN_DIR, program);
    snprintf(log, sizeof(log), "%s/../Testing/%s-%s.log", TP_BIN_DIR, st->db, program);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char listen[64];
        snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
        setenv("TP_PG_DSN", st->dsn, 1);
        setenv("TP_KAFKA_BOOTSTRAP_SERVERS", st->bootstrap, 1);
        setenv("TP_JOURNAL_TOPIC", st->topic, 1);
        setenv("TP_PROJECTOR_GROUP", st->topic, 1);
        setenv("TP_HTTP_LISTEN", listen, 1);
        setenv("TP_MIGRATIONS_DIR", TP_SOURCE_DIR "/migrations", 1);
        /* tp-query refuses to start with query.auth=required and no cursor secret */
        setenv("TP_QUERY_CURSOR_SECRET", STACK_CURSOR_SECRET, 1);
        /* tp-registry's users: user:<SHA-256 hex of the password>:role */
        setenv("TP_REGISTRY_CREDENTIALS",
               STACK_REGISTRY_OPERATOR
               ":ad64f5c6c0c71ce170ff1f7ea9648ee5eb984fea63639ecbc92803dfb820d657:write," //
               STACK_REGISTRY_READER
               ":df3ee5fa946d516ea591800e6936f3573cf0b4410dc56af570a5479b7360ccc4:read",
               1);
        setenv("TP_REGISTRY_USER", STACK_REGISTRY_READER, 1);
        setenv("TP_REGISTRY_PASSWORD", STACK_REGISTRY_READER_PASSWORD, 1);
        for (const char *const *e = extra; e && *e; e++)
            putenv((char *)*e);
        /* both streams to the log: a service never holds the test runner's pipe */
        FILE *f = freopen(log, "a", stderr);
        (void)f;
        dup2(STDERR_FILENO, STDOUT_FILENO);
        execl(path, program, (char *)NULL);
        _exit(127);
    }
    return pid;
}

pid_t stack_service_start(const struct stack *st, const char *program, const char *const *extra,
                          uint16_t port)
{
    pid_t pid = stack_spawn(st, program, extra, port);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/healthz", port);
    for (int i = 0; i < 300; i++) {
        int status;
        ck_assert_msg(waitpid(pid, &status, WNOHANG) == 0, "%s exited during start-up (see %s)",
                      program, "build/<variant>/Testing/*.log");
        if (stack_http("GET", url, NULL, NULL, 0, NULL) == 200)
            return pid;
        usleep(100 * 1000);
    }
    kill(pid, SIGKILL);
    ck_abort_msg("%s did not become healthy within 30 s", program);
    return -1;
}

int stack_service_stop(pid_t pid, int sig)
{
    int status = 0;
    if (pid <= 0)
        return -1;
    if (waitpid(pid, &status, WNOHANG) == pid)
        return status | 0x10000; /* had exited already: never equal to a clean stop */
    kill(pid, sig);
    for (int i = 0; i < 200; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return status;
        usleep(100 * 1000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    /* not an abort: teardown must go on stopping the other services */
    fprintf(stderr, "process %d did not stop within 20 s after signal %d: killed\n", (int)pid, sig);
    return status | 0x20000;
}

int stack_run(const struct stack *st, const char *program, const char *const *extra)
{
    pid_t pid = stack_spawn(st, program, extra, 0);
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int stack_run_for(const struct stack *st, const char *program, const char *const *extra,
                  int timeout_ms)
{
    pid_t pid = stack_spawn(st, program, extra, 0);
    int status;
    for (int waited = 0; waitpid(pid, &status, WNOHANG) == 0; waited += 50) {
        if (waited >= timeout_ms) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        usleep(50 * 1000);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static char stack_bearer[1024];

void stack_set_bearer(const char *token)
{
    snprintf(stack_bearer, sizeof(stack_bearer), "%s", token ? token : "");
}

static char stack_header[16384];
static char stack_etag[128];
static char stack_headers[8192]; /* the last response's header lines */

void stack_set_header(const char *line)
{
    snprintf(stack_header, sizeof(stack_header), "%s", line ? line : "");
}

const char *stack_last_etag(void)
{
    return stack_etag;
}

const char *stack_last_header(const char *name)
{
    static char value[1024];
    size_t l = strlen(name);
    value[0] = '\0';
    for (const char *p = stack_headers; *p; p += strcspn(p, "\n") + (p[strcspn(p, "\n")] != 0)) {
        if (!strncasecmp(p, name, l) && p[l] == ':') {
            const char *v = p + l + 1;
            while (*v == ' ')
                v++;
            size_t n = strcspn(v, "\r\n");
            snprintf(value, sizeof(value), "%.*s", (int)n, v);
            break;
        }
    }
    return value;
}

static size_t stack_curl_header(char *data, size_t size, size_t n, void *arg)
{
    size_t len = size * n;
    size_t have = strlen(stack_headers);
    (void)arg;
    if (have + len + 1 < sizeof(stack_headers)) {
        memcpy(stack_headers + have, data, len);
        stack_headers[have + len] = '\0';
    }
    if (len > 6 && !strncasecmp(data, "ETag: ", 6)) {
        size_t v = len - 6;
        while (v > 0 && (data[6 + v - 1] == '\r' || data[6 + v - 1] == '\n'))
            v--;
        snprintf(stack_etag, sizeof(stack_etag), "%.*s", (int)v, data + 6);
    }
    return len;
}

static size_t stack_curl_write(char *data, size_t size, size_t n, void *arg)
{
    struct buf *b = arg;
    if (b)
        buf_append(b, data, size * n);
    return size * n;
}

long stack_http(const char *method, const char *url, const char *content_type, const void *body,
                size_t len, struct buf *resp)
{
    CURL *c = curl_easy_init();
    struct curl_slist *headers = NULL;
    char ct[256];
    if (content_type) {
        snprintf(ct, sizeof(ct), "Content-Type: %s", content_type);
        headers = curl_slist_append(headers, ct);
    }
    headers = curl_slist_append(headers, "Expect:");
    char auth[1100];
    if (stack_header[0])
        headers = curl_slist_append(headers, stack_header);
    if (stack_bearer[0]) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", stack_bearer);
        headers = curl_slist_append(headers, auth);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, stack_curl_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, stack_curl_header);
    stack_etag[0] = '\0';
    stack_headers[0] = '\0';
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
    }
    if (resp)
        buf_reset(resp);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    return status;
}
