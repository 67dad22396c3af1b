/* test-ctl-initramfs.c — when does vfptctl say the initramfs claim is out of
 * date? A temporary tree stands for /etc/vfpt/initramfs.conf, /boot, the
 * hook's copies in /var/lib/vfpt/initramfs and two drop-in directories. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl-initramfs.h"
#include "fake-sysfs.h"
#include "vfpt-util.h"

#define KVER "6.1.0-56-amd64"

typedef struct Tree {
        char *root;
        char *conf, *state, *boot, *etc, *usr;
        char *dirs[3];
        CtlInitramfsPaths paths;
        CtlInitramfsState state_got;
        char *detail, *fix;
} Tree;

static Tree t;

static void setup(void) {
        t = (Tree) {};
        t.root = fake_tempdir("initramfs");
        t.conf = strdup_printf("%s/etc/vfpt/initramfs.conf", t.root);
        t.state = strdup_printf("%s/var/lib/vfpt/initramfs", t.root);
        t.boot = strdup_printf("%s/boot", t.root);
        t.etc = strdup_printf("%s/etc/vfpt.d", t.root);
        t.usr = strdup_printf("%s/usr/lib/vfpt.d", t.root);
        ck_assert(t.conf && t.state && t.boot && t.etc && t.usr);
        t.dirs[0] = t.etc;
        t.dirs[1] = t.usr;
        t.paths = (CtlInitramfsPaths) { .conf = t.conf, .state_dir = t.state, .boot_dir = t.boot, .config_dirs = t.dirs };
}

static void teardown(void) {
        fake_rm_rf(t.root);
        free(t.root);
        free(t.conf);
        free(t.state);
        free(t.boot);
        free(t.etc);
        free(t.usr);
        free(t.detail);
        free(t.fix);
}

static void put(const char *rel, const char *content) {
        fake_write_file(t.root, rel, content);
}

static void enable(const char *line) {
        put("etc/vfpt/initramfs.conf", line);
}

/* What the hook does for KVER: an initrd, and a copy of the drop-ins. */
static void hook_ran(void) {
        put("boot/initrd.img-" KVER, "");
        put("var/lib/vfpt/initramfs/" KVER "/10-nic.conf", "[nic]\naddresses = 01:00.0\n");
        put("var/lib/vfpt/initramfs/" KVER "/20-usb.conf", "[usb]\nids = 1b21:1242\n");
}

static void drop_ins(void) {
        put("etc/vfpt.d/10-nic.conf", "[nic]\naddresses = 01:00.0\n");
        put("usr/lib/vfpt.d/20-usb.conf", "[usb]\nids = 1b21:1242\n");
}

static CtlInitramfsState state(void) {
        free(t.detail);
        free(t.fix);
        ck_assert_int_eq(ctl_initramfs_state(&t.paths, &t.state_got, &t.detail, &t.fix), 0);
        ck_assert_ptr_nonnull(t.detail);
        return t.state_got;
}

static void assert_detail(const char *needle) {
        ck_assert_msg(strstr(t.detail, needle), "detail '%s' lacks '%s'", t.detail, needle);
}

START_TEST(test_enabled_parses_like_sh) {
        ck_assert_int_eq(ctl_initramfs_enabled(t.conf), 0); /* no file */
        enable("# VFPT_INITRAMFS=yes\n");
        ck_assert_int_eq(ctl_initramfs_enabled(t.conf), 0);
        enable("VFPT_INITRAMFS=yes\n");
        ck_assert_int_eq(ctl_initramfs_enabled(t.conf), 1);
        enable("  VFPT_INITRAMFS=\"yes\"   # on\n");
        ck_assert_int_eq(ctl_initramfs_enabled(t.conf), 1);
        enable("VFPT_INITRAMFS='y'\n");
        ck_assert_int_eq(ctl_initramfs_enabled(t.conf), 1);
        enable("VFPT_INITRAMFS=yes\nVFPT_INITRAMFS=no\n");
        ck_assert_int_eq(ctl_initramfs_enabled(t.conf), 0);
        enable("VFPT_INITRAMFS=yess\n");
        ck_assert_int_eq(ctl_initramfs_enabled(t.conf), 0);
}
END_TEST

START_TEST(test_unused_when_disabled_and_no_initramfs_claims) {
        drop_ins();
        put("boot/initrd.img-" KVER, "");
        ck_assert_int_eq(state(), CTL_INITRAMFS_UNUSED);
        ck_assert_ptr_null(t.fix);
        enable("VFPT_INITRAMFS=no\n");
        ck_assert_int_eq(state(), CTL_INITRAMFS_UNUSED);
}
END_TEST

START_TEST(test_current_when_the_copy_matches_the_drop_ins_in_force) {
        enable("VFPT_INITRAMFS=yes\n");
        drop_ins();
        hook_ran();
        ck_assert_int_eq(state(), CTL_INITRAMFS_CURRENT);
        assert_detail("1 kernel holds the 2 drop-ins in force");
        ck_assert_ptr_null(t.fix);
        /* A file of the same name in /etc hides /usr's; the copy is /etc's. */
        put("etc/vfpt.d/20-usb.conf", "[usb]\nids = 1b21:1243\n");
        ck_assert_int_eq(state(), CTL_INITRAMFS_STALE);
        assert_detail("20-usb.conf changed since it was made");
        put("var/lib/vfpt/initramfs/" KVER "/20-usb.conf", "[usb]\nids = 1b21:1243\n");
        ck_assert_int_eq(state(), CTL_INITRAMFS_CURRENT);
}
END_TEST

