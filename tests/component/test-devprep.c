/* test-devprep.c — reset_method, owner and mode against a fake sysfs tree
 * whose fake kernel gives reset_method writes the kernel's meaning: the
 * method is checked against what the kernel offers before any claim, set
 * once the group is claimed, put back to "default" on release (and only on
 * devices vfpt narrowed), and the group's /dev/vfio/N (a file in a test
 * directory, never a real node) gets its owner and mode, again after anyone
 * changed them. Rules that disagree on the owner refuse the group. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fake-sysfs.h"
#include "vfpt-devprep.h"
#include "vfpt-exec.h"
#include "vfpt-names.h"
#include "vfpt-plan.h"
#include "vfpt-sysfs.h"
#include "vfpt-util.h"

#define BRIDGE "0000:00:1c.0"
#define NIC "0000:01:00.0"
#define USB "0000:01:00.1"
#define OTHER "0000:02:00.0"
#define GROUP 7

typedef struct Ctx {
        FakeSysfs *f;
        VfptSysfs *s;
        char *tmp, *records, *vfio, *node;
        uid_t uid;  /* the owner rules give: nobody as root, else ourselves */
        gid_t gid;
        char owner[64];
} Ctx;

typedef struct Pass {
        VfptConfig *config;
        VfptSnapshot *snap;
        VfptPlan *plan;
        VfptDevprepResult res;
} Pass;

static void ctx_init(Ctx *c) {
        *c = (Ctx) {};
        c->f = fake_sysfs_new(true);
        fake_sysfs_add_driver(c->f, "vfio-pci");
        fake_sysfs_add_driver(c->f, "xhci_hcd");
        fake_sysfs_add_device(c->f, &(FakeDevice) {
                .address = BRIDGE, .vendor = 0x8086, .device = 0xa110, .bridge = true,
                .group = GROUP, .driver = "pcieport" });
        fake_sysfs_add_device(c->f, &(FakeDevice) {
                .address = NIC, .parent = BRIDGE, .vendor = 0x8086, .device = 0x10d3,
                .group = GROUP, .driver = "e1000e" });
        fake_sysfs_add_device(c->f, &(FakeDevice) {
                .address = USB, .parent = BRIDGE, .vendor = 0x1b21, .device = 0x1242,
                .class = 0x0c0330, .group = GROUP, .driver = "xhci_hcd" });
        fake_sysfs_add_device(c->f, &(FakeDevice) {
                .address = OTHER, .vendor = 0x10ec, .device = 0x8139, .group = 8, .driver = "8139cp" });
        /* Behind a root port: the kernel offers a PM reset and a bus reset. */
        fake_sysfs_set_reset_methods(c->f, NIC, "pm bus");
        fake_sysfs_set_reset_methods(c->f, USB, "flr bus");
        ck_assert_int_eq(vfpt_sysfs_open(&c->s, fake_sysfs_root(c->f)), 0);
        vfpt_sysfs_set_kernel_hook(c->s, fake_kernel_hook, c->f);
        c->tmp = fake_tempdir("devprep");
        c->records = strdup_printf("%s/records", c->tmp);
        c->vfio = strdup_printf("%s/dev-vfio", c->tmp);
        c->node = strdup_printf("%s/%d", c->vfio, GROUP);
        ck_assert_int_eq(mkdir(c->vfio, 0755), 0);
        ck_assert_int_eq(vfpt_sysfs_set_host_paths(c->s, "/proc", c->vfio), 0);
        /* Only root may give a file away; as anyone else, ourselves (the
         * mode is then what proves the pass ran). */
        c->uid = geteuid() == 0 ? 65534 : geteuid();
        c->gid = geteuid() == 0 ? 65534 : getegid();
        snprintf(c->owner, sizeof(c->owner), "%u:%u", (unsigned) c->uid, (unsigned) c->gid);
}

static void ctx_done(Ctx *c) {
        vfpt_sysfs_free(c->s);
        fake_rm_rf(c->tmp);
        free(c->tmp);
        free(c->records);
        free(c->vfio);
        free(c->node);
        fake_sysfs_free(c->f);
}

static void pass_done(Pass *p) {
        vfpt_devprep_result_clear(&p->res);
        vfpt_plan_free(p->plan);
        vfpt_snapshot_free(p->snap);
        vfpt_config_free(p->config);
}

