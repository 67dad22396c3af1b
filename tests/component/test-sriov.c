/* test-sriov.c — SR-IOV rules (sriov_numvfs = N) end to end against the fake
 * kernel: VFs are made with the PF's autoprobe off first and claimed, the PF
 * never is; the kernel's ERANGE, ENOENT and EBUSY answers are reported and
 * leave the PF with at least the VFs it had; a change of count goes through
 * 0 only while no VF is held; after the PF's driver is unbound and bound
 * again its VFs are made and claimed again. The pass is the daemon's: the
 * SR-IOV phase, a fresh snapshot, the plan, the groups. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fake-sysfs.h"
#include "vfpt-exec.h"
#include "vfpt-plan.h"
#include "vfpt-sriov.h"
#include "vfpt-sysfs.h"
#include "vfpt-util.h"

#define PF "0000:01:00.0"
#define VF0 "0000:01:00.1"
#define VF1 "0000:01:00.2"
#define VF2 "0000:01:00.3"
#define DISK "0000:00:04.0" /* the host's own NVMe: same ID, no SR-IOV */

#define RULE2 "[vfs]\nids = 1b36:0010\nsriov_numvfs = 2\n"
#define RULE3 "[vfs]\nids = 1b36:0010\nsriov_numvfs = 3\n"

typedef struct Ctx {
        FakeSysfs *f;
        VfptSysfs *s;
        char *tmp, *records, *vfio;
        VfptSnapshot *snap;
        VfptPlan *plan;
        VfptConfig *config;
} Ctx;

static void ctx_init(Ctx *c, bool keep_vfs_on_unbind) {
        *c = (Ctx) {};
        c->f = fake_sysfs_new(true);
        fake_sysfs_add_driver(c->f, "vfio-pci");
        fake_sysfs_add_driver(c->f, "nvme");
        fake_sysfs_add_device(c->f, &(FakeDevice) {
                .address = DISK, .vendor = 0x1b36, .device = 0x0010, .class = 0x010802,
                .group = 3, .driver = "nvme" });
        fake_sysfs_add_device(c->f, &(FakeDevice) {
                .address = PF, .vendor = 0x1b36, .device = 0x0010, .class = 0x010802,
                .group = 9, .driver = "nvme", .sriov_totalvfs = 4, .sriov_vf_driver = "nvme",
                .sriov_keep_vfs_on_unbind = keep_vfs_on_unbind });
        ck_assert_int_eq(vfpt_sysfs_open(&c->s, fake_sysfs_root(c->f)), 0);
        vfpt_sysfs_set_kernel_hook(c->s, fake_kernel_hook, c->f);
        c->tmp = fake_tempdir("sriov");
        c->records = strdup_printf("%s/records", c->tmp);
        c->vfio = strdup_printf("%s/dev-vfio", c->tmp);
        ck_assert_int_eq(mkdir(c->vfio, 0755), 0);
        ck_assert_int_eq(vfpt_sysfs_set_host_paths(c->s, "/proc", c->vfio), 0);
}

static void ctx_forget(Ctx *c) {
        c->plan = vfpt_plan_free(c->plan);
        c->snap = vfpt_snapshot_free(c->snap);
        c->config = vfpt_config_free(c->config);
}

static void ctx_done(Ctx *c) {
        ctx_forget(c);
        vfpt_sysfs_free(c->s);
        fake_rm_rf(c->tmp);
        free(c->tmp);
        free(c->records);
        free(c->vfio);
        fake_sysfs_free(c->f);
}

/* One pass as vfptd makes it. Returns the first error, its message to
 * *ret_message (caller frees) when not NULL. */
