#include <check.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "journal/journal.h"
#include "tests/support/check_main.h"

START_TEST(test_alignment_and_distinct_blocks)
{
    struct arena a;
    arena_init(&a);
    unsigned char *prev[1000];
    for (int i = 0; i < 1000; i++) {
        size_t n = (size_t)(i % 97) + 1;
        prev[i] = arena_alloc(&a, n);
        ck_assert_uint_eq((uintptr_t)prev[i] % alignof(max_align_t), 0);
        memset(prev[i], i & 0xff, n);
    }
    /* nothing overlapped: every block still holds its own byte */
    for (int i = 0; i < 1000; i++)
        for (size_t k = 0; k < (size_t)(i % 97) + 1; k++)
            ck_assert_uint_eq(prev[i][k], (unsigned)(i & 0xff));
    ck_assert_uint_ge(a.used, 1000 * alignof(max_align_t));
    arena_release(&a);
    ck_assert_ptr_null(a.head);
    ck_assert_uint_eq(a.used, 0);
}
END_TEST

START_TEST(test_large_blocks_and_reuse)
{
    struct arena a;
    arena_init(&a);
    unsigned char *small = arena_alloc(&a, 16);
    unsigned char *big = arena_alloc(&a, 1 << 20); /* a chunk of its own */
    unsigned char *small2 = arena_alloc(&a, 16);   /* still from the first chunk */
    memset(big, 0xab, 1 << 20);
    memset(small, 1, 16);
    memset(small2, 2, 16);
    ck_assert_ptr_eq(small2, small + 16);
    ck_assert_uint_eq(big[0], 0xab);
    ck_assert_uint_eq(big[(1 << 20) - 1], 0xab);
    arena_release(&a);
    ck_assert_ptr_nonnull(arena_alloc(&a, 0)); /* reusable after release */
    arena_release(&a);
}
END_TEST

/* A batch unpacked into an arena equals the same batch unpacked with malloc. */
START_TEST(test_protobuf_unpack_in_arena)
{
    journal_reading rs[50], *rp[50];
    Twinpipe__Telemetry__V1__Reading__MetricsEntry m[50], *mp[50];
    char ids[50][16];
    for (int i = 0; i < 50; i++) {
        journal_reading init = TWINPIPE__TELEMETRY__V1__READING__INIT;
        Twinpipe__Telemetry__V1__Reading__MetricsEntry minit =
            TWINPIPE__TELEMETRY__V1__READING__METRICS_ENTRY__INIT;
        rs[i] = init;
        m[i] = minit;
        snprintf(ids[i], sizeof(ids[i]), "dev-%02d", i);
        rs[i].device_id = ids[i];
        rs[i].has_sequence = 1;
        rs[i].sequence = (uint64_t)i + 1;
        m[i].key = "oil_temp_c";
        m[i].has_value = 1;
        m[i].value = 80.25 + i;
        mp[i] = &m[i];
        rs[i].metrics = &mp[i];
        rs[i].n_metrics = 1;
        rp[i] = &rs[i];
    }
    Twinpipe__Telemetry__V1__ReadingBatch batch = TWINPIPE__TELEMETRY__V1__READING_BATCH__INIT;
    batch.readings = rp;
    batch.n_readings = 50;
    uint8_t buf[8192];
    size_t len = protobuf_c_message_pack(&batch.base, buf);

    struct arena a;
    arena_init(&a);
    ProtobufCAllocator pa = arena_protobuf(&a);
    Twinpipe__Telemetry__V1__ReadingBatch *in_arena =
        twinpipe__telemetry__v1__reading_batch__unpack(&pa, len, buf);
    Twinpipe__Telemetry__V1__ReadingBatch *in_heap =
        twinpipe__telemetry__v1__reading_batch__unpack(NULL, len, buf);
    ck_assert_ptr_nonnull(in_arena);
    ck_assert_ptr_nonnull(in_heap);
    ck_assert_uint_eq(in_arena->n_readings, 50);
    for (int i = 0; i < 50; i++) {
        ck_assert_str_eq(in_arena->readings[i]->device_id, in_heap->readings[i]->device_id);
        ck_assert_uint_eq(in_arena->readings[i]->sequence, (uint64_t)i + 1);
        ck_assert_uint_eq(in_arena->readings[i]->n_metrics, 1);
        ck_assert_str_eq(in_arena->readings[i]->metrics[0]->key, "oil_temp_c");
        ck_assert_double_eq(in_arena->readings[i]->metrics[0]->value, 80.25 + i);
    }
    ck_assert_uint_gt(a.used, 50 * sizeof(journal_reading));
    /* a truncated body fails cleanly: partial allocations stay in the arena */
    ck_assert_ptr_null(twinpipe__telemetry__v1__reading_batch__unpack(&pa, len - 3, buf));
    twinpipe__telemetry__v1__reading_batch__free_unpacked(in_heap, NULL);
    arena_release(&a); /* ASan: nothing leaked, nothing freed twice */
}
END_TEST

/* A body of many empty readings costs far more unpacked than on the wire (2 bytes each): with
 * a cap the unpack fails cleanly at it instead of taking what it likes; without one it takes
 * ~100x the body (what made 2M empty readings cost 868 MiB). */
START_TEST(test_protobuf_unpack_capped)
{
    size_t n = 20000, len = 2 * n;
    uint8_t *body = calloc(1, len);
    for (size_t i = 0; i < n; i++)
        body[2 * i] = 0x0a; /* field 1, length-delimited, length 0: an empty Reading */
    struct arena a;
    arena_init(&a);
    ProtobufCAllocator pa = arena_protobuf(&a);
    Twinpipe__Telemetry__V1__ReadingBatch *b =
        twinpipe__telemetry__v1__reading_batch__unpack(&pa, len, body);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(b->n_readings, n);
    ck_assert(!a.exceeded);
    ck_assert_uint_gt(a.reserved, 20 * len); /* what the uncapped unpack took */
    ck_assert_uint_eq(a.peak, a.reserved);
    arena_release(&a);
    ck_assert_uint_eq(a.reserved, 0);

    arena_set_limit(&a, 8 * len);
    pa = arena_protobuf(&a);
    ck_assert_ptr_null(twinpipe__telemetry__v1__reading_batch__unpack(&pa, len, body));
    ck_assert(a.exceeded);
    ck_assert_uint_le(a.reserved, 8 * len);
    ck_assert_uint_le(a.peak, 8 * len);
    /* arena_alloc (bounded by its caller) is not capped */
    ck_assert_ptr_nonnull(arena_alloc(&a, 16 * len));
    arena_release(&a);
    ck_assert(!a.exceeded);
    ck_assert_uint_eq(a.limit, 8 * len);
    free(body);
}
END_TEST

static Suite *arena_suite(void)
{
    Suite *s = suite_create("arena");
    TCase *tc = tcase_create("arena");
    tcase_add_test(tc, test_alignment_and_distinct_blocks);
    tcase_add_test(tc, test_large_blocks_and_reuse);
    tcase_add_test(tc, test_protobuf_unpack_in_arena);
    tcase_add_test(tc, test_protobuf_unpack_capped);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(arena_suite)
