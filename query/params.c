#include "params.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"

const char *const params_attr_names[PARAMS_N_ATTRS] = {"model", "region", "firmware"};

static const char *const params_sort_names[] = {"device_id", "-device_id", "last_seen",
                                                "-last_seen"};
static const char *const params_op_names[] = {"lt", "le", "gt", "ge"};
static const char *const params_step_names[] = {"1m", "5m", "1h", "1d"};
static const int64_t params_step_lengths_s[] = {60, 300, 3600, 86400};

#define PARAMS_CURSOR_MAX 512
/* the consistency token: read by the gate in api.c, allowed everywhere */
#define PARAMS_TOKEN_KEY "after"

void params_args_add(struct params_args *a, const char *key, const char *value)
{
    if (a->n == PARAMS_ARGS_MAX) {
        a->too_many = true;
        return;
    }
    a->keys[a->n] = key;
    a->values[a->n] = value ? value : "";
    a->n++;
}

bool params_device_id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > PARAMS_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == ':'))
            return false;
    }
    return true;
}

bool params_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > PARAMS_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t params_days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void params_civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static int64_t params_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* n decimal digits at s; -1 when any is not a digit. */
static int params_digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

bool params_time_parse(const char *s, int64_t *us)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (strlen(s) < 20)
        return false;
    int y = params_digits(s, 4), mo = params_digits(s + 5, 2), d = params_digits(s + 8, 2);
    int h = params_digits(s + 11, 2), mi = params_digits(s + 14, 2), se = params_digits(s + 17, 2);
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 ||
        se > 59 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
        s[16] != ':')
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > mdays[mo - 1] + (mo == 2 && leap))
        return false;
    const char *p = s + 19;
    int64_t frac = 0;
    if (*p == '.') {
        p++;
        int n = 0;
        while (*p >= '0' && *p <= '9') {
            if (n < 6)
                frac = frac * 10 + (*p - '0');
            n++;
            p++;
        }
        if (n == 0 || n > 9)
            return false;
        for (; n < 6; n++)
            frac *= 10;
    }
    int64_t offset_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-' || *p == ' ') {
        int sign = *p == '-' ? -1 : 1;
        int oh = params_digits(p + 1, 2);
        if (oh < 0 || oh > 23 || p[3] != ':')
            return false;
        int om = params_digits(p + 4, 2);
        if (om < 0 || om > 59)
            return false;
        offset_s = sign * (oh * 3600 + om * 60);
        p += 6;
    } else {
        return false;
    }
    if (*p != '\0')
        return false;
    int64_t secs = params_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - offset_s;
    *us = secs * 1000000 + frac;
    return true;
}

void params_time_format(int64_t us, char *out, size_t out_size)
{
    int64_t secs = params_floor_div(us, 1000000);
    int64_t frac = us - secs * 1000000;
    int64_t days = params_floor_div(secs, 86400);
    int64_t rem = secs - days * 86400;
    int y, m, d;
    params_civil_from_days(days, &y, &m, &d);
    snprintf(out, out_size, "%04d-%02d-%02d %02d:%02d:%02d.%06d+00", y, m, d, (int)(rem / 3600),
             (int)(rem / 60 % 60), (int)(rem % 60), (int)frac);
}

void params_time_rfc3339(int64_t us, char *out, size_t out_size)
{
    char t[PARAMS_TIME_TEXT];
    params_time_format(us, t, sizeof(t)); /* "YYYY-MM-DD HH:MM:SS.uuuuuu+00" */
    t[10] = 'T';
    bool micro = us % 1000 != 0;
    snprintf(out, out_size, "%.*sZ", micro ? 26 : 23, t);
}

int64_t params_step_us(enum params_step s)
{
    return params_step_lengths_s[s] * 1000000;
}

const char *params_step_name(enum params_step s)
{
    return params_step_names[s];
}

const char *params_sort_name(enum params_sort s)
{
    return params_sort_names[s];
}