static int reconcile(Ctx *c, const char *rules, char **ret_message) {
        VfptSriovPlan *sp = NULL;
        bool wrote = false;
        int first = 0, r;

        ctx_forget(c);
        if (ret_message)
                *ret_message = NULL;
        ck_assert_int_eq(vfpt_config_load_string(&c->config, "test.conf", rules), 0);
        ck_assert_msg(c->config->n_errors == 0, "config: %s", c->config->errors[0].message);
        ck_assert_int_eq(vfpt_snapshot_read(&c->snap, c->s), 0);

        ck_assert_int_eq(vfpt_sriov_plan_build(&sp, c->config, c->snap), 0);
        for (size_t k = 0; k < sp->n_pfs; k++) {
                _cleanup_free_ char *message = NULL;

                if (sp->pfs[k].action != VFPT_SRIOV_CREATE && sp->pfs[k].action != VFPT_SRIOV_CHANGE)
                        continue;
                wrote = true;
                r = vfpt_sriov_apply(c->s, c->snap, &sp->pfs[k], &message);
                if (r < 0) {
                        ck_assert_ptr_nonnull(message);
                        if (!first) {
                                first = r;
                                if (ret_message)
                                        *ret_message = TAKE_PTR(message);
                        }
                } else
                        ck_assert_ptr_null(message);
        }
        vfpt_sriov_plan_free(sp);
        if (wrote) {
                c->snap = vfpt_snapshot_free(c->snap);
                ck_assert_int_eq(vfpt_snapshot_read(&c->snap, c->s), 0);
        }

        ck_assert_int_eq(vfpt_snapshot_read_records(c->snap, c->records), 0);
        ck_assert_int_eq(vfpt_plan_build(&c->plan, c->config, c->snap), 0);
        for (size_t g = 0; g < c->plan->n_groups; g++) {
                VfptExecResult res;

                if (c->plan->groups[g].refused || !c->plan->groups[g].n_steps)
                        continue;
                r = vfpt_exec_group(c->s, c->snap, &c->plan->groups[g], c->records, &res);
                if (r < 0 && !first) {
                        first = r;
                        if (ret_message)
                                *ret_message = strdup(res.message);
                }
                vfpt_exec_result_clear(&res);
        }
        return first;
}

static void assert_driver(Ctx *c, const char *address, const char *driver) {
        _cleanup_free_ char *d = fake_sysfs_driver_of(c->f, address);
        ck_assert_msg(streq_ptr(d, driver), "%s is on %s, expected %s", address, strna(d), strna(driver));
}

/* The index of the first logged write that starts with prefix, or -1. */
static int log_index(Ctx *c, const char *prefix) {
        char *const *l = fake_kernel_log(c->f);

        for (int i = 0; l[i]; i++)
                if (strncmp(l[i], prefix, strlen(prefix)) == 0)
                        return i;
        return -1;
}

static bool logged(Ctx *c, const char *text) {
        return log_index(c, text) >= 0;
}

static const VfptPlanDevice *plan_device(Ctx *c, const char *address) {
        VfptAddress a;
        const VfptDevice *d;

        ck_assert_int_eq(vfpt_address_parse(address, &a), 0);
        d = vfpt_snapshot_find(c->snap, &a);
        ck_assert_msg(d, "%s not in the snapshot", address);
        return vfpt_plan_find_device(c->plan, (size_t) (d - c->snap->devices));
}

static void assert_claimed_vfs(Ctx *c, unsigned n) {
        ck_assert_uint_eq(fake_sysfs_numvfs(c->f, PF), n);
        for (unsigned k = 0; k < n; k++) {
                _cleanup_free_ char *vf = fake_sysfs_vf_address(c->f, PF, k);
                assert_driver(c, vf, "vfio-pci");
        }
}

/* The PF as the snapshot and the plan see it: on its host driver, no
 * override, never recorded as claimed. */
static void assert_pf_untouched(Ctx *c) {
        _cleanup_free_ char *ov = fake_sysfs_override_of(c->f, PF);
        _cleanup_free_ char *record = NULL;

        assert_driver(c, PF, "nvme");
        ck_assert_ptr_null(ov);
        ck_assert_int_eq(vfpt_record_read(c->records, PF, &record), -ENOENT);
        ck_assert(!logged(c, "bus/pci/devices/" PF "/driver_override"));
        ck_assert(!logged(c, "bus/pci/drivers/nvme/unbind=" PF));
}

