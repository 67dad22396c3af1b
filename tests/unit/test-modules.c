/* test-modules.c — module loading through libkmod against a module
 * directory made by depmod in a temp dir: a built-in driver counts as
 * loaded (nothing is inserted), an unknown one is an error that names it.
 * Nothing here can load a module into this machine's kernel: the directory
 * holds no module files at all, and the vfpt-modload helper is only asked
 * for a module that does not exist.
 *
 * Also the daemon's side of the helper, vfpt_modules_load_helper(): its
 * arguments, its verdict, its error text, a missing helper, a helper killed
 * by a signal, and that the caller's blocked signals are not inherited. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>

#include "fake-sysfs.h"
#include "vfpt-modules.h"
#include "vfpt-util.h"

static char *moddir(char **ret_base) {
        char *base = fake_tempdir("modules");
        char *dir = strdup_printf("%s/lib/modules/0.0.0-vfpt-test", base);
        _cleanup_free_ char *cmd = NULL;

        ck_assert_ptr_nonnull(dir);
        fake_write_file(base, "lib/modules/0.0.0-vfpt-test/modules.builtin",
                        "kernel/drivers/vfio/pci/vfio-pci.ko\nkernel/drivers/vfio/vfio_iommu_type1.ko\n");
        fake_write_file(base, "lib/modules/0.0.0-vfpt-test/modules.order", "");
        cmd = strdup_printf("depmod -b '%s' 0.0.0-vfpt-test 2>/dev/null", base);
        ck_assert_int_eq(system(cmd), 0);
        *ret_base = base;
        return dir;
}

START_TEST(test_builtin_driver_counts_as_loaded) {
        _cleanup_free_ char *base = NULL, *dir = moddir(&base), *error = NULL;
        const char *const names[] = { "vfio-pci", "vfio_iommu_type1", NULL };
        const char *const configs[] = { "/nonexistent", NULL };

        ck_assert_int_eq(vfpt_modules_load_at(dir, configs, names, &error), 0);
        ck_assert_ptr_null(error);
        fake_rm_rf(base);
}
END_TEST

START_TEST(test_unknown_module_is_named_in_the_error) {
        _cleanup_free_ char *base = NULL, *dir = moddir(&base), *error = NULL;
        const char *const names[] = { "vfio-pci", "mlx5_vfio_pci", NULL };
        const char *const configs[] = { "/nonexistent", NULL };

        ck_assert_int_eq(vfpt_modules_load_at(dir, configs, names, &error), -ENOENT);
        ck_assert_ptr_nonnull(error);
        ck_assert_msg(strstr(error, "mlx5_vfio_pci"), "error: %s", error);
        fake_rm_rf(base);
}
END_TEST

/* A shell script as the helper, in a fresh temp dir. */
static char *script(char **ret_base, const char *body) {
        char *base = fake_tempdir("modload");
        _cleanup_free_ char *text = strdup_printf("#!/bin/sh\n%s\n", body);
        char *path = strdup_printf("%s/helper", base);

        fake_write_file(base, "helper", text);
        ck_assert_int_eq(chmod(path, 0755), 0);
        *ret_base = base;
        return path;
}

START_TEST(test_helper_gets_the_names_and_success_is_zero) {
        _cleanup_free_ char *base = NULL, *error = NULL, *args = NULL, *path = NULL;
        const char *const names[] = { "vfio-pci", "vfio_iommu_type1", NULL };
        char *helper = script(&base, "printf '%s|' \"$@\" >\"$(dirname \"$0\")/args\"");

        ck_assert_int_eq(vfpt_modules_load_helper(helper, names, &error), 0);
        ck_assert_ptr_null(error);
        path = strdup_printf("%s/args", base);
        ck_assert_int_eq(read_attr(AT_FDCWD, path, &args), 0);
        ck_assert_str_eq(args, "vfio-pci|vfio_iommu_type1|");
        free(helper);
        fake_rm_rf(base);
}
END_TEST

