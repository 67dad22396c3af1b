/* test-claim.c — the reconciler end to end against a fake sysfs tree whose
 * fake kernel gives driver_override/unbind/drivers_probe/bind their meaning:
 * a whole IOMMU group is claimed or none of it, a failure at any step puts
 * every device back where it was, a second reconcile writes nothing, and the
 * original drivers are remembered. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fake-sysfs.h"
#include "vfpt-exec.h"
#include "vfpt-guard.h"
#include "vfpt-plan.h"
#include "vfpt-sysfs.h"
#include "vfpt-util.h"

/* Proves that a reader set its result to NULL rather than leaving it. */
static char sentinel[] = "sentinel";

/* The tree most tests use: group 7 is a PCIe root port with a NIC and a USB
 * controller behind it (what QEMU's pcie-pci-bridge with two devices gives);
 * group 1 is the host's graphics, which no rule names. */
#define BRIDGE "0000:00:1c.0"
#define NIC "0000:01:00.0"
#define USB "0000:01:00.1"
#define GPU "0000:00:02.0"

#define RULE_NIC "[nic]\nids = 8086:10d3\n"

typedef struct Ctx {
        FakeSysfs *f;
        VfptSysfs *s;
        char *tmp;          /* records and a fake /proc live here */
        char *records;
        VfptConfig *config;
        VfptSnapshot *snap;
        VfptPlan *plan;
        VfptExecResult res; /* of the first group that failed */
        size_t n_failed_groups;
} Ctx;

typedef struct TreeOptions {
        bool no_vfio;       /* vfio-pci is not loaded */
        bool usb_unbound;   /* the USB controller has no driver (and xhci is not loaded) */
        bool iommu_off;
        const char *usb_override; /* set before vfpt runs */
} TreeOptions;

static void ctx_init(Ctx *c, const TreeOptions *o) {
        static const TreeOptions none = {};
        int r;

        if (!o)
                o = &none;
        *c = (Ctx) {};
        c->f = fake_sysfs_new(!o->iommu_off);
        if (!o->no_vfio)
                fake_sysfs_add_driver(c->f, "vfio-pci");
        fake_sysfs_add_device(c->f, &(FakeDevice) {
                .address = GPU, .vendor = 0x8086, .device = 0x3e92, .class = 0x030000,
                .group = 1, .driver = "i915", .boot_vga = true });
        fake_sysfs_add_device(c->f, &(FakeDevice) {
                .address = BRIDGE, .vendor = 0x8086, .device = 0xa110, .bridge = true,
                .group = 7, .driver = "pcieport" });
        fake_sysfs_add_device(c->f, &(FakeDevice) {
                .address = NIC, .parent = BRIDGE, .vendor = 0x8086, .device = 0x10d3,
                .subsystem_vendor = 0x8086, .subsystem_device = 0xa01f,
                .class = 0x020000, .group = 7, .driver = "e1000e" });
        fake_sysfs_add_device(c->f, &(FakeDevice) {
                .address = USB, .parent = BRIDGE, .vendor = 0x1b21, .device = 0x1242,
                .class = 0x0c0330, .group = 7,
                .driver = o->usb_unbound ? NULL : "xhci_hcd", .host_driver = "xhci_hcd",
                .driver_override = o->usb_override });

        r = vfpt_sysfs_open(&c->s, fake_sysfs_root(c->f));
        ck_assert_int_eq(r, 0);
        vfpt_sysfs_set_kernel_hook(c->s, fake_kernel_hook, c->f);
        c->tmp = fake_tempdir("claim");
        c->records = strdup_printf("%s/run/vfptd/devices", c->tmp);
        ck_assert_ptr_nonnull(c->records);
}

static void ctx_forget(Ctx *c) {
        c->plan = vfpt_plan_free(c->plan);
        c->snap = vfpt_snapshot_free(c->snap);
        c->config = vfpt_config_free(c->config);
        vfpt_exec_result_clear(&c->res);
        c->n_failed_groups = 0;
}

