/* test-release.c — giving devices back: a group that no rule lists any more
 * goes back to the drivers recorded when vfpt claimed it, override cleared,
 * records removed; never while a process holds the group open; and a failure
 * at any step leaves the whole group on vfio-pci, still recorded, so a later
 * reconcile can try again. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake-sysfs.h"
#include "vfpt-exec.h"
#include "vfpt-plan.h"
#include "vfpt-sysfs.h"
#include "vfpt-util.h"

#define BRIDGE "0000:00:1c.0"
#define NIC "0000:01:00.0"
#define USB "0000:01:00.1"
#define RULES "[nic]\nids = 8086:10d3\n"

typedef struct Ctx {
        FakeSysfs *f;
        VfptSysfs *s;
        char *tmp, *records, *vfio;
} Ctx;

static void ctx_init(Ctx *c, bool usb_unbound) {
        *c = (Ctx) {};
        c->f = fake_sysfs_new(true);
        fake_sysfs_add_driver(c->f, "vfio-pci");
        fake_sysfs_add_device(c->f, &(FakeDevice) {
                .address = BRIDGE, .vendor = 0x8086, .device = 0xa110, .bridge = true,
                .group = 7, .driver = "pcieport" });
        fake_sysfs_add_device(c->f, &(FakeDevice) {
                .address = NIC, .parent = BRIDGE, .vendor = 0x8086, .device = 0x10d3,
                .class = 0x020000, .group = 7, .driver = "e1000e" });
        fake_sysfs_add_device(c->f, &(FakeDevice) {
                .address = USB, .parent = BRIDGE, .vendor = 0x1b21, .device = 0x1242,
                .class = 0x0c0330, .group = 7, .driver = usb_unbound ? NULL : "xhci_hcd",
                .host_driver = "xhci_hcd" });
        fake_sysfs_add_driver(c->f, "xhci_hcd");
        ck_assert_int_eq(vfpt_sysfs_open(&c->s, fake_sysfs_root(c->f)), 0);
        vfpt_sysfs_set_kernel_hook(c->s, fake_kernel_hook, c->f);
        c->tmp = fake_tempdir("release");
        c->records = strdup_printf("%s/records", c->tmp);
        c->vfio = strdup_printf("%s/dev-vfio", c->tmp);
        ck_assert_int_eq(mkdir(c->vfio, 0755), 0);
        ck_assert_int_eq(vfpt_sysfs_set_host_paths(c->s, "/proc", c->vfio), 0);
}

static void ctx_done(Ctx *c) {
        vfpt_sysfs_free(c->s);
        fake_rm_rf(c->tmp);
        free(c->tmp);
        free(c->records);
        free(c->vfio);
        fake_sysfs_free(c->f);
}

/* One reconcile with these rules; returns the first group error and its
 * message (caller frees). */
static int reconcile(Ctx *c, const char *rules, size_t *ret_steps, char **ret_message) {
        VfptConfig *config = NULL;
        VfptSnapshot *snap = NULL;
        VfptPlan *plan = NULL;
        size_t steps = 0;
        int first = 0;

        ck_assert_int_eq(vfpt_config_load_string(&config, "test.conf", rules), 0);
        ck_assert_uint_eq(config->n_errors, 0);
        ck_assert_int_eq(vfpt_snapshot_read(&snap, c->s), 0);
        ck_assert_int_eq(vfpt_snapshot_read_records(snap, c->records), 0);
        ck_assert_int_eq(vfpt_plan_build(&plan, config, snap), 0);
        for (size_t g = 0; g < plan->n_groups; g++) {
                VfptExecResult res;
                int r = vfpt_exec_group(c->s, snap, &plan->groups[g], c->records, &res);

                steps += plan->groups[g].n_steps;
                if (r < 0 && !first) {
                        first = r;
                        if (ret_message)
                                *ret_message = TAKE_PTR(res.message);
                }
                vfpt_exec_result_clear(&res);
        }
        if (ret_steps)
                *ret_steps = steps;
        vfpt_plan_free(plan);
        vfpt_snapshot_free(snap);
        vfpt_config_free(config);
        return first;
}

static void assert_driver(Ctx *c, const char *address, const char *driver) {
        _cleanup_free_ char *d = fake_sysfs_driver_of(c->f, address);
        ck_assert_msg(streq_ptr(d, driver), "%s is on %s, expected %s", address, strna(d), strna(driver));
}

static void assert_override(Ctx *c, const char *address, const char *override) {
        _cleanup_free_ char *o = fake_sysfs_override_of(c->f, address);
        ck_assert_msg(streq_ptr(o, override), "%s has override %s, expected %s", address, strna(o), strna(override));
}

