/*
 * fuzz_journal - the journal's event format: the Confluent framing
 * (journal/framing.c) and event unpack (journal/event.c) with the built-in
 * Reading, into the heap and into an arena, and through the registry
 * decoder (schema/telemetry.c) as the projector, replay and rollup use it
 * (schema ids mapped onto the built-in, the fuzz schema and an unknown one,
 * as in fuzz_decode).
 *
 * Checked: a decoded header re-encodes (framing_header_encode) to a frame
 * that decodes to the same id and path; the payload lies inside the input;
 * an unpacked event packs again (journal_event_pack) and unpacks to the
 * same reading, unless it kept an unknown field numbered 0: libprotobuf-c
 * unpacks that from an overlong tag but refuses the tag it packs for it, so
 * ingest must never journal one (fuzz_decode checks that); heap and arena
 * unpack agree.
 */
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "fuzz.h"
#include "journal/framing.h"
#include "journal/journal.h"
#include "schema/telemetry.h"

static struct journal_decoder fuzz_dec;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet();
    telemetry_journal_decoder(fuzz_registry_start(), &fuzz_dec);
    return 0;
}

static void fuzz_framing(const uint8_t *data, size_t size)
{
    struct framing_header h;
    char err[160];
    if (framing_decode(data, size, &h, err, sizeof(err)) != TP_OK) {
        if (!err[0])
            abort();
        return;
    }
    if (h.payload < data || h.payload + h.payload_len != data + size || h.path_len == 0 ||
        h.path_len > FRAMING_PATH_MAX || h.schema_id < 0)
        abort();
    uint8_t hdr[FRAMING_HEADER_MAX];
    size_t n = framing_header_encode(hdr, sizeof(hdr), h.schema_id, h.path, h.path_len);
    if (n == 0)
        abort();
    struct framing_header again;
    if (framing_decode(hdr, n < 6 ? 6 : n, &again, err, sizeof(err)) != TP_OK)
        abort();
    if (again.schema_id != h.schema_id || again.path_len != h.path_len ||
        memcmp(again.path, h.path, h.path_len * sizeof(h.path[0])) != 0)
        abort();
}

static bool fuzz_same(const journal_reading *a, const journal_reading *b)
{
    return a->has_sequence == b->has_sequence && a->sequence == b->sequence &&
           a->has_timestamp_ms == b->has_timestamp_ms && a->timestamp_ms == b->timestamp_ms &&
           !strcmp(a->device_id ? a->device_id : "", b->device_id ? b->device_id : "") &&
           a->n_metrics == b->n_metrics;
}

static void fuzz_event(const uint8_t *data, size_t size)
{
    int32_t id, id2;
    journal_reading *r = NULL, *r2 = NULL, *ra = NULL;
    char err[256];
    if (journal_event_unpack(data, size, &id, &r, err, sizeof(err)) != TP_OK)
        return;
    struct arena a;
    arena_init(&a);
    if (journal_event_unpack_arena(data, size, &a, &id2, &ra, err, sizeof(err)) != TP_OK ||
        id2 != id || !fuzz_same(r, ra))
        abort();
    arena_release(&a);
    size_t len;
    uint8_t *ev = journal_event_pack(r, id, &len);
    if (journal_event_unpack(ev, len, &id2, &r2, err, sizeof(err)) == TP_OK) {
        if (id2 != id || !fuzz_same(r, r2))
            abort();
    } else if (!fuzz_has_field0(&r->base)) {
        abort(); /* only a field numbered 0 does not survive repacking (libprotobuf-c) */
    }
    free(ev);
    journal_reading_free(r2);
    journal_reading_free(r);
}

static void fuzz_decoder(const uint8_t *data, size_t size)
{
    uint8_t *ev = malloc(size ? size : 1);
    memcpy(ev, data, size);
    if (size >= 6) {
        static const int32_t ids[] = {FUZZ_BUILTIN_ID, FUZZ_SCHEMA_ID, FUZZ_UNKNOWN_ID,
                                      FUZZ_SCHEMA_ID};
        int32_t id = ev[4] == FUZZ_BUILTIN_ID || ev[4] == FUZZ_SCHEMA_ID || ev[4] == FUZZ_UNKNOWN_ID
                         ? ev[4]
                         : ids[ev[4] & 3];
        ev[1] = ev[2] = ev[3] = 0;
        ev[4] = (uint8_t)id;
    }
    int32_t id;
    journal_reading *r = NULL;
    void *ref = NULL;
    char err[256];
    if (journal_event_decode(&fuzz_dec, ev, size, &id, &r, &ref, err, sizeof(err)) == TP_OK) {
        size_t len;
        uint8_t *packed = journal_event_pack(r, id, &len); /* what rollup and replay rewrite */
        free(packed);
        protobuf_c_message_free_unpacked(&r->base, NULL);
    }
    if (ref)
        fuzz_dec.release(fuzz_dec.arg, ref);
    free(ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_framing(data, size);
    fuzz_event(data, size);
    fuzz_decoder(data, size);
    return 0;
}