static void ctx_done(Ctx *c) {
        ctx_forget(c);
        c->s = vfpt_sysfs_free(c->s);
        fake_rm_rf(c->tmp);
        free(c->tmp);
        free(c->records);
        c->f = fake_sysfs_free(c->f);
}

static void ctx_plan(Ctx *c, const char *rules, bool guard) {
        int r;

        ctx_forget(c);
        r = vfpt_config_load_string(&c->config, "test.conf", rules);
        ck_assert_int_eq(r, 0);
        ck_assert_msg(c->config->n_errors == 0, "config error: %s", c->config->errors[0].message);
        r = vfpt_snapshot_read(&c->snap, c->s);
        ck_assert_int_eq(r, 0);
        ck_assert_msg(!c->snap->errors, "snapshot error: %s", c->snap->errors[0]);
        if (guard) {
                VfptGuardSources src = { .proc_root = NULL, .use_getifaddrs = false };
                _cleanup_free_ char *proc = strdup_printf("%s/proc", c->tmp);

                ck_assert_ptr_nonnull(proc);
                src.proc_root = proc;
                r = vfpt_guard_scan(c->snap, c->s, &src);
                ck_assert_int_eq(r, 0);
        }
        r = vfpt_plan_build(&c->plan, c->config, c->snap);
        ck_assert_int_eq(r, 0);
}

/* Snapshot, plan, execute every group; returns the first group's error. */
static int ctx_reconcile(Ctx *c, const char *rules) {
        int first = 0;

        ctx_plan(c, rules, false);
        for (size_t i = 0; i < c->plan->n_groups; i++) {
                VfptExecResult res;
                int r = vfpt_exec_group(c->s, c->snap, &c->plan->groups[i], c->records, &res);

                if (r < 0) {
                        ck_assert_int_eq(res.error, r);
                        if (!first) {
                                first = r;
                                c->res = res;
                        } else
                                vfpt_exec_result_clear(&res);
                        c->n_failed_groups++;
                } else {
                        ck_assert_int_eq(r, 0);
                        ck_assert_int_eq(res.error, 0);
                        vfpt_exec_result_clear(&res);
                }
        }
        return first;
}

static void assert_driver(Ctx *c, const char *address, const char *expected) {
        _cleanup_free_ char *d = fake_sysfs_driver_of(c->f, address);
        ck_assert_msg(streq_ptr(d, expected), "%s: driver is %s, expected %s",
                      address, strna(d), strna(expected));
}

static void assert_override(Ctx *c, const char *address, const char *expected) {
        _cleanup_free_ char *o = fake_sysfs_override_of(c->f, address);
        ck_assert_msg(streq_ptr(o, expected), "%s: driver_override is %s, expected %s",
                      address, strna(o), strna(expected));
}

static size_t snap_index(const VfptSnapshot *snap, const char *address) {
        for (size_t i = 0; i < snap->n_devices; i++)
                if (streq(snap->devices[i].name, address))
                        return i;
        ck_abort_msg("%s not in the snapshot", address);
        return SIZE_MAX;
}

static const VfptPlanGroup *plan_group(const VfptPlan *p, int group) {
        for (size_t i = 0; i < p->n_groups; i++)
                if (p->groups[i].group == group)
                        return &p->groups[i];
        return NULL;
}

static bool log_mentions(FakeSysfs *f, const char *needle) {
        for (char *const *l = fake_kernel_log(f); *l; l++)
                if (strstr(*l, needle))
                        return true;
        return false;
}

static void assert_log_clean(Ctx *c) {
        ck_assert_msg(!log_mentions(c->f, "new_id"), "new_id was written: it grabs every device with that ID");
        ck_assert_msg(!log_mentions(c->f, BRIDGE), "the bridge was written to");
        ck_assert_msg(!log_mentions(c->f, GPU), "a device no rule names was written to");
        ck_assert_uint_eq(fake_kernel_unknown_writes(c->f), 0);
}

