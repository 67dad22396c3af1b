/* test-plan.c — unit tests for the planner: from rules and a hand-built
 * snapshot, which devices are claimed, in which order the steps come, and
 * which groups are refused and why. Plain data only, no sysfs. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vfpt-plan.h"

/* ---- fixtures ----------------------------------------------------------- */

#define MAX_DEVICES 16

typedef struct Fixture {
        VfptSnapshot snap;
        VfptDevice devices[MAX_DEVICES];
        VfptConfig *config;
        VfptPlan *plan;
} Fixture;

static void fixture_init(Fixture *f, bool iommu) {
        memset(f, 0, sizeof(*f));
        f->snap.devices = f->devices;
        f->snap.iommu_active = iommu;
}

static char *xstrdup(const char *s) {
        char *r;

        if (!s)
                return NULL;
        r = strdup(s);
        ck_assert_ptr_nonnull(r);
        return r;
}

/* Devices must be added in address order, as the snapshot keeps them. */
static size_t add_device(Fixture *f, const char *address, uint16_t vendor, uint16_t device,
                         const char *driver, int group) {
        size_t i = f->snap.n_devices;
        VfptDevice *d = &f->devices[i];

        ck_assert_uint_lt(i, MAX_DEVICES);
        ck_assert_int_eq(vfpt_address_parse(address, &d->address), 0);
        vfpt_address_format(&d->address, d->name);
        if (i > 0)
                ck_assert_int_lt(vfpt_address_compare(&f->devices[i - 1].address, &d->address), 0);
        d->vendor = vendor;
        d->device = device;
        d->class = 0x020000;
        d->driver = xstrdup(driver);
        d->group = group;
        f->snap.n_devices++;
        return i;
}

static size_t add_bridge(Fixture *f, const char *address, const char *driver, int group) {
        size_t i = add_device(f, address, 0x1b36, 0x000e, driver, group);

        f->devices[i].bridge = true;
        f->devices[i].class = 0x060400;
        return i;
}

static void set_override(Fixture *f, size_t i, const char *override) {
        free(f->devices[i].driver_override);
        f->devices[i].driver_override = xstrdup(override);
}

static void set_in_use(Fixture *f, size_t i, const char *why) {
        free(f->devices[i].in_use);
        f->devices[i].in_use = xstrdup(why);
}

static void set_unchecked(Fixture *f, size_t i, const char *why) {
        free(f->devices[i].unchecked);
        f->devices[i].unchecked = xstrdup(why);
}

static void fixture_done(Fixture *f) {
        vfpt_plan_free(f->plan);
        vfpt_config_free(f->config);
        for (size_t i = 0; i < f->snap.n_devices; i++) {
                free(f->devices[i].driver);
                free(f->devices[i].driver_override);
                free(f->devices[i].in_use);
                free(f->devices[i].unchecked);
        }
}

static const VfptPlan *plan(Fixture *f, const char *config_text) {
        int r;

        r = vfpt_config_load_string(&f->config, "test.conf", config_text);
        ck_assert_int_eq(r, 0);
        ck_assert_msg(f->config->n_errors == 0, "config error: %s",
                      f->config->n_errors ? f->config->errors[0].message : "");
        r = vfpt_plan_build(&f->plan, f->config, &f->snap);
        ck_assert_int_eq(r, 0);
        ck_assert_ptr_nonnull(f->plan);
        return f->plan;
}

static const VfptRule *rule(const Fixture *f, const char *name) {
        for (size_t i = 0; i < f->config->n_rules; i++)
                if (strcmp(f->config->rules[i].name, name) == 0)
                        return &f->config->rules[i];
        ck_abort_msg("no rule %s", name);
        return NULL;
}

static const VfptPlanGroup *group(const VfptPlan *p, int number) {
        for (size_t i = 0; i < p->n_groups; i++)
                if (p->groups[i].group == number)
                        return &p->groups[i];
        ck_abort_msg("group %d not in plan", number);
        return NULL;
}

static const VfptPlanDevice *pdev(const VfptPlan *p, size_t index) {
        const VfptPlanDevice *d = vfpt_plan_find_device(p, index);

        ck_assert_msg(d != NULL, "snapshot device %zu not in plan", index);
        ck_assert_uint_eq(d->device, index);
        return d;
}

static void assert_contains(const char *s, const char *needle) {
        ck_assert_msg(s && strstr(s, needle), "'%s' does not contain '%s'", s ? s : "(null)", needle);
}

static bool group_has_member(const VfptPlanGroup *g, size_t index) {
        for (size_t i = 0; i < g->n_members; i++)
                if (g->members[i] == index)
                        return true;
        return false;
}

#define ANY_DRIVER ((const char *) 1)

typedef struct ExpectedStep {
        VfptStepKind kind;
        size_t device;
        const char *driver; /* NULL: must be NULL; ANY_DRIVER: not checked */
} ExpectedStep;

static void assert_steps(const VfptPlanGroup *g, const ExpectedStep *expected, size_t n) {
        ck_assert_msg(!g->refused, "group %d refused: %s", g->group, g->reason ? g->reason : "");
        ck_assert_uint_eq(g->n_steps, n);
        for (size_t i = 0; i < n; i++) {
                const VfptStep *s = &g->steps[i];

                ck_assert_msg(s->kind == expected[i].kind, "step %zu is %s, expected %s", i,
                              vfpt_step_kind_to_string(s->kind), vfpt_step_kind_to_string(expected[i].kind));
                ck_assert_msg(s->device == expected[i].device, "step %zu (%s) on device %zu, expected %zu", i,
                              vfpt_step_kind_to_string(s->kind), s->device, expected[i].device);
                if (expected[i].driver == ANY_DRIVER)
                        continue;
                if (!expected[i].driver)
                        ck_assert_msg(s->driver == NULL, "step %zu (%s) driver '%s', expected none", i,
                                      vfpt_step_kind_to_string(s->kind), s->driver);
                else
                        ck_assert_msg(s->driver && strcmp(s->driver, expected[i].driver) == 0,
                                      "step %zu (%s) driver '%s', expected '%s'", i,
                                      vfpt_step_kind_to_string(s->kind), s->driver ? s->driver : "(null)",
                                      expected[i].driver);
        }
}

static void assert_no_step_touches(const VfptPlan *p, size_t index) {
        for (size_t i = 0; i < p->n_groups; i++)
                for (size_t j = 0; j < p->groups[i].n_steps; j++)
                        ck_assert_msg(p->groups[i].steps[j].device != index,
                                      "group %d step %zu touches device %zu", p->groups[i].group, j, index);
}

static void assert_refused(const VfptPlan *p, const VfptPlanGroup *g) {
        ck_assert_msg(g->refused, "group %d not refused", g->group);
        ck_assert_ptr_nonnull(g->reason);
        ck_assert_uint_eq(g->n_steps, 0);
        for (size_t i = 0; i < p->n_devices; i++) {
                const VfptPlanDevice *d = &p->devices[i];

                if (d->device == SIZE_MAX || !group_has_member(g, d->device))
                        continue;
                ck_assert_msg(d->state == VFPT_STATE_REFUSED, "device %zu of refused group is %s", d->device,
                              vfpt_device_state_to_string(d->state));
                ck_assert_ptr_nonnull(d->reason);
        }
}

