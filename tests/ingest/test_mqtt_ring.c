/*
 * test_mqtt_ring.c - ingest/mqtt_ring.c, a connection's ack ring: no slot
 * until the first push, growth in steps (4, 8, ... up to the window, also a
 * window that is no power of two), the window of exactly max slots, slots
 * found by their sequence number across growth and wrap-around, completions
 * out of order popped strictly in push order, and the slots freed only after
 * a whole tick empty and without a push.
 */
#include <check.h>
#include <stdint.h>

#include "ingest/mqtt_ring.h"
#include "tests/support/check_main.h"

/* Pushes one slot carrying packet id id; its sequence number. */
static uint32_t push(struct mqtt_ring *r, uint32_t max, uint16_t id)
{
    uint32_t seq = 0;
    ck_assert(mqtt_ring_push(r, max, &seq));
    struct mqtt_slot *sl = mqtt_ring_at(r, seq);
    ck_assert_ptr_nonnull(sl);
    ck_assert_uint_eq(sl->packet_id, 0); /* zeroed */
    ck_assert(!sl->done);
    sl->packet_id = id;
    return seq;
}

/* Pops every done slot from the head, as conn_acks does; their packet ids into ids. */
static int pop_done(struct mqtt_ring *r, uint16_t *ids)
{
    int n = 0;
    for (struct mqtt_slot *sl = mqtt_ring_head(r); sl && sl->done; sl = mqtt_ring_head(r)) {
        ids[n++] = sl->packet_id;
        mqtt_ring_pop(r);
    }
    return n;
}

START_TEST(test_idle_ring_holds_nothing)
{
    struct mqtt_ring r = {0};
    ck_assert_ptr_null(mqtt_ring_head(&r));
    ck_assert_ptr_null(mqtt_ring_at(&r, 0));
    mqtt_ring_trim(&r);
    ck_assert_ptr_null(r.slots);
    ck_assert_uint_eq(r.cap, 0);
    uint32_t seq = push(&r, 64, 1);
    ck_assert_uint_eq(seq, 0);
    ck_assert_ptr_nonnull(r.slots);
    ck_assert_uint_eq(r.cap, MQTT_RING_FIRST);
    ck_assert_uint_eq(r.cap, 4);
    mqtt_ring_release(&r);
    ck_assert_ptr_null(r.slots);
    ck_assert_uint_eq(r.cap, 0);
    ck_assert_uint_eq(r.count, 0);
}
END_TEST

/* The window is exactly max: the max-th push succeeds, the next fails and changes nothing;
 * the capacity grows 4, 8, 16, 32, 64 and never past max. */
START_TEST(test_window_and_growth)
{
    static const uint16_t caps[] = {4, 8, 16, 32, 64};
    struct mqtt_ring r = {0};
    int step = 0;
    for (uint16_t i = 0; i < 64; i++) {
        ck_assert_uint_eq(push(&r, 64, (uint16_t)(i + 1)), i);
        if (r.cap != caps[step])
            step++;
        ck_assert_uint_eq(r.cap, caps[step]);
        ck_assert_uint_eq(r.count, i + 1);
    }
    ck_assert_int_eq(step, 4);
    uint32_t seq = 12345;
    ck_assert(!mqtt_ring_push(&r, 64, &seq));
    ck_assert_uint_eq(seq, 12345);
    ck_assert_uint_eq(r.count, 64);
    ck_assert_uint_eq(r.cap, 64);
    for (uint16_t i = 0; i < 64; i++)
        ck_assert_uint_eq(mqtt_ring_at(&r, i)->packet_id, i + 1);
    ck_assert_ptr_null(mqtt_ring_at(&r, 64));
    mqtt_ring_release(&r);

    /* a window of 10: 4, 8, then 10, not 16; of 1: one slot */
    for (uint16_t i = 0; i < 10; i++)
        push(&r, 10, i);
    ck_assert_uint_eq(r.cap, 10);
    ck_assert(!mqtt_ring_push(&r, 10, &seq));
    mqtt_ring_release(&r);
    push(&r, 1, 7);
    ck_assert_uint_eq(r.cap, 1);
    ck_assert(!mqtt_ring_push(&r, 1, &seq));
    mqtt_ring_release(&r);

    /* the largest window mqtt.receive_maximum allows */
    for (uint32_t i = 0; i < 65535; i++)
        push(&r, 65535, (uint16_t)(i % 65535 + 1));
    ck_assert_uint_eq(r.cap, 65535);
    ck_assert(!mqtt_ring_push(&r, 65535, &seq));
    ck_assert_uint_eq(mqtt_ring_at(&r, 65534)->packet_id, 65535);
    mqtt_ring_release(&r);
}
END_TEST

/* Completions in any order, PUBACKs strictly in push order, across growth while the head has
 * wrapped: the slots found by sequence number after the ring moved them. */