/* A finite decimal number: digits, sign, point, exponent (no hex, inf, nan, spaces). */
static bool params_number(const char *s, double *v, char *text, size_t text_size)
{
    if (!*s || strlen(s) > 64 || strspn(s, "0123456789+-.eE") != strlen(s))
        return false;
    char *end;
    double d = strtod(s, &end);
    if (*end != '\0' || end == s || !isfinite(d))
        return false;
    struct buf b;
    buf_init(&b, text_size - 1);
    bool ok = json_double(&b, d == 0 ? 0.0 : d) == TP_OK; /* -0 compares as 0 */
    if (ok)
        memcpy(text, b.data, b.len + 1);
    buf_release(&b);
    *v = d;
    return ok;
}

static int params_lookup(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(names[i], s))
            return (int)i;
    return -1;
}

/* Checks what every endpoint refuses: too many, repeated, oversized or non-UTF-8 arguments. */
static enum tp_err params_check_args(const struct params_args *a, char *errstr, size_t errstr_size)
{
    if (a->too_many)
        return tp_err_set(TP_VALIDATION, errstr, errstr_size, "more than %d query parameters",
                          PARAMS_ARGS_MAX);
    for (size_t i = 0; i < a->n; i++) {
        size_t kl = strlen(a->keys[i]), vl = strlen(a->values[i]);
        if (kl > PARAMS_VALUE_MAX || vl > PARAMS_VALUE_MAX)
            return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                              "query parameters are limited to %d bytes", PARAMS_VALUE_MAX);
        if (!json_utf8_valid(a->keys[i], kl) || !json_utf8_valid(a->values[i], vl))
            return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                              "query parameter \"%.64s\" is not valid UTF-8",
                              json_utf8_valid(a->keys[i], kl) ? a->keys[i] : "?");
        for (size_t j = 0; j < i; j++)
            if (!strcmp(a->keys[i], a->keys[j]))
                return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                                  "query parameter \"%.64s\" is given more than once", a->keys[i]);
    }
    return TP_OK;
}

static enum tp_err params_unknown(const char *key, const char *allowed, char *errstr,
                                  size_t errstr_size)
{
    return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                      "unknown query parameter \"%.64s\" (allowed: %s)", key, allowed);
}

static enum tp_err params_bad(const char *key, const char *want, char *errstr, size_t errstr_size)
{
    return tp_err_set(TP_VALIDATION, errstr, errstr_size, "query parameter \"%.64s\" must be %s",
                      key, want);
}

#define PARAMS_TIME_WANT "an RFC 3339 date-time such as 2026-11-23T10:00:00Z"

/* metric.<name>.<op>=<number> */
static enum tp_err params_metric_filter(struct list_params *p, const char *key, const char *value,
                                        char *errstr, size_t errstr_size)
{
    /* the limit first: metrics[n_metrics] is the next free slot only while there is one */
    if (p->n_metrics >= PARAMS_METRIC_FILTERS)
        return tp_err_set(TP_VALIDATION, errstr, errstr_size, "at most %d metric filters",
                          PARAMS_METRIC_FILTERS);
    const char *name = key + strlen("metric.");
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name || (size_t)(dot - name) > PARAMS_NAME_MAX)
        return params_bad(key, "metric.<name>.<lt|le|gt|ge>", errstr, errstr_size);
    int op = params_lookup(params_op_names, 4, dot + 1);
    struct params_metric_filter *f = &p->metrics[p->n_metrics];
    _Static_assert(sizeof(f->name) == PARAMS_NAME_MAX + 1, "a name and its NUL");
    memcpy(f->name, name, (size_t)(dot - name));
    f->name[dot - name] = '\0';
    if (op < 0 || !params_name_ok(f->name))
        return params_bad(key,
                          "metric.<name>.<lt|le|gt|ge> with a metric name of 1..64 characters "
                          "of A-Z a-z 0-9 . _ -",
                          errstr, errstr_size);
    f->op = (enum params_op)op;
    if (!params_number(value, &f->value, f->text, sizeof(f->text)))
        return params_bad(key, "a finite decimal number", errstr, errstr_size);
    p->n_metrics++;
    return TP_OK;
}