START_TEST(test_vfs_are_made_with_autoprobe_off_first_and_claimed_pf_is_not) {
        const VfptPlanDevice *pd;
        int autoprobe, numvfs;
        Ctx c;

        ctx_init(&c, false);
        ck_assert_int_eq(reconcile(&c, RULE2, NULL), 0);

        autoprobe = log_index(&c, "bus/pci/devices/" PF "/sriov_drivers_autoprobe=0");
        numvfs = log_index(&c, "bus/pci/devices/" PF "/sriov_numvfs=2");
        ck_assert_msg(autoprobe >= 0 && numvfs > autoprobe, "autoprobe off at %d, sriov_numvfs at %d", autoprobe, numvfs);
        ck_assert(!fake_sysfs_autoprobe(c.f, PF));
        assert_claimed_vfs(&c, 2);
        /* No host driver ever had them: nothing was unbound from nvme. */
        ck_assert(!logged(&c, "bus/pci/drivers/nvme/unbind"));
        assert_pf_untouched(&c);
        /* The host's NVMe with the same ID but no SR-IOV is neither. */
        assert_driver(&c, DISK, "nvme");
        ck_assert_ptr_null(plan_device(&c, DISK));

        pd = plan_device(&c, PF);
        ck_assert_ptr_nonnull(pd);
        ck_assert_int_eq(pd->state, VFPT_STATE_PF);
        pd = plan_device(&c, VF0);
        ck_assert_ptr_nonnull(pd);
        ck_assert_str_eq(pd->rule->name, "vfs");
        ck_assert(pd->state == VFPT_STATE_CLAIM || pd->state == VFPT_STATE_CLAIMED);
        ctx_done(&c);
}
END_TEST

START_TEST(test_second_pass_writes_nothing) {
        Ctx c;

        ctx_init(&c, false);
        ck_assert_int_eq(reconcile(&c, RULE2, NULL), 0);
        fake_kernel_reset_log(c.f);
        ck_assert_int_eq(reconcile(&c, RULE2, NULL), 0);
        ck_assert_uint_eq(fake_kernel_writes(c.f), 0);
        ck_assert_int_eq(plan_device(&c, VF0)->state, VFPT_STATE_CLAIMED);
        ck_assert_int_eq(plan_device(&c, VF1)->state, VFPT_STATE_CLAIMED);
        ctx_done(&c);
}
END_TEST

START_TEST(test_more_vfs_than_totalvfs_is_refused_naming_both_numbers) {
        const VfptPlanDevice *pd;
        Ctx c;

        ctx_init(&c, false);
        ck_assert_int_eq(reconcile(&c, "[vfs]\nids = 1b36:0010\nsriov_numvfs = 7\n", NULL), 0);
        ck_assert_uint_eq(fake_kernel_writes(c.f), 0);
        pd = plan_device(&c, PF);
        ck_assert_int_eq(pd->state, VFPT_STATE_REFUSED);
        ck_assert_msg(strstr(pd->reason, "7") && strstr(pd->reason, "at most 4"), "reason: %s", pd->reason);
        ctx_done(&c);
}
END_TEST

/* sriov_totalvfs said more than the kernel then allows: its ERANGE is
 * reported, and the PF is left as it was found. */
START_TEST(test_kernel_erange_is_reported_and_autoprobe_restored) {
        _cleanup_free_ char *message = NULL;
        Ctx c;

        ctx_init(&c, false);
        fake_sysfs_set_attr(c.f, PF, "sriov_totalvfs", "8\n");
        ck_assert_int_eq(reconcile(&c, "[vfs]\nids = 1b36:0010\nsriov_numvfs = 6\n", &message), -ERANGE);
        ck_assert_msg(strstr(message, PF) && strstr(message, "sriov_numvfs") && strstr(message, "more than the device"),
                      "message: %s", message);
        ck_assert_uint_eq(fake_sysfs_numvfs(c.f, PF), 0);
        ck_assert(fake_sysfs_autoprobe(c.f, PF));
        ctx_done(&c);
}
END_TEST

