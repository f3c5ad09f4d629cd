#include "record.h"

#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "journal/framing.h"
#include "twinpipe/aggregates/v1/aggregates.pb-c.h"

typedef Twinpipe__Aggregates__V1__WindowAggregate record_msg;
typedef Twinpipe__Aggregates__V1__WindowAggregate__Metric record_metric;
typedef Twinpipe__Aggregates__V1__WindowAggregate__Attribute record_attr;

/* Parses the metrics text (rows.h) into metrics[], names pointing into text (modified:
 * separators become NULs). Returns the count, or -1 when it does not parse. */
static long record_metrics_parse(char *text, record_metric *metrics, size_t max)
{
    size_t n = 0;
    char *line = text;
    while (*line) {
        char *end = strchr(line, '\n');
        if (!end || n == max)
            return -1;
        *end = '\0';
        char *f[5];
        size_t k = 0;
        for (char *p = line; k < 5; k++) {
            f[k] = p;
            char *tab = strchr(p, '\t');
            if (k < 4) {
                if (!tab)
                    return -1;
                *tab = '\0';
                p = tab + 1;
            } else if (tab) {
                return -1;
            }
        }
        char *e1, *e2, *e3, *e4;
        long long count = strtoll(f[1], &e1, 10);
        double mn = strtod(f[2], &e2), mx = strtod(f[3], &e3), sum = strtod(f[4], &e4);
        if (!*f[0] || *e1 || *e2 || *e3 || *e4 || count < 1 || e1 == f[1] || e2 == f[2] ||
            e3 == f[3] || e4 == f[4])
            return -1;
        record_metric *m = &metrics[n++];
        twinpipe__aggregates__v1__window_aggregate__metric__init(m);
        m->name = f[0];
        m->has_count = m->has_min = m->has_max = m->has_sum = 1;
        m->count = (uint64_t)count;
        m->min = mn;
        m->max = mx;
        m->sum = sum;
        line = end + 1;
    }
    return (long)n;
}

enum tp_err aggregate_record_encode(const struct aggregate_row *row, const char *region,
                                    int32_t schema_id, uint8_t **out, size_t *len, char *errstr,
                                    size_t errstr_size)
{
    enum tp_err err = TP_OK;
    char *names = tp_strdup(row->attributes);
    char *text = tp_strdup(row->metrics);
    char *values[AGGREGATE_ATTRS_MAX] = {NULL, NULL, NULL};
    char *name_of[AGGREGATE_ATTRS_MAX];
    size_t n_attrs = 0;
    for (char *save = NULL, *tok = strtok_r(names, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (n_attrs == AGGREGATE_ATTRS_MAX) {
            n_attrs++;
            break;
        }
        name_of[n_attrs++] = tok;
    }
    size_t lines = 0;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    record_metric *metrics = tp_calloc(lines ? lines : 1, sizeof(*metrics));
    record_metric **mptrs = tp_calloc(lines ? lines : 1, sizeof(*mptrs));
    if (n_attrs == 0 || n_attrs > AGGREGATE_ATTRS_MAX ||
        !aggregate_category_split(row->category, n_attrs, values)) {
        n_attrs = 0;
        err = tp_err_set(TP_DECODE, errstr, errstr_size,
                         "partial \"%s\": its category does not match its attributes \"%s\"",
                         row->category, row->attributes);
        goto out;
    }
    long n_metrics = record_metrics_parse(text, metrics, lines);
    if (n_metrics < 0) {
        err = tp_err_set(TP_DECODE, errstr, errstr_size, "partial \"%s\": its metrics do not parse",
                         row->category);
        goto out;
    }
    record_attr attrs[AGGREGATE_ATTRS_MAX];
    record_attr *aptrs[AGGREGATE_ATTRS_MAX];
    for (size_t i = 0; i < n_attrs; i++) {
        twinpipe__aggregates__v1__window_aggregate__attribute__init(&attrs[i]);
        attrs[i].name = name_of[i];
        attrs[i].value = values[i];
        aptrs[i] = &attrs[i];
    }
    for (long i = 0; i < n_metrics; i++)
        mptrs[i] = &metrics[i];
    record_msg msg;
    twinpipe__aggregates__v1__window_aggregate__init(&msg);
    msg.region = (char *)region;
    msg.category = row->category;
    msg.n_attributes = n_attrs;
    msg.attributes = aptrs;
    msg.has_window_start_ms = msg.has_window_ms = msg.has_journal_partition = 1;
    msg.window_start_ms = row->window_start_ms;
    msg.window_ms = (uint32_t)row->window_ms;
    msg.journal_partition = row->partition;
    msg.has_version = msg.has_readings = 1;
    msg.version = (uint64_t)row->version;
    msg.readings = (uint64_t)row->readings;
    msg.n_metrics = (size_t)n_metrics;
    msg.metrics = mptrs;
    uint8_t hdr[FRAMING_HEADER_MAX];
    size_t hlen = framing_header_encode(hdr, sizeof(hdr), schema_id, (const int32_t[]){0}, 1);
    size_t plen = twinpipe__aggregates__v1__window_aggregate__get_packed_size(&msg);
    *out = tp_malloc(hlen + plen);
    memcpy(*out, hdr, hlen);
    twinpipe__aggregates__v1__window_aggregate__pack(&msg, *out + hlen);
    *len = hlen + plen;
out:
    for (size_t i = 0; i < n_attrs; i++)
        free(values[i]);
    free(metrics);
    free(mptrs);
    free(names);
    free(text);
    return err;
}