/* ---- matching and targets ----------------------------------------------- */

START_TEST(test_nothing_matched_gives_empty_plan)
{
        Fixture f;
        const VfptPlan *p;

        fixture_init(&f, true);
        add_device(&f, "0000:00:02.0", 0x8086, 0x10d3, "e1000e", 1);
        add_device(&f, "0000:00:03.0", 0x1af4, 0x1041, "virtio-pci", 2);
        p = plan(&f, "[gpu]\nids = 10de:*\n[slot]\naddresses = 0000:00:04.*\n");

        ck_assert_uint_eq(p->n_groups, 0);
        ck_assert_uint_eq(p->n_devices, 0);
        ck_assert_ptr_null(vfpt_plan_find_device(p, 0));
        ck_assert_ptr_null(vfpt_plan_find_device(p, 1));
        fixture_done(&f);
}
END_TEST

START_TEST(test_matched_device_gets_rule_target_and_group)
{
        Fixture f;
        const VfptPlan *p;
        const VfptPlanDevice *d;
        size_t nic;

        fixture_init(&f, true);
        add_device(&f, "0000:00:02.0", 0x8086, 0x10d3, "e1000e", 4);
        nic = add_device(&f, "0000:03:00.0", 0x8086, 0x1533, "igb", 5);
        p = plan(&f, "[other]\nids = 10de:*\n[nic]\nids = 8086:1533\n");

        ck_assert_uint_eq(p->n_devices, 1);
        d = pdev(p, nic);
        ck_assert_ptr_eq(d->rule, rule(&f, "nic"));
        ck_assert_str_eq(d->target, "vfio-pci");
        ck_assert_int_eq(d->group, 5);
        ck_assert_int_eq(d->state, VFPT_STATE_CLAIM);
        ck_assert_ptr_null(vfpt_plan_find_device(p, 0));

        ck_assert_uint_eq(p->n_groups, 1);
        ck_assert_int_eq(p->groups[0].group, 5);
        ck_assert(!p->groups[0].refused);
        ck_assert_uint_eq(p->groups[0].n_members, 1);
        ck_assert_uint_eq(p->groups[0].members[0], nic);
        fixture_done(&f);
}
END_TEST

START_TEST(test_first_matching_rule_in_config_order_wins)
{
        Fixture f;
        const VfptPlan *p;
        size_t audio, sata;

        fixture_init(&f, true);
        sata = add_device(&f, "0000:00:1f.2", 0x8086, 0x2922, "ahci", 7);
        audio = add_device(&f, "0000:00:1f.3", 0x8086, 0x2930, "snd_hda_intel", 7);
        /* 1f.3 matches both rules; 1f.2 only the second. */
        p = plan(&f, "[slot]\naddresses = 0000:00:1f.3\n[intel]\nids = 8086:*\n");

        ck_assert_ptr_eq(pdev(p, audio)->rule, rule(&f, "slot"));
        ck_assert_ptr_eq(pdev(p, sata)->rule, rule(&f, "intel"));
        ck_assert(!group(p, 7)->refused);
        fixture_done(&f);
}
END_TEST

START_TEST(test_variant_driver_is_the_target)
{
        Fixture f;
        const VfptPlan *p;
        size_t nic;

        fixture_init(&f, true);
        nic = add_device(&f, "0000:03:00.0", 0x15b3, 0x101e, "mlx5_core", 3);
        p = plan(&f, "[vf]\nids = 15b3:101e\ndriver = mlx5_vfio_pci\n");

        ck_assert_str_eq(pdev(p, nic)->target, "mlx5_vfio_pci");
        assert_steps(group(p, 3), (ExpectedStep[]) {
                { VFPT_STEP_OVERRIDE, nic, "mlx5_vfio_pci" },
                { VFPT_STEP_RECORD, nic, "mlx5_core" },
                { VFPT_STEP_UNBIND, nic, "mlx5_core" },
                { VFPT_STEP_PROBE, nic, ANY_DRIVER },
                { VFPT_STEP_VERIFY, nic, "mlx5_vfio_pci" },
        }, 5);
        fixture_done(&f);
}
END_TEST

/* ---- steps ---------------------------------------------------------------- */

START_TEST(test_bound_endpoint_steps_override_record_unbind_probe_verify)
{
        Fixture f;
        const VfptPlan *p;
        size_t nic;

        fixture_init(&f, true);
        nic = add_device(&f, "0000:03:00.0", 0x8086, 0x10d3, "e1000e", 9);
        p = plan(&f, "[nic]\naddresses = 0000:03:00.0\n");

        assert_steps(group(p, 9), (ExpectedStep[]) {
                { VFPT_STEP_OVERRIDE, nic, "vfio-pci" },
                { VFPT_STEP_RECORD, nic, "e1000e" },
                { VFPT_STEP_UNBIND, nic, "e1000e" },
                { VFPT_STEP_PROBE, nic, ANY_DRIVER },
                { VFPT_STEP_VERIFY, nic, "vfio-pci" },
        }, 5);
        ck_assert_int_eq(pdev(p, nic)->state, VFPT_STATE_CLAIM);
        fixture_done(&f);
}
END_TEST

START_TEST(test_unbound_endpoint_is_not_unbound)
{
        Fixture f;
        const VfptPlan *p;
        size_t nic;

        fixture_init(&f, true);
        nic = add_device(&f, "0000:03:00.0", 0x8086, 0x10d3, NULL, 9);
        p = plan(&f, "[nic]\nids = 8086:10d3\n");

        assert_steps(group(p, 9), (ExpectedStep[]) {
                { VFPT_STEP_OVERRIDE, nic, "vfio-pci" },
                { VFPT_STEP_RECORD, nic, NULL },
                { VFPT_STEP_PROBE, nic, ANY_DRIVER },
                { VFPT_STEP_VERIFY, nic, "vfio-pci" },
        }, 4);
        ck_assert_int_eq(pdev(p, nic)->state, VFPT_STATE_CLAIM);
        fixture_done(&f);
}
END_TEST

START_TEST(test_device_on_target_with_override_is_claimed_without_steps)
{
        Fixture f;
        const VfptPlan *p;
        size_t nic;

        fixture_init(&f, true);
        nic = add_device(&f, "0000:03:00.0", 0x8086, 0x10d3, "vfio-pci", 9);
        set_override(&f, nic, "vfio-pci");
        p = plan(&f, "[nic]\nids = 8086:10d3\n");

        ck_assert_int_eq(pdev(p, nic)->state, VFPT_STATE_CLAIMED);
        ck_assert(!group(p, 9)->refused);
        ck_assert_uint_eq(group(p, 9)->n_steps, 0);
        fixture_done(&f);
}
END_TEST

