/*
 * set.h - the policies a consumer knows, built from the policies topics, and
 * what they mean for one device at one time.
 *
 * A policy_set holds at most `max` policies (policy.max_active), keyed by
 * (topic, name): two topics' policies of one name are distinct entries
 * (docs/decisions/regions.md, section 3). policy_set_apply feeds it the
 * topics' records in order: a value replaces the entry of its key, a
 * tombstone (NULL value) deletes it.
 *
 * Evaluation is a pure function of (set, site, device, t): a policy is
 * active while from <= t < until, so expiry needs no timer and no record
 * to be correct. policy_set_next_change tells a consumer when the answer can
 * change next (the nearest from or until after t) so it knows when to
 * re-evaluate or rebuild a snapshot. When several active policies match, the
 * level is the highest (raw over aggregates) and the period the smallest
 * report_every_ms among them; with none given, the caller's default.
 *
 * Matching: every attribute condition holds on the device's attribute
 * (absent = "", which no condition matches: values are 1..128 bytes), AND
 * the id is in device_ids if given, AND the site is in sites if given.
 *
 * Not thread-safe: one writer; readers share it only as an immutable
 * snapshot (the consumer thread builds, swaps a pointer). policy_set_clone
 * makes that snapshot in O(entries) without copying a policy: the clone and
 * its source share their (immutable, reference-counted) entries, and either
 * may be applied to or freed afterwards, on any thread, independently.
 *
 *     struct policy_set *s = policy_set_new(1000);
 *     for each record: policy_set_apply(s, topic, key, klen, value_or_NULL, vlen, &code, err, n);
 *     struct policy_device d = {.id = "veh-1", .attrs = {[POLICY_ATTR_MODEL] = "tp-truck"}};
 *     policy_set_evaluate(s, "region-a", &d, now, 3000, &eff);  eff.level, eff.report_every_ms
 *     policy_set_free(s);
 */
#ifndef TP_POLICY_SET_H
#define TP_POLICY_SET_H

#include "policy/policy.h"

struct policy_set;

/* A device as a consumer sees it: its id and the attributes it reported
 * (NULL: absent). Borrowed. */
struct policy_device {
    const char *id;
    const char *attrs[POLICY_ATTR__COUNT];
};

struct policy_effect {
    enum policy_level level; /* highest among the active matches; aggregates with none */
    int64_t report_every_ms; /* smallest given among them, else the caller's default */
    size_t matched;          /* active matching policies */
    int64_t next_change_ms;  /* the nearest from or until after t of the policies whose
                                selector matches; INT64_MAX: never */
};

/* max: how many policies the set holds at most (>= 1). */
struct policy_set *policy_set_new(size_t max);
void policy_set_free(struct policy_set *s);
size_t policy_set_count(const struct policy_set *s);
/* A set with the same entries and max, sharing them (no policy is copied). */
struct policy_set *policy_set_clone(const struct policy_set *s);

/* Applies one record of `topic` (key = name). value NULL: a tombstone,
 * deleting the entry if any (TP_OK either way). A value that does not read
 * (policy_record_read) or a new key past max is refused and leaves the set
 * unchanged: TP_VALIDATION / TP_TOO_LARGE, *code and errstr set. */
enum tp_err policy_set_apply(struct policy_set *s, const char *topic, const char *key,
                             size_t key_len, const char *value, size_t value_len,
                             enum policy_error *code, char *errstr, size_t errstr_size);

/* The entry of (topic, name); borrowed, valid until the next apply. */
const struct policy *policy_set_get(const struct policy_set *s, const char *topic,
                                    const char *name);
/* The i-th entry (0 <= i < count, order unspecified) and its topic; borrowed. */
const struct policy *policy_set_at(const struct policy_set *s, size_t i, const char **topic);

/* Whether p's selector matches the device at `site` (NULL: no site; a policy
 * with sites then never matches), regardless of time. */
bool policy_matches(const struct policy *p, const char *site, const struct policy_device *d);
static inline bool policy_active(const struct policy *p, int64_t t)
{
    return p->from_ms <= t && t < p->until_ms;
}

/* The effect of the set on the device at t. If `matched` is not NULL, the
 * first matched_cap active matching policies are stored there (borrowed). */
void policy_set_evaluate(const struct policy_set *s, const char *site,
                         const struct policy_device *d, int64_t t, int64_t default_report_every_ms,
                         struct policy_effect *out, const struct policy **matched,
                         size_t matched_cap);

/* The nearest from or until after t over every policy: when any device's
 * effect can change next without a record (INT64_MAX: never). */
int64_t policy_set_next_change(const struct policy_set *s, int64_t t);

#endif
