/*
 * fuzz_serialized - a registered schema's text as Confluent's serializers send
 * it (registry/serialized.c): the detection of a base64 serialized
 * FileDescriptorProto, the nesting guard, protobuf-c's unpack of the decoded
 * bytes, the wrapping into a FileDescriptorSet for protoc, and the canonical
 * schema file of such a set.
 *
 * Input: a mode byte, then bytes. Mode bit 0 clear: the bytes are the schema
 * text as sent (detection; almost always .proto text). Set: the bytes are
 * base64-encoded by the harness first, so the unpack sees arbitrary bytes.
 * Bit 1 also: the bytes are split in two (fuzz_split), the schema and a
 * reference registered as a descriptor, made into one set
 * (serialized_parse_files), which must unpack with both names.
 *
 * Checked: TP_NOT_FOUND exactly when the text is not base64; a refusal is
 * TP_VALIDATION with a message; an accepted schema is a set of one file named
 * COMPILE_MAIN_FILE whose canonical form is canonical again (idempotent).
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "google/protobuf/descriptor.pb-c.h"
#include "registry/compile.h"
#include "registry/serialized.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet();
    return 0;
}

/* The canonical file wrapped back into a set of one file. */
static uint8_t *fuzz_wrap(const uint8_t *file, size_t len, size_t *out_len)
{
    Google__Protobuf__FileDescriptorProto *f =
        google__protobuf__file_descriptor_proto__unpack(NULL, len, file);
    if (!f)
        abort(); /* we packed it */
    Google__Protobuf__FileDescriptorSet set = GOOGLE__PROTOBUF__FILE_DESCRIPTOR_SET__INIT;
    set.n_file = 1;
    set.file = &f;
    *out_len = google__protobuf__file_descriptor_set__get_packed_size(&set);
    uint8_t *out = malloc(*out_len ? *out_len : 1);
    google__protobuf__file_descriptor_set__pack(&set, out);
    google__protobuf__file_descriptor_proto__free_unpacked(f, NULL);
    return out;
}

static void fuzz_two(const uint8_t *data, size_t size)
{
    const uint8_t *a, *b;
    size_t a_len, b_len;
    fuzz_split(data, size, &a, &a_len, &b, &b_len);
    char *texts[2] = {serialized_base64(a, a_len), serialized_base64(b, b_len)};
    const char *names[2] = {COMPILE_MAIN_FILE, "dep/x.proto"};
    uint8_t *set = NULL;
    size_t set_len = 0;
    char err[512] = "";
    enum tp_err e = serialized_parse_files((const char *const *)texts, names, 2, &set, &set_len,
                                           err, sizeof(err));
    if (e == TP_OK) {
        Google__Protobuf__FileDescriptorSet *fs =
            google__protobuf__file_descriptor_set__unpack(NULL, set_len, set);
        if (!fs || fs->n_file != 2 || strcmp(fs->file[0]->name, COMPILE_MAIN_FILE) ||
            strcmp(fs->file[1]->name, names[1]))
            abort();
        google__protobuf__file_descriptor_set__free_unpacked(fs, NULL);
    } else if (e == TP_NOT_FOUND) {
        if (a_len && b_len)
            abort(); /* both are base64 ("" is not) */
    } else if (e != TP_VALIDATION || !err[0]) {
        abort(); /* only "not a descriptor" may refuse them */
    }
    free(set);
    free(texts[0]);
    free(texts[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if ((data[0] & 3) == 3) {
        fuzz_two(data + 1, size - 1);
        return 0;
    }
    char *text = (data[0] & 1) ? serialized_base64(data + 1, size - 1) : NULL;
    if (!text) {
        text = malloc(size);
        memcpy(text, data + 1, size - 1);
        text[size - 1] = '\0';
    }
    size_t len = strlen(text);
    uint8_t *set = NULL;
    size_t set_len = 0;
    char err[512] = "";
    enum tp_err e = serialized_parse(text, len, &set, &set_len, err, sizeof(err));
    if ((e == TP_NOT_FOUND) != !serialized_is_base64(text, len))
        abort();
    if (e == TP_VALIDATION && !err[0])
        abort();
    if (e != TP_OK && e != TP_NOT_FOUND && e != TP_VALIDATION)
        abort();
    if (e == TP_OK) {
        uint8_t *file = NULL, *again = NULL;
        size_t file_len = 0, again_len = 0;
        if (serialized_canonical(set, set_len, &file, &file_len, err, sizeof(err)) != TP_OK)
            abort(); /* the set holds COMPILE_MAIN_FILE */
        size_t wrapped_len;
        uint8_t *wrapped = fuzz_wrap(file, file_len, &wrapped_len);
        if (serialized_canonical(wrapped, wrapped_len, &again, &again_len, err, sizeof(err)) !=
                TP_OK ||
            again_len != file_len || memcmp(again, file, file_len) != 0)
            abort();
        free(again);
        free(wrapped);
        free(file);
    }
    free(set);
    free(text);
    return 0;
}