START_TEST(test_device_on_target_without_override_gets_only_override_and_verify)
{
        Fixture f;
        const VfptPlan *p;
        size_t nic;

        fixture_init(&f, true);
        nic = add_device(&f, "0000:03:00.0", 0x8086, 0x10d3, "vfio-pci", 9);
        p = plan(&f, "[nic]\nids = 8086:10d3\n");

        /* Without the override, the next unbind would hand it back to the
         * host driver: set it, but do not unbind or probe a working device. */
        assert_steps(group(p, 9), (ExpectedStep[]) {
                { VFPT_STEP_OVERRIDE, nic, "vfio-pci" },
                { VFPT_STEP_VERIFY, nic, "vfio-pci" },
        }, 2);
        ck_assert_int_eq(pdev(p, nic)->state, VFPT_STATE_CLAIM);
        fixture_done(&f);
}
END_TEST

START_TEST(test_override_already_set_but_host_driver_bound_gets_full_steps)
{
        Fixture f;
        const VfptPlan *p;
        size_t nic;

        fixture_init(&f, true);
        nic = add_device(&f, "0000:03:00.0", 0x8086, 0x10d3, "e1000e", 9);
        set_override(&f, nic, "vfio-pci");
        p = plan(&f, "[nic]\nids = 8086:10d3\n");

        ck_assert_int_eq(pdev(p, nic)->state, VFPT_STATE_CLAIM);
        assert_steps(group(p, 9), (ExpectedStep[]) {
                { VFPT_STEP_OVERRIDE, nic, "vfio-pci" },
                { VFPT_STEP_RECORD, nic, "e1000e" },
                { VFPT_STEP_UNBIND, nic, "e1000e" },
                { VFPT_STEP_PROBE, nic, ANY_DRIVER },
                { VFPT_STEP_VERIFY, nic, "vfio-pci" },
        }, 5);
        fixture_done(&f);
}
END_TEST

START_TEST(test_device_on_other_vfio_driver_is_moved_to_target)
{
        Fixture f;
        const VfptPlan *p;
        size_t nic;

        fixture_init(&f, true);
        nic = add_device(&f, "0000:03:00.0", 0x8086, 0x10d3, "vfio-pci", 9);
        set_override(&f, nic, "vfio-pci");
        p = plan(&f, "[nic]\nids = 8086:10d3\ndriver = pci-stub\n");

        assert_steps(group(p, 9), (ExpectedStep[]) {
                { VFPT_STEP_OVERRIDE, nic, "pci-stub" },
                { VFPT_STEP_RECORD, nic, "vfio-pci" },
                { VFPT_STEP_UNBIND, nic, "vfio-pci" },
                { VFPT_STEP_PROBE, nic, ANY_DRIVER },
                { VFPT_STEP_VERIFY, nic, "pci-stub" },
        }, 5);
        fixture_done(&f);
}
END_TEST

START_TEST(test_claim_pulls_in_every_endpoint_with_overrides_first)
{
        Fixture f;
        const VfptPlan *p;
        const VfptPlanGroup *g;
        size_t a, b, c;

        fixture_init(&f, true);
        add_device(&f, "0000:00:02.0", 0x1234, 0x1111, "bochs-drm", 1);
        a = add_device(&f, "0000:00:1f.0", 0x8086, 0x2918, "lpc_ich", 7);
        b = add_device(&f, "0000:00:1f.2", 0x8086, 0x2922, NULL, 7);
        c = add_device(&f, "0000:00:1f.3", 0x8086, 0x2930, "snd_hda_intel", 7);
        add_device(&f, "0000:01:00.0", 0x1af4, 0x1041, "virtio-pci", 8);
        p = plan(&f, "[audio]\nids = 8086:2930\n");

        ck_assert_uint_eq(p->n_groups, 1);
        g = group(p, 7);
        ck_assert_uint_eq(g->n_members, 3);
        ck_assert(group_has_member(g, a) && group_has_member(g, b) && group_has_member(g, c));

        ck_assert_uint_eq(p->n_devices, 3);
        ck_assert_ptr_eq(pdev(p, c)->rule, rule(&f, "audio"));
        ck_assert_ptr_null(pdev(p, a)->rule);
        ck_assert_ptr_null(pdev(p, b)->rule);
        for (size_t i = a; i <= c; i++) {
                ck_assert_str_eq(pdev(p, i)->target, "vfio-pci");
                ck_assert_int_eq(pdev(p, i)->group, 7);
                ck_assert_int_eq(pdev(p, i)->state, VFPT_STATE_CLAIM);
        }

        /* Every override before any unbind, so that no member can be
         * grabbed by its host driver while the group is half claimed. */
        assert_steps(g, (ExpectedStep[]) {
                { VFPT_STEP_OVERRIDE, a, "vfio-pci" },
                { VFPT_STEP_OVERRIDE, b, "vfio-pci" },
                { VFPT_STEP_OVERRIDE, c, "vfio-pci" },
                { VFPT_STEP_RECORD, a, "lpc_ich" },
                { VFPT_STEP_UNBIND, a, "lpc_ich" },
                { VFPT_STEP_PROBE, a, ANY_DRIVER },
                { VFPT_STEP_VERIFY, a, "vfio-pci" },
                { VFPT_STEP_RECORD, b, NULL },
                { VFPT_STEP_PROBE, b, ANY_DRIVER },
                { VFPT_STEP_VERIFY, b, "vfio-pci" },
                { VFPT_STEP_RECORD, c, "snd_hda_intel" },
                { VFPT_STEP_UNBIND, c, "snd_hda_intel" },
                { VFPT_STEP_PROBE, c, ANY_DRIVER },
                { VFPT_STEP_VERIFY, c, "vfio-pci" },
        }, 14);
        fixture_done(&f);
}
END_TEST

START_TEST(test_pulled_in_device_gets_the_group_driver)
{
        Fixture f;
        const VfptPlan *p;
        size_t a, b;

        fixture_init(&f, true);
        a = add_device(&f, "0000:05:00.0", 0x10de, 0x1b80, "nouveau", 12);
        b = add_device(&f, "0000:05:00.1", 0x10de, 0x10f0, "snd_hda_intel", 12);
        p = plan(&f, "[gpu]\nids = 10de:1b80\ndriver = pci-stub\n");

        ck_assert_ptr_null(pdev(p, b)->rule);
        ck_assert_str_eq(pdev(p, b)->target, "pci-stub");
        assert_steps(group(p, 12), (ExpectedStep[]) {
                { VFPT_STEP_OVERRIDE, a, "pci-stub" },
                { VFPT_STEP_OVERRIDE, b, "pci-stub" },
                { VFPT_STEP_RECORD, a, "nouveau" },
                { VFPT_STEP_UNBIND, a, "nouveau" },
                { VFPT_STEP_PROBE, a, ANY_DRIVER },
                { VFPT_STEP_VERIFY, a, "pci-stub" },
                { VFPT_STEP_RECORD, b, "snd_hda_intel" },
                { VFPT_STEP_UNBIND, b, "snd_hda_intel" },
                { VFPT_STEP_PROBE, b, ANY_DRIVER },
                { VFPT_STEP_VERIFY, b, "pci-stub" },
        }, 10);
        fixture_done(&f);
}
END_TEST

