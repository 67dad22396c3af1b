/* test-faults.c — the fault matrix: every sysfs step of a claim and of a
 * release, on each device of a two-endpoint group, failing with each error
 * the kernel gives (EBUSY, ENODEV, EIO, EACCES); plus a failing record write
 * and a device that vanishes between two steps. Each time: the call fails
 * naming the device and the step, every device that is still there is back
 * on the driver it had, and the next reconcile (fault gone) succeeds. The
 * size of the matrix is printed. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fake-sysfs.h"
#include "vfpt-exec.h"
#include "vfpt-plan.h"
#include "vfpt-sysfs.h"
#include "vfpt-util.h"

#define BRIDGE "0000:00:1c.0"
#define NIC "0000:01:00.0"
#define USB "0000:01:00.1"
#define RULES "[nic]\nids = 8086:10d3\n"

static const char *const devices[] = { NIC, USB };
static const char *const claim_steps[] = { "driver_override", "unbind", "drivers_probe" };
static const char *const release_steps[] = { "driver_override", "unbind", "bind" };
static const int errors[] = { EBUSY, ENODEV, EIO, EACCES };
#define N_KERNEL_CASES (2 * 2 * 3 * 4)

typedef struct Ctx {
        FakeSysfs *f;
        VfptSysfs *s;
        char *tmp, *records;
        unsigned vanish_after; /* remove USB after this many writes; 0: never */
        unsigned writes;
} Ctx;

/* The fake kernel, and a hot-unplug of USB at a chosen moment. */
static int hook(void *userdata, const char *path, const char *value) {
        Ctx *c = userdata;
        int r = fake_kernel_hook(c->f, path, value);

        if (c->vanish_after && ++c->writes == c->vanish_after)
                fake_sysfs_remove_device(c->f, USB);
        return r;
}

static void ctx_init(Ctx *c) {
        *c = (Ctx) {};
        c->f = fake_sysfs_new(true);
        fake_sysfs_add_driver(c->f, "vfio-pci");
        fake_sysfs_add_driver(c->f, "xhci_hcd");
        fake_sysfs_add_device(c->f, &(FakeDevice) {
                .address = BRIDGE, .vendor = 0x8086, .device = 0xa110, .bridge = true,
                .group = 7, .driver = "pcieport" });
        fake_sysfs_add_device(c->f, &(FakeDevice) {
                .address = NIC, .parent = BRIDGE, .vendor = 0x8086, .device = 0x10d3,
                .class = 0x020000, .group = 7, .driver = "e1000e" });
        fake_sysfs_add_device(c->f, &(FakeDevice) {
                .address = USB, .parent = BRIDGE, .vendor = 0x1b21, .device = 0x1242,
                .class = 0x0c0330, .group = 7, .driver = "xhci_hcd" });
        ck_assert_int_eq(vfpt_sysfs_open(&c->s, fake_sysfs_root(c->f)), 0);
        vfpt_sysfs_set_kernel_hook(c->s, hook, c);
        c->tmp = fake_tempdir("faults");
        c->records = strdup_printf("%s/records", c->tmp);
}

static void ctx_done(Ctx *c) {
        vfpt_sysfs_free(c->s);
        fake_rm_rf(c->tmp);
        free(c->tmp);
        free(c->records);
        fake_sysfs_free(c->f);
}

/* One reconcile; the first failure's result goes to *ret (cleared by caller). */
static int reconcile(Ctx *c, const char *rules, VfptExecResult *ret) {
        VfptConfig *config = NULL;
        VfptSnapshot *snap = NULL;
        VfptPlan *plan = NULL;
        int first = 0;

        *ret = (VfptExecResult) {};
        ck_assert_int_eq(vfpt_config_load_string(&config, "test.conf", rules), 0);
        ck_assert_int_eq(vfpt_snapshot_read(&snap, c->s), 0);
        ck_assert_int_eq(vfpt_snapshot_read_records(snap, c->records), 0);
        ck_assert_int_eq(vfpt_plan_build(&plan, config, snap), 0);
        for (size_t g = 0; g < plan->n_groups; g++) {
                VfptExecResult res;
                int r = vfpt_exec_group(c->s, snap, &plan->groups[g], c->records, &res);

                if (r < 0 && !first) {
                        first = r;
                        *ret = res;
                } else
                        vfpt_exec_result_clear(&res);
        }
        vfpt_plan_free(plan);
        vfpt_snapshot_free(snap);
        vfpt_config_free(config);
        return first;
}

static void assert_driver(Ctx *c, const char *address, const char *driver) {
        _cleanup_free_ char *d = fake_sysfs_driver_of(c->f, address);
        ck_assert_msg(streq_ptr(d, driver), "%s is on %s, expected %s", address, strna(d), strna(driver));
}

