/*
 * serialized.h - the second form of a PROTOBUF schema that Confluent's
 * clients send: a base64-encoded serialized FileDescriptorProto (the Python
 * and Go serializers register this form, and read it back with
 * ?format=serialized), next to the .proto text.
 *
 * Detection never misreads text: a schema is taken as a descriptor only when
 * every byte is in the standard base64 alphabet (A-Z a-z 0-9 + /, '=' only as
 * the final padding, length a multiple of 4) and the decoded bytes unpack as
 * a FileDescriptorProto. Any .proto file that declares something holds a
 * space, ';', '{' or '=' inside a statement, none of which a base64 string
 * has, so text protoc parses always stays text.
 *
 * The descriptor is not trusted: it is renamed COMPILE_MAIN_FILE, wrapped in
 * a FileDescriptorSet and handed to protoc (--descriptor_set_in,
 * compile_descriptor), which builds and validates it with the references as
 * source files, so both forms compile into the same descriptor set.
 *
 * Identity (docs/decisions/registry-serialized-descriptors.md): a schema's
 * canonical form is the schema file of its compiled set (serialized_canonical:
 * renamed COMPILE_MAIN_FILE, json_name dropped where it equals protoc's
 * default, no source info); text and descriptor forms with the same canonical
 * form get the same id.
 *
 * Pure functions, any thread. Returned buffers belong to the caller (free()).
 *
 *     if (serialized_parse(text, &set, &n, errstr, sz) == TP_OK)
 *         compile_descriptor(&opts, set, n, refs, n_refs, &fds, &fds_len, errstr, sz);
 *     serialized_canonical(fds, fds_len, &file, &file_len, errstr, sz);
 *     char *b64 = serialized_base64(file, file_len);   // ?format=serialized
 */
#ifndef TP_SERIALIZED_H
#define TP_SERIALIZED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* Longest text looked at as base64 (the registry's body limit is below it). */
#define SERIALIZED_MAX (16u << 20)

/* Whether text has the shape of standard base64 (alphabet, padding, length). */
bool serialized_is_base64(const char *text, size_t len);

/* TP_OK: text is a base64 FileDescriptorProto, *set a FileDescriptorSet holding it renamed
 * COMPILE_MAIN_FILE; TP_NOT_FOUND: text is not base64 (it is .proto text); TP_VALIDATION:
 * base64 that is not a FileDescriptorProto (errstr says why). */
enum tp_err serialized_parse(const char *text, size_t len, uint8_t **set, size_t *set_len,
                             char *errstr, size_t errstr_size);

/* Several base64 texts (the schema and references registered as descriptors) as one set for
 * protoc, each renamed names[i]: TP_NOT_FOUND when one is not base64, TP_VALIDATION (errstr)
 * when one is not a descriptor. */
enum tp_err serialized_parse_files(const char *const *texts, const char *const *names, size_t n,
                                   uint8_t **set, size_t *set_len, char *errstr,
                                   size_t errstr_size);

/* The canonical schema file of a compiled set (see above). TP_DECODE: not a set;
 * TP_NOT_FOUND: no file named COMPILE_MAIN_FILE. */
enum tp_err serialized_canonical(const uint8_t *fds, size_t len, uint8_t **out, size_t *out_len,
                                 char *errstr, size_t errstr_size);

/* Standard base64 with padding, NUL-terminated. */
char *serialized_base64(const uint8_t *data, size_t len);

#endif