START_TEST(test_bridge_is_member_but_never_claimed_nor_blocking)
{
        Fixture f;
        const VfptPlan *p;
        const VfptPlanGroup *g;
        size_t bridge, a, b;

        fixture_init(&f, true);
        /* pcie-pci-bridge with two devices behind it: one group. */
        bridge = add_bridge(&f, "0000:01:00.0", "pcieport", 6);
        a = add_device(&f, "0000:02:01.0", 0x8086, 0x100e, "e1000", 6);
        b = add_device(&f, "0000:02:02.0", 0x8086, 0x100e, NULL, 6);
        p = plan(&f, "[nic]\naddresses = 0000:02:01.0\n");

        g = group(p, 6);
        ck_assert_uint_eq(g->n_members, 3);
        ck_assert(group_has_member(g, bridge));
        ck_assert_ptr_null(vfpt_plan_find_device(p, bridge));
        ck_assert_uint_eq(p->n_devices, 2);
        assert_steps(g, (ExpectedStep[]) {
                { VFPT_STEP_OVERRIDE, a, "vfio-pci" },
                { VFPT_STEP_OVERRIDE, b, "vfio-pci" },
                { VFPT_STEP_RECORD, a, "e1000" },
                { VFPT_STEP_UNBIND, a, "e1000" },
                { VFPT_STEP_PROBE, a, ANY_DRIVER },
                { VFPT_STEP_VERIFY, a, "vfio-pci" },
                { VFPT_STEP_RECORD, b, NULL },
                { VFPT_STEP_PROBE, b, ANY_DRIVER },
                { VFPT_STEP_VERIFY, b, "vfio-pci" },
        }, 9);
        assert_no_step_touches(p, bridge);
        fixture_done(&f);
}
END_TEST

START_TEST(test_claimed_group_has_no_steps)
{
        Fixture f;
        const VfptPlan *p;
        size_t bridge, a, b;

        fixture_init(&f, true);
        bridge = add_bridge(&f, "0000:01:00.0", "pcieport", 6);
        a = add_device(&f, "0000:02:01.0", 0x8086, 0x100e, "vfio-pci", 6);
        b = add_device(&f, "0000:02:02.0", 0x8086, 0x100e, "vfio-pci", 6);
        set_override(&f, a, "vfio-pci");
        set_override(&f, b, "vfio-pci");
        p = plan(&f, "[nic]\nids = 8086:100e\n");

        /* Running the plan again after it succeeded changes nothing. */
        ck_assert(!group(p, 6)->refused);
        ck_assert_uint_eq(group(p, 6)->n_steps, 0);
        ck_assert_int_eq(pdev(p, a)->state, VFPT_STATE_CLAIMED);
        ck_assert_int_eq(pdev(p, b)->state, VFPT_STATE_CLAIMED);
        ck_assert_ptr_null(vfpt_plan_find_device(p, bridge));
        fixture_done(&f);
}
END_TEST

START_TEST(test_half_claimed_group_steps_only_the_rest)
{
        Fixture f;
        const VfptPlan *p;
        size_t a, b;

        fixture_init(&f, true);
        a = add_device(&f, "0000:05:00.0", 0x10de, 0x1b80, "vfio-pci", 12);
        b = add_device(&f, "0000:05:00.1", 0x10de, 0x10f0, "snd_hda_intel", 12);
        set_override(&f, a, "vfio-pci");
        p = plan(&f, "[gpu]\nids = 10de:*\n");

        ck_assert_int_eq(pdev(p, a)->state, VFPT_STATE_CLAIMED);
        ck_assert_int_eq(pdev(p, b)->state, VFPT_STATE_CLAIM);
        assert_steps(group(p, 12), (ExpectedStep[]) {
                { VFPT_STEP_OVERRIDE, b, "vfio-pci" },
                { VFPT_STEP_RECORD, b, "snd_hda_intel" },
                { VFPT_STEP_UNBIND, b, "snd_hda_intel" },
                { VFPT_STEP_PROBE, b, ANY_DRIVER },
                { VFPT_STEP_VERIFY, b, "vfio-pci" },
        }, 5);
        fixture_done(&f);
}
END_TEST

START_TEST(test_only_touched_groups_are_planned_in_group_order)
{
        Fixture f;
        const VfptPlan *p;

        fixture_init(&f, true);
        add_device(&f, "0000:00:02.0", 0x8086, 0x10d3, "e1000e", 30);
        add_device(&f, "0000:00:03.0", 0x1af4, 0x1041, "virtio-pci", 2);
        add_device(&f, "0000:00:04.0", 0x8086, 0x10d3, "e1000e", 4);
        p = plan(&f, "[nics]\nids = 8086:10d3\n");

        ck_assert_uint_eq(p->n_groups, 2);
        ck_assert_int_eq(p->groups[0].group, 4);
        ck_assert_int_eq(p->groups[1].group, 30);
        ck_assert_ptr_null(vfpt_plan_find_device(p, 1));
        fixture_done(&f);
}
END_TEST

/* ---- group policy --------------------------------------------------------- */

START_TEST(test_strict_refuses_group_with_unmatched_endpoint)
{
        Fixture f;
        const VfptPlan *p;
        const VfptPlanGroup *g;
        size_t nic, other;

        fixture_init(&f, true);
        nic = add_device(&f, "0000:00:04.0", 0x8086, 0x10d3, "e1000e", 7);
        other = add_device(&f, "0000:00:05.0", 0x8086, 0x100e, "e1000", 7);
        p = plan(&f, "[nic]\nids = 8086:10d3\ngroup = strict\n");

        g = group(p, 7);
        assert_refused(p, g);
        assert_contains(g->reason, "0000:00:05.0");
        assert_contains(g->reason, "8086:100e");
        assert_contains(g->reason, "strict");
        ck_assert_int_eq(pdev(p, nic)->state, VFPT_STATE_REFUSED);
        assert_contains(pdev(p, nic)->reason, "0000:00:05.0");
        assert_no_step_touches(p, other);
        fixture_done(&f);
}
END_TEST

START_TEST(test_strict_accepts_group_whose_endpoints_all_match)
{
        Fixture f;
        const VfptPlan *p;
        size_t bridge, a, b;

        fixture_init(&f, true);
        bridge = add_bridge(&f, "0000:01:00.0", "pcieport", 6);
        a = add_device(&f, "0000:02:01.0", 0x8086, 0x10d3, "e1000e", 6);
        b = add_device(&f, "0000:02:02.0", 0x8086, 0x100e, "e1000", 6);
        /* The bridge matches no rule: bridges do not count under strict. */
        p = plan(&f, "[one]\nids = 8086:10d3\ngroup = strict\n[two]\naddresses = 0000:02:02.0\n");

        ck_assert(!group(p, 6)->refused);
        ck_assert_uint_eq(group(p, 6)->n_steps, 2 + 4 + 4);
        ck_assert_ptr_eq(pdev(p, a)->rule, rule(&f, "one"));
        ck_assert_ptr_eq(pdev(p, b)->rule, rule(&f, "two"));
        assert_no_step_touches(p, bridge);
        fixture_done(&f);
}
END_TEST