START_TEST(test_rule_for_one_endpoint_claims_the_whole_group_and_leaves_the_bridge) {
        Ctx c;
        const VfptPlanGroup *g;
        const VfptPlanDevice *pd;
        _cleanup_free_ char *rec_nic = NULL, *rec_usb = NULL;

        ctx_init(&c, NULL);
        ck_assert_int_eq(ctx_reconcile(&c, RULE_NIC), 0);

        assert_driver(&c, NIC, "vfio-pci");
        assert_driver(&c, USB, "vfio-pci");
        assert_override(&c, NIC, "vfio-pci");
        assert_override(&c, USB, "vfio-pci");
        assert_driver(&c, BRIDGE, "pcieport");
        assert_override(&c, BRIDGE, NULL);
        assert_driver(&c, GPU, "i915");
        assert_override(&c, GPU, NULL);
        assert_log_clean(&c);

        /* The plan says why the USB controller went too: its group was claimed. */
        g = plan_group(c.plan, 7);
        ck_assert_ptr_nonnull(g);
        ck_assert(!g->refused);
        ck_assert_uint_eq(g->n_members, 3);
        ck_assert_ptr_null(plan_group(c.plan, 1));
        pd = vfpt_plan_find_device(c.plan, snap_index(c.snap, USB));
        ck_assert_ptr_nonnull(pd);
        ck_assert_ptr_null(pd->rule);
        ck_assert_str_eq(pd->target, "vfio-pci");
        pd = vfpt_plan_find_device(c.plan, snap_index(c.snap, NIC));
        ck_assert_ptr_nonnull(pd);
        ck_assert_ptr_nonnull(pd->rule);
        ck_assert_str_eq(pd->rule->name, "nic");
        ck_assert_ptr_null(vfpt_plan_find_device(c.plan, snap_index(c.snap, BRIDGE)));

        /* Both endpoints' original drivers are remembered for release. */
        ck_assert_int_eq(vfpt_record_read(c.records, NIC, &rec_nic), 0);
        ck_assert_pstr_eq(rec_nic, "e1000e");
        ck_assert_int_eq(vfpt_record_read(c.records, USB, &rec_usb), 0);
        ck_assert_pstr_eq(rec_usb, "xhci_hcd");
        ck_assert_int_eq(vfpt_record_read(c.records, BRIDGE, &rec_nic), -ENOENT);
        ctx_done(&c);
}
END_TEST

START_TEST(test_override_is_written_before_any_unbind) {
        Ctx c;
        char *const *log;
        size_t first_unbind = SIZE_MAX, last_override = 0, i = 0;

        ctx_init(&c, NULL);
        ck_assert_int_eq(ctx_reconcile(&c, RULE_NIC), 0);
        /* Otherwise a host driver could pick up one member while another is
         * being worked on. */
        log = fake_kernel_log(c.f);
        for (; log[i]; i++) {
                if (strstr(log[i], "/driver_override="))
                        last_override = i;
                if (strstr(log[i], "/unbind=") && first_unbind == SIZE_MAX)
                        first_unbind = i;
        }
        ck_assert_uint_ne(first_unbind, SIZE_MAX);
        ck_assert_msg(last_override < first_unbind, "an unbind came before the last driver_override write");
        ctx_done(&c);
}
END_TEST

START_TEST(test_second_reconcile_has_no_steps_and_writes_nothing) {
        Ctx c;
        _cleanup_free_ char *before = NULL, *after = NULL;
        size_t counts[_VFPT_STATE_MAX];

        ctx_init(&c, NULL);
        ck_assert_int_eq(ctx_reconcile(&c, RULE_NIC), 0);
        ck_assert_uint_gt(fake_kernel_writes(c.f), 0);
        fake_kernel_reset_log(c.f);
        before = fake_sysfs_digest(c.f);

        ck_assert_int_eq(ctx_reconcile(&c, RULE_NIC), 0);
        for (size_t i = 0; i < c.plan->n_groups; i++) {
                ck_assert(!c.plan->groups[i].refused);
                ck_assert_uint_eq(c.plan->groups[i].n_steps, 0);
        }
        vfpt_plan_count(c.plan, counts);
        ck_assert_uint_eq(counts[VFPT_STATE_CLAIMED], 2);
        ck_assert_uint_eq(counts[VFPT_STATE_CLAIM], 0);
        ck_assert_uint_eq(fake_kernel_writes(c.f), 0);
        after = fake_sysfs_digest(c.f);
        ck_assert_str_eq(before, after);
        ctx_done(&c);
}
END_TEST

