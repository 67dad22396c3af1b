/* test-records.c — unit tests for the records of original drivers that let a
 * release restore a device's host driver even after vfptd restarted. Every
 * test works in its own mkdtemp directory. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vfpt-exec.h"

static char root[PATH_MAX];

static void setup(void) {
        char template[] = "/tmp/vfpt-test-records-XXXXXX";

        ck_assert_ptr_nonnull(mkdtemp(template));
        ck_assert_uint_lt(strlen(template), sizeof(root));
        strcpy(root, template);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

static void teardown(void) {
        nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void join(char ret[static PATH_MAX], const char *dir, const char *name) {
        int n = snprintf(ret, PATH_MAX, "%s/%s", dir, name);

        ck_assert(n > 0 && n < PATH_MAX);
}

/* The records dir as the daemon would use it: below root, not yet created. */
static const char *records_dir(void) {
        static char dir[PATH_MAX];

        join(dir, root, "records");
        return dir;
}

static char *read_back(const char *address) {
        char *driver = (char *) "untouched";
        int r = vfpt_record_read(records_dir(), address, &driver);

        ck_assert_msg(r == 0, "vfpt_record_read(%s) = %d", address, r);
        return driver;
}

static size_t count_entries(const char *dir) {
        DIR *d = opendir(dir);
        struct dirent *de;
        size_t n = 0;

        ck_assert_ptr_nonnull(d);
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        n++;
        closedir(d);
        return n;
}

START_TEST(test_written_driver_is_read_back)
{
        char *driver;

        ck_assert_int_eq(vfpt_record_write(records_dir(), "0000:03:00.0", "e1000e"), 0);
        driver = read_back("0000:03:00.0");
        ck_assert_str_eq(driver, "e1000e");
        free(driver);
}
END_TEST

START_TEST(test_no_driver_is_read_back_as_null)
{
        char *driver;

        ck_assert_int_eq(vfpt_record_write(records_dir(), "0000:03:00.0", NULL), 0);
        driver = read_back("0000:03:00.0");
        ck_assert_ptr_null(driver);
}
END_TEST

START_TEST(test_missing_record_reads_as_enoent)
{
        char *driver = NULL;

        /* Neither the dir nor the record exists. */
        ck_assert_int_eq(vfpt_record_read(records_dir(), "0000:03:00.0", &driver), -ENOENT);
        /* The dir exists, another device's record too, but not this one. */
        ck_assert_int_eq(vfpt_record_write(records_dir(), "0000:04:00.0", "ahci"), 0);
        ck_assert_int_eq(vfpt_record_read(records_dir(), "0000:03:00.0", &driver), -ENOENT);
}
END_TEST

START_TEST(test_existing_record_is_not_overwritten)
{
        char *driver;

        ck_assert_int_eq(vfpt_record_write(records_dir(), "0000:03:00.0", "e1000e"), 0);
        /* A later claim sees the device on vfio-pci already: recording that
         * would lose the host driver for good. */
        ck_assert_int_eq(vfpt_record_write(records_dir(), "0000:03:00.0", "vfio-pci"), 0);
        driver = read_back("0000:03:00.0");
        ck_assert_str_eq(driver, "e1000e");
        free(driver);
}
END_TEST

START_TEST(test_no_driver_record_is_not_overwritten)
{
        char *driver;

        ck_assert_int_eq(vfpt_record_write(records_dir(), "0000:03:00.0", NULL), 0);
        ck_assert_int_eq(vfpt_record_write(records_dir(), "0000:03:00.0", "vfio-pci"), 0);
        driver = read_back("0000:03:00.0");
        ck_assert_ptr_null(driver);
}
END_TEST

START_TEST(test_records_of_devices_are_independent)
{
        char *a, *b;

        ck_assert_int_eq(vfpt_record_write(records_dir(), "0000:03:00.0", "e1000e"), 0);
        ck_assert_int_eq(vfpt_record_write(records_dir(), "0000:03:00.1", "snd_hda_intel"), 0);
        a = read_back("0000:03:00.0");
        b = read_back("0000:03:00.1");
        ck_assert_str_eq(a, "e1000e");
        ck_assert_str_eq(b, "snd_hda_intel");
        free(a);
        free(b);
        ck_assert_uint_eq(count_entries(records_dir()), 2);
}
END_TEST

START_TEST(test_record_is_one_file_named_by_address_holding_driver)
{
        char path[PATH_MAX], buf[64] = {};
        int fd;
        ssize_t n;

        ck_assert_int_eq(vfpt_record_write(records_dir(), "0000:03:00.0", "e1000e"), 0);
        join(path, records_dir(), "0000:03:00.0");
        fd = open(path, O_RDONLY | O_CLOEXEC);
        ck_assert_msg(fd >= 0, "no file %s", path);
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        ck_assert_int_gt(n, 0);
        /* A trailing newline is allowed, nothing else. */
        if (buf[n - 1] == '\n')
                buf[n - 1] = '\0';
        ck_assert_str_eq(buf, "e1000e");
        ck_assert_uint_eq(count_entries(records_dir()), 1);
}
END_TEST

