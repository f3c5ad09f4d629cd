/*
 * fuzz_rtdesc - run-time descriptors built from arbitrary FileDescriptorSets
 * (schema/fdset.c, schema/rtdesc.c), then used as ingest and the
 * projector use them: each message of the set unpacks the rest of the
 * input, packs it again, and is freed; a message built by hand
 * (rtdesc_message_init, the defaults) packs too.
 *
 * Input: a 2-byte big-endian length, that many bytes of FileDescriptorSet,
 * then the message bytes. Bit 0x80 of the first length byte (cleared from
 * the length) builds without the built-in Reading as template.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "journal/journal.h"
#include "schema/fdset.h"

#define FUZZ_MESSAGES_MAX 64

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet();
    return 0;
}

static void fuzz_use(const ProtobufCMessageDescriptor *d, const uint8_t *bytes, size_t len)
{
    ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, len, bytes);
    if (m) {
        size_t n = protobuf_c_message_get_packed_size(m);
        uint8_t *buf = malloc(n ? n : 1);
        if (protobuf_c_message_pack(m, buf) != n)
            abort();
        free(buf);
        protobuf_c_message_free_unpacked(m, NULL);
    }
    ProtobufCMessage *init = calloc(1, d->sizeof_message ? d->sizeof_message : 1);
    rtdesc_message_init(d, init);
    size_t n = protobuf_c_message_get_packed_size(init);
    uint8_t *buf = malloc(n ? n : 1);
    protobuf_c_message_pack(init, buf);
    free(buf);
    free(init);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    bool templates = !(data[0] & 0x80);
    uint8_t *copy = malloc(size);
    memcpy(copy, data, size);
    copy[0] &= 0x7f;
    const uint8_t *fds, *bytes;
    size_t fds_len, bytes_len;
    fuzz_split(copy, size, &fds, &fds_len, &bytes, &bytes_len);

    const ProtobufCMessageDescriptor *tmpl[] = {&twinpipe__telemetry__v1__reading__descriptor};
    struct rtdesc_set *set = NULL;
    char err[512];
    enum tp_err e = rtdesc_set_new(fds, fds_len, tmpl, templates ? 1 : 0, &set, err, sizeof(err));
    if (e != TP_OK) {
        if (e != TP_DECODE || !err[0])
            abort();
        free(copy);
        return 0;
    }
    struct fdset *fs = NULL;
    if (fdset_new(fds, fds_len, &fs, err, sizeof(err)) != TP_OK)
        abort(); /* rtdesc built it from the same bytes */
    for (size_t i = 0; i < fs->n_messages && i < FUZZ_MESSAGES_MAX; i++) {
        const ProtobufCMessageDescriptor *d = rtdesc_message(set, fs->messages[i].name);
        if (!d)
            abort();
        fuzz_use(d, bytes, bytes_len);
    }
    for (size_t i = 0; i < fs->n_enums; i++)
        if (!rtdesc_enum(set, fs->enums[i].name))
            abort();
    int32_t path[2] = {0, 0};
    if (bytes_len >= 2) {
        path[0] = bytes[0] % 4;
        path[1] = bytes[1] % 4;
    }
    const ProtobufCMessageDescriptor *at = rtdesc_message_at(set, path, bytes_len >= 2 ? 2 : 1);
    if (at)
        fuzz_use(at, bytes, bytes_len);
    fdset_free(fs);
    rtdesc_set_free(set);
    free(copy);
    return 0;
}