/* A failure injected at every write of every endpoint, with each error the
 * kernel gives: the group ends exactly as it started. */
static const char *const fail_devices[] = { NIC, USB };
static const char *const fail_steps[] = { "driver_override", "unbind", "drivers_probe" };
static const int fail_errors[] = { EBUSY, EIO, ENODEV };

START_TEST(test_failure_at_any_step_puts_the_whole_group_back) {
        const char *dev = fail_devices[_i / 9];
        const char *step = fail_steps[(_i / 3) % 3];
        int error = fail_errors[_i % 3];
        _cleanup_free_ char *before = NULL, *after = NULL, *rec = NULL;
        const VfptStepKind kinds[] = { VFPT_STEP_OVERRIDE, VFPT_STEP_UNBIND, VFPT_STEP_PROBE };
        const char *words[] = { "driver_override", "unbind", "probe" };
        Ctx c;
        int r;

        ctx_init(&c, NULL);
        before = fake_sysfs_digest(c.f);
        fake_kernel_fail(c.f, dev, step, error, 0);

        r = ctx_reconcile(&c, RULE_NIC);
        ck_assert_msg(r == -error, "%s %s -%d: reconcile returned %d", dev, step, error, r);
        ck_assert_uint_eq(fake_kernel_failures_triggered(c.f), 1);
        ck_assert_uint_eq(c.n_failed_groups, 1);

        /* The result names the device and the step. */
        ck_assert_int_eq(c.res.error, -error);
        ck_assert_str_eq(c.snap->devices[c.res.device].name, dev);
        ck_assert_int_eq(c.res.step, kinds[(_i / 3) % 3]);
        ck_assert_ptr_nonnull(c.res.message);
        ck_assert_msg(strstr(c.res.message, dev), "message '%s' does not name %s", c.res.message, dev);
        ck_assert_msg(strstr(c.res.message, words[(_i / 3) % 3]), "message '%s' does not name the step '%s'",
                      c.res.message, words[(_i / 3) % 3]);
        ck_assert_msg(c.res.rollback_error == 0, "rollback failed: %s", strna(c.res.rollback_message));

        /* Every device of the group is where it was, override and all. */
        assert_driver(&c, NIC, "e1000e");
        assert_driver(&c, USB, "xhci_hcd");
        assert_driver(&c, BRIDGE, "pcieport");
        assert_override(&c, NIC, NULL);
        assert_override(&c, USB, NULL);
        assert_override(&c, BRIDGE, NULL);
        assert_log_clean(&c);
        after = fake_sysfs_digest(c.f);
        ck_assert_str_eq(before, after);

        /* No record claims a device that was not claimed. */
        ck_assert_int_eq(vfpt_record_read(c.records, NIC, &rec), -ENOENT);
        ck_assert_int_eq(vfpt_record_read(c.records, USB, &rec), -ENOENT);

        /* And the next reconcile, without the fault, claims the group. */
        ck_assert_int_eq(ctx_reconcile(&c, RULE_NIC), 0);
        assert_driver(&c, NIC, "vfio-pci");
        assert_driver(&c, USB, "vfio-pci");
        ctx_done(&c);
}
END_TEST

START_TEST(test_failure_restores_an_override_that_was_set_before) {
        _cleanup_free_ char *before = NULL, *after = NULL;
        Ctx c;

        /* The administrator had pinned the USB controller to xhci_hcd. */
        ctx_init(&c, &(TreeOptions) { .usb_override = "xhci_hcd" });
        assert_override(&c, USB, "xhci_hcd");
        before = fake_sysfs_digest(c.f);
        fake_kernel_fail(c.f, NIC, "drivers_probe", EIO, 0);

        ck_assert_int_eq(ctx_reconcile(&c, RULE_NIC), -EIO);
        assert_override(&c, USB, "xhci_hcd");
        assert_driver(&c, USB, "xhci_hcd");
        assert_override(&c, NIC, NULL);
        assert_driver(&c, NIC, "e1000e");
        after = fake_sysfs_digest(c.f);
        ck_assert_str_eq(before, after);
        ctx_done(&c);
}
END_TEST