enum tp_err params_list_parse(const struct params_args *a, struct list_params *p, char *errstr,
                              size_t errstr_size)
{
    static const char allowed[] = "model, region, firmware, metric.<name>.<lt|le|gt|ge>, "
                                  "last_seen_before, last_seen_after, status, sort, limit, "
                                  "cursor, after";
    memset(p, 0, sizeof(*p));
    p->limit = PARAMS_LIMIT_DEFAULT;
    p->sort = SORT_DEVICE_ID;
    enum tp_err err = params_check_args(a, errstr, errstr_size);
    for (size_t i = 0; i < a->n && err == TP_OK; i++) {
        const char *k = a->keys[i], *v = a->values[i];
        int attr = params_lookup(params_attr_names, PARAMS_N_ATTRS, k);
        if (!strcmp(k, PARAMS_TOKEN_KEY)) {
            continue;
        } else if (attr >= 0) {
            if (!*v)
                err = params_bad(k, "a non-empty string", errstr, errstr_size);
            p->attrs[attr] = v;
        } else if (!strcmp(k, "last_seen_before")) {
            p->has_before = true;
            if (!params_time_parse(v, &p->before_us))
                err = params_bad(k, PARAMS_TIME_WANT, errstr, errstr_size);
        } else if (!strcmp(k, "last_seen_after")) {
            p->has_after = true;
            if (!params_time_parse(v, &p->after_us))
                err = params_bad(k, PARAMS_TIME_WANT, errstr, errstr_size);
        } else if (!strcmp(k, "status")) {
            if (!strcmp(v, "online"))
                p->status = STATUS_ONLINE;
            else if (!strcmp(v, "offline"))
                p->status = STATUS_OFFLINE;
            else
                err = params_bad(k, "online or offline", errstr, errstr_size);
        } else if (!strcmp(k, "sort")) {
            int s = params_lookup(params_sort_names, 4, v);
            if (s < 0)
                err = params_bad(k, "device_id, -device_id, last_seen or -last_seen", errstr,
                                 errstr_size);
            p->sort = (enum params_sort)(s < 0 ? 0 : s);
        } else if (!strcmp(k, "limit")) {
            char *end;
            long l = strtol(v, &end, 10);
            if (!*v || *end || strspn(v, "0123456789") != strlen(v) || l < 1 ||
                l > PARAMS_LIMIT_MAX)
                err = params_bad(k, "an integer from 1 to 1000", errstr, errstr_size);
            p->limit = l;
        } else if (!strcmp(k, "cursor")) {
            if (!*v || strlen(v) > PARAMS_CURSOR_MAX)
                err = tp_err_set(TP_VALIDATION, errstr, errstr_size,
                                 "query parameter \"cursor\" must be a next_cursor of a previous "
                                 "page");
            p->cursor = v;
        } else if (!strncmp(k, "metric.", 7)) {
            err = params_metric_filter(p, k, v, errstr, errstr_size);
        } else {
            err = params_unknown(k, allowed, errstr, errstr_size);
        }
    }
    if (err == TP_OK && p->has_before && p->has_after && p->after_us >= p->before_us)
        err = tp_err_set(TP_VALIDATION, errstr, errstr_size,
                         "last_seen_after must be before last_seen_before");
    return err;
}

static void params_fp_field(struct buf *out, const char *key, const char *value)
{
    buf_printf(out, "%s=%zu:%s;", key, strlen(value), value);
}

void params_list_fingerprint(const struct list_params *p, struct buf *out)
{
    char t[32];
    params_fp_field(out, "sort", params_sort_names[p->sort]);
    for (int i = 0; i < PARAMS_N_ATTRS; i++)
        if (p->attrs[i])
            params_fp_field(out, params_attr_names[i], p->attrs[i]);
    if (p->has_before) {
        snprintf(t, sizeof(t), "%lld", (long long)p->before_us);
        params_fp_field(out, "before", t);
    }
    if (p->has_after) {
        snprintf(t, sizeof(t), "%lld", (long long)p->after_us);
        params_fp_field(out, "after", t);
    }
    params_fp_field(out, "status",
                    p->status == STATUS_ONLINE    ? "online"
                    : p->status == STATUS_OFFLINE ? "offline"
                                                  : "");
    for (size_t i = 0; i < p->n_metrics; i++) {
        params_fp_field(out, "metric", p->metrics[i].name);
        params_fp_field(out, params_op_names[p->metrics[i].op], p->metrics[i].text);
    }
}