/* What devtmpfs does when the first device of the group binds to vfio-pci. */
static void node_appears(Ctx *c) {
        int fd = open(c->node, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

        ck_assert_msg(fd >= 0, "create %s: %m", c->node);
        close(fd);
        ck_assert_int_eq(chmod(c->node, 0600), 0);
}

/* One reconcile as vfptd does it: snapshot with records, plan, execute each
 * group (CLAIM -> CLAIMED, RELEASE -> RELEASED on success), then the
 * device preparation pass. The node appears once the group is on vfio-pci. */
static void reconcile(Ctx *c, const char *rules, Pass *p) {
        *p = (Pass) {};
        ck_assert_int_eq(vfpt_config_load_string(&p->config, "test.conf", rules), 0);
        ck_assert_msg(p->config->n_errors == 0, "%s", p->config->n_errors ? p->config->errors[0].message : "");
        ck_assert_int_eq(vfpt_snapshot_read(&p->snap, c->s), 0);
        ck_assert_int_eq(vfpt_records_prune(c->records, p->snap, NULL), 0);
        ck_assert_int_eq(vfpt_snapshot_read_records(p->snap, c->records), 0);
        ck_assert_int_eq(vfpt_plan_build(&p->plan, p->config, p->snap), 0);
        for (size_t g = 0; g < p->plan->n_groups; g++) {
                const VfptPlanGroup *grp = &p->plan->groups[g];
                VfptExecResult res;
                int r;

                if (grp->refused || grp->n_steps == 0)
                        continue;
                r = vfpt_exec_group(c->s, p->snap, grp, c->records, &res);
                ck_assert_msg(r == 0, "group %d: %s", grp->group, strna(res.message));
                vfpt_exec_result_clear(&res);
                for (size_t i = 0; i < p->plan->n_devices; i++) {
                        VfptPlanDevice *pd = &p->plan->devices[i];
                        if (pd->device == SIZE_MAX || pd->group != grp->group)
                                continue;
                        if (pd->state == VFPT_STATE_CLAIM)
                                pd->state = VFPT_STATE_CLAIMED;
                        else if (pd->state == VFPT_STATE_RELEASE)
                                pd->state = VFPT_STATE_RELEASED;
                }
        }
        {
                _cleanup_free_ char *drv = fake_sysfs_driver_of(c->f, NIC);
                if (streq_ptr(drv, "vfio-pci") && access(c->node, F_OK) < 0)
                        node_appears(c);
                else if (!streq_ptr(drv, "vfio-pci"))
                        (void) unlink(c->node);
        }
        ck_assert_int_eq(vfpt_devprep_apply(c->s, p->snap, p->plan, c->records, c->vfio, &p->res), 0);
}

static const VfptPlanDevice *plan_device(const Pass *p, const char *address) {
        for (size_t i = 0; i < p->plan->n_devices; i++)
                if (p->plan->devices[i].device != SIZE_MAX &&
                    streq(p->snap->devices[p->plan->devices[i].device].name, address))
                        return &p->plan->devices[i];
        ck_abort_msg("%s is not in the plan", address);
        return NULL;
}

static const VfptDevice *snap_device(const Pass *p, const char *address) {
        for (size_t i = 0; i < p->snap->n_devices; i++)
                if (streq(p->snap->devices[i].name, address))
                        return &p->snap->devices[i];
        ck_abort_msg("%s is not in the snapshot", address);
        return NULL;
}

static void assert_reset_method(Ctx *c, const char *address, const char *want) {
        _cleanup_free_ char *v = fake_sysfs_reset_method_of(c->f, address);
        ck_assert_msg(streq_ptr(v, want), "%s: reset_method reads '%s', expected '%s'", address, strna(v), want);
}

static void assert_driver(Ctx *c, const char *address, const char *want) {
        _cleanup_free_ char *v = fake_sysfs_driver_of(c->f, address);
        ck_assert_msg(streq_ptr(v, want), "%s is on %s, expected %s", address, strna(v), strna(want));
}

static bool has_reset_record(Ctx *c, const char *address) {
        _cleanup_free_ char *p = strdup_printf("%s/%s/%s", c->records, VFPT_RESET_RECORDS_SUBDIR, address);
        return access(p, F_OK) == 0;
}

static bool strv_has_substring(char **l, const char *needle) {
        for (char **s = l; s && *s; s++)
                if (strstr(*s, needle))
                        return true;
        return false;
}

static unsigned reset_writes(Ctx *c) {
        unsigned n = 0;

        for (char *const *l = fake_kernel_log(c->f); l && *l; l++)
                if (strstr(*l, "/reset_method="))
                        n++;
        return n;
}

static void node_stat(Ctx *c, struct stat *st) {
        ck_assert_msg(lstat(c->node, st) == 0, "stat %s: %m", c->node);
}

START_TEST(test_reset_method_set_on_claim_and_default_written_back_on_release) {
        Pass p;
        Ctx c;

        ctx_init(&c);
        reconcile(&c, "[nic]\nids = 8086:10d3\nreset_method = bus\n", &p);
        assert_driver(&c, NIC, "vfio-pci");
        assert_reset_method(&c, NIC, "bus");
        ck_assert(has_reset_record(&c, NIC));
        ck_assert(strv_has_substring(p.res.changes, NIC ": reset_method set to 'bus'"));
        ck_assert_ptr_null(p.res.errors);
        ck_assert_str_eq(snap_device(&p, NIC)->reset_method, "bus");
        /* The USB function, claimed for its group, has no rule of its own. */
        assert_reset_method(&c, USB, "flr bus");
        pass_done(&p);

        /* Idempotent: a second pass writes nothing. */
        fake_kernel_reset_log(c.f);
        reconcile(&c, "[nic]\nids = 8086:10d3\nreset_method = bus\n", &p);
        ck_assert_uint_eq(fake_kernel_writes(c.f), 0);
        ck_assert_ptr_null(p.res.changes);
        pass_done(&p);

        reconcile(&c, "", &p);
        assert_driver(&c, NIC, "e1000e");
        assert_reset_method(&c, NIC, "pm bus");
        ck_assert(!has_reset_record(&c, NIC));
        ck_assert(strv_has_substring(p.res.changes, NIC ": reset_method back to default"));
        pass_done(&p);
        ctx_done(&c);
}
END_TEST

START_TEST(test_reset_method_not_offered_refuses_the_group_and_writes_nothing) {
        const VfptPlanDevice *pd;
        Pass p;
        Ctx c;

        ctx_init(&c);
        reconcile(&c, "[nic]\nids = 8086:10d3\nreset_method = flr bus\n", &p);
        pd = plan_device(&p, NIC);
        ck_assert_int_eq(pd->state, VFPT_STATE_REFUSED);
        ck_assert_msg(strstr(pd->reason, "reset method 'flr'") && strstr(pd->reason, "it offers: pm bus") &&
                      strstr(pd->reason, "rule 'nic'"), "reason: %s", pd->reason);
        /* The whole group stays with the host. */
        assert_driver(&c, NIC, "e1000e");
        assert_driver(&c, USB, "xhci_hcd");
        assert_reset_method(&c, NIC, "pm bus");
        ck_assert_uint_eq(reset_writes(&c), 0);
        pass_done(&p);
        ctx_done(&c);
}
END_TEST

START_TEST(test_device_without_reset_attribute_is_refused_when_a_rule_asks) {
        const VfptPlanDevice *pd;
        Pass p;
        Ctx c;

        ctx_init(&c);
        reconcile(&c, "[r]\nids = 10ec:8139\nreset_method = bus\n", &p);
        pd = plan_device(&p, OTHER);
        ck_assert_int_eq(pd->state, VFPT_STATE_REFUSED);
        ck_assert_msg(strstr(pd->reason, "offers no reset method for " OTHER), "reason: %s", pd->reason);
        assert_driver(&c, OTHER, "8139cp");
        pass_done(&p);
        ctx_done(&c);
}
END_TEST

/* Once vfpt wrote "bus" the attribute says only "bus": a new rule is
 * checked against what the kernel offered before, from the record. */
START_TEST(test_changed_reset_method_is_checked_against_the_recorded_offer) {
        Pass p;
        Ctx c;

        ctx_init(&c);
        reconcile(&c, "[nic]\nids = 8086:10d3\nreset_method = bus\n", &p);
        assert_reset_method(&c, NIC, "bus");
        pass_done(&p);

        reconcile(&c, "[nic]\nids = 8086:10d3\nreset_method = pm\n", &p);
        ck_assert_int_eq(plan_device(&p, NIC)->state, VFPT_STATE_CLAIMED);
        assert_reset_method(&c, NIC, "pm");
        pass_done(&p);

        reconcile(&c, "[nic]\nids = 8086:10d3\nreset_method = flr\n", &p);
        ck_assert_int_eq(plan_device(&p, NIC)->state, VFPT_STATE_REFUSED);
        ck_assert_msg(strstr(plan_device(&p, NIC)->reason, "it offers: pm bus"), "%s", plan_device(&p, NIC)->reason);
        pass_done(&p);

        /* The rule keeps the device but drops the key: default again. */
        reconcile(&c, "[nic]\nids = 8086:10d3\n", &p);
        assert_driver(&c, NIC, "vfio-pci");
        assert_reset_method(&c, NIC, "pm bus");
        ck_assert(!has_reset_record(&c, NIC));
        pass_done(&p);
        ctx_done(&c);
}
END_TEST

/* An administrator's own setting on a device vfpt never narrowed is theirs. */
START_TEST(test_release_leaves_a_reset_method_vfpt_did_not_set) {
        Pass p;
        Ctx c;

        ctx_init(&c);
        ck_assert_int_eq(fake_kernel_store(c.f, "bus/pci/devices/" NIC "/reset_method", "bus"), 0);
        reconcile(&c, "[nic]\nids = 8086:10d3\n", &p);
        pass_done(&p);
        reconcile(&c, "", &p);
        assert_driver(&c, NIC, "e1000e");
        assert_reset_method(&c, NIC, "bus");
        ck_assert_uint_eq(reset_writes(&c), 1); /* the test's own */
        pass_done(&p);
        ctx_done(&c);
}
END_TEST

START_TEST(test_failed_reset_write_is_reported_and_tried_again) {
        Pass p;
        Ctx c;

        ctx_init(&c);
        fake_kernel_fail(c.f, NIC, "reset_method", EIO, 0);
        reconcile(&c, "[nic]\nids = 8086:10d3\nreset_method = bus\n", &p);
        ck_assert_msg(strv_has_substring(p.res.errors, NIC ": cannot set reset_method to 'bus'") &&
                      strv_has_substring(p.res.errors, strerror(EIO)), "errors: %s",
                      p.res.errors ? p.res.errors[0] : "(none)");
        assert_reset_method(&c, NIC, "pm bus");
        pass_done(&p);

        reconcile(&c, "[nic]\nids = 8086:10d3\nreset_method = bus\n", &p);
        ck_assert_ptr_null(p.res.errors);
        assert_reset_method(&c, NIC, "bus");
        pass_done(&p);

        /* Release after the record exists gives "default" back. */
        reconcile(&c, "", &p);
        assert_reset_method(&c, NIC, "pm bus");
        pass_done(&p);
        ctx_done(&c);
}
END_TEST

START_TEST(test_owner_and_mode_applied_to_the_node_and_reapplied) {
        _cleanup_free_ char *rules = NULL, *want = NULL;
        struct stat st;
        Pass p;
        Ctx c;

        ctx_init(&c);
        rules = strdup_printf("[nic]\nids = 8086:10d3\nowner = %s\nmode = 0660\n", c.owner);
        reconcile(&c, rules, &p);
        node_stat(&c, &st);
        ck_assert_uint_eq(st.st_mode & 07777, 0660);
        ck_assert_uint_eq(st.st_uid, c.uid);
        ck_assert_uint_eq(st.st_gid, c.gid);
        ck_assert(strv_has_substring(p.res.changes, "mode set to 0660 (rule 'nic')"));
        ck_assert_ptr_null(p.res.errors);
        want = vfpt_node_owner_format(c.uid, c.gid, 0660);
        /* Every claimed device of the group shows the node, the one pulled in too. */
        ck_assert_str_eq(snap_device(&p, NIC)->node_owner, want);
        ck_assert_str_eq(snap_device(&p, USB)->node_owner, want);
        pass_done(&p);

        /* Someone (a udev rule, a person) changes it: the next pass puts it back. */
        ck_assert_int_eq(chmod(c.node, 0600), 0);
        if (geteuid() == 0)
                ck_assert_int_eq(chown(c.node, 0, 0), 0);
        reconcile(&c, rules, &p);
        node_stat(&c, &st);
        ck_assert_uint_eq(st.st_mode & 07777, 0660);
        ck_assert_uint_eq(st.st_uid, c.uid);
        pass_done(&p);

        /* The node goes with the release and comes back with the next claim
         * (a hotplug, a restart): it gets the owner and mode again. */
        reconcile(&c, "", &p);
        ck_assert_int_ne(access(c.node, F_OK), 0);
        pass_done(&p);
        reconcile(&c, rules, &p);
        node_stat(&c, &st);
        ck_assert_uint_eq(st.st_mode & 07777, 0660);
        ck_assert_uint_eq(st.st_uid, c.uid);
        pass_done(&p);
        ctx_done(&c);
}
END_TEST

START_TEST(test_node_is_left_alone_without_owner_or_mode) {
        _cleanup_free_ char *want = NULL;
        struct stat st;
        Pass p;
        Ctx c;

        ctx_init(&c);
        reconcile(&c, "[nic]\nids = 8086:10d3\n", &p);
        node_stat(&c, &st);
        ck_assert_uint_eq(st.st_mode & 07777, 0600);
        ck_assert_ptr_null(p.res.changes);
        want = vfpt_node_owner_format(st.st_uid, st.st_gid, 0600);
        ck_assert_str_eq(snap_device(&p, NIC)->node_owner, want);
        pass_done(&p);
        ctx_done(&c);
}
END_TEST

START_TEST(test_rules_with_different_owners_in_one_group_refuse_it) {
        const VfptPlanDevice *pd;
        Pass p;
        Ctx c;

        ctx_init(&c);
        reconcile(&c, "[nic]\nids = 8086:10d3\nowner = 4000001\n[usb]\nids = 1b21:1242\nowner = 4000002:4000002\n", &p);
        pd = plan_device(&p, USB);
        ck_assert_int_eq(pd->state, VFPT_STATE_REFUSED);
        ck_assert_msg(strstr(pd->reason, "rules 'nic' (owner 4000001) and 'usb' (owner 4000002:4000002)") &&
                      strstr(pd->reason, "group 7"), "reason: %s", pd->reason);
        assert_driver(&c, NIC, "e1000e");
        assert_driver(&c, USB, "xhci_hcd");
        pass_done(&p);

        reconcile(&c, "[nic]\nids = 8086:10d3\nmode = 0660\n[usb]\nids = 1b21:1242\nmode = 0666\n", &p);
        ck_assert_int_eq(plan_device(&p, NIC)->state, VFPT_STATE_REFUSED);
        ck_assert_msg(strstr(plan_device(&p, NIC)->reason, "different modes"), "%s", plan_device(&p, NIC)->reason);
        pass_done(&p);
        ctx_done(&c);
}
END_TEST

/* Agreeing rules, or one that says nothing, are no conflict. */
START_TEST(test_rules_that_agree_or_say_nothing_share_a_group) {
        _cleanup_free_ char *rules = NULL;
        struct stat st;
        Pass p;
        Ctx c;

        ctx_init(&c);
        rules = strdup_printf("[nic]\nids = 8086:10d3\nowner = %s\n[usb]\nids = 1b21:1242\nowner = %s\nmode = 0640\n",
                              c.owner, c.owner);
        reconcile(&c, rules, &p);
        ck_assert_int_eq(plan_device(&p, NIC)->state, VFPT_STATE_CLAIMED);
        ck_assert_int_eq(plan_device(&p, USB)->state, VFPT_STATE_CLAIMED);
        node_stat(&c, &st);
        ck_assert_uint_eq(st.st_mode & 07777, 0640);
        pass_done(&p);
        ctx_done(&c);
}
END_TEST

START_TEST(test_a_symlink_in_place_of_the_node_is_not_followed) {
        _cleanup_free_ char *target = NULL;
        struct stat st;
        Pass p;
        Ctx c;
        int fd;

        ctx_init(&c);
        target = strdup_printf("%s/precious", c.tmp);
        fd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        ck_assert_int_ge(fd, 0);
        close(fd);
        ck_assert_int_eq(symlink(target, c.node), 0);
        reconcile(&c, "[nic]\nids = 8086:10d3\nmode = 0666\n", &p);
        ck_assert(strv_has_substring(p.res.errors, "is not a device node"));
        ck_assert_int_eq(stat(target, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0600);
        pass_done(&p);
        ctx_done(&c);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("devprep");
        TCase *tc = tcase_create("reset_method");

        tcase_add_test(tc, test_reset_method_set_on_claim_and_default_written_back_on_release);
        tcase_add_test(tc, test_reset_method_not_offered_refuses_the_group_and_writes_nothing);
        tcase_add_test(tc, test_device_without_reset_attribute_is_refused_when_a_rule_asks);
        tcase_add_test(tc, test_changed_reset_method_is_checked_against_the_recorded_offer);
        tcase_add_test(tc, test_release_leaves_a_reset_method_vfpt_did_not_set);
        tcase_add_test(tc, test_failed_reset_write_is_reported_and_tried_again);
        suite_add_tcase(s, tc);

        tc = tcase_create("node");
        tcase_add_test(tc, test_owner_and_mode_applied_to_the_node_and_reapplied);
        tcase_add_test(tc, test_node_is_left_alone_without_owner_or_mode);
        tcase_add_test(tc, test_rules_with_different_owners_in_one_group_refuse_it);
        tcase_add_test(tc, test_rules_that_agree_or_say_nothing_share_a_group);
        tcase_add_test(tc, test_a_symlink_in_place_of_the_node_is_not_followed);
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
