/*
 * attrs.h - tp-forward's bounded cache of each device's latest attributes.
 *
 * A policy selects devices by attribute (model, firmware, region: policy/set.h), but a
 * device may send its attributes only now and then. The forwarder therefore matches a
 * reading on the device's *latest* attributes, as the twin keeps them: each attribute the
 * reading carries non-empty replaces the cached one, an absent or empty one keeps it
 * (docs/decisions/regions.md, section 3).
 *
 * Bounded: at most `max` devices (forward.max_devices). Past it, the least recently
 * updated device is evicted (LRU) and counted; its next reading without attributes then
 * matches only device_ids selectors, like a device seen for the first time. A value is kept
 * up to POLICY_VALUE_MAX + 1 bytes: conditions are at most POLICY_VALUE_MAX bytes, so a
 * longer value still matches a prefix and never an equality, as the whole value would. One
 * allocation per device (struct, id and values packed), about 60-100 bytes for the usual
 * ids and attributes, plus 16 bytes of bucket and list per slot.
 *
 * Object: struct forward_attrs (heap, _new/_free). One thread (the forward loop).
 *
 *     struct forward_attrs *c = forward_attrs_new(1000000);
 *     const char *in[POLICY_ATTR__COUNT] = {r->model, r->firmware, r->region};
 *     struct policy_device d = {.id = r->device_id};
 *     forward_attrs_update(c, r->device_id, in, d.attrs);   // d.attrs borrowed until the next call
 *     forward_attrs_free(c);
 */
#ifndef TP_FORWARD_ATTRS_H
#define TP_FORWARD_ATTRS_H

#include <stddef.h>
#include <stdint.h>

#include "policy/policy.h"

/* The bytes of a value kept: longer values are cut here (see above). */
#define FORWARD_ATTR_KEEP (POLICY_VALUE_MAX + 1)

struct forward_attrs;

/* max >= 1: devices kept at most. */
struct forward_attrs *forward_attrs_new(size_t max);
void forward_attrs_free(struct forward_attrs *c);

/* Merges the reading's attributes in[] (NULL or "": absent) into the device's cached ones
 * and stores the result in out[] (NULL: none known), borrowed until the next call. The
 * device becomes the most recently used. id is NUL-terminated; one over POLICY_DEVICE_ID_MAX
 * bytes (which no selector names) is not cached: out[] is then the reading's own. */
void forward_attrs_update(struct forward_attrs *c, const char *id,
                          const char *const in[POLICY_ATTR__COUNT],
                          const char *out[POLICY_ATTR__COUNT]);

size_t forward_attrs_count(const struct forward_attrs *c);
/* Devices dropped under max so far. */
uint64_t forward_attrs_evicted(const struct forward_attrs *c);

#endif