START_TEST(test_strict_in_any_rule_of_the_group_applies)
{
        Fixture f;
        const VfptPlan *p;

        fixture_init(&f, true);
        add_device(&f, "0000:00:1f.0", 0x8086, 0x2918, "lpc_ich", 7);
        add_device(&f, "0000:00:1f.2", 0x8086, 0x2922, "ahci", 7);
        add_device(&f, "0000:00:1f.3", 0x8086, 0x2930, "snd_hda_intel", 7);
        p = plan(&f, "[lpc]\naddresses = 0000:00:1f.0\n"
                     "[audio]\naddresses = 0000:00:1f.3\ngroup = strict\n");

        assert_refused(p, group(p, 7));
        assert_contains(group(p, 7)->reason, "0000:00:1f.2");
        fixture_done(&f);
}
END_TEST

START_TEST(test_rules_with_different_drivers_in_one_group_are_refused)
{
        Fixture f;
        const VfptPlan *p;
        const VfptPlanGroup *g;

        fixture_init(&f, true);
        add_device(&f, "0000:00:1f.0", 0x8086, 0x2918, "lpc_ich", 7);
        add_device(&f, "0000:00:1f.2", 0x8086, 0x2922, "ahci", 7);
        add_device(&f, "0000:00:1f.3", 0x8086, 0x2930, "snd_hda_intel", 7);
        /* Which driver would 1f.2 get? Neither guess is safe. */
        p = plan(&f, "[lpc-rule]\naddresses = 0000:00:1f.0\n"
                     "[audio-rule]\naddresses = 0000:00:1f.3\ndriver = pci-stub\n");

        g = group(p, 7);
        assert_refused(p, g);
        assert_contains(g->reason, "lpc-rule");
        assert_contains(g->reason, "audio-rule");
        fixture_done(&f);
}
END_TEST

START_TEST(test_rules_agreeing_on_driver_share_a_group)
{
        Fixture f;
        const VfptPlan *p;
        size_t a, b, c;

        fixture_init(&f, true);
        a = add_device(&f, "0000:00:1f.0", 0x8086, 0x2918, "lpc_ich", 7);
        b = add_device(&f, "0000:00:1f.2", 0x8086, 0x2922, "ahci", 7);
        c = add_device(&f, "0000:00:1f.3", 0x8086, 0x2930, "snd_hda_intel", 7);
        p = plan(&f, "[lpc-rule]\naddresses = 0000:00:1f.0\ndriver = pci-stub\n"
                     "[audio-rule]\naddresses = 0000:00:1f.3\ndriver = pci-stub\n");

        ck_assert(!group(p, 7)->refused);
        ck_assert_ptr_eq(pdev(p, a)->rule, rule(&f, "lpc-rule"));
        ck_assert_ptr_null(pdev(p, b)->rule);
        ck_assert_str_eq(pdev(p, b)->target, "pci-stub");
        ck_assert_ptr_eq(pdev(p, c)->rule, rule(&f, "audio-rule"));
        ck_assert_uint_eq(group(p, 7)->n_steps, 3 + 4 + 4 + 4);
        fixture_done(&f);
}
END_TEST

/* ---- guards ---------------------------------------------------------------- */

START_TEST(test_in_use_member_refuses_group_naming_device_reason_and_rule)
{
        Fixture f;
        const VfptPlan *p;
        const VfptPlanGroup *g;
        size_t disk, other;

        fixture_init(&f, true);
        disk = add_device(&f, "0000:03:00.0", 0x1b36, 0x0010, "nvme", 5);
        other = add_device(&f, "0000:03:00.1", 0x1b36, 0x0011, NULL, 5);
        set_in_use(&f, disk, "backs the filesystem mounted on /");
        p = plan(&f, "[storage]\nids = 1b36:0010\n");

        g = group(p, 5);
        assert_refused(p, g);
        assert_contains(g->reason, "0000:03:00.0");
        assert_contains(g->reason, "in use");
        assert_contains(g->reason, "backs the filesystem mounted on /");
        assert_contains(g->reason, "storage");
        ck_assert_int_eq(pdev(p, disk)->state, VFPT_STATE_REFUSED);
        /* The whole group or nothing: the idle member is not claimed either. */
        assert_no_step_touches(p, other);
        fixture_done(&f);
}
END_TEST

START_TEST(test_in_use_pulled_in_member_refuses_group)
{
        Fixture f;
        const VfptPlan *p;
        const VfptPlanGroup *g;
        size_t nic, disk;

        fixture_init(&f, true);
        nic = add_device(&f, "0000:03:00.0", 0x8086, 0x10d3, "e1000e", 5);
        disk = add_device(&f, "0000:03:00.1", 0x1b36, 0x0010, "nvme", 5);
        set_in_use(&f, disk, "swap is active on nvme0n1p2");
        p = plan(&f, "[nic]\nids = 8086:10d3\n");

        g = group(p, 5);
        assert_refused(p, g);
        assert_contains(g->reason, "0000:03:00.1");
        assert_contains(g->reason, "in use");
        assert_contains(g->reason, "swap is active on nvme0n1p2");
        ck_assert_int_eq(pdev(p, nic)->state, VFPT_STATE_REFUSED);
        fixture_done(&f);
}
END_TEST

START_TEST(test_force_on_matching_rule_skips_in_use_guard)
{
        Fixture f;
        const VfptPlan *p;
        size_t disk;

        fixture_init(&f, true);
        disk = add_device(&f, "0000:03:00.0", 0x1b36, 0x0010, "nvme", 5);
        set_in_use(&f, disk, "backs the filesystem mounted on /srv");
        p = plan(&f, "[storage]\nids = 1b36:0010\nforce = yes\n");

        ck_assert_int_eq(pdev(p, disk)->state, VFPT_STATE_CLAIM);
        assert_steps(group(p, 5), (ExpectedStep[]) {
                { VFPT_STEP_OVERRIDE, disk, "vfio-pci" },
                { VFPT_STEP_RECORD, disk, "nvme" },
                { VFPT_STEP_UNBIND, disk, "nvme" },
                { VFPT_STEP_PROBE, disk, ANY_DRIVER },
                { VFPT_STEP_VERIFY, disk, "vfio-pci" },
        }, 5);
        fixture_done(&f);
}
END_TEST

