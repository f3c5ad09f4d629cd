#include "period.h"

#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

static int64_t period_value(const json_t *v)
{
    if (!json_is_integer(v))
        return 0;
    json_int_t p = json_integer_value(v);
    return p >= 1 && p <= PERIOD_MAX_MS ? (int64_t)p : 0;
}

int64_t period_from_body(const json_t *doc, const char *device)
{
    if (!json_is_object(doc))
        return 0;
    const json_t *by = json_object_get(doc, "report_every_ms_by_device");
    if (device && json_is_object(by)) {
        int64_t p = period_value(json_object_get(by, device));
        if (p)
            return p;
    }
    return period_value(json_object_get(doc, "report_every_ms"));
}

int64_t period_from_message(const uint8_t *payload, size_t len)
{
    /* jansson reads past a NUL byte as if it were not there: refused here */
    if (!payload || len == 0 || len > PERIOD_MSG_MAX || memchr(payload, 0, len))
        return 0;
    json_error_t jerr;
    json_t *doc = json_loadb((const char *)payload, len, JSON_REJECT_DUPLICATES, &jerr);
    int64_t p = json_is_object(doc) ? period_value(json_object_get(doc, "report_every_ms")) : 0;
    json_decref(doc);
    return p;
}

void period_book_init(struct period_book *b, size_t devices, int64_t period_ms)
{
    memset(b, 0, sizeof(*b));
    b->n = devices;
    b->period_ms = tp_calloc(devices ? devices : 1, sizeof(*b->period_ms));
    b->changed = tp_calloc(devices ? devices : 1, sizeof(*b->changed));
    for (size_t d = 0; d < devices; d++)
        b->period_ms[d] = (uint32_t)period_ms;
    b->first_ms = b->first_unix_ms = -1;
}

void period_book_release(struct period_book *b)
{
    free(b->period_ms);
    free(b->changed);
    memset(b, 0, sizeof(*b));
}

bool period_book_set(struct period_book *b, size_t d, int64_t period_ms, int64_t at_ms,
                     int64_t unix_ms)
{
    if (d >= b->n || period_ms < 1 || period_ms > PERIOD_MAX_MS ||
        b->period_ms[d] == (uint32_t)period_ms)
        return false;
    b->period_ms[d] = (uint32_t)period_ms;
    b->changes++;
    if (!b->changed[d]) {
        b->changed[d] = 1;
        b->devices_changed++;
    }
    if (b->first_ms < 0) {
        b->first_ms = at_ms;
        b->first_unix_ms = unix_ms;
    }
    size_t i = 0;
    while (i < b->n_told && b->told[i].period_ms != period_ms)
        i++;
    if (i == b->n_told) {
        if (i == PERIOD_VALUES) {
            b->told_other++;
            return true;
        }
        b->told[i] = (struct period_count){period_ms, 0, at_ms, unix_ms};
        b->n_told++;
    }
    b->told[i].devices++;
    return true;
}

static int period_count_cmp(const void *a, const void *b)
{
    int64_t x = ((const struct period_count *)a)->period_ms;
    int64_t y = ((const struct period_count *)b)->period_ms;
    return (x > y) - (x < y);
}

void period_book_tally(struct period_book *b)
{
    b->n_final = 0;
    b->final_other = 0;
    for (size_t d = 0; d < b->n; d++) {
        size_t i = 0;
        while (i < b->n_final && b->final[i].period_ms != b->period_ms[d])
            i++;
        if (i == b->n_final) {
            if (i == PERIOD_VALUES) {
                b->final_other++;
                continue;
            }
            b->final[i] = (struct period_count){
                .period_ms = b->period_ms[d], .first_ms = -1, .first_unix_ms = -1};
            b->n_final++;
        }
        b->final[i].devices++;
    }
    qsort(b->final, b->n_final, sizeof(b->final[0]), period_count_cmp);
}
