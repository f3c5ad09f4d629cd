/*
 * params.h - the query string of every query endpoint, parsed and checked
 * before any SQL is built: unknown, repeated or malformed parameters are
 * refused (a typo such as `regoin=eu` must not silently list the whole
 * fleet). Values stay text where SQL takes them as parameters; numbers and
 * times are parsed here and written back in one canonical form.
 *
 * Object: struct params_args, the raw key/value pairs of one request
 * (borrowed from the request, valid until its reply), and one parsed struct
 * per endpoint (list_params, series_params, summary_params) that borrows
 * from it. Pure functions; any thread. Errors are TP_VALIDATION (400
 * invalid_parameter) or TP_TOO_LARGE (400 too_many_buckets) with a message
 * for the client in errstr.
 *
 *     struct params_args a = {0};
 *     params_args_add(&a, "model", "tp-truck");           // per query argument
 *     struct list_params lp;
 *     if (params_list_parse(&a, &lp, errstr, sizeof(errstr)) != TP_OK) -> 400
 */
#ifndef TP_QUERY_PARAMS_H
#define TP_QUERY_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

#define PARAMS_ARGS_MAX       32   /* query arguments in one request */
#define PARAMS_VALUE_MAX      4096 /* bytes of one value */
#define PARAMS_ID_MAX         128  /* device ids, as ingest accepts them */
#define PARAMS_NAME_MAX       64   /* metric and attribute names */
#define PARAMS_METRIC_FILTERS 8
#define PARAMS_LIMIT_DEFAULT  100
#define PARAMS_LIMIT_MAX      1000
#define PARAMS_BUCKETS_MAX    10000
/* "2026-11-23 10:24:46.706123+00" */
#define PARAMS_TIME_TEXT 40

struct params_args {
    size_t n;
    const char *keys[PARAMS_ARGS_MAX];
    const char *values[PARAMS_ARGS_MAX];
    bool too_many;
};

/* Attributes the list filters on by equality (twins.attributes keys). */
enum params_attr { PARAMS_MODEL, PARAMS_REGION, PARAMS_FIRMWARE, PARAMS_N_ATTRS };
extern const char *const params_attr_names[PARAMS_N_ATTRS];

/* Sort orders of the list; every one ends in device_id, so the order is total. */
enum params_sort { SORT_DEVICE_ID, SORT_DEVICE_ID_DESC, SORT_LAST_SEEN, SORT_LAST_SEEN_DESC };
enum params_op { OP_LT, OP_LE, OP_GT, OP_GE };
enum params_status { STATUS_ANY, STATUS_ONLINE, STATUS_OFFLINE };

struct params_metric_filter {
    char name[PARAMS_NAME_MAX + 1];
    enum params_op op;
    double value;
    char text[32]; /* value, shortest exact text */
};

struct list_params {
    const char *attrs[PARAMS_N_ATTRS]; /* NULL = no filter */
    bool has_before, has_after;
    int64_t before_us, after_us; /* last_seen < before, last_seen >= after (us since epoch) */
    enum params_status status;
    size_t n_metrics;
    struct params_metric_filter metrics[PARAMS_METRIC_FILTERS];
    enum params_sort sort;
    long limit;
    const char *cursor; /* NULL = first page */
};

enum params_step { STEP_1M, STEP_5M, STEP_1H, STEP_1D };

struct series_params {
    char metric[PARAMS_NAME_MAX + 1];
    int64_t from_us, to_us; /* minutes in [from, to) */
    enum params_step step;
    long buckets; /* step-aligned buckets that [from, to) touches */
};

struct summary_params {
    char group_by[PARAMS_NAME_MAX + 1]; /* "" = one group, the whole fleet */
    char metric[PARAMS_NAME_MAX + 1];   /* "" = no metric aggregates */
};

/* Adds one argument (both borrowed); past PARAMS_ARGS_MAX sets too_many. */
void params_args_add(struct params_args *a, const char *key, const char *value);

enum tp_err params_list_parse(const struct params_args *a, struct list_params *p, char *errstr,
                              size_t errstr_size);
enum tp_err params_series_parse(const struct params_args *a, struct series_params *p, char *errstr,
                                size_t errstr_size);
enum tp_err params_summary_parse(const struct params_args *a, struct summary_params *p,
                                 char *errstr, size_t errstr_size);

/*
 * What a cursor is bound to: the sort and every filter, length-prefixed
 * (so no two different queries give the same text). Not the limit.
 */
void params_list_fingerprint(const struct list_params *p, struct buf *out);

/* 1..128 characters of A-Z a-z 0-9 . _ : - (ingest's rule). */
bool params_device_id_ok(const char *id);
/* 1..64 characters of A-Z a-z 0-9 . _ - (ingest's metric name rule). */
bool params_name_ok(const char *name);
/*
 * RFC 3339 date-time ("2026-11-23T10:24:46.706Z", "...+01:00"; a space
 * where the offset's '+' was, as a '+' left unencoded in a URL arrives) to
 * microseconds since the epoch; years 1..9999, fractions cut to microseconds.
 */
bool params_time_parse(const char *s, int64_t *us);
/* Microseconds since the epoch as PostgreSQL timestamptz input, UTC. */
void params_time_format(int64_t us, char *out, size_t out_size);
/* Microseconds since the epoch as RFC 3339 in UTC: ".mmmZ", or ".uuuuuuZ" when needed. */
void params_time_rfc3339(int64_t us, char *out, size_t out_size);
/* Step length in microseconds, and its name ("5m"). */
int64_t params_step_us(enum params_step s);
const char *params_step_name(enum params_step s);
const char *params_sort_name(enum params_sort s);

#endif