START_TEST(test_failed_rollback_is_reported_with_the_device) {
        Ctx c;

        ctx_init(&c, NULL);
        /* The claim fails at the USB controller's unbind; then putting the
         * NIC's driver_override back (its second write) fails too. */
        fake_kernel_fail(c.f, USB, "unbind", EBUSY, 0);
        fake_kernel_fail(c.f, NIC, "driver_override", EIO, 1);

        ck_assert_int_eq(ctx_reconcile(&c, RULE_NIC), -EBUSY);
        ck_assert_uint_eq(fake_kernel_failures_triggered(c.f), 2);
        ck_assert_msg(strstr(c.res.message, USB), "message '%s'", c.res.message);
        ck_assert_int_eq(c.res.rollback_error, -EIO);
        ck_assert_ptr_nonnull(c.res.rollback_message);
        ck_assert_msg(strstr(c.res.rollback_message, NIC), "rollback message '%s' does not name %s",
                      c.res.rollback_message, NIC);
        ctx_done(&c);
}
END_TEST

START_TEST(test_missing_vfio_driver_fails_verify_and_rolls_back) {
        _cleanup_free_ char *before = NULL, *after = NULL;
        Ctx c;
        int r;

        /* vfio-pci is not loaded: drivers_probe succeeds, nothing binds. */
        ctx_init(&c, &(TreeOptions) { .no_vfio = true });
        before = fake_sysfs_digest(c.f);
        r = ctx_reconcile(&c, RULE_NIC);
        ck_assert_int_lt(r, 0);
        ck_assert_int_eq(c.res.step, VFPT_STEP_VERIFY);
        ck_assert_msg(strstr(c.res.message, c.snap->devices[c.res.device].name) &&
                      strstr(c.res.message, "verify"), "message '%s'", c.res.message);
        ck_assert_msg(c.res.rollback_error == 0, "rollback failed: %s", strna(c.res.rollback_message));
        assert_driver(&c, NIC, "e1000e");
        assert_driver(&c, USB, "xhci_hcd");
        assert_override(&c, NIC, NULL);
        assert_override(&c, USB, NULL);
        after = fake_sysfs_digest(c.f);
        ck_assert_str_eq(before, after);
        ctx_done(&c);
}
END_TEST

START_TEST(test_device_without_driver_is_claimed_and_recorded_as_no_driver) {
        _cleanup_free_ char *rec = NULL;
        const VfptPlanGroup *g;
        size_t usb;
        Ctx c;

        ctx_init(&c, &(TreeOptions) { .usb_unbound = true });
        ctx_plan(&c, RULE_NIC, false);
        usb = snap_index(c.snap, USB);
        ck_assert_ptr_null(c.snap->devices[usb].driver);
        g = plan_group(c.plan, 7);
        ck_assert_ptr_nonnull(g);
        for (size_t i = 0; i < g->n_steps; i++)
                ck_assert_msg(!(g->steps[i].device == usb && g->steps[i].kind == VFPT_STEP_UNBIND),
                              "an unbound device gets an unbind step");

        ck_assert_int_eq(ctx_reconcile(&c, RULE_NIC), 0);
        assert_driver(&c, USB, "vfio-pci");
        assert_driver(&c, NIC, "vfio-pci");
        rec = sentinel; /* overwritten, never freed */
        ck_assert_int_eq(vfpt_record_read(c.records, USB, &rec), 0);
        ck_assert_ptr_null(rec);
        ctx_done(&c);
}
END_TEST

START_TEST(test_rollback_leaves_a_driverless_device_without_driver) {
        Ctx c;

        ctx_init(&c, &(TreeOptions) { .usb_unbound = true });
        /* xhci_hcd gets loaded later: a rollback must not hand it the device. */
        fake_sysfs_add_driver(c.f, "xhci_hcd");
        fake_kernel_fail(c.f, NIC, "drivers_probe", EIO, 0);
        ck_assert_int_eq(ctx_reconcile(&c, RULE_NIC), -EIO);
        assert_driver(&c, USB, NULL);
        assert_override(&c, USB, NULL);
        assert_driver(&c, NIC, "e1000e");
        ctx_done(&c);
}
END_TEST

