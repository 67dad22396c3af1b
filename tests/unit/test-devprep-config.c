/* test-devprep-config.c — unit tests for the device preparation keys of
 * vfpt.d(5): reset_method, owner and mode. Their values, what they become
 * in the rule, and the errors (file:line, key, and the word that was wrong)
 * that make the file contribute no rules. */
#include <check.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "vfpt-config.h"
#include "vfpt-devprep.h"
#include "vfpt-util.h"

static VfptConfig *load(const char *text) {
        VfptConfig *c = NULL;

        ck_assert_int_eq(vfpt_config_load_string(&c, "t.conf", text), 0);
        return c;
}

static const VfptRule *one_rule(const VfptConfig *c) {
        ck_assert_msg(c->n_errors == 0, "unexpected error: %s", c->n_errors ? c->errors[0].message : "");
        ck_assert_uint_eq(c->n_rules, 1);
        return &c->rules[0];
}

/* Exactly one error, at that line and key, with needle in its message; and
 * the file gave no rules. */
static void assert_error(const char *text, unsigned line, const char *key, const char *needle) {
        VfptConfig *c = load(text);

        ck_assert_msg(c->n_errors == 1, "expected 1 error for '%s', got %zu%s%s", text, c->n_errors,
                      c->n_errors ? ": " : "", c->n_errors ? c->errors[0].message : "");
        ck_assert_uint_eq(c->errors[0].line, line);
        ck_assert_str_eq(c->errors[0].key, key);
        ck_assert_msg(strstr(c->errors[0].message, needle), "'%s' does not contain '%s'", c->errors[0].message, needle);
        ck_assert_msg(strncmp(c->errors[0].message, "t.conf:", 7) == 0, "'%s' does not name the file", c->errors[0].message);
        ck_assert_uint_eq(c->n_rules, 0);
        vfpt_config_free(c);
}

START_TEST(test_unset_keys_leave_the_device_alone) {
        VfptConfig *c = load("[a]\nids = 8086:10d3\n");
        const VfptRule *r = one_rule(c);

        ck_assert_ptr_null(r->reset_method);
        ck_assert_ptr_null(r->owner);
        ck_assert(!r->has_mode);
        vfpt_config_free(c);
}
END_TEST

START_TEST(test_reset_method_is_normalised_to_single_spaces_in_order) {
        VfptConfig *c = load("[a]\nids = 8086:10d3\nreset_method = bus,  pm\tflr\n");
        const VfptRule *r = one_rule(c);

        ck_assert_str_eq(r->reset_method, "bus pm flr");
        vfpt_config_free(c);
}
END_TEST

START_TEST(test_reset_method_errors_name_the_method) {
        assert_error("[a]\nids = 8086:10d3\nreset_method = pm flrr\n", 3, "reset_method", "unknown reset method 'flrr'");
        assert_error("[a]\nids = 8086:10d3\nreset_method = pm bus pm\n", 3, "reset_method", "'pm' is given twice");
        assert_error("[a]\nids = 8086:10d3\nreset_method = default\n", 3, "reset_method", "'default'");
        /* An empty value would disable reset in the kernel. */
        assert_error("[a]\nids = 8086:10d3\nreset_method =\n", 3, "reset_method", "would disable reset");
        assert_error("[a]\nids = 8086:10d3\nreset_method = pm\nreset_method = bus\n", 4, "reset_method", "given twice");
}
END_TEST

START_TEST(test_owner_by_name_is_resolved_at_load) {
        VfptConfig *c = load("[a]\nids = 8086:10d3\nowner = root:root\n");
        const VfptRule *r = one_rule(c);

        ck_assert_str_eq(r->owner, "root:root");
        ck_assert_uint_eq(r->owner_uid, 0);
        ck_assert_uint_eq(r->owner_gid, 0);
        vfpt_config_free(c);
}
END_TEST

START_TEST(test_owner_numeric_ids_need_no_user) {
        VfptConfig *c = load("[a]\nids = 8086:10d3\nowner = 4000123:4000456\n");
        const VfptRule *r = one_rule(c);

        ck_assert_uint_eq(r->owner_uid, 4000123);
        ck_assert_uint_eq(r->owner_gid, 4000456);
        vfpt_config_free(c);
}
END_TEST