START_TEST(test_helper_error_text_is_returned) {
        _cleanup_free_ char *base = NULL, *error = NULL;
        const char *const names[] = { "vfio-pci", NULL };
        char *helper = script(&base, "echo 'module vfio_pci: blacklisted by the modprobe configuration' >&2; exit 1");

        ck_assert_int_eq(vfpt_modules_load_helper(helper, names, &error), -EIO);
        ck_assert_ptr_nonnull(error);
        ck_assert_str_eq(error, "module vfio_pci: blacklisted by the modprobe configuration");
        free(helper);
        fake_rm_rf(base);
}
END_TEST

START_TEST(test_helper_silent_failure_names_status_and_signal) {
        _cleanup_free_ char *base = NULL, *e1 = NULL, *e2 = NULL;
        const char *const names[] = { "vfio-pci", NULL };
        char *quiet = script(&base, "exit 3");

        ck_assert_int_eq(vfpt_modules_load_helper(quiet, names, &e1), -EIO);
        ck_assert_msg(e1 && strstr(e1, "status 3") && strstr(e1, quiet), "error: %s", strna(e1));
        free(quiet);
        fake_rm_rf(base);
        free(base);

        quiet = script(&base, "kill -KILL $$");
        ck_assert_int_eq(vfpt_modules_load_helper(quiet, names, &e2), -EIO);
        ck_assert_msg(e2 && strstr(e2, "signal"), "error: %s", strna(e2));
        free(quiet);
        fake_rm_rf(base);
}
END_TEST

START_TEST(test_missing_helper_is_named) {
        _cleanup_free_ char *error = NULL;
        const char *const names[] = { "vfio-pci", NULL };

        ck_assert_int_eq(vfpt_modules_load_helper("/nonexistent/vfpt-modload", names, &error), -ENOENT);
        ck_assert_msg(error && strstr(error, "/nonexistent/vfpt-modload"), "error: %s", strna(error));
}
END_TEST

START_TEST(test_helper_does_not_inherit_blocked_signals) {
        _cleanup_free_ char *base = NULL, *error = NULL;
        const char *const names[] = { "vfio-pci", NULL };
        char *helper = script(&base, "exec grep -q '^SigBlk:[[:space:]]*0*$' /proc/self/status");
        sigset_t set, old;

        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGHUP);
        ck_assert_int_eq(sigprocmask(SIG_BLOCK, &set, &old), 0);
        ck_assert_int_eq(vfpt_modules_load_helper(helper, names, &error), 0);
        ck_assert_int_eq(sigprocmask(SIG_SETMASK, &old, NULL), 0);
        free(helper);
        fake_rm_rf(base);
}
END_TEST

/* The real helper, asked for a module no kernel has: it must fail and say
 * which. (It cannot insert anything: the name matches nothing.) */
START_TEST(test_real_helper_names_an_unknown_module) {
        _cleanup_free_ char *error = NULL;
        const char *helper = getenv("VFPT_MODLOAD");
        const char *const names[] = { "vfpt-test-no-such-module", NULL };

        if (!helper || !*helper)
                return;
        ck_assert_int_eq(vfpt_modules_load_helper(helper, names, &error), -EIO);
        ck_assert_msg(error && (strstr(error, "vfpt-test-no-such-module") || strstr(error, "module index")),
                      "error: %s", strna(error));
}
END_TEST

int main(void) {
        Suite *s = suite_create("modules");
        TCase *tc = tcase_create("modules");
        SRunner *sr;
        int failed;

        if (system("command -v depmod >/dev/null") != 0 && access("/sbin/depmod", X_OK) != 0)
                return 77;
        fake_run_begin();
        tcase_add_test(tc, test_builtin_driver_counts_as_loaded);
        tcase_add_test(tc, test_unknown_module_is_named_in_the_error);
        tcase_add_test(tc, test_helper_gets_the_names_and_success_is_zero);
        tcase_add_test(tc, test_helper_error_text_is_returned);
        tcase_add_test(tc, test_helper_silent_failure_names_status_and_signal);
        tcase_add_test(tc, test_missing_helper_is_named);
        tcase_add_test(tc, test_helper_does_not_inherit_blocked_signals);
        tcase_add_test(tc, test_real_helper_names_an_unknown_module);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        fake_run_end();
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