static enum tp_err params_time_arg(const char *key, const char *value, int64_t *us, char *errstr,
                                   size_t errstr_size)
{
    if (!params_time_parse(value, us))
        return params_bad(key, PARAMS_TIME_WANT, errstr, errstr_size);
    return TP_OK;
}

static enum tp_err params_name_arg(const char *key, const char *value, char *out, char *errstr,
                                   size_t errstr_size)
{
    if (!params_name_ok(value))
        return params_bad(key, "a name of 1..64 characters of A-Z a-z 0-9 . _ -", errstr,
                          errstr_size);
    snprintf(out, PARAMS_NAME_MAX + 1, "%s", value);
    return TP_OK;
}

enum tp_err params_series_parse(const struct params_args *a, struct series_params *p, char *errstr,
                                size_t errstr_size)
{
    bool has_from = false, has_to = false;
    memset(p, 0, sizeof(*p));
    p->step = STEP_1M;
    enum tp_err err = params_check_args(a, errstr, errstr_size);
    for (size_t i = 0; i < a->n && err == TP_OK; i++) {
        const char *k = a->keys[i], *v = a->values[i];
        if (!strcmp(k, PARAMS_TOKEN_KEY)) {
            continue;
        } else if (!strcmp(k, "metric")) {
            err = params_name_arg(k, v, p->metric, errstr, errstr_size);
        } else if (!strcmp(k, "from")) {
            has_from = true;
            err = params_time_arg(k, v, &p->from_us, errstr, errstr_size);
        } else if (!strcmp(k, "to")) {
            has_to = true;
            err = params_time_arg(k, v, &p->to_us, errstr, errstr_size);
        } else if (!strcmp(k, "step")) {
            int s = params_lookup(params_step_names, 4, v);
            if (s < 0)
                err = params_bad(k, "1m, 5m, 1h or 1d", errstr, errstr_size);
            p->step = (enum params_step)(s < 0 ? 0 : s);
        } else {
            err = params_unknown(k, "metric, from, to, step, after", errstr, errstr_size);
        }
    }
    if (err != TP_OK)
        return err;
    if (!p->metric[0] || !has_from || !has_to)
        return tp_err_set(TP_VALIDATION, errstr, errstr_size,
                          "metric, from and to are required (step defaults to 1m)");
    if (p->from_us >= p->to_us)
        return tp_err_set(TP_VALIDATION, errstr, errstr_size, "from must be before to");
    int64_t step = params_step_us(p->step);
    int64_t first = params_floor_div(p->from_us, step);
    int64_t last = params_floor_div(p->to_us - 1, step);
    if (last - first + 1 > PARAMS_BUCKETS_MAX)
        return tp_err_set(TP_TOO_LARGE, errstr, errstr_size,
                          "from..to spans %lld buckets of %s, the limit is %d: use a larger step "
                          "or a shorter range",
                          (long long)(last - first + 1), params_step_names[p->step],
                          PARAMS_BUCKETS_MAX);
    p->buckets = (long)(last - first + 1);
    return TP_OK;
}

enum tp_err params_summary_parse(const struct params_args *a, struct summary_params *p,
                                 char *errstr, size_t errstr_size)
{
    memset(p, 0, sizeof(*p));
    enum tp_err err = params_check_args(a, errstr, errstr_size);
    for (size_t i = 0; i < a->n && err == TP_OK; i++) {
        const char *k = a->keys[i], *v = a->values[i];
        if (!strcmp(k, PARAMS_TOKEN_KEY))
            continue;
        else if (!strcmp(k, "group_by"))
            err = params_name_arg(k, v, p->group_by, errstr, errstr_size);
        else if (!strcmp(k, "metric"))
            err = params_name_arg(k, v, p->metric, errstr, errstr_size);
        else
            err = params_unknown(k, "group_by, metric, after", errstr, errstr_size);
    }
    return err;
}