static void assert_names(const VfptExecResult *res, const char *device, const char *step) {
        ck_assert_ptr_nonnull(res->message);
        ck_assert_msg(strstr(res->message, device), "'%s' does not name %s", res->message, device);
        ck_assert_msg(strstr(res->message, step), "'%s' does not name the step %s", res->message, step);
        ck_assert_msg(!res->rollback_error, "rollback failed: %s", strna(res->rollback_message));
}

/* How the message names each step (the executor's words). */
static const char *step_words(const char *step) {
        if (streq(step, "driver_override"))
                return "driver_override";
        if (streq(step, "unbind"))
                return "unbind";
        if (streq(step, "bind"))
                return "bind";
        return "probe";
}

START_TEST(test_kernel_fault_at_any_step_restores_the_group) {
        bool release = _i >= N_KERNEL_CASES / 2;
        unsigned k = (unsigned) _i % (N_KERNEL_CASES / 2);
        const char *dev = devices[k % 2];
        const char *step = (release ? release_steps : claim_steps)[(k / 2) % 3];
        int error = errors[k / 6];
        VfptExecResult res;
        Ctx c;

        ctx_init(&c);
        if (release) {
                ck_assert_int_eq(reconcile(&c, RULES, &res), 0);
                vfpt_exec_result_clear(&res);
        }
        fake_kernel_fail(c.f, dev, step, error, 0);
        ck_assert_int_eq(reconcile(&c, release ? "" : RULES, &res), -error);
        assert_names(&res, dev, step_words(step));
        vfpt_exec_result_clear(&res);
        assert_driver(&c, NIC, release ? "vfio-pci" : "e1000e");
        assert_driver(&c, USB, release ? "vfio-pci" : "xhci_hcd");
        assert_driver(&c, BRIDGE, "pcieport");

        fake_kernel_clear_failures(c.f);
        ck_assert_int_eq(reconcile(&c, release ? "" : RULES, &res), 0);
        assert_driver(&c, NIC, release ? "e1000e" : "vfio-pci");
        assert_driver(&c, USB, release ? "xhci_hcd" : "vfio-pci");
        ctx_done(&c);
}
END_TEST

START_TEST(test_record_write_failure_fails_the_claim_cleanly) {
        VfptExecResult res;
        Ctx c;

        ctx_init(&c);
        /* A file where the records directory should be: every record write fails. */
        fake_write_file(c.tmp, "records", "not a directory\n");
        ck_assert_int_lt(reconcile(&c, RULES, &res), 0);
        ck_assert_int_eq(res.step, VFPT_STEP_RECORD);
        assert_names(&res, NIC, "record");
        vfpt_exec_result_clear(&res);
        assert_driver(&c, NIC, "e1000e");
        assert_driver(&c, USB, "xhci_hcd");

        ck_assert_int_eq(unlink(c.records), 0);
        ck_assert_int_eq(reconcile(&c, RULES, &res), 0);
        assert_driver(&c, NIC, "vfio-pci");
        ctx_done(&c);
}
END_TEST

/* USB is unplugged after the n-th write of a claim (two overrides, then
 * unbind and probe of the NIC, then of USB): wherever that falls, the NIC
 * ends where it was, and USB is simply gone. */
START_TEST(test_device_vanishing_mid_claim_leaves_the_rest_as_it_was) {
        VfptExecResult res;
        Ctx c;
        int r;

        ctx_init(&c);
        c.vanish_after = (unsigned) _i + 1;
        r = reconcile(&c, RULES, &res);
        ck_assert_msg(!fake_sysfs_has_device(c.f, USB), "USB did not vanish");
        if (r < 0) {
                ck_assert_msg(strstr(res.message, USB) || strstr(res.message, NIC), "'%s' names no device", res.message);
                assert_driver(&c, NIC, "e1000e");
        } else /* it vanished after its last step: the NIC's claim stands */
                assert_driver(&c, NIC, "vfio-pci");
        vfpt_exec_result_clear(&res);

        c.vanish_after = 0;
        ck_assert_int_eq(reconcile(&c, RULES, &res), 0);
        assert_driver(&c, NIC, "vfio-pci");
        ctx_done(&c);
}
END_TEST

int main(void) {
        Suite *s = suite_create("faults");
        TCase *tc = tcase_create("faults");
        SRunner *sr;
        int failed, total;

        fake_run_begin();
        tcase_set_timeout(tc, 120);
        tcase_add_loop_test(tc, test_kernel_fault_at_any_step_restores_the_group, 0, N_KERNEL_CASES);
        tcase_add_test(tc, test_record_write_failure_fails_the_claim_cleanly);
        tcase_add_loop_test(tc, test_device_vanishing_mid_claim_leaves_the_rest_as_it_was, 0, 6);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        total = srunner_ntests_run(sr);
        printf("fault matrix: %d cases (%d kernel faults: 2 phases x 2 devices x 3 steps x 4 errors; "
               "1 record write; 6 vanishing points), %d failed\n", total, N_KERNEL_CASES, failed);
        srunner_free(sr);
        fake_run_end();
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