START_TEST(test_in_order_across_growth)
{
    struct mqtt_ring r = {0};
    uint16_t ids[64];
    uint32_t s[8];
    for (int i = 0; i < 4; i++)
        s[i] = push(&r, 64, (uint16_t)(100 + i));
    mqtt_ring_at(&r, s[0])->done = true;
    mqtt_ring_at(&r, s[1])->done = true;
    ck_assert_int_eq(pop_done(&r, ids), 2);
    ck_assert_uint_eq(ids[0], 100);
    ck_assert_uint_eq(ids[1], 101);
    /* head at 2 of 4: two more fill it with the tail wrapped, the next grows it to 8 */
    for (int i = 4; i < 8; i++)
        s[i] = push(&r, 64, (uint16_t)(100 + i));
    ck_assert_uint_eq(r.cap, 8);
    ck_assert_uint_eq(r.count, 6);
    /* 7, 5, 3 done first: nothing goes out before 2 */
    mqtt_ring_at(&r, s[7])->done = true;
    mqtt_ring_at(&r, s[5])->done = true;
    mqtt_ring_at(&r, s[3])->done = true;
    ck_assert_int_eq(pop_done(&r, ids), 0);
    ck_assert_ptr_null(mqtt_ring_at(&r, s[0])); /* popped */
    mqtt_ring_at(&r, s[2])->done = true;
    ck_assert_int_eq(pop_done(&r, ids), 2);
    ck_assert_uint_eq(ids[0], 102);
    ck_assert_uint_eq(ids[1], 103);
    mqtt_ring_at(&r, s[4])->done = true;
    ck_assert_int_eq(pop_done(&r, ids), 2);
    ck_assert_uint_eq(ids[0], 104);
    ck_assert_uint_eq(ids[1], 105);
    mqtt_ring_at(&r, s[6])->done = true;
    ck_assert_int_eq(pop_done(&r, ids), 2);
    ck_assert_uint_eq(ids[0], 106);
    ck_assert_uint_eq(ids[1], 107);
    ck_assert_uint_eq(r.count, 0);
    ck_assert_ptr_null(mqtt_ring_head(&r));
    mqtt_ring_release(&r);
}
END_TEST

/* Trim frees the slots only after a tick without a push and with the ring empty; the ring
 * grows again after it and sequence numbers keep counting. */
START_TEST(test_trim_and_regrow)
{
    struct mqtt_ring r = {0};
    uint16_t ids[64];
    uint32_t a = push(&r, 64, 1);
    mqtt_ring_trim(&r); /* pushed since the last trim: kept */
    ck_assert_ptr_nonnull(r.slots);
    mqtt_ring_trim(&r); /* a whole tick, but one in flight: kept */
    ck_assert_ptr_nonnull(r.slots);
    mqtt_ring_at(&r, a)->done = true;
    ck_assert_int_eq(pop_done(&r, ids), 1);
    mqtt_ring_trim(&r); /* empty and no push: freed */
    ck_assert_ptr_null(r.slots);
    ck_assert_uint_eq(r.cap, 0);

    /* empty but with a push during the tick: kept one more tick */
    uint32_t b = push(&r, 64, 2);
    ck_assert_uint_eq(b, 1);
    mqtt_ring_at(&r, b)->done = true;
    ck_assert_int_eq(pop_done(&r, ids), 1);
    mqtt_ring_trim(&r);
    ck_assert_ptr_nonnull(r.slots);
    mqtt_ring_trim(&r);
    ck_assert_ptr_null(r.slots);

    /* a burst of 20 after it: in order again, sequence numbers 2..21 */
    uint32_t s[20];
    for (int i = 0; i < 20; i++) {
        s[i] = push(&r, 64, (uint16_t)(200 + i));
        ck_assert_uint_eq(s[i], (uint32_t)(2 + i));
    }
    ck_assert_uint_eq(r.cap, 32);
    for (int i = 19; i >= 0; i--)
        mqtt_ring_at(&r, s[i])->done = true;
    ck_assert_int_eq(pop_done(&r, ids), 20);
    for (int i = 0; i < 20; i++)
        ck_assert_uint_eq(ids[i], 200 + i);
    mqtt_ring_trim(&r);
    mqtt_ring_trim(&r);
    ck_assert_ptr_null(r.slots);
    mqtt_ring_release(&r);
}
END_TEST

/* A push given back (accept refused the PUBLISH) frees its sequence number for the next. */
START_TEST(test_unpush)
{
    struct mqtt_ring r = {0};
    uint32_t a = push(&r, 2, 1), b = push(&r, 2, 2);
    mqtt_ring_unpush(&r);
    ck_assert_ptr_null(mqtt_ring_at(&r, b));
    ck_assert_uint_eq(push(&r, 2, 3), b);
    ck_assert_uint_eq(mqtt_ring_at(&r, b)->packet_id, 3);
    ck_assert_uint_eq(mqtt_ring_at(&r, a)->packet_id, 1);
    mqtt_ring_release(&r);
}
END_TEST

/* Sequence numbers wrap around 2^32 without losing a slot. */
START_TEST(test_sequence_wraps)
{
    struct mqtt_ring r = {.seq = UINT32_MAX - 1};
    uint16_t ids[8];
    uint32_t s[4];
    for (int i = 0; i < 4; i++)
        s[i] = push(&r, 8, (uint16_t)(i + 1));
    ck_assert_uint_eq(s[0], UINT32_MAX - 1);
    ck_assert_uint_eq(s[2], 0);
    ck_assert_uint_eq(s[3], 1);
    for (int i = 3; i >= 0; i--)
        mqtt_ring_at(&r, s[i])->done = true;
    ck_assert_int_eq(pop_done(&r, ids), 4);
    for (int i = 0; i < 4; i++)
        ck_assert_uint_eq(ids[i], i + 1);
    ck_assert_uint_eq(r.seq, 2);
    mqtt_ring_release(&r);
}
END_TEST

static Suite *mqtt_ring_suite(void)
{
    Suite *s = suite_create("mqtt_ring");
    TCase *tc = tcase_create("ring");
    tcase_add_test(tc, test_idle_ring_holds_nothing);
    tcase_add_test(tc, test_window_and_growth);
    tcase_add_test(tc, test_in_order_across_growth);
    tcase_add_test(tc, test_trim_and_regrow);
    tcase_add_test(tc, test_unpush);
    tcase_add_test(tc, test_sequence_wraps);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(mqtt_ring_suite)