START_TEST(test_pf_without_driver_is_refused_and_driver_without_sriov_gives_enoent) {
        _cleanup_free_ char *message = NULL;
        const VfptPlanDevice *pd;
        Ctx c;

        ctx_init(&c, false);
        ck_assert_int_eq(fake_kernel_store(c.f, "bus/pci/drivers/nvme/unbind", PF), 0);
        fake_kernel_reset_log(c.f);
        ck_assert_int_eq(reconcile(&c, RULE2, NULL), 0);
        ck_assert_uint_eq(fake_kernel_writes(c.f), 0);
        pd = plan_device(&c, PF);
        ck_assert_int_eq(pd->state, VFPT_STATE_REFUSED);
        ck_assert_msg(strstr(pd->reason, "no driver"), "reason: %s", pd->reason);

        /* A driver that cannot make VFs: the kernel says ENOENT. */
        fake_sysfs_add_driver(c.f, "pci-stub");
        fake_kernel_set_host_driver(c.f, PF, "pci-stub");
        ck_assert_int_eq(fake_kernel_store(c.f, "bus/pci/drivers_probe", PF), 0);
        assert_driver(&c, PF, "pci-stub");
        ck_assert_int_eq(reconcile(&c, RULE2, &message), -ENOENT);
        ck_assert_msg(strstr(message, PF) && strstr(message, "cannot make virtual functions"), "message: %s", message);
        ck_assert_uint_eq(fake_sysfs_numvfs(c.f, PF), 0);
        ctx_done(&c);
}
END_TEST

/* Someone made VFs after the snapshot: the kernel's EBUSY is reported, and
 * the VFs stay; the next pass changes the count properly. */
START_TEST(test_kernel_ebusy_keeps_the_vfs_and_next_pass_changes_the_count) {
        _cleanup_free_ char *message = NULL;
        VfptSriovPlan *sp = NULL;
        VfptConfig *config = NULL;
        VfptSnapshot *snap = NULL;
        Ctx c;

        ctx_init(&c, false);
        ck_assert_int_eq(vfpt_config_load_string(&config, "t.conf", RULE2), 0);
        ck_assert_int_eq(vfpt_snapshot_read(&snap, c.s), 0);
        ck_assert_int_eq(vfpt_sriov_plan_build(&sp, config, snap), 0);
        ck_assert_uint_eq(sp->n_pfs, 1);
        ck_assert_int_eq(sp->pfs[0].action, VFPT_SRIOV_CREATE);
        ck_assert_int_eq(fake_kernel_store(c.f, "bus/pci/devices/" PF "/sriov_numvfs", "1"), 0);
        ck_assert_int_eq(vfpt_sriov_apply(c.s, snap, &sp->pfs[0], &message), -EBUSY);
        ck_assert_msg(strstr(message, "Device or resource busy") && strstr(message, PF), "message: %s", message);
        ck_assert_uint_eq(fake_sysfs_numvfs(c.f, PF), 1);
        vfpt_sriov_plan_free(sp);
        vfpt_snapshot_free(snap);
        vfpt_config_free(config);

        ck_assert_int_eq(reconcile(&c, RULE2, NULL), 0);
        assert_claimed_vfs(&c, 2);
        ctx_done(&c);
}
END_TEST

START_TEST(test_change_of_count_goes_through_zero) {
        int zero, three;
        Ctx c;

        ctx_init(&c, false);
        ck_assert_int_eq(reconcile(&c, RULE2, NULL), 0);
        fake_kernel_reset_log(c.f);
        ck_assert_int_eq(reconcile(&c, RULE3, NULL), 0);
        zero = log_index(&c, "bus/pci/devices/" PF "/sriov_numvfs=0");
        three = log_index(&c, "bus/pci/devices/" PF "/sriov_numvfs=3");
        ck_assert_msg(zero >= 0 && three > zero, "0 at %d, 3 at %d", zero, three);
        assert_claimed_vfs(&c, 3);
        assert_pf_untouched(&c);
        ctx_done(&c);
}
END_TEST

