#include "metrics.h"

#include <dirent.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "json.h"

#ifndef TP_BUILD_VERSION
#define TP_BUILD_VERSION "unknown"
#endif
#ifndef TP_BUILD_COMMIT
#define TP_BUILD_COMMIT "unknown"
#endif

const double METRICS_BUCKETS_MS[METRICS_N_BUCKETS] = {1,   2,   5,    10,   20,   50,    100,
                                                      200, 500, 1000, 2000, 5000, 10000, 30000};

void metrics_histogram_observe(struct metrics_histogram *h, double ms)
{
    if (!(ms > 0))
        ms = 0;
    int i = 0;
    while (i < METRICS_N_BUCKETS && ms > METRICS_BUCKETS_MS[i])
        i++;
    atomic_fetch_add(&h->buckets[i], 1);
    atomic_fetch_add(&h->count, 1);
    atomic_fetch_add(&h->sum_us, (uint64_t)(ms * 1000.0));
}

/* A sample value: the shortest decimal that reads back exactly; NaN and infinities as the
 * text format spells them. */
static void metrics_value(struct buf *b, double v)
{
    if (isnan(v))
        buf_append_str(b, "NaN");
    else if (isinf(v))
        buf_append_str(b, v > 0 ? "+Inf" : "-Inf");
    else
        json_double(b, v);
}

static void metrics_family(struct buf *b, const char *name, const char *type, const char *help)
{
    if (help)
        buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void metrics_sample(struct buf *b, const char *name, const char *type, const char *help,
                    const char *labels, double value)
{
    metrics_family(b, name, type, help);
    if (labels)
        buf_printf(b, "%s{%s} ", name, labels);
    else
        buf_printf(b, "%s ", name);
    metrics_value(b, value);
    buf_append_str(b, "\n");
}

void metrics_histogram_write(struct buf *b, const char *name, const char *help,
                             struct metrics_histogram *h)
{
    metrics_histogram_write_labels(b, name, help, NULL, h);
}

void metrics_histogram_write_labels(struct buf *b, const char *name, const char *help,
                                    const char *labels, struct metrics_histogram *h)
{
    const char *sep = labels ? "," : "";
    if (!labels)
        labels = "";
    metrics_family(b, name, "histogram", help);
    uint64_t cum = 0;
    for (int i = 0; i <= METRICS_N_BUCKETS; i++) {
        cum += atomic_load(&h->buckets[i]);
        buf_printf(b, "%s_bucket{%s%sle=\"", name, labels, sep);
        if (i < METRICS_N_BUCKETS)
            metrics_value(b, METRICS_BUCKETS_MS[i] / 1000.0);
        else
            buf_append_str(b, "+Inf");
        buf_printf(b, "\"} %llu\n", (unsigned long long)cum);
    }
    const char *open = *labels ? "{" : "", *close = *labels ? "}" : "";
    buf_printf(b, "%s_sum%s%s%s ", name, open, labels, close);
    metrics_value(b, (double)atomic_load(&h->sum_us) / 1e6);
    buf_printf(b, "\n%s_count%s%s%s %llu\n", name, open, labels, close,
               (unsigned long long)atomic_load(&h->count));
}

/* ---- tp_build_info and process_* ---- */

/* The fields of /proc/self/stat a client library exports (proc(5): utime, stime, starttime
 * in clock ticks, vsize in bytes, rss in pages). */
struct metrics_proc_stat {
    unsigned long long utime, stime, starttime, vsize, rss;
};

static bool metrics_proc_stat_read(struct metrics_proc_stat *ps)
{
    char line[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return false;
    bool ok = fgets(line, sizeof(line), f) != NULL;
    fclose(f);
    /* "pid (comm) state ppid ...": comm may hold spaces and parentheses, the last ')' ends it */
    const char *p = ok ? strrchr(line, ')') : NULL;
    if (!p)
        return false;
    p++;
    /* after ')': field 3 (state) is token 0, so field n is token n - 3 */
    unsigned long long tok[22];
    for (int i = 0; i < 22; i++) {
        while (*p == ' ')
            p++;
        if (!*p || *p == '\n')
            return false;
        tok[i] = strtoull(p, NULL, 10); /* token 0, the state letter, reads as 0 */
        p += strcspn(p, " \n");
    }
    ps->utime = tok[14 - 3];
    ps->stime = tok[15 - 3];
    ps->starttime = tok[22 - 3];
    ps->vsize = tok[23 - 3];
    ps->rss = tok[24 - 3];
    return true;
}

/* The "btime" line of /proc/stat: the boot time, seconds since the epoch; 0 if unknown. */
static long long metrics_boot_time(void)
{
    char line[512];
    long long btime = 0;
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f)) {
        if (!strncmp(line, "btime ", 6)) {
            btime = strtoll(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return btime;
}

/* Entries of /proc/self/fd but the one that reads it; -1 if it cannot be read. */
static long metrics_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    long n = 0;
    const struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.')
            n++;
    }
    closedir(d);
    return n - 1;
}

void metrics_runtime_write(struct buf *b)
{
    metrics_sample(b, "tp_build_info", "gauge",
                   "always 1; labels: the version (git describe) and commit this binary was "
                   "built from",
                   "version=\"" TP_BUILD_VERSION "\",commit=\"" TP_BUILD_COMMIT "\"", 1);
    struct metrics_proc_stat ps;
    long ticks = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    if (metrics_proc_stat_read(&ps) && ticks > 0 && page > 0) {
        metrics_sample(b, "process_cpu_seconds_total", "counter",
                       "Total user and system CPU time spent in seconds.", NULL,
                       (double)(ps.utime + ps.stime) / (double)ticks);
        metrics_sample(b, "process_resident_memory_bytes", "gauge",
                       "Resident memory size in bytes.", NULL, (double)ps.rss * (double)page);
        metrics_sample(b, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
                       NULL, (double)ps.vsize);
        long long btime = metrics_boot_time();
        if (btime > 0)
            metrics_sample(b, "process_start_time_seconds", "gauge",
                           "Start time of the process since unix epoch in seconds.", NULL,
                           (double)btime + (double)ps.starttime / (double)ticks);
    }
    long fds = metrics_open_fds();
    if (fds >= 0)
        metrics_sample(b, "process_open_fds", "gauge", "Number of open file descriptors.", NULL,
                       (double)fds);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        metrics_sample(b, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
                       NULL, (double)rl.rlim_cur);
}
