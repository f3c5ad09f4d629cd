#include <check.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "twin/names.h"
#include "twin/pack.h"
#include "tests/support/check_main.h"
#include "tests/twin/twin_check.h"

/* Packs t, unpacks it into a fresh twin and checks every field bit for bit; returns the
 * packed length. */
static size_t round_trip(const struct twin *t)
{
    uint8_t *p = tp_malloc(pack_twin_bound(t));
    size_t n = pack_twin_write(p, t);
    ck_assert_uint_le(n, pack_twin_bound(t));
    struct twin *b = twin_new(t->device_id);
    ck_assert_uint_eq(pack_twin_read(b, p), n);
    twin_check_same(b, t);
    twin_free(b);
    free(p);
    return n;
}

START_TEST(test_doubles_exact)
{
    twin_check_doubles(round_trip);
}
END_TEST

START_TEST(test_integers_and_flags)
{
    twin_check_integers(round_trip);
}
END_TEST

/* The case the table is built for: 8 metrics of one decimal, in every reading. */
START_TEST(test_typical_twin_is_small)
{
    struct twin *t = twin_check_typical();
    size_t n = round_trip(t);
    /* each metric: id, flags, value/min/max as short varints, the sum raw (~15 bytes), its
     * open minute (1 byte) */
    ck_assert_uint_le(n, 170);
    twin_free(t);
}
END_TEST

/* The sequence window (fold.h) comes back bit for bit. */
START_TEST(test_sequence_window)
{
    twin_check_window(round_trip);
}
END_TEST

START_TEST(test_names_interned)
{
    const char *a = names_intern("speed_kmh");
    char copy[] = "speed_kmh";
    ck_assert_ptr_eq(names_intern(copy), a);
    ck_assert_ptr_eq(names_str(names_id(a)), a);
    ck_assert_ptr_ne(names_intern("speed_kmh2"), a);
    ck_assert_ptr_null(names_str(UINT32_MAX));
    char big[5000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    const char *b = names_intern(big);
    ck_assert_str_eq(b, big);
    ck_assert_ptr_eq(names_intern(big), b);
    ck_assert_ptr_eq(names_str(names_id(b)), b);
}
END_TEST

static Suite *pack_suite(void)
{
    Suite *s = suite_create("pack");
    TCase *tc = tcase_create("round_trip");
    tcase_add_test(tc, test_doubles_exact);
    tcase_add_test(tc, test_integers_and_flags);
    tcase_add_test(tc, test_typical_twin_is_small);
    tcase_add_test(tc, test_names_interned);
    tcase_add_test(tc, test_sequence_window);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(pack_suite)