START_TEST(test_force_of_the_only_rule_covers_pulled_in_member)
{
        Fixture f;
        const VfptPlan *p;
        size_t disk;

        fixture_init(&f, true);
        add_device(&f, "0000:03:00.0", 0x8086, 0x10d3, "e1000e", 5);
        disk = add_device(&f, "0000:03:00.1", 0x1b36, 0x0010, "nvme", 5);
        set_in_use(&f, disk, "backs the filesystem mounted on /srv");
        p = plan(&f, "[nic]\nids = 8086:10d3\nforce = on\n");

        ck_assert(!group(p, 5)->refused);
        ck_assert_int_eq(pdev(p, disk)->state, VFPT_STATE_CLAIM);
        ck_assert_uint_eq(group(p, 5)->n_steps, 10);
        fixture_done(&f);
}
END_TEST

START_TEST(test_force_of_one_rule_does_not_cover_pulled_in_member)
{
        Fixture f;
        const VfptPlan *p;
        size_t disk;

        fixture_init(&f, true);
        add_device(&f, "0000:03:00.0", 0x8086, 0x10d3, "e1000e", 5);
        disk = add_device(&f, "0000:03:00.1", 0x1b36, 0x0010, "nvme", 5);
        add_device(&f, "0000:03:00.2", 0x8086, 0x100e, "e1000", 5);
        set_in_use(&f, disk, "backs the filesystem mounted on /srv");
        p = plan(&f, "[forced]\naddresses = 0000:03:00.0\nforce = yes\n"
                     "[careful]\naddresses = 0000:03:00.2\n");

        assert_refused(p, group(p, 5));
        assert_contains(group(p, 5)->reason, "0000:03:00.1");
        assert_contains(group(p, 5)->reason, "/srv");
        fixture_done(&f);
}
END_TEST

START_TEST(test_force_of_another_rule_does_not_cover_matched_member)
{
        Fixture f;
        const VfptPlan *p;
        size_t disk;

        fixture_init(&f, true);
        add_device(&f, "0000:03:00.0", 0x8086, 0x10d3, "e1000e", 5);
        disk = add_device(&f, "0000:03:00.1", 0x1b36, 0x0010, "nvme", 5);
        set_in_use(&f, disk, "backs the filesystem mounted on /");
        p = plan(&f, "[forced]\naddresses = 0000:03:00.0\nforce = yes\n"
                     "[storage]\naddresses = 0000:03:00.1\n");

        assert_refused(p, group(p, 5));
        assert_contains(group(p, 5)->reason, "0000:03:00.1");
        assert_contains(group(p, 5)->reason, "storage");
        ck_assert_int_eq(pdev(p, disk)->state, VFPT_STATE_REFUSED);
        fixture_done(&f);
}
END_TEST

START_TEST(test_unchecked_member_refuses_group)
{
        Fixture f;
        const VfptPlan *p;
        const VfptPlanGroup *g;
        size_t disk;

        fixture_init(&f, true);
        disk = add_device(&f, "0000:03:00.0", 0x1b36, 0x0010, NULL, 5);
        set_unchecked(&f, disk, "no block device yet (driver not loaded)");
        p = plan(&f, "[storage]\nids = 1b36:0010\n");

        g = group(p, 5);
        assert_refused(p, g);
        assert_contains(g->reason, "0000:03:00.0");
        assert_contains(g->reason, "cannot check");
        assert_contains(g->reason, "no block device yet");
        ck_assert_int_eq(pdev(p, disk)->state, VFPT_STATE_REFUSED);
        fixture_done(&f);
}
END_TEST

START_TEST(test_force_skips_unchecked_guard)
{
        Fixture f;
        const VfptPlan *p;
        size_t disk;

        fixture_init(&f, true);
        disk = add_device(&f, "0000:03:00.0", 0x1b36, 0x0010, NULL, 5);
        set_unchecked(&f, disk, "no block device yet (driver not loaded)");
        p = plan(&f, "[storage]\nids = 1b36:0010\nforce = true\n");

        ck_assert(!group(p, 5)->refused);
        ck_assert_int_eq(pdev(p, disk)->state, VFPT_STATE_CLAIM);
        ck_assert_uint_eq(group(p, 5)->n_steps, 4);
        fixture_done(&f);
}
END_TEST

START_TEST(test_in_use_device_outside_the_group_does_not_block)
{
        Fixture f;
        const VfptPlan *p;
        size_t nic, disk;

        fixture_init(&f, true);
        disk = add_device(&f, "0000:01:00.0", 0x1b36, 0x0010, "nvme", 1);
        nic = add_device(&f, "0000:02:00.0", 0x8086, 0x10d3, "e1000e", 2);
        set_in_use(&f, disk, "backs the filesystem mounted on /");
        p = plan(&f, "[nic]\nids = 8086:10d3\n");

        ck_assert(!group(p, 2)->refused);
        ck_assert_int_eq(pdev(p, nic)->state, VFPT_STATE_CLAIM);
        ck_assert_ptr_null(vfpt_plan_find_device(p, disk));
        fixture_done(&f);
}
END_TEST

/* ---- no IOMMU --------------------------------------------------------------- */

START_TEST(test_no_iommu_refuses_every_matched_device)
{
        Fixture f;
        const VfptPlan *p;
        size_t a, b;

        fixture_init(&f, false);
        a = add_device(&f, "0000:02:00.0", 0x8086, 0x10d3, "e1000e", -1);
        add_device(&f, "0000:03:00.0", 0x1af4, 0x1041, "virtio-pci", -1);
        b = add_device(&f, "0000:04:00.0", 0x8086, 0x10d3, NULL, -1);
        p = plan(&f, "[nics]\nids = 8086:10d3\n");

        ck_assert_uint_eq(p->n_devices, 2);
        ck_assert_int_eq(pdev(p, a)->state, VFPT_STATE_REFUSED);
        ck_assert_int_eq(pdev(p, b)->state, VFPT_STATE_REFUSED);
        assert_contains(pdev(p, a)->reason, "no IOMMU");
        assert_contains(pdev(p, b)->reason, "no IOMMU");
        for (size_t i = 0; i < p->n_groups; i++) {
                ck_assert(p->groups[i].refused);
                ck_assert_uint_eq(p->groups[i].n_steps, 0);
        }
        ck_assert_ptr_null(vfpt_plan_find_device(p, 1));
        fixture_done(&f);
}
END_TEST

START_TEST(test_no_iommu_reason_prefers_guard_refusal)
{
        Fixture f;
        const VfptPlan *p;
        size_t disk;

        fixture_init(&f, false);
        disk = add_device(&f, "0000:02:00.0", 0x1b36, 0x0010, "nvme", -1);
        set_in_use(&f, disk, "backs the filesystem mounted on /");
        p = plan(&f, "[storage]\nids = 1b36:0010\n");

        ck_assert_int_eq(pdev(p, disk)->state, VFPT_STATE_REFUSED);
        assert_contains(pdev(p, disk)->reason, "in use");
        assert_contains(pdev(p, disk)->reason, "mounted on /");
        fixture_done(&f);
}
END_TEST