START_TEST(test_stale_names_what_changed) {
        _cleanup_free_ char *masked = NULL, *gone = NULL;

        enable("VFPT_INITRAMFS=yes\n");
        drop_ins();
        hook_ran();
        put("etc/vfpt.d/10-nic.conf", "[nic]\naddresses = 02:00.0\n");
        put("etc/vfpt.d/30-new.conf", "[new]\nids = 8086:10d3\n");
        masked = strdup_printf("%s/20-usb.conf", t.etc);
        ck_assert_int_eq(symlink("/dev/null", masked), 0);
        ck_assert_int_eq(state(), CTL_INITRAMFS_STALE);
        assert_detail("the initramfs of " KVER " is out of date: ");
        assert_detail("10-nic.conf changed since");
        assert_detail("30-new.conf was added since");
        assert_detail("20-usb.conf was removed or masked since it was made");
        ck_assert_str_eq(t.fix, "run update-initramfs -u -k all");

        /* Only the kernels that have an initramfs count; each is named. */
        put("boot/initrd.img-6.1.0-57-amd64", "");
        ck_assert_int_eq(state(), CTL_INITRAMFS_STALE);
        assert_detail("it was made; the initramfs of 6.1.0-57-amd64 was made without the claim");
        gone = strdup_printf("%s/initrd.img-6.1.0-57-amd64", t.boot);
        ck_assert_int_eq(unlink(gone), 0);
}
END_TEST

START_TEST(test_stale_when_enabled_without_initramfs_or_disabled_with_one) {
        enable("VFPT_INITRAMFS=yes\n");
        drop_ins();
        ck_assert_int_eq(state(), CTL_INITRAMFS_STALE);
        assert_detail("has no initrd.img-*");
        ck_assert_str_eq(t.fix, "run update-initramfs -c -k all");

        hook_ran();
        enable("VFPT_INITRAMFS=no\n");
        ck_assert_int_eq(state(), CTL_INITRAMFS_STALE);
        assert_detail("the initramfs of " KVER " still claims early, but VFPT_INITRAMFS is not yes in ");
        ck_assert_str_eq(t.fix, "run update-initramfs -u -k all");
}
END_TEST

/* An executable stand-in for a tool at rel in the tree; its path. */
static char *tool(const char *rel) {
        char *path = strdup_printf("%s/%s", t.root, rel);

        ck_assert_ptr_nonnull(path);
        put(rel, "#!/bin/sh\n");
        ck_assert_int_eq(chmod(path, 0755), 0);
        return path;
}

START_TEST(test_fix_names_dracut_when_it_makes_the_initramfs) {
        _cleanup_free_ char *dracut = NULL, *update = NULL;

        enable("VFPT_INITRAMFS=yes\n");
        drop_ins();
        hook_ran();
        put("etc/vfpt.d/10-nic.conf", "[nic]\naddresses = 02:00.0\n");
        /* Neither tool there (the paths are set but missing): update-initramfs. */
        t.paths.update_initramfs = "/nonexistent/update-initramfs";
        t.paths.dracut = "/nonexistent/dracut";
        ck_assert_int_eq(state(), CTL_INITRAMFS_STALE);
        ck_assert_str_eq(t.fix, "run update-initramfs -u -k all");

        dracut = tool("usr/bin/dracut");
        t.paths.dracut = dracut;
        ck_assert_int_eq(state(), CTL_INITRAMFS_STALE);
        assert_detail("10-nic.conf changed since");
        ck_assert_str_eq(t.fix, "run dracut --regenerate-all --force");

        {
                _cleanup_free_ char *initrd = strdup_printf("%s/initrd.img-" KVER, t.boot);
                ck_assert_int_eq(unlink(initrd), 0);
        }
        ck_assert_int_eq(state(), CTL_INITRAMFS_STALE);
        assert_detail("has no initrd.img-*");
        ck_assert_str_eq(t.fix, "run dracut --regenerate-all --force");

        /* Both (not a Debian system): update-initramfs, as before. */
        update = tool("usr/sbin/update-initramfs");
        t.paths.update_initramfs = update;
        ck_assert_int_eq(state(), CTL_INITRAMFS_STALE);
        ck_assert_str_eq(t.fix, "run update-initramfs -c -k all");
}
END_TEST

int main(void) {
        Suite *s = suite_create("ctl-initramfs");
        TCase *tc = tcase_create("state");
        SRunner *sr;
        int failed;

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_enabled_parses_like_sh);
        tcase_add_test(tc, test_unused_when_disabled_and_no_initramfs_claims);
        tcase_add_test(tc, test_current_when_the_copy_matches_the_drop_ins_in_force);
        tcase_add_test(tc, test_stale_names_what_changed);
        tcase_add_test(tc, test_stale_when_enabled_without_initramfs_or_disabled_with_one);
        tcase_add_test(tc, test_fix_names_dracut_when_it_makes_the_initramfs);
        suite_add_tcase(s, tc);
        fake_run_begin();
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        fake_run_end();
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
