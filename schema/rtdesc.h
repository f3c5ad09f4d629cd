/*
 * rtdesc.h - protobuf-c descriptors built at run time from a compiled
 * FileDescriptorSet, so messages of a schema registered after the build
 * (and after start-up) unpack, pack and free with libprotobuf-c like
 * generated code.
 *
 * What generated code would have computed is computed here: fields sorted
 * by tag number; field_ranges with the closing {0, n_fields} entry;
 * fields_sorted_by_name; enum values by number, by name and as ranges; the
 * C struct layout (quantifiers `has_` for proto2/proto3-`optional` scalars
 * and bytes, `n_` for repeated fields, a case word + union per oneof;
 * natural alignment) giving offsets and sizeof_message; defaults parsed
 * from their text (proto3 strings default to protobuf_c_empty_string);
 * repeated scalars packed as the syntax says. message_init stays NULL:
 * libprotobuf-c's unpack then initialises messages itself, and
 * rtdesc_message_init does the same for messages built by hand.
 *
 * Templates: a message whose full name is a template's (a generated
 * descriptor, e.g. twinpipe.telemetry.v1.Reading) keeps the generated
 * layout for every field that matches it (number, type, label, and for
 * message fields the type's name): those fields sit at the generated
 * offsets, the others after the generated struct. So a runtime Reading of
 * any registered version can be read through the generated C struct
 * (fold.c, validate.c), and fields the version lacks read as absent. Nested
 * templates (Reading.Location, the metrics map entry) follow from the
 * template's fields.
 *
 * Nesting: a schema whose messages can nest without bound is refused
 * (rtdesc_nesting_check, also run by rtdesc_set_new): a message type that
 * reaches itself through message fields (directly, through other messages
 * or through map values), or chains of nested message types deeper than
 * RTDESC_MAX_DEPTH. libprotobuf-c's unpack recurses once per nested
 * message, so with this bound no bytes can make it recurse deeper than
 * RTDESC_MAX_DEPTH, whatever the consumer (ingest, projector, replay,
 * rollup): they all get their descriptors here.
 *
 * Object: struct rtdesc_set (heap, _new/_free) owns every descriptor, the
 * parsed set and all strings; descriptors are borrowed until
 * rtdesc_set_free, and messages unpacked with them must be freed before.
 * Read-only once built: any thread.
 *
 *     const ProtobufCMessageDescriptor *tmpl[] = {&twinpipe__..._reading__descriptor};
 *     rtdesc_set_new(fds, len, tmpl, 1, &set, errstr, n);
 *     const ProtobufCMessageDescriptor *d = rtdesc_message_at(set, (int32_t[]){0}, 1);
 *     ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, len, bytes);
 *     protobuf_c_message_free_unpacked(m, NULL);
 *     rtdesc_set_free(set);
 */
#ifndef TP_RTDESC_H
#define TP_RTDESC_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct rtdesc_set;

/* Message types nest at most this deep (a message with no message field is depth 1). */
#define RTDESC_MAX_DEPTH 32

/*
 * TP_VALIDATION when a message of the set is recursive or its nested message types reach deeper
 * than RTDESC_MAX_DEPTH (errstr names the message and the field); TP_DECODE when the bytes are
 * not a FileDescriptorSet. tp-registry refuses such a schema with 42201 (compile.h).
 */
enum tp_err rtdesc_nesting_check(const uint8_t *fds, size_t len, char *errstr, size_t errstr_size);

/* TP_DECODE: not a FileDescriptorSet, a type it names is missing, or its messages are
 * recursive or nest too deep (rtdesc_nesting_check); errstr says which. */
enum tp_err rtdesc_set_new(const uint8_t *fds, size_t len,
                           const ProtobufCMessageDescriptor *const *templates, size_t n_templates,
                           struct rtdesc_set **out, char *errstr, size_t errstr_size);
void rtdesc_set_free(struct rtdesc_set *s);
/* By full name ("pkg.Msg", leading '.' allowed); NULL when absent. */
const ProtobufCMessageDescriptor *rtdesc_message(const struct rtdesc_set *s, const char *name);
const ProtobufCEnumDescriptor *rtdesc_enum(const struct rtdesc_set *s, const char *name);
/* The message a Confluent message-index path names in the schema's own file ([0] = its
 * first message, [1, 2] = the third nested message of the second); NULL when none. */
const ProtobufCMessageDescriptor *rtdesc_message_at(const struct rtdesc_set *s, const int32_t *path,
                                                    size_t path_len);
/* Zeroes m (d->sizeof_message bytes), sets its descriptor and the defaults. */
void rtdesc_message_init(const ProtobufCMessageDescriptor *d, ProtobufCMessage *m);

#endif