START_TEST(test_device_without_group_is_refused_others_still_planned)
{
        Fixture f;
        const VfptPlan *p;
        size_t lone, nic;

        fixture_init(&f, true);
        lone = add_device(&f, "0000:02:00.0", 0x8086, 0x10d3, "e1000e", -1);
        nic = add_device(&f, "0000:03:00.0", 0x8086, 0x10d3, "e1000e", 3);
        p = plan(&f, "[nics]\nids = 8086:10d3\n");

        ck_assert_int_eq(pdev(p, lone)->state, VFPT_STATE_REFUSED);
        assert_contains(pdev(p, lone)->reason, "no IOMMU group");
        ck_assert_int_eq(pdev(p, lone)->group, -1);
        ck_assert_int_eq(pdev(p, nic)->state, VFPT_STATE_CLAIM);
        ck_assert(!group(p, 3)->refused);
        ck_assert_uint_eq(group(p, 3)->n_steps, 5);
        assert_no_step_touches(p, lone);
        fixture_done(&f);
}
END_TEST

/* ---- absent devices ---------------------------------------------------------- */

START_TEST(test_missing_exact_address_is_absent)
{
        Fixture f;
        const VfptPlan *p;
        const VfptPlanDevice *absent = NULL;
        size_t nic, n_absent = 0;

        fixture_init(&f, true);
        nic = add_device(&f, "0000:03:00.0", 0x8086, 0x10d3, "e1000e", 3);
        p = plan(&f, "[gone]\naddresses = 0000:09:00.0\n"
                     "[present]\naddresses = 0000:03:00.0\n");

        for (size_t i = 0; i < p->n_devices; i++)
                if (p->devices[i].state == VFPT_STATE_ABSENT) {
                        absent = &p->devices[i];
                        n_absent++;
                        /* Absent ones come after the matched devices. */
                        ck_assert_uint_eq(i, p->n_devices - 1);
                }
        ck_assert_uint_eq(n_absent, 1);
        ck_assert_uint_eq(absent->device, SIZE_MAX);
        ck_assert_str_eq(absent->absent, "0000:09:00.0");
        ck_assert_ptr_eq(absent->rule, rule(&f, "gone"));
        ck_assert_int_eq(pdev(p, nic)->state, VFPT_STATE_CLAIM);
        ck_assert_uint_eq(p->n_devices, 2);
        fixture_done(&f);
}
END_TEST

START_TEST(test_wildcard_or_id_rule_matching_nothing_is_not_absent)
{
        Fixture f;
        const VfptPlan *p;

        fixture_init(&f, true);
        add_device(&f, "0000:03:00.0", 0x8086, 0x10d3, "e1000e", 3);
        p = plan(&f, "[slot]\naddresses = 0000:09:00.*\n[gpu]\nids = 10de:*\n");

        ck_assert_uint_eq(p->n_devices, 0);
        ck_assert_uint_eq(p->n_groups, 0);
        fixture_done(&f);
}
END_TEST

/* ---- counts and summary -------------------------------------------------------- */

static void mixed_fixture(Fixture *f) {
        size_t claimed, disk;

        fixture_init(f, true);
        claimed = add_device(f, "0000:01:00.0", 0x10de, 0x1b80, "vfio-pci", 1);
        set_override(f, claimed, "vfio-pci");
        add_device(f, "0000:02:00.0", 0x8086, 0x10d3, "e1000e", 2);
        add_device(f, "0000:02:00.1", 0x8086, 0x10d3, NULL, 2);
        disk = add_device(f, "0000:04:00.0", 0x1b36, 0x0010, "nvme", 4);
        set_in_use(f, disk, "backs the filesystem mounted on /");
        plan(f, "[gpu]\nids = 10de:1b80\n"
                "[nic]\naddresses = 0000:02:00.0\n"
                "[storage]\nids = 1b36:0010\n"
                "[gone]\naddresses = 0000:0a:00.0\n");
}

START_TEST(test_bridge_matched_by_wildcard_id_gets_no_steps)
{
        Fixture f;
        const VfptPlan *p;
        size_t bridge, nic;

        fixture_init(&f, true);
        bridge = add_bridge(&f, "0000:00:1c.0", "pcieport", 8);
        f.devices[bridge].vendor = 0x8086;
        f.devices[bridge].device = 0x2940;
        nic = add_device(&f, "0000:00:1c.1", 0x8086, 0x10d3, "e1000e", 8);
        p = plan(&f, "[intel]\nids = 8086:*\n");

        /* vfio-pci refuses bridges: claiming one could only fail. */
        ck_assert(!group(p, 8)->refused);
        ck_assert_int_eq(pdev(p, nic)->state, VFPT_STATE_CLAIM);
        ck_assert_uint_eq(group(p, 8)->n_steps, 5);
        assert_no_step_touches(p, bridge);
        /* Caught by a wildcard, the bridge is no request: not reported at all. */
        ck_assert_ptr_null(vfpt_plan_find_device(p, bridge));
        fixture_done(&f);
}
END_TEST

START_TEST(test_bridge_named_exactly_is_reported_refused_and_group_untouched)
{
        Fixture f;
        const VfptPlan *p;
        size_t bridge;

        fixture_init(&f, true);
        bridge = add_bridge(&f, "0000:00:1c.0", "pcieport", 8);
        add_device(&f, "0000:00:1c.1", 0x8086, 0x10d3, "e1000e", 8);
        p = plan(&f, "[port]\naddresses = 0000:00:1c.0\n");

        ck_assert_int_eq(pdev(p, bridge)->state, VFPT_STATE_REFUSED);
        assert_contains(pdev(p, bridge)->reason, "bridge");
        ck_assert_uint_eq(p->n_groups, 0);
        fixture_done(&f);
}
END_TEST

START_TEST(test_refused_group_does_not_affect_other_groups)
{
        Fixture f;
        const VfptPlan *p;

        mixed_fixture(&f);
        p = f.plan;
        assert_refused(p, group(p, 4));
        ck_assert(!group(p, 2)->refused);
        ck_assert_uint_eq(group(p, 2)->n_steps, 2 + 4 + 3);
        ck_assert(!group(p, 1)->refused);
        ck_assert_uint_eq(group(p, 1)->n_steps, 0);
        fixture_done(&f);
}
END_TEST

START_TEST(test_plan_count_counts_each_state)
{
        Fixture f;
        size_t counts[_VFPT_STATE_MAX];

        mixed_fixture(&f);
        memset(counts, 0xff, sizeof(counts));
        vfpt_plan_count(f.plan, counts);
        ck_assert_uint_eq(counts[VFPT_STATE_CLAIMED], 1);
        ck_assert_uint_eq(counts[VFPT_STATE_CLAIM], 2);
        ck_assert_uint_eq(counts[VFPT_STATE_REFUSED], 1);
        ck_assert_uint_eq(counts[VFPT_STATE_ABSENT], 1);
        ck_assert_uint_eq(counts[VFPT_STATE_FAILED], 0);
        ck_assert_uint_eq(f.plan->n_devices, 5);
        fixture_done(&f);
}
END_TEST

