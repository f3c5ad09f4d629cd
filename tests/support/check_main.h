/*
 * check_main.h - the main() every Check test binary shares: run one suite,
 * print Check's summary, exit non-zero on any failure.
 *
 *     static Suite *json_suite(void) { ... }
 *     TP_CHECK_MAIN(json_suite)
 */
#ifndef TP_CHECK_MAIN_H
#define TP_CHECK_MAIN_H

#include <check.h>
#include <stdlib.h>

#define TP_CHECK_MAIN(suite_fn)                                                                    \
    int main(void)                                                                                 \
    {                                                                                              \
        SRunner *sr = srunner_create(suite_fn());                                                  \
        srunner_set_fork_status(sr, CK_NOFORK); /* fixtures share state with tests */              \
        srunner_run_all(sr, CK_NORMAL);                                                            \
        int failed = srunner_ntests_failed(sr);                                                    \
        srunner_free(sr);                                                                          \
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;                                          \
    }

#endif