START_TEST(test_change_refused_while_a_vf_is_held_naming_the_holder) {
        _cleanup_free_ char *message = NULL, *node = NULL, *pid = NULL;
        const VfptDevice *vf;
        VfptAddress a;
        int fd;
        Ctx c;

        ctx_init(&c, false);
        ck_assert_int_eq(reconcile(&c, RULE2, NULL), 0);
        ck_assert_int_eq(vfpt_address_parse(VF1, &a), 0);
        vf = vfpt_snapshot_find(c.snap, &a);
        ck_assert(vf && vf->group >= 0);
        node = strdup_printf("%s/%d", c.vfio, vf->group);
        fd = open(node, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        ck_assert_int_ge(fd, 0);
        fake_kernel_reset_log(c.f);

        ck_assert_int_eq(reconcile(&c, RULE3, &message), -EBUSY);
        pid = strdup_printf("pid %d", (int) getpid());
        ck_assert_msg(strstr(message, pid) && strstr(message, node) && strstr(message, VF1), "message: %s", message);
        ck_assert(!logged(&c, "bus/pci/devices/" PF "/sriov_numvfs"));
        assert_claimed_vfs(&c, 2);

        close(fd);
        ck_assert_int_eq(reconcile(&c, RULE3, NULL), 0);
        assert_claimed_vfs(&c, 3);
        ctx_done(&c);
}
END_TEST

/* The new count fails: the old one is made again, never fewer VFs. */
START_TEST(test_failed_change_puts_the_old_count_back) {
        _cleanup_free_ char *message = NULL;
        Ctx c;

        ctx_init(&c, false);
        ck_assert_int_eq(reconcile(&c, RULE2, NULL), 0);
        fake_kernel_fail(c.f, PF, "sriov_numvfs", EIO, 1); /* the write of 3, after the 0 */
        ck_assert_int_eq(reconcile(&c, RULE3, &message), -EIO);
        ck_assert_msg(strstr(message, "write 3") && strstr(message, "2 virtual functions are made again"),
                      "message: %s", message);
        assert_claimed_vfs(&c, 2); /* made again, and claimed in the same pass */
        ck_assert_uint_eq(fake_kernel_failures_triggered(c.f), 1);
        ctx_done(&c);
}
END_TEST

START_TEST(test_failed_autoprobe_write_makes_no_vfs) {
        _cleanup_free_ char *message = NULL;
        Ctx c;

        ctx_init(&c, false);
        fake_kernel_fail(c.f, PF, "sriov_drivers_autoprobe", EIO, 0);
        ck_assert_int_eq(reconcile(&c, RULE2, &message), -EIO);
        ck_assert_msg(strstr(message, "sriov_drivers_autoprobe"), "message: %s", message);
        ck_assert(!logged(&c, "bus/pci/devices/" PF "/sriov_numvfs"));
        ck_assert_uint_eq(fake_sysfs_numvfs(c.f, PF), 0);
        ctx_done(&c);
}
END_TEST

START_TEST(test_vfs_are_made_and_claimed_again_after_the_pf_is_rebound) {
        Ctx c;

        ctx_init(&c, false);
        ck_assert_int_eq(reconcile(&c, RULE2, NULL), 0);
        assert_claimed_vfs(&c, 2);

        /* The PF's driver removes its VFs when unbound. */
        ck_assert_int_eq(fake_kernel_store(c.f, "bus/pci/drivers/nvme/unbind", PF), 0);
        ck_assert_uint_eq(fake_sysfs_numvfs(c.f, PF), 0);
        ck_assert(!fake_sysfs_has_device(c.f, VF0));
        ck_assert_int_eq(reconcile(&c, RULE2, NULL), 0);
        ck_assert_int_eq(plan_device(&c, PF)->state, VFPT_STATE_REFUSED);

        ck_assert_int_eq(fake_kernel_store(c.f, "bus/pci/drivers/nvme/bind", PF), 0);
        fake_kernel_reset_log(c.f);
        ck_assert_int_eq(reconcile(&c, RULE2, NULL), 0);
        ck_assert(logged(&c, "bus/pci/devices/" PF "/sriov_numvfs=2"));
        assert_claimed_vfs(&c, 2);
        assert_pf_untouched(&c);
        ctx_done(&c);
}
END_TEST

/* A PF driver that keeps its VFs on unbind: nothing to make again, and the
 * VFs stay claimed. */
START_TEST(test_vfs_kept_across_pf_rebind_stay_claimed) {
        Ctx c;

        ctx_init(&c, true);
        ck_assert_int_eq(reconcile(&c, RULE2, NULL), 0);
        ck_assert_int_eq(fake_kernel_store(c.f, "bus/pci/drivers/nvme/unbind", PF), 0);
        ck_assert_int_eq(fake_kernel_store(c.f, "bus/pci/drivers/nvme/bind", PF), 0);
        fake_kernel_reset_log(c.f);
        ck_assert_int_eq(reconcile(&c, RULE2, NULL), 0);
        ck_assert_uint_eq(fake_kernel_writes(c.f), 0);
        assert_claimed_vfs(&c, 2);
        ctx_done(&c);
}
END_TEST

/* A plain rule on the same ID claims the PF itself: the two contradict. */
START_TEST(test_pf_also_claimed_by_another_rule_is_refused) {
        const VfptPlanDevice *pd;
        Ctx c;

        ctx_init(&c, false);
        ck_assert_int_eq(reconcile(&c, RULE2 "[whole]\naddresses = " PF "\n", NULL), 0);
        ck_assert(!logged(&c, "bus/pci/devices/" PF "/sriov_numvfs"));
        pd = plan_device(&c, PF);
        ck_assert_int_eq(pd->state, VFPT_STATE_REFUSED);
        ck_assert_msg(strstr(pd->reason, "'whole'") && strstr(pd->reason, "'vfs'"), "reason: %s", pd->reason);
        ctx_done(&c);
}
END_TEST

/* With the fake kernel, VFs get groups of their own; one that shares the
 * PF's group would have to take the PF with it. */
START_TEST(test_vf_sharing_the_pf_group_is_refused) {
        const VfptPlanDevice *pd;
        Ctx c;

        ctx_init(&c, false);
        /* A device that is a VF in the PF's own group, as without ACS. */
        fake_sysfs_add_device(c.f, &(FakeDevice) {
                .address = "0000:01:00.7", .vendor = 0x1b36, .device = 0x0010, .class = 0x010802, .group = 9 });
        {
                _cleanup_free_ char *link = fake_sysfs_path(c.f, "bus/pci/devices/0000:01:00.7/physfn");
                _cleanup_free_ char *target = fake_sysfs_path(c.f, "bus/pci/devices/" PF);
                ck_assert_int_eq(symlink(target, link), 0);
        }
        fake_sysfs_set_attr(c.f, PF, "sriov_numvfs", "2\n"); /* what the snapshot reads: no change wanted */
        ck_assert_int_eq(reconcile(&c, RULE2, NULL), 0);
        pd = plan_device(&c, "0000:01:00.7");
        ck_assert_ptr_nonnull(pd);
        ck_assert_int_eq(pd->state, VFPT_STATE_REFUSED);
        ck_assert_msg(strstr(pd->reason, PF) && strstr(pd->reason, "physical function"), "reason: %s", pd->reason);
        assert_pf_untouched(&c);
        ctx_done(&c);
}
END_TEST

static Suite *sriov_suite(void) {
        Suite *s = suite_create("sriov");
        TCase *tc = tcase_create("sriov");

        tcase_add_test(tc, test_vfs_are_made_with_autoprobe_off_first_and_claimed_pf_is_not);
        tcase_add_test(tc, test_second_pass_writes_nothing);
        tcase_add_test(tc, test_more_vfs_than_totalvfs_is_refused_naming_both_numbers);
        tcase_add_test(tc, test_kernel_erange_is_reported_and_autoprobe_restored);
        tcase_add_test(tc, test_pf_without_driver_is_refused_and_driver_without_sriov_gives_enoent);
        tcase_add_test(tc, test_kernel_ebusy_keeps_the_vfs_and_next_pass_changes_the_count);
        tcase_add_test(tc, test_change_of_count_goes_through_zero);
        tcase_add_test(tc, test_change_refused_while_a_vf_is_held_naming_the_holder);
        tcase_add_test(tc, test_failed_change_puts_the_old_count_back);
        tcase_add_test(tc, test_failed_autoprobe_write_makes_no_vfs);
        tcase_add_test(tc, test_vfs_are_made_and_claimed_again_after_the_pf_is_rebound);
        tcase_add_test(tc, test_vfs_kept_across_pf_rebind_stay_claimed);
        tcase_add_test(tc, test_pf_also_claimed_by_another_rule_is_refused);
        tcase_add_test(tc, test_vf_sharing_the_pf_group_is_refused);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(sriov_suite());
        int failed;

        fake_run_begin();
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        fake_run_end();
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