START_TEST(test_existing_record_is_kept) {
        _cleanup_free_ char *rec = NULL;
        Ctx c;

        /* A previous run claimed it from igb; the record says so. */
        ctx_init(&c, NULL);
        ck_assert_int_eq(vfpt_record_write(c.records, NIC, "igb"), 0);
        ck_assert_int_eq(ctx_reconcile(&c, RULE_NIC), 0);
        ck_assert_int_eq(vfpt_record_read(c.records, NIC, &rec), 0);
        ck_assert_pstr_eq(rec, "igb");
        ctx_done(&c);
}
END_TEST

START_TEST(test_record_round_trip) {
        _cleanup_free_ char *tmp = fake_tempdir("records");
        _cleanup_free_ char *dir = strdup_printf("%s/a/b", tmp);
        char *v = NULL;

        ck_assert_int_eq(vfpt_record_read(dir, NIC, &v), -ENOENT);
        ck_assert_int_eq(vfpt_record_write(dir, NIC, "e1000e"), 0);
        ck_assert_int_eq(vfpt_record_write(dir, USB, NULL), 0);
        ck_assert_int_eq(vfpt_record_read(dir, NIC, &v), 0);
        ck_assert_pstr_eq(v, "e1000e");
        free(v);
        v = sentinel; /* overwritten, never freed */
        ck_assert_int_eq(vfpt_record_read(dir, USB, &v), 0);
        ck_assert_ptr_null(v);
        ck_assert_int_eq(vfpt_record_remove(dir, NIC), 0);
        ck_assert_int_eq(vfpt_record_read(dir, NIC, &v), -ENOENT);
        ck_assert_int_eq(vfpt_record_remove(dir, NIC), 0);
        fake_rm_rf(tmp);
}
END_TEST

START_TEST(test_rule_naming_a_bridge_writes_nothing) {
        _cleanup_free_ char *before = NULL, *after = NULL;
        const VfptPlanDevice *pd;
        Ctx c;

        ctx_init(&c, NULL);
        before = fake_sysfs_digest(c.f);
        ck_assert_int_eq(ctx_reconcile(&c, "[port]\naddresses = " BRIDGE "\n"), 0);
        pd = vfpt_plan_find_device(c.plan, snap_index(c.snap, BRIDGE));
        ck_assert_ptr_nonnull(pd);
        ck_assert_int_eq(pd->state, VFPT_STATE_REFUSED);
        ck_assert_msg(pd->reason && strstr(pd->reason, "bridge"), "reason '%s'", strna(pd->reason));
        ck_assert_uint_eq(fake_kernel_writes(c.f), 0);
        after = fake_sysfs_digest(c.f);
        ck_assert_str_eq(before, after);
        ctx_done(&c);
}
END_TEST

START_TEST(test_strict_group_with_unmatched_member_is_refused_untouched) {
        _cleanup_free_ char *before = NULL, *after = NULL;
        const VfptPlanGroup *g;
        Ctx c;

        ctx_init(&c, NULL);
        before = fake_sysfs_digest(c.f);
        ck_assert_int_eq(ctx_reconcile(&c, RULE_NIC "group = strict\n"), 0);
        g = plan_group(c.plan, 7);
        ck_assert_ptr_nonnull(g);
        ck_assert(g->refused);
        ck_assert_msg(g->reason && strstr(g->reason, USB), "reason '%s' does not name %s", strna(g->reason), USB);
        ck_assert_uint_eq(g->n_steps, 0);
        ck_assert_uint_eq(fake_kernel_writes(c.f), 0);
        after = fake_sysfs_digest(c.f);
        ck_assert_str_eq(before, after);

        /* Matching both endpoints satisfies strict. */
        ck_assert_int_eq(ctx_reconcile(&c, RULE_NIC "group = strict\n[usb]\nids = 1b21:1242\n"), 0);
        assert_driver(&c, NIC, "vfio-pci");
        assert_driver(&c, USB, "vfio-pci");
        ctx_done(&c);
}
END_TEST