static bool has_record(Ctx *c, const char *address) {
        _cleanup_free_ char *v = NULL;
        return vfpt_record_read(c->records, address, &v) == 0;
}

static void claim_group(Ctx *c) {
        ck_assert_int_eq(reconcile(c, RULES, NULL, NULL), 0);
        assert_driver(c, NIC, "vfio-pci");
        assert_driver(c, USB, "vfio-pci");
        ck_assert(has_record(c, NIC) && has_record(c, USB));
}

START_TEST(test_group_no_rule_lists_goes_back_to_recorded_drivers) {
        Ctx c;

        ctx_init(&c, false);
        claim_group(&c);
        ck_assert_int_eq(reconcile(&c, "", NULL, NULL), 0);
        assert_driver(&c, NIC, "e1000e");
        assert_driver(&c, USB, "xhci_hcd");
        assert_override(&c, NIC, NULL);
        assert_override(&c, USB, NULL);
        assert_driver(&c, BRIDGE, "pcieport");
        ck_assert(!has_record(&c, NIC) && !has_record(&c, USB));
        ctx_done(&c);
}
END_TEST

START_TEST(test_release_is_idempotent) {
        Ctx c;
        size_t steps = 99;

        ctx_init(&c, false);
        claim_group(&c);
        ck_assert_int_eq(reconcile(&c, "", NULL, NULL), 0);
        fake_kernel_reset_log(c.f);
        ck_assert_int_eq(reconcile(&c, "", &steps, NULL), 0);
        ck_assert_uint_eq(steps, 0);
        ck_assert_uint_eq(fake_kernel_writes(c.f), 0);
        ctx_done(&c);
}
END_TEST

/* Hotplug race: the host driver binds between the snapshot and the claim.
 * The claim must still take the device, and remember that driver. */
START_TEST(test_host_driver_binding_after_snapshot_is_taken_over_and_recorded) {
        VfptConfig *config = NULL;
        VfptSnapshot *snap = NULL;
        VfptPlan *plan = NULL;
        _cleanup_free_ char *rec = NULL;
        Ctx c;

        ctx_init(&c, true);
        ck_assert_int_eq(vfpt_config_load_string(&config, "test.conf", RULES), 0);
        ck_assert_int_eq(vfpt_snapshot_read(&snap, c.s), 0);
        ck_assert_int_eq(vfpt_snapshot_read_records(snap, c.records), 0);
        ck_assert_int_eq(vfpt_plan_build(&plan, config, snap), 0);
        /* Now, before any step runs, udev's module load binds xhci_hcd. */
        ck_assert_int_eq(fake_kernel_store(c.f, "bus/pci/drivers/xhci_hcd/bind", USB), 0);
        assert_driver(&c, USB, "xhci_hcd");
        for (size_t g = 0; g < plan->n_groups; g++) {
                VfptExecResult res;
                int r = vfpt_exec_group(c.s, snap, &plan->groups[g], c.records, &res);
                ck_assert_msg(r == 0, "claim failed: %s", strna(res.message));
                vfpt_exec_result_clear(&res);
        }
        assert_driver(&c, USB, "vfio-pci");
        assert_driver(&c, NIC, "vfio-pci");
        ck_assert_int_eq(vfpt_record_read(c.records, USB, &rec), 0);
        ck_assert_str_eq(rec, "xhci_hcd");
        vfpt_plan_free(plan);
        vfpt_snapshot_free(snap);
        vfpt_config_free(config);

        /* Released, it goes back to the driver that raced in. */
        ck_assert_int_eq(reconcile(&c, "", NULL, NULL), 0);
        assert_driver(&c, USB, "xhci_hcd");
        ctx_done(&c);
}
END_TEST

START_TEST(test_device_that_had_no_driver_is_probed_for_one) {
        Ctx c;

        ctx_init(&c, true);
        claim_group(&c);
        ck_assert_int_eq(reconcile(&c, "", NULL, NULL), 0);
        /* No driver recorded: the kernel's probe decides (here xhci_hcd). */
        assert_driver(&c, USB, "xhci_hcd");
        assert_driver(&c, NIC, "e1000e");
        ctx_done(&c);
}
END_TEST

