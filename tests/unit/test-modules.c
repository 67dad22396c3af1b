/* test-modules.c — module loading through libkmod against a module
 * directory made by depmod in a temp dir: a built-in driver counts as
 * loaded (nothing is inserted), an unknown one is an error that names it.
 * Nothing here can load a module into this machine's kernel: the directory
 * holds no module files at all. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
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
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        fake_run_end();
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