START_TEST(test_no_iommu_refuses_and_writes_nothing) {
        _cleanup_free_ char *before = NULL, *after = NULL;
        Ctx c;

        ctx_init(&c, &(TreeOptions) { .iommu_off = true });
        before = fake_sysfs_digest(c.f);
        ck_assert_int_eq(ctx_reconcile(&c, RULE_NIC), 0);
        ck_assert(!c.snap->iommu_active);
        ck_assert_uint_ge(c.plan->n_groups, 1);
        for (size_t i = 0; i < c.plan->n_groups; i++) {
                ck_assert(c.plan->groups[i].refused);
                ck_assert_msg(strstr(c.plan->groups[i].reason, "IOMMU"), "reason '%s'", c.plan->groups[i].reason);
        }
        ck_assert_uint_eq(fake_kernel_writes(c.f), 0);
        after = fake_sysfs_digest(c.f);
        ck_assert_str_eq(before, after);
        ctx_done(&c);
}
END_TEST

START_TEST(test_device_on_a_foreign_driver_is_claimed_again) {
        Ctx c;

        ctx_init(&c, NULL);
        ck_assert_int_eq(ctx_reconcile(&c, RULE_NIC), 0);
        /* Someone clears the override and binds the NIC back to e1000e
         * (as a "bind" uevent would tell the daemon). */
        ck_assert_int_eq(fake_kernel_hook(c.f, "bus/pci/devices/" NIC "/driver_override", "\n"), 0);
        ck_assert_int_eq(fake_kernel_hook(c.f, "bus/pci/drivers/vfio-pci/unbind", NIC), 0);
        ck_assert_int_eq(fake_kernel_hook(c.f, "bus/pci/drivers/e1000e/bind", NIC), 0);
        assert_driver(&c, NIC, "e1000e");
        fake_kernel_reset_log(c.f);

        ck_assert_int_eq(ctx_reconcile(&c, RULE_NIC), 0);
        assert_driver(&c, NIC, "vfio-pci");
        assert_override(&c, NIC, "vfio-pci");
        assert_driver(&c, USB, "vfio-pci");
        /* Only the NIC needed work. */
        ck_assert_msg(!log_mentions(c.f, USB), "the USB controller, already claimed, was written to");
        ctx_done(&c);
}
END_TEST

START_TEST(test_mounted_disk_controller_is_refused_and_untouched) {
        _cleanup_free_ char *before = NULL, *after = NULL;
        const VfptPlanGroup *g;
        Ctx c;

        ctx_init(&c, NULL);
        fake_sysfs_add_device(c.f, &(FakeDevice) {
                .address = "0000:00:1f.2", .vendor = 0x8086, .device = 0x2922, .class = 0x010601,
                .group = 9, .driver = "ahci" });
        fake_sysfs_add_block(c.f, "0000:00:1f.2", "sda", 8, 0);
        fake_sysfs_add_partition(c.f, "sda", "sda1", 8, 1);
        fake_write_file(c.tmp, "proc/self/mountinfo",
                        "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
                        "23 22 0:21 / /proc rw,nosuid - proc proc rw\n");
        fake_write_file(c.tmp, "proc/swaps", "Filename\tType\tSize\tUsed\tPriority\n");
        before = fake_sysfs_digest(c.f);

        ctx_plan(&c, "[disk]\nids = 8086:2922\n", true);
        g = plan_group(c.plan, 9);
        ck_assert_ptr_nonnull(g);
        ck_assert(g->refused);
        ck_assert_msg(strstr(g->reason, "0000:00:1f.2") && strstr(g->reason, "disk"),
                      "reason '%s' names neither the device nor the rule", g->reason);
        ck_assert_uint_eq(g->n_steps, 0);
        after = fake_sysfs_digest(c.f);
        ck_assert_str_eq(before, after);

        /* force = yes lets it through (the administrator said so). */
        ctx_plan(&c, "[disk]\nids = 8086:2922\nforce = yes\n", true);
        g = plan_group(c.plan, 9);
        ck_assert_ptr_nonnull(g);
        ck_assert(!g->refused);
        ctx_done(&c);
}
END_TEST

