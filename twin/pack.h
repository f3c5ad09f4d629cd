/*
 * pack.h - the packed form of a clean twin: what struct twins keeps for
 * every twin that has no unflushed change, so that millions fit in memory
 * (a fraction of a struct twin's size; bench/twins measures both, bench/RESULTS.md).
 *
 * Lossless: unpacking gives back every field bit for bit (doubles included:
 * NaN, infinities, -0.0, sums like 0.1 + 0.2). How:
 *   - integers are LEB128 varints; timestamps, the first-seen time and the
 *     last sequence are stored as differences (zigzag) from last_seen or
 *     events, which are usually 0 or small: a metric's ts and count cost
 *     one flag bit when they equal the twin's last_seen and events (the
 *     metric was in every reading);
 *   - metric names and attribute values are ids of the process-wide pool
 *     (names.h);
 *   - a metric's value, min and max share one decimal scale s (0..9): each
 *     is stored as the integer m with m / 10^s == the double exactly
 *     (checked by decoding it: IEEE division is correctly rounded, so the
 *     decode is deterministic); 88.5 at scale 1 is 885, two bytes as a
 *     varint. Doubles that are no short decimal (0.1 + 0.2, 1/3, NaN, -0.0,
 *     above 2^53 / 10^s) are stored raw, 8 bytes;
 *   - sums (the running one and the open minute's) are rarely short
 *     decimals but within a few ulps of one: stored as that decimal's
 *     integer plus the distance in ulps (the difference of the doubles'
 *     bits), 3-4 bytes; raw when farther than 2^20 ulps.
 *
 * Format (v = varint, z = zigzag varint, d = double as above):
 *   z last_seen, z first_seen - last_seen, v events, z last_sequence - events,
 *   v model/firmware/region id + 1 (0 = none), u8 location bits
 *   [z location_ts - last_seen] [d per present location field, own scale byte],
 *   v n_metrics, then per metric: v name id, u8 flags (scale, ts/count/sum
 *   bits) [z ts - last_seen] [z count - events] d value [d min, d max, d sum
 *   when count > 0] [open minute figures]; last v ~seen[0], v ~seen[1] (the
 *   sequence window of fold.h, complemented: 0 when no sequence is missing).
 *
 * Pure functions, any thread (names.h lookups on the loop thread).
 *
 *     uint8_t *p = tp_malloc(pack_twin_bound(t));
 *     size_t n = pack_twin_write(p, t);
 *     struct twin *back = twin_new(id);
 *     pack_twin_read(back, p);
 */
#ifndef TP_PACK_H
#define TP_PACK_H

#include <stddef.h>
#include <stdint.h>

#include "twin.h"

/* Bytes pack_twin_write may write for t, at most. */
size_t pack_twin_bound(const struct twin *t);
/* Writes t's packed form (all but device_id and the dirty flag) to out; returns its length. */
size_t pack_twin_write(uint8_t *out, const struct twin *t);
/* Fills t (fresh from twin_new: no metrics) from a packed form; returns the bytes read. */
size_t pack_twin_read(struct twin *t, const uint8_t *in);

#endif