START_TEST(test_remove_deletes_only_that_record)
{
        char *driver = NULL;

        ck_assert_int_eq(vfpt_record_write(records_dir(), "0000:03:00.0", "e1000e"), 0);
        ck_assert_int_eq(vfpt_record_write(records_dir(), "0000:03:00.1", "snd_hda_intel"), 0);
        ck_assert_int_eq(vfpt_record_remove(records_dir(), "0000:03:00.0"), 0);
        ck_assert_int_eq(vfpt_record_read(records_dir(), "0000:03:00.0", &driver), -ENOENT);
        driver = read_back("0000:03:00.1");
        ck_assert_str_eq(driver, "snd_hda_intel");
        free(driver);
}
END_TEST

START_TEST(test_write_after_remove_records_the_new_driver)
{
        char *driver;

        ck_assert_int_eq(vfpt_record_write(records_dir(), "0000:03:00.0", "e1000e"), 0);
        ck_assert_int_eq(vfpt_record_remove(records_dir(), "0000:03:00.0"), 0);
        ck_assert_int_eq(vfpt_record_write(records_dir(), "0000:03:00.0", "igb"), 0);
        driver = read_back("0000:03:00.0");
        ck_assert_str_eq(driver, "igb");
        free(driver);
}
END_TEST

START_TEST(test_remove_of_missing_record_succeeds)
{
        /* Releasing a device vfpt never recorded is not an error: the
         * desired state (no record) already holds. We assert 0. */
        ck_assert_int_eq(vfpt_record_remove(records_dir(), "0000:03:00.0"), 0);
        ck_assert_int_eq(vfpt_record_write(records_dir(), "0000:04:00.0", "ahci"), 0);
        ck_assert_int_eq(vfpt_record_remove(records_dir(), "0000:03:00.0"), 0);
}
END_TEST

START_TEST(test_write_creates_missing_dirs_with_mode_0755)
{
        char deep[PATH_MAX], parent[PATH_MAX];
        struct stat st;
        char *driver = NULL;

        join(parent, root, "run");
        join(deep, parent, "vfptd");
        umask(022);
        ck_assert_int_eq(vfpt_record_write(deep, "0000:03:00.0", "e1000e"), 0);

        ck_assert_int_eq(stat(parent, &st), 0);
        ck_assert(S_ISDIR(st.st_mode));
        ck_assert_uint_eq(st.st_mode & 07777, 0755);
        ck_assert_int_eq(stat(deep, &st), 0);
        ck_assert(S_ISDIR(st.st_mode));
        ck_assert_uint_eq(st.st_mode & 07777, 0755);

        ck_assert_int_eq(vfpt_record_read(deep, "0000:03:00.0", &driver), 0);
        ck_assert_str_eq(driver, "e1000e");
        free(driver);
}
END_TEST

START_TEST(test_hand_written_record_lines_are_read)
{
        char path[PATH_MAX];
        char *driver = (char *) "untouched";
        FILE *f;

        ck_assert_int_eq(mkdir(records_dir(), 0755), 0);
        join(path, records_dir(), "0000:03:00.0");
        f = fopen(path, "we");
        ck_assert_ptr_nonnull(f);
        fputs("e1000e\n", f);
        ck_assert_int_eq(fclose(f), 0);
        join(path, records_dir(), "0000:03:00.1");
        f = fopen(path, "we");
        ck_assert_ptr_nonnull(f);
        fputs("\n", f);
        ck_assert_int_eq(fclose(f), 0);

        ck_assert_int_eq(vfpt_record_read(records_dir(), "0000:03:00.0", &driver), 0);
        ck_assert_str_eq(driver, "e1000e");
        free(driver);
        driver = (char *) "untouched";
        ck_assert_int_eq(vfpt_record_read(records_dir(), "0000:03:00.1", &driver), 0);
        ck_assert_ptr_null(driver);
}
END_TEST

static Suite *records_suite(void) {
        Suite *s = suite_create("records");
        TCase *tc = tcase_create("records");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_written_driver_is_read_back);
        tcase_add_test(tc, test_no_driver_is_read_back_as_null);
        tcase_add_test(tc, test_missing_record_reads_as_enoent);
        tcase_add_test(tc, test_existing_record_is_not_overwritten);
        tcase_add_test(tc, test_no_driver_record_is_not_overwritten);
        tcase_add_test(tc, test_records_of_devices_are_independent);
        tcase_add_test(tc, test_record_is_one_file_named_by_address_holding_driver);
        tcase_add_test(tc, test_remove_deletes_only_that_record);
        tcase_add_test(tc, test_write_after_remove_records_the_new_driver);
        tcase_add_test(tc, test_remove_of_missing_record_succeeds);
        tcase_add_test(tc, test_write_creates_missing_dirs_with_mode_0755);
        tcase_add_test(tc, test_hand_written_record_lines_are_read);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(records_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
