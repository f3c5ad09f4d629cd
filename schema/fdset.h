/*
 * fdset.h - a compiled FileDescriptorSet (protoc --include_imports), parsed
 * with the protobuf-c code generated at build time from
 * google/protobuf/descriptor.proto, and the questions compat.c and rtdesc.c
 * ask it: which file is the schema itself, which messages and enums exist
 * under which full names ("pkg.Outer.Inner"), in declaration order.
 *
 * Object: struct fdset (heap, _new/_free) owns the unpacked set and the
 * name table; every pointer it hands out is borrowed until fdset_free.
 * Pure; any thread (an fdset is read-only once built).
 *
 *     struct fdset *fs;
 *     if (fdset_new(bytes, len, &fs, errstr, n) != TP_OK) ...
 *     const Google__Protobuf__DescriptorProto *m = fdset_message(fs, "pkg.Reading");
 *     for (size_t i = 0; i < fs->n_messages; i++) use(fs->messages[i].name, ...);
 *     fdset_free(fs);
 */
#ifndef TP_FDSET_H
#define TP_FDSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "google/protobuf/descriptor.pb-c.h"

struct fdset_message {
    char *name; /* full name without the leading '.', e.g. "twinpipe.telemetry.v1.Reading" */
    const Google__Protobuf__DescriptorProto *proto;
    const Google__Protobuf__FileDescriptorProto *file;
};

struct fdset_enum {
    char *name;
    const Google__Protobuf__EnumDescriptorProto *proto;
    const Google__Protobuf__FileDescriptorProto *file;
};

struct fdset {
    Google__Protobuf__FileDescriptorSet *set;
    const Google__Protobuf__FileDescriptorProto *main; /* the schema's own file (the last) */
    struct fdset_message *messages; /* every message of every file, nested ones included */
    size_t n_messages;
    struct fdset_enum *enums;
    size_t n_enums;
};

/*
 * TP_DECODE when the bytes are not a FileDescriptorSet with at least one file,
 * or when the set breaks what protoc guarantees and compat.c and rtdesc.c rely on
 * (errstr says what): every message, enum, value, field and oneof has an
 * identifier as name; field numbers are in 1..2^29-1 and unique in their
 * message, field names too; labels and types are defined ones and message,
 * enum and group fields name a type; oneof indexes exist and oneof members are
 * optional (neither repeated nor required); enums have values;
 * full type names are unique; declarations nest at most 32 deep.
 */
enum tp_err fdset_new(const uint8_t *data, size_t len, struct fdset **out, char *errstr,
                      size_t errstr_size);
void fdset_free(struct fdset *fs);
/* By full name, with or without the leading '.'; NULL when absent. */
const struct fdset_message *fdset_message(const struct fdset *fs, const char *name);
const struct fdset_enum *fdset_enum(const struct fdset *fs, const char *name);
/* Whether message m is proto3 (its file's syntax). */
bool fdset_is_proto3(const struct fdset_message *m);

#endif
