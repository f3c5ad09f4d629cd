/*
 * period.h - the reporting period tp-ingest tells devices
 * (docs/decisions/regions.md, section 3, "How tp-ingest learns a device's
 * period"): the glue between a payload's readings and the level-of-detail
 * policies (policy/set.h, a snapshot of policyfeed/feed.h).
 *
 * A device is matched on its id and the attributes its readings carry
 * (model, firmware, region): ingest keeps no device state for HTTP, so a
 * reading without attributes matches only device_ids selectors. Attributes
 * are kept truncated to PERIOD_ATTR_MAX bytes: a condition's value is at
 * most POLICY_VALUE_MAX bytes, so one byte more decides equality and prefix
 * exactly as the whole value would, and a copy is bounded whatever
 * ingest.max_string says.
 *
 * - period_answer_compute: the 202 body's period for the distinct devices
 *   of a payload's valid readings, at time now. One device: its period in
 *   report_every_ms. Several: report_every_ms is the default and the devices
 *   whose period differs from it are listed (sorted by id) in by_device.
 * - period_answer_json: the members the 202 body gains.
 * - period_attrs_* / period_of: one device's attributes and its period (the
 *   MQTT transport keeps the attributes per config subscription).
 *
 * Pure code over a borrowed, immutable policy set: any thread. A
 * period_answer owns its by_device entries (_release).
 *
 *     struct period_answer a;
 *     period_answer_compute(&a, set, "region-a", 3000, tp_now_ms(), readings, valid, n);
 *     ... later, answering: period_answer_json(&a, &body); period_answer_release(&a);
 */
#ifndef TP_INGEST_PERIOD_H
#define TP_INGEST_PERIOD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "journal/journal.h"
#include "policy/set.h"

/* Attribute bytes kept: one more than a condition's longest value. */
#define PERIOD_ATTR_MAX (POLICY_VALUE_MAX + 1)

/* A device's attributes as matched ("" = absent). */
struct period_attrs {
    char v[POLICY_ATTR__COUNT][PERIOD_ATTR_MAX + 1];
};

/* Sets the attributes r carries (non-empty), leaving the others as they were. */
void period_attrs_merge(struct period_attrs *a, const journal_reading *r);
bool period_attrs_empty(const struct period_attrs *a);
bool period_attrs_equal(const struct period_attrs *a, const struct period_attrs *b);

/* The period of device (attributes a, NULL: none) at site (NULL: none) at t: the smallest
 * report_every_ms of the active matching policies, else default_ms. */
int64_t period_of(const struct policy_set *s, const char *site, const char *device,
                  const struct period_attrs *a, int64_t t, int64_t default_ms);

struct period_entry {
    char *device; /* owned */
    int64_t report_every_ms;
};

struct period_answer {
    int64_t report_every_ms; /* 0: policies off (period_answer_json writes nothing) */
    int64_t default_ms;
    struct period_entry *by_device; /* several devices: those not at the default, by id */
    size_t n_by_device;
    size_t devices; /* distinct devices of the valid readings */
    /* one device: the attributes it was matched with (the transport may keep them) */
    struct period_attrs attrs;
};

/* An answer with policies off: no member written. */
void period_answer_init(struct period_answer *a);
/* The answer for the distinct devices of readings[i] with valid[i] (valid NULL: all). s NULL
 * (no policy known): every device at default_ms. */
void period_answer_compute(struct period_answer *a, const struct policy_set *s, const char *site,
                           int64_t default_ms, int64_t now, journal_reading *const *readings,
                           const bool *valid, size_t n);
/* Whether the answer tells some device a period other than the default. */
bool period_answer_policy(const struct period_answer *a);
/* Appends ,"report_every_ms":N and, when some device of several is not at the default,
 * ,"report_every_ms_by_device":{"id":N,...}; nothing when policies are off. */
enum tp_err period_answer_json(const struct period_answer *a, struct buf *b);
void period_answer_release(struct period_answer *a);

/* The MQTT config message: {"report_every_ms":N}. */
enum tp_err period_config_json(int64_t report_every_ms, struct buf *b);

#endif