START_TEST(test_release_refused_while_group_is_held_and_done_after) {
        Ctx c;
        _cleanup_free_ char *node = NULL, *message = NULL, *pid = NULL;
        int fd;

        ctx_init(&c, false);
        claim_group(&c);
        node = strdup_printf("%s/7", c.vfio);
        fd = open(node, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        ck_assert_int_ge(fd, 0);

        ck_assert_int_eq(reconcile(&c, "", NULL, &message), -EBUSY);
        pid = strdup_printf("pid %d", (int) getpid());
        ck_assert_msg(strstr(message, pid) && strstr(message, node), "message: %s", message);
        assert_driver(&c, NIC, "vfio-pci");
        assert_driver(&c, USB, "vfio-pci");
        assert_override(&c, NIC, "vfio-pci");
        ck_assert(has_record(&c, NIC) && has_record(&c, USB));

        close(fd);
        ck_assert_int_eq(reconcile(&c, "", NULL, NULL), 0);
        assert_driver(&c, NIC, "e1000e");
        assert_driver(&c, USB, "xhci_hcd");
        ctx_done(&c);
}
END_TEST

/* Every step of the release, on each device, with each error. */
static const char *const devices[] = { NIC, USB };
static const char *const release_steps[] = { "driver_override", "unbind", "bind" };
static const int errors[] = { EBUSY, EIO, ENODEV };

START_TEST(test_release_failure_at_any_step_keeps_group_on_vfio) {
        const char *dev = devices[_i % 2], *step = release_steps[(_i / 2) % 3];
        int error = errors[_i / 6];
        _cleanup_free_ char *message = NULL, *before = NULL, *after = NULL;
        Ctx c;

        ctx_init(&c, false);
        claim_group(&c);
        before = fake_sysfs_digest(c.f);
        fake_kernel_fail(c.f, dev, step, error, 0);
        ck_assert_int_eq(reconcile(&c, "", NULL, &message), -error);
        ck_assert_msg(strstr(message, dev), "message does not name %s: %s", dev, message);
        ck_assert_uint_eq(fake_kernel_failures_triggered(c.f), 1);
        after = fake_sysfs_digest(c.f);
        ck_assert_msg(streq(before, after), "release of %s failing at %s (%s) did not restore the tree",
                      dev, step, strerror(error));
        ck_assert(has_record(&c, NIC) && has_record(&c, USB));

        /* And the next reconcile finishes the job. */
        fake_kernel_clear_failures(c.f);
        ck_assert_int_eq(reconcile(&c, "", NULL, NULL), 0);
        assert_driver(&c, NIC, "e1000e");
        assert_driver(&c, USB, "xhci_hcd");
        ctx_done(&c);
}
END_TEST

START_TEST(test_recorded_driver_gone_falls_back_to_probe) {
        Ctx c;

        ctx_init(&c, false);
        claim_group(&c);
        /* The record names a driver whose module was removed since. */
        ck_assert_int_eq(vfpt_record_remove(c.records, NIC), 0);
        ck_assert_int_eq(vfpt_record_write(c.records, NIC, "igb"), 0);
        ck_assert_int_eq(reconcile(&c, "", NULL, NULL), -ENXIO);
        /* The probe found e1000e, which is not the recorded igb: reported, and
         * the group stays whole on vfio-pci rather than half given back. */
        assert_driver(&c, NIC, "vfio-pci");
        assert_driver(&c, USB, "vfio-pci");
        ctx_done(&c);
}
END_TEST

START_TEST(test_device_on_vfio_without_record_is_not_ours_to_release) {
        Ctx c;
        size_t steps = 99;

        ctx_init(&c, false);
        claim_group(&c);
        ck_assert_int_eq(vfpt_record_remove(c.records, NIC), 0);
        ck_assert_int_eq(vfpt_record_remove(c.records, USB), 0);
        ck_assert_int_eq(reconcile(&c, "", &steps, NULL), 0);
        ck_assert_uint_eq(steps, 0);
        assert_driver(&c, NIC, "vfio-pci");
        ctx_done(&c);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("release");
        TCase *tc = tcase_create("release");

        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_group_no_rule_lists_goes_back_to_recorded_drivers);
        tcase_add_test(tc, test_release_is_idempotent);
        tcase_add_test(tc, test_device_that_had_no_driver_is_probed_for_one);
        tcase_add_test(tc, test_host_driver_binding_after_snapshot_is_taken_over_and_recorded);
        tcase_add_test(tc, test_release_refused_while_group_is_held_and_done_after);
        tcase_add_loop_test(tc, test_release_failure_at_any_step_keeps_group_on_vfio, 0, 18);
        tcase_add_test(tc, test_recorded_driver_gone_falls_back_to_probe);
        tcase_add_test(tc, test_device_on_vfio_without_record_is_not_ours_to_release);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr;
        int failed;

        fake_run_begin();
        sr = srunner_create(suite());
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        fake_run_end();
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
