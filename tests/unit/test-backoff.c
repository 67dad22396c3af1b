/* test-backoff.c — a failing group is retried later and later, never in a
 * hot loop; success forgets it; other groups are unaffected. */
#include <check.h>
#include <stdlib.h>

#include "vfpt-backoff.h"

#define S 1000000ULL

START_TEST(test_failure_doubles_the_wait_up_to_a_minute) {
        VfptBackoff b = {};
        uint64_t now = 100 * S, expected = S;

        ck_assert(vfpt_backoff_allowed(&b, 7, now));
        for (int i = 0; i < 12; i++) {
                uint64_t next = vfpt_backoff_failed(&b, 7, now, "busy");
                ck_assert_uint_eq(next - now, expected);
                ck_assert(!vfpt_backoff_allowed(&b, 7, next - 1));
                ck_assert(vfpt_backoff_allowed(&b, 7, next));
                now = next;
                expected = expected * 2 > 60 * S ? 60 * S : expected * 2;
        }
        vfpt_backoff_clear(&b);
}
END_TEST

START_TEST(test_success_forgets_and_other_groups_are_free) {
        VfptBackoff b = {};

        vfpt_backoff_failed(&b, 3, 0, NULL);
        vfpt_backoff_failed(&b, 3, 0, NULL);
        vfpt_backoff_failed(&b, -2, 10 * S, "gone");
        ck_assert(!vfpt_backoff_allowed(&b, 3, S));
        ck_assert(vfpt_backoff_allowed(&b, 4, S));
        ck_assert_uint_eq(vfpt_backoff_next(&b), 2 * S);
        vfpt_backoff_succeeded(&b, 3);
        ck_assert(vfpt_backoff_allowed(&b, 3, S));
        ck_assert_uint_eq(vfpt_backoff_next(&b), 11 * S);
        /* After success the wait starts small again. */
        ck_assert_uint_eq(vfpt_backoff_failed(&b, 3, 20 * S, "again"), 21 * S);
        ck_assert_str_eq(vfpt_backoff_get(&b, 3)->reason, "again");
        ck_assert_str_eq(vfpt_backoff_get(&b, -2)->reason, "gone");
        vfpt_backoff_clear(&b);
        ck_assert_uint_eq(vfpt_backoff_next(&b), 0);
}
END_TEST

int main(void) {
        Suite *s = suite_create("backoff");
        TCase *tc = tcase_create("backoff");
        SRunner *sr;
        int failed;

        tcase_add_test(tc, test_failure_doubles_the_wait_up_to_a_minute);
        tcase_add_test(tc, test_success_forgets_and_other_groups_are_free);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