START_TEST(test_group_with_an_unreadable_member_is_not_half_claimed) {
        _cleanup_free_ char *before = NULL, *after = NULL;
        VfptSnapshot *snap = NULL;
        int r;
        Ctx c;

        /* The USB controller's vendor cannot be read: the snapshot leaves it
         * out, but it is still in group 7 and still on xhci_hcd. Claiming
         * the NIC alone would leave a group that is neither the host's nor
         * usable by a guest: all or none means none here. */
        ctx_init(&c, NULL);
        fake_sysfs_set_attr(c.f, USB, "vendor", "garbage\n");
        before = fake_sysfs_digest(c.f);
        ck_assert_int_eq(vfpt_snapshot_read(&snap, c.s), 0);
        ck_assert_msg(snap->errors && strstr(snap->errors[0], USB), "the unreadable device is not reported");
        vfpt_snapshot_free(snap);

        r = vfpt_config_load_string(&c.config, "test.conf", RULE_NIC);
        ck_assert_int_eq(r, 0);
        r = vfpt_snapshot_read(&c.snap, c.s);
        ck_assert_int_eq(r, 0);
        r = vfpt_plan_build(&c.plan, c.config, c.snap);
        ck_assert_int_eq(r, 0);
        for (size_t i = 0; i < c.plan->n_groups; i++) {
                VfptExecResult res;
                (void) vfpt_exec_group(c.s, c.snap, &c.plan->groups[i], c.records, &res);
                vfpt_exec_result_clear(&res);
        }
        assert_driver(&c, USB, "xhci_hcd");
        ck_assert_msg(!log_mentions(c.f, NIC), "the NIC was claimed while %s, in its group, could not be read", USB);
        assert_driver(&c, NIC, "e1000e");
        after = fake_sysfs_digest(c.f);
        ck_assert_str_eq(before, after);
        ctx_done(&c);
}
END_TEST

static Suite *claim_suite(void) {
        Suite *s = suite_create("claim");
        TCase *tc = tcase_create("claim");

        tcase_add_test(tc, test_rule_for_one_endpoint_claims_the_whole_group_and_leaves_the_bridge);
        tcase_add_test(tc, test_override_is_written_before_any_unbind);
        tcase_add_test(tc, test_second_reconcile_has_no_steps_and_writes_nothing);
        tcase_add_loop_test(tc, test_failure_at_any_step_puts_the_whole_group_back, 0,
                            (int) (ELEMENTSOF(fail_devices) * ELEMENTSOF(fail_steps) * ELEMENTSOF(fail_errors)));
        tcase_add_test(tc, test_failure_restores_an_override_that_was_set_before);
        tcase_add_test(tc, test_failed_rollback_is_reported_with_the_device);
        tcase_add_test(tc, test_missing_vfio_driver_fails_verify_and_rolls_back);
        tcase_add_test(tc, test_device_without_driver_is_claimed_and_recorded_as_no_driver);
        tcase_add_test(tc, test_rollback_leaves_a_driverless_device_without_driver);
        tcase_add_test(tc, test_existing_record_is_kept);
        tcase_add_test(tc, test_record_round_trip);
        tcase_add_test(tc, test_rule_naming_a_bridge_writes_nothing);
        tcase_add_test(tc, test_strict_group_with_unmatched_member_is_refused_untouched);
        tcase_add_test(tc, test_no_iommu_refuses_and_writes_nothing);
        tcase_add_test(tc, test_device_on_a_foreign_driver_is_claimed_again);
        tcase_add_test(tc, test_mounted_disk_controller_is_refused_and_untouched);
        tcase_add_test(tc, test_group_with_an_unreadable_member_is_not_half_claimed);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(claim_suite());
        int failed;

        fake_run_begin();
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        fake_run_end();
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