START_TEST(test_owner_without_group_keeps_the_group) {
        VfptConfig *c = load("[a]\nids = 8086:10d3\nowner = 0\n");
        const VfptRule *r = one_rule(c);

        ck_assert_uint_eq(r->owner_uid, 0);
        ck_assert(r->owner_gid == (gid_t) -1);
        vfpt_config_free(c);
}
END_TEST

START_TEST(test_owner_errors_name_the_user_or_group) {
        ck_assert_ptr_null(getpwnam("vfpt-no-such-user"));
        ck_assert_ptr_null(getgrnam("vfpt-no-such-group"));
        assert_error("[a]\nids = 8086:10d3\nowner = vfpt-no-such-user\n", 3, "owner", "no user 'vfpt-no-such-user'");
        assert_error("[a]\nids = 8086:10d3\nowner = root:vfpt-no-such-group\n", 3, "owner",
                     "no group 'vfpt-no-such-group'");
        assert_error("[a]\nids = 8086:10d3\nowner = ro ot\n", 3, "owner", "expected USER or USER:GROUP");
        assert_error("[a]\nids = 8086:10d3\nowner = :kvm\n", 3, "owner", "expected USER or USER:GROUP");
        assert_error("[a]\nids = 8086:10d3\nowner = root:\n", 3, "owner", "expected USER or USER:GROUP");
        /* (uid_t) -1 means "unchanged" to chown(): not an id. */
        assert_error("[a]\nids = 8086:10d3\nowner = 4294967295\n", 3, "owner", "expected USER or USER:GROUP");
}
END_TEST

START_TEST(test_mode_takes_three_or_four_octal_digits) {
        VfptConfig *c = load("[a]\nids = 8086:10d3\nmode = 0660\n[b]\nids = 8086:10d4\nmode = 606\n");

        ck_assert_uint_eq(c->n_errors, 0);
        ck_assert(c->rules[0].has_mode && c->rules[0].mode == 0660);
        ck_assert(c->rules[1].has_mode && c->rules[1].mode == 0606);
        vfpt_config_free(c);
}
END_TEST

START_TEST(test_mode_errors) {
        assert_error("[a]\nids = 8086:10d3\nmode = 0688\n", 3, "mode", "expected an octal mode like 0660");
        assert_error("[a]\nids = 8086:10d3\nmode = 66\n", 3, "mode", "got '66'");
        assert_error("[a]\nids = 8086:10d3\nmode = rw-rw----\n", 3, "mode", "expected an octal mode");
        assert_error("[a]\nids = 8086:10d3\nmode = 4660\n", 3, "mode", "setuid, setgid or sticky");
}
END_TEST

START_TEST(test_node_owner_format_uses_names_when_known) {
        _cleanup_free_ char *a = vfpt_node_owner_format(0, 0, 020660);
        _cleanup_free_ char *b = vfpt_node_owner_format(4000123, 4000456, 0600);

        ck_assert_str_eq(a, "root:root 0660");
        ck_assert_str_eq(b, "4000123:4000456 0600");
}
END_TEST

static Suite *devprep_config_suite(void) {
        Suite *s = suite_create("devprep-config");
        TCase *tc = tcase_create("keys");

        tcase_add_test(tc, test_unset_keys_leave_the_device_alone);
        tcase_add_test(tc, test_reset_method_is_normalised_to_single_spaces_in_order);
        tcase_add_test(tc, test_reset_method_errors_name_the_method);
        tcase_add_test(tc, test_owner_by_name_is_resolved_at_load);
        tcase_add_test(tc, test_owner_numeric_ids_need_no_user);
        tcase_add_test(tc, test_owner_without_group_keeps_the_group);
        tcase_add_test(tc, test_owner_errors_name_the_user_or_group);
        tcase_add_test(tc, test_mode_takes_three_or_four_octal_digits);
        tcase_add_test(tc, test_mode_errors);
        tcase_add_test(tc, test_node_owner_format_uses_names_when_known);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(devprep_config_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