START_TEST(test_plan_count_sees_failed_set_by_caller)
{
        Fixture f;
        size_t counts[_VFPT_STATE_MAX];
        VfptPlanDevice *d;

        mixed_fixture(&f);
        d = vfpt_plan_find_device(f.plan, 1);
        ck_assert_ptr_nonnull(d);
        d->state = VFPT_STATE_FAILED;
        vfpt_plan_count(f.plan, counts);
        ck_assert_uint_eq(counts[VFPT_STATE_FAILED], 1);
        ck_assert_uint_eq(counts[VFPT_STATE_CLAIM], 1);
        fixture_done(&f);
}
END_TEST

START_TEST(test_summary_names_the_counts)
{
        Fixture f;
        char *s;

        mixed_fixture(&f);
        s = vfpt_plan_summary(f.plan);
        ck_assert_ptr_nonnull(s);
        assert_contains(s, "1 absent");
        assert_contains(s, "1 refused");
        assert_contains(s, "0 failed");
        assert_contains(s, "vfio-pci");
        free(s);
        fixture_done(&f);
}
END_TEST

START_TEST(test_summary_of_empty_plan_says_zero)
{
        Fixture f;
        char *s;

        fixture_init(&f, true);
        add_device(&f, "0000:03:00.0", 0x8086, 0x10d3, "e1000e", 3);
        plan(&f, "");
        s = vfpt_plan_summary(f.plan);
        ck_assert_ptr_nonnull(s);
        assert_contains(s, "0 absent");
        assert_contains(s, "0 refused");
        assert_contains(s, "0 failed");
        free(s);
        fixture_done(&f);
}
END_TEST

START_TEST(test_names_of_steps_and_states_are_distinct)
{
        for (int i = 0; i < _VFPT_STEP_MAX; i++) {
                ck_assert_ptr_nonnull(vfpt_step_kind_to_string((VfptStepKind) i));
                for (int j = 0; j < i; j++)
                        ck_assert_str_ne(vfpt_step_kind_to_string((VfptStepKind) i),
                                         vfpt_step_kind_to_string((VfptStepKind) j));
        }
        for (int i = 0; i < _VFPT_STATE_MAX; i++) {
                ck_assert_ptr_nonnull(vfpt_device_state_to_string((VfptDeviceState) i));
                for (int j = 0; j < i; j++)
                        ck_assert_str_ne(vfpt_device_state_to_string((VfptDeviceState) i),
                                         vfpt_device_state_to_string((VfptDeviceState) j));
        }
}
END_TEST

static Suite *plan_suite(void) {
        Suite *s = suite_create("plan");
        TCase *tc;

        tc = tcase_create("match");
        tcase_add_test(tc, test_nothing_matched_gives_empty_plan);
        tcase_add_test(tc, test_matched_device_gets_rule_target_and_group);
        tcase_add_test(tc, test_first_matching_rule_in_config_order_wins);
        tcase_add_test(tc, test_variant_driver_is_the_target);
        suite_add_tcase(s, tc);

        tc = tcase_create("steps");
        tcase_add_test(tc, test_bound_endpoint_steps_override_record_unbind_probe_verify);
        tcase_add_test(tc, test_unbound_endpoint_is_not_unbound);
        tcase_add_test(tc, test_device_on_target_with_override_is_claimed_without_steps);
        tcase_add_test(tc, test_device_on_target_without_override_gets_only_override_and_verify);
        tcase_add_test(tc, test_override_already_set_but_host_driver_bound_gets_full_steps);
        tcase_add_test(tc, test_device_on_other_vfio_driver_is_moved_to_target);
        tcase_add_test(tc, test_claim_pulls_in_every_endpoint_with_overrides_first);
        tcase_add_test(tc, test_pulled_in_device_gets_the_group_driver);
        tcase_add_test(tc, test_bridge_is_member_but_never_claimed_nor_blocking);
        tcase_add_test(tc, test_bridge_matched_by_wildcard_id_gets_no_steps);
        tcase_add_test(tc, test_bridge_named_exactly_is_reported_refused_and_group_untouched);
        tcase_add_test(tc, test_claimed_group_has_no_steps);
        tcase_add_test(tc, test_half_claimed_group_steps_only_the_rest);
        tcase_add_test(tc, test_only_touched_groups_are_planned_in_group_order);
        suite_add_tcase(s, tc);

        tc = tcase_create("policy");
        tcase_add_test(tc, test_strict_refuses_group_with_unmatched_endpoint);
        tcase_add_test(tc, test_strict_accepts_group_whose_endpoints_all_match);
        tcase_add_test(tc, test_strict_in_any_rule_of_the_group_applies);
        tcase_add_test(tc, test_rules_with_different_drivers_in_one_group_are_refused);
        tcase_add_test(tc, test_rules_agreeing_on_driver_share_a_group);
        suite_add_tcase(s, tc);

        tc = tcase_create("guards");
        tcase_add_test(tc, test_in_use_member_refuses_group_naming_device_reason_and_rule);
        tcase_add_test(tc, test_in_use_pulled_in_member_refuses_group);
        tcase_add_test(tc, test_force_on_matching_rule_skips_in_use_guard);
        tcase_add_test(tc, test_force_of_the_only_rule_covers_pulled_in_member);
        tcase_add_test(tc, test_force_of_one_rule_does_not_cover_pulled_in_member);
        tcase_add_test(tc, test_force_of_another_rule_does_not_cover_matched_member);
        tcase_add_test(tc, test_unchecked_member_refuses_group);
        tcase_add_test(tc, test_force_skips_unchecked_guard);
        tcase_add_test(tc, test_in_use_device_outside_the_group_does_not_block);
        suite_add_tcase(s, tc);

        tc = tcase_create("iommu");
        tcase_add_test(tc, test_no_iommu_refuses_every_matched_device);
        tcase_add_test(tc, test_no_iommu_reason_prefers_guard_refusal);
        tcase_add_test(tc, test_device_without_group_is_refused_others_still_planned);
        suite_add_tcase(s, tc);

        tc = tcase_create("absent");
        tcase_add_test(tc, test_missing_exact_address_is_absent);
        tcase_add_test(tc, test_wildcard_or_id_rule_matching_nothing_is_not_absent);
        suite_add_tcase(s, tc);

        tc = tcase_create("summary");
        tcase_add_test(tc, test_refused_group_does_not_affect_other_groups);
        tcase_add_test(tc, test_plan_count_counts_each_state);
        tcase_add_test(tc, test_plan_count_sees_failed_set_by_caller);
        tcase_add_test(tc, test_summary_names_the_counts);
        tcase_add_test(tc, test_summary_of_empty_plan_says_zero);
        tcase_add_test(tc, test_names_of_steps_and_states_are_distinct);
        suite_add_tcase(s, tc);

        return s;
}

int main(void) {
        SRunner *sr = srunner_create(plan_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
