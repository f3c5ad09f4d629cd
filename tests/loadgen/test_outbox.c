/* test_outbox.c - loadgen/outbox.c: tp-loadgen's MQTT outbox: packet ids, PUBACKs in and out
 * of order, what is sent again after a reconnect and in which order, a full box. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "loadgen/outbox.h"
#include "tests/support/check_main.h"

/* pushes an entry marked with tag (its device) and a payload the box frees */
static struct outbox_entry *push(struct outbox *b, uint32_t tag)
{
    struct outbox_entry *e = outbox_push(b);
    if (e) {
        e->device = tag;
        e->payload = tp_malloc(8);
        e->payload_len = 8;
        e->items = tp_malloc(16);
        e->n_items = 1;
    }
    return e;
}

START_TEST(test_ids_order_and_full)
{
    struct outbox b;
    outbox_init(&b, 3);
    ck_assert_uint_eq(push(&b, 10)->packet_id, 1);
    ck_assert_uint_eq(push(&b, 11)->packet_id, 2);
    ck_assert_uint_eq(push(&b, 12)->packet_id, 3);
    ck_assert_ptr_null(push(&b, 13)); /* the window is full */
    ck_assert_uint_eq(b.n, 3);
    /* not sent yet: a PUBACK for it is not in flight */
    ck_assert_ptr_null(outbox_ack(&b, 1));
    for (uint32_t i = 0; i < 3; i++)
        outbox_at(&b, i)->sent = true;
    struct outbox_entry *e = outbox_ack(&b, 1);
    ck_assert_ptr_nonnull(e);
    ck_assert_uint_eq(e->device, 10);
    ck_assert_ptr_null(outbox_ack(&b, 1)); /* twice */
    ck_assert_ptr_null(outbox_ack(&b, 9)); /* never sent */
    ck_assert_uint_eq(outbox_pop_done(&b), 1);
    ck_assert_uint_eq(b.n, 2);
    /* room again: the next id */
    ck_assert_uint_eq(push(&b, 13)->packet_id, 4);
    outbox_release(&b);
}
END_TEST

START_TEST(test_early_ack_leaves_with_those_before)
{
    struct outbox b;
    outbox_init(&b, 4);
    for (uint32_t i = 0; i < 4; i++)
        push(&b, i)->sent = true;
    ck_assert_ptr_nonnull(outbox_ack(&b, 3));
    ck_assert_uint_eq(outbox_pop_done(&b), 0); /* 1 and 2 are still in flight */
    ck_assert_ptr_nonnull(outbox_ack(&b, 1));
    ck_assert_uint_eq(outbox_pop_done(&b), 1);
    ck_assert_ptr_nonnull(outbox_ack(&b, 2));
    ck_assert_uint_eq(outbox_pop_done(&b), 2); /* 2, then 3 done before */
    ck_assert_uint_eq(b.n, 1);
    ck_assert_uint_eq(outbox_at(&b, 0)->packet_id, 4);
    outbox_release(&b);
}
END_TEST

START_TEST(test_reconnect_sends_again_in_order)
{
    struct outbox b;
    outbox_init(&b, 8);
    for (uint32_t i = 0; i < 5; i++) {
        struct outbox_entry *e = push(&b, 100 + i);
        e->sent = i < 4; /* the fifth was made but not yet written */
        e->sends = i < 4;
    }
    ck_assert_ptr_nonnull(outbox_ack(&b, 2)); /* acknowledged out of order, before the loss */
    ck_assert_uint_eq(outbox_unsend(&b), 3);  /* 1, 3 and 4 were in flight */
    ck_assert_ptr_null(outbox_ack(&b, 1));    /* nothing is in flight on a lost connection */
    uint32_t order[8], n = 0;
    for (struct outbox_entry *e = outbox_next_unsent(&b, NULL); e; e = outbox_next_unsent(&b, e))
        order[n++] = e->device;
    ck_assert_uint_eq(n, 4); /* 1, 3, 4 again and 5 for the first time; 2 stays done */
    ck_assert_uint_eq(order[0], 100);
    ck_assert_uint_eq(order[1], 102);
    ck_assert_uint_eq(order[2], 103);
    ck_assert_uint_eq(order[3], 104);
    outbox_release(&b);
}
END_TEST

START_TEST(test_ids_wrap_past_zero)
{
    struct outbox b;
    outbox_init(&b, 2);
    b.next_id = 65535;
    struct outbox_entry *e = push(&b, 1);
    ck_assert_uint_eq(e->packet_id, 65535);
    e->sent = true;
    ck_assert_uint_eq(push(&b, 2)->packet_id, 1); /* never 0 */
    ck_assert_ptr_nonnull(outbox_ack(&b, 65535));
    outbox_pop_done(&b);
    ck_assert_uint_eq(push(&b, 3)->packet_id, 2);
    /* the ring wrapped: the entries are still in order */
    ck_assert_uint_eq(outbox_at(&b, 0)->device, 2);
    ck_assert_uint_eq(outbox_at(&b, 1)->device, 3);
    ck_assert_ptr_eq(outbox_next_unsent(&b, NULL), outbox_at(&b, 0));
    ck_assert_ptr_eq(outbox_next_unsent(&b, outbox_at(&b, 0)), outbox_at(&b, 1));
    ck_assert_ptr_null(outbox_next_unsent(&b, outbox_at(&b, 1)));
    outbox_release(&b);
}
END_TEST

static Suite *outbox_suite(void)
{
    Suite *s = suite_create("outbox");
    TCase *tc = tcase_create("outbox");
    tcase_add_test(tc, test_ids_order_and_full);
    tcase_add_test(tc, test_early_ack_leaves_with_those_before);
    tcase_add_test(tc, test_reconnect_sends_again_in_order);
    tcase_add_test(tc, test_ids_wrap_past_zero);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(outbox_suite)
