/*
 * compat.h - compatibility rules between versions of a PROTOBUF schema,
 * on their compiled FileDescriptorSets (parsed with the protobuf-c code
 * generated from google/protobuf/descriptor.proto).
 *
 * compat_diff(old, new) lists what changed from one version to the next,
 * each issue marked with the direction it breaks:
 *   BACKWARD - a reader with the new schema cannot read data written with the old one
 *   FORWARD  - a reader with the old schema cannot read data written with the new one
 *
 *   rule                         breaks    example
 *   package_changed              both      package a.v1 -> a.v2 (every full name changes)
 *   message_removed              backward  message Location deleted
 *   field_wire_type_changed      both      int64 -> string (varint -> length-delimited)
 *   field_type_changed           both      same number, same wire type, other meaning:
 *                                          double <-> fixed64, int32 <-> sint32, a message
 *                                          or enum field naming another type
 *   field_label_changed          both      singular <-> repeated
 *   field_removed_not_reserved   both      a field number gone without `reserved N`
 *                                          (a later version could reuse it)
 *   required_field_added         backward  old data lacks it
 *   required_field_removed       forward   old readers require it (removed or made optional)
 *   enum_value_removed           backward  old data may carry it; readers reject undefined values
 *   enum_value_added             forward   new data may carry it; old readers reject it
 *
 * Protobuf's own compatible changes pass: new optional fields, renamed
 * fields, int32/uint32/int64/uint64/bool/enum among themselves,
 * sint32/sint64, fixed32/sfixed32, fixed64/sfixed64, string/bytes.
 * Messages are matched by full name, fields by number. The level decides
 * which versions are compared and which directions count:
 * BACKWARD/FORWARD/FULL against the latest version, their _TRANSITIVE forms
 * against every live version, NONE never refuses.
 *
 * Pure; any thread. Messages are appended to a caller's struct buf.
 *
 *     enum compat_level l;
 *     compat_level_parse("FULL_TRANSITIVE", &l);
 *     bool ok = compat_check(l, new_fds, new_len, olds, n_olds, &msgs);
 */
#ifndef TP_COMPAT_H
#define TP_COMPAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

enum compat_level {
    COMPAT_NONE,
    COMPAT_BACKWARD,
    COMPAT_BACKWARD_TRANSITIVE,
    COMPAT_FORWARD,
    COMPAT_FORWARD_TRANSITIVE,
    COMPAT_FULL,
    COMPAT_FULL_TRANSITIVE,
};

#define COMPAT_BREAKS_BACKWARD 1u
#define COMPAT_BREAKS_FORWARD  2u

/* A previous version's compiled FileDescriptorSet. */
struct compat_version {
    const uint8_t *fds;
    size_t len;
    int version; /* named in messages */
};

/* Upper-case name ("BACKWARD") -> level; false when unknown. */
bool compat_level_parse(const char *name, enum compat_level *out);
const char *compat_level_name(enum compat_level level);

/*
 * Issues between two versions of one schema; each becomes a line in msgs
 * ("<rule>: <what>", prefixed by `prefix`). Returns the union of their
 * COMPAT_BREAKS_* bits; TP errors (an unparsable set) count as both.
 */
unsigned compat_diff(const uint8_t *old_fds, size_t old_len, const uint8_t *new_fds, size_t new_len,
                     const char *prefix, struct buf *msgs);

/* Whether new_fds may follow `olds` (newest first) at `level`; reasons go to msgs. */
bool compat_check(enum compat_level level, const uint8_t *new_fds, size_t new_len,
                  const struct compat_version *olds, size_t n_olds, struct buf *msgs);

#endif
