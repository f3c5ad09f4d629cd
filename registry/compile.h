/*
 * compile.h - .proto source -> FileDescriptorSet, by the protobuf compiler
 * itself (the `protoc` binary), never by a parser of our own.
 *
 * The schema text and its references (imports, by the file name they are
 * imported as) are written into a private temporary folder (mode 0700),
 * and `protoc --descriptor_set_out=out.pb --include_imports` runs there as
 * a child process with a time limit (SIGKILL past it) and address-space and
 * CPU limits; the folder is removed afterwards. protoc's own include folder
 * (/usr/include: the google/protobuf/ files) stays available, so well-known
 * imports need no reference. The set lists dependencies first; the schema
 * itself is the file named COMPILE_MAIN_FILE. A schema that compiles but
 * whose messages nest without bound (recursive message types, or nesting
 * deeper than RTDESC_MAX_DEPTH: rtdesc.h) is refused like a compile error.
 *
 * Object: none (one call). Threads: any; each call has its own folder.
 * Ownership: *out (the serialized FileDescriptorSet) belongs to the caller.
 *
 *     struct compile_file refs[] = {{"common/units.proto", text}};
 *     struct compile_options o = {"protoc", "/tmp", 10000};
 *     if (compile_proto(&o, schema, refs, 1, &fds, &fds_len, errstr, n) == TP_VALIDATION)
 *         answer 42201 with errstr (protoc's message, folder names removed);
 *     free(fds);
 */
#ifndef TP_COMPILE_H
#define TP_COMPILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* The name the schema itself has inside the FileDescriptorSet. */
#define COMPILE_MAIN_FILE "schema.proto"
/* protoc's error output kept for the client, bytes. */
#define COMPILE_ERR_MAX 4096

struct compile_file {
    const char *name; /* import path: relative, no "..", no leading '/' */
    const char *text;
};

struct compile_options {
    const char *protoc;  /* binary, absolute or on PATH */
    const char *tmp_dir; /* where private folders are made */
    int timeout_ms;
};

/* TP_VALIDATION: the schema does not compile, or is recursive / too deep (errstr: why);
 * TP_IO/TP_TIMEOUT: protoc could not run or took too long. */
enum tp_err compile_proto(const struct compile_options *opts, const char *text,
                          const struct compile_file *refs, size_t n_refs, uint8_t **out,
                          size_t *out_len, char *errstr, size_t errstr_size);

/* The same for a schema sent as a serialized FileDescriptorProto: set is a FileDescriptorSet
 * holding it as COMPILE_MAIN_FILE (serialized.h), given to protoc with --descriptor_set_in,
 * which builds and validates it against the references (source files) like text. */
enum tp_err compile_descriptor(const struct compile_options *opts, const uint8_t *set,
                               size_t set_len, const struct compile_file *refs, size_t n_refs,
                               uint8_t **out, size_t *out_len, char *errstr, size_t errstr_size);

/* Both: the schema as text (or NULL when it is in set), and a FileDescriptorSet (or NULL) of
 * files for --descriptor_set_in (the schema as a descriptor, references registered as
 * descriptors under their import names); the other references as source files. */
enum tp_err compile_schema(const struct compile_options *opts, const char *text, const uint8_t *set,
                           size_t set_len, const struct compile_file *refs, size_t n_refs,
                           uint8_t **out, size_t *out_len, char *errstr, size_t errstr_size);

/* Whether name is an acceptable import path for a reference. */
bool compile_name_ok(const char *name);

#endif
