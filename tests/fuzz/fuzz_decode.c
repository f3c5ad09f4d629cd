/*
 * fuzz_decode - ingest's body decoder (ingest/decode.c decode_body_schemas):
 * plain ReadingBatch bodies and Confluent-framed bodies, [0] Reading or [1]
 * ReadingBatch, of the built-in schema (id 1) and of the registered fuzz
 * schema (id 7, tests/fuzz/fuzz_telemetry.proto: nesting, maps, enums,
 * unknown fields) fetched from a loopback registry stand-in and unpacked
 * through its run-time descriptors (schema/rtdesc.c), plus an id the
 * registry does not know (9).
 *
 * A framed input's schema id is mapped onto those three by its last byte (1, 7 and 9 stay)
 * (any other id is one more registry round trip and nothing new).
 * Checked on success: every reading the strict checks let through packs as
 * a journal event (journal_event_pack, with the fields the build does not
 * know) that the built-in Reading unpacks again with the same identity
 * (readings marked bad are never journaled).
 *
 * (It found a reading with a field numbered 0 in an overlong tag that was
 * accepted and journaled as an event no reader takes: tests/fuzz/README.md.)
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ingest/decode.h"
#include "journal/journal.h"

static struct schemas *fuzz_schemas;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet();
    fuzz_schemas = fuzz_registry_start();
    return 0;
}

static void fuzz_check_reading(const journal_reading *r, int32_t schema_id)
{
    size_t len;
    uint8_t *ev = journal_event_pack(r, schema_id, &len);
    int32_t id;
    journal_reading *back;
    char err[256];
    if (journal_event_unpack(ev, len, &id, &back, err, sizeof(err)) != TP_OK) {
        abort(); /* a reading ingest accepts must journal as a valid event */
        free(ev);
        return;
    }
    if (id != schema_id || (r->has_sequence != back->has_sequence) ||
        r->sequence != back->sequence ||
        strcmp(r->device_id ? r->device_id : "", back->device_id ? back->device_id : "") != 0)
        abort();
    journal_reading_free(back);
    free(ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *body = malloc(size ? size : 1);
    memcpy(body, data, size);
    if (size >= 6 && body[0] == 0) {
        static const int32_t ids[] = {FUZZ_BUILTIN_ID, FUZZ_SCHEMA_ID, FUZZ_UNKNOWN_ID,
                                      FUZZ_SCHEMA_ID};
        int32_t id =
            body[4] == FUZZ_BUILTIN_ID || body[4] == FUZZ_SCHEMA_ID || body[4] == FUZZ_UNKNOWN_ID
                ? body[4]
                : ids[body[4] & 3];
        if (body[1] & 0x80)
            id = -id; /* negative ids stay possible */
        body[1] = (uint8_t)((uint32_t)id >> 24);
        body[2] = (uint8_t)((uint32_t)id >> 16);
        body[3] = (uint8_t)((uint32_t)id >> 8);
        body[4] = (uint8_t)id;
    }
    struct decoded d;
    enum ingest_error code = INGEST_ERR__COUNT;
    char msg[512];
    enum tp_err err =
        decode_body_schemas(body, size, FUZZ_BUILTIN_ID, fuzz_schemas, &d, &code, msg, sizeof(msg));
    if (err != TP_OK) {
        unsigned status = ingest_error_status(code);
        if (status < 400 || status > 599 || !(ingest_error_flags(code) & INGEST_ERR_REQUEST))
            abort(); /* every refusal is a client or a registry error with a code */
        free(body);
        return 0;
    }
    if (d.n == 0 || !d.readings)
        abort();
    for (size_t i = 0; i < d.n; i++) {
        if (!d.readings[i])
            abort();
        if (d.bad_msg[i]) {
            if (!(ingest_error_flags(d.bad[i]) & INGEST_ERR_READING))
                abort();
            continue;
        }
        fuzz_check_reading(d.readings[i], d.schema_id);
    }
    decode_release(&d);
    free(body);
    return 0;
}
