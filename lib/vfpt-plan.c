/* vfpt-plan.c — the planner: rules + snapshot -> per IOMMU group, the steps
 * that put it on its passthrough drivers, or a refusal that says why.
 *
 * The order of the checks is the order of importance for the person reading
 * the refusal: contradictory rules first (the config is wrong), then the
 * in-use guards (the host would lose something), then what the machine lacks
 * (no IOMMU, no group), then the strict group policy. */
#include <stdint.h>

#include "vfpt-devprep.h"
#include "vfpt-names.h"
#include "vfpt-plan.h"
#include "vfpt-sriov.h"
#include "vfpt-util.h"

static const char *const step_names[_VFPT_STEP_MAX] = {
        [VFPT_STEP_OVERRIDE] = "driver_override",
        [VFPT_STEP_RECORD] = "record",
        [VFPT_STEP_UNBIND] = "unbind",
        [VFPT_STEP_PROBE] = "drivers_probe",
        [VFPT_STEP_VERIFY] = "verify",
        [VFPT_STEP_HOLDERS] = "holders",
        [VFPT_STEP_BIND] = "bind",
        [VFPT_STEP_FORGET] = "forget",
};

static const char *const state_names[_VFPT_STATE_MAX] = {
        [VFPT_STATE_CLAIMED] = "claimed",
        [VFPT_STATE_CLAIM] = "claim",
        [VFPT_STATE_REFUSED] = "refused",
        [VFPT_STATE_ABSENT] = "absent",
        [VFPT_STATE_FAILED] = "failed",
        [VFPT_STATE_RELEASE] = "release",
        [VFPT_STATE_RELEASED] = "released",
        [VFPT_STATE_PF] = "pf",
};

const char *vfpt_step_kind_to_string(VfptStepKind k) {
        return k < _VFPT_STEP_MAX ? step_names[k] : "unknown";
}

const char *vfpt_device_state_to_string(VfptDeviceState s) {
        return s < _VFPT_STATE_MAX ? state_names[s] : "unknown";
}

VfptPlan *vfpt_plan_free(VfptPlan *p) {
        if (!p)
                return NULL;
        for (size_t i = 0; i < p->n_groups; i++) {
                free(p->groups[i].reason);
                free(p->groups[i].members);
                free(p->groups[i].steps);
        }
        free(p->groups);
        for (size_t i = 0; i < p->n_devices; i++)
                free(p->devices[i].reason);
        free(p->devices);
        free(p);
        return NULL;
}

static VfptPlanDevice *plan_add_device(VfptPlan *p) {
        VfptPlanDevice *m = realloc(p->devices, (p->n_devices + 1) * sizeof(*m));

        if (!m)
                return NULL;
        p->devices = m;
        m = &p->devices[p->n_devices++];
        *m = (VfptPlanDevice) { .device = SIZE_MAX, .group = -1 };
        return m;
}

static int group_add_step(VfptPlanGroup *g, VfptStepKind kind, size_t device, const char *driver) {
        VfptStep *m = realloc(g->steps, (g->n_steps + 1) * sizeof(*m));

        if (!m)
                return -ENOMEM;
        g->steps = m;
        g->steps[g->n_steps++] = (VfptStep) { .kind = kind, .device = device, .driver = driver };
        return 0;
}

/* What one rule set decides for one group, worked out before any output. */
typedef struct GroupWork {
        const VfptRule **matched; /* per snapshot index; NULL = not matched */
        const VfptRule **conflict; /* per snapshot index: a second rule with another driver */
        const VfptRule **pf_rule;  /* per snapshot index: the SR-IOV rule that keeps this PF on the host */
} GroupWork;

static char *describe(const VfptDevice *d) {
        return strdup_printf("%s [%04x:%04x]", d->name, d->vendor, d->device);
}

/* Decides why a group must be refused, or NULL (and 0) when it may be
 * claimed. members are snapshot indexes. */
static int group_refusal(const GroupWork *w, const VfptSnapshot *snap, int group,
                         const size_t *members, size_t n_members, char **ret) {
        const VfptRule *first = NULL, *strict = NULL;
        const VfptDevice *unmatched = NULL;
        bool all_force = true;

        *ret = NULL;
        for (size_t k = 0; k < n_members; k++) {
                size_t i = members[k];
                const VfptRule *r = w->matched[i];

                if (snap->devices[i].bridge)
                        continue;
                if (!r) {
                        if (!unmatched)
                                unmatched = &snap->devices[i];
                        continue;
                }
                if (w->conflict[i]) {
                        *ret = strdup_printf("rules '%s' (%s) and '%s' (%s) both match %s but name different drivers",
                                             r->name, r->driver, w->conflict[i]->name, w->conflict[i]->driver,
                                             snap->devices[i].name);
                        return *ret ? 0 : -ENOMEM;
                }
                if (!first)
                        first = r;
                if (r->group == VFPT_GROUP_STRICT && !strict)
                        strict = r;
                all_force = all_force && r->force;
        }
        if (!first)
                return 0;

        /* A PF whose VFs share its group cannot stay with the host while
         * they go to a VM: the group has no isolation between them. */
        for (size_t k = 0; k < n_members; k++) {
                const VfptRule *pr = w->pf_rule ? w->pf_rule[members[k]] : NULL;
                if (pr && !w->matched[members[k]]) {
                        *ret = strdup_printf("group %d also holds %s, the physical function rule '%s' keeps on the host "
                                             "to make its virtual functions; they are not isolated from it",
                                             group, snap->devices[members[k]].name, pr->name);
                        return *ret ? 0 : -ENOMEM;
                }
        }

        /* The rules must agree on the owner of the group's /dev/vfio node too. */
        if (vfpt_devprep_group_conflict(w->matched, snap, members, n_members, ret) < 0)
                return -ENOMEM;
        if (*ret)
                return 0;

        /* Unmatched endpoints take the group's driver; the rules must agree on it. */
        if (unmatched && !strict)
                for (size_t k = 0; k < n_members; k++) {
                        const VfptRule *r = w->matched[members[k]];
                        if (r && !streq(r->driver, first->driver)) {
                                *ret = strdup_printf("rules '%s' (%s) and '%s' (%s) disagree on the driver for the rest of group %d",
                                                     first->name, first->driver, r->name, r->driver, group);
                                return *ret ? 0 : -ENOMEM;
                        }
                }

        /* Nothing is known of an unreadable member, so not even force helps:
         * claiming the rest would leave the group half claimed. */
        for (size_t k = 0; k < n_members; k++) {
                const VfptDevice *d = &snap->devices[members[k]];
                if (d->unreadable) {
                        *ret = strdup_printf("%s, a member of %s, is unreadable (%s); a group is claimed whole or not at all",
                                             d->name, group >= 0 ? "this group" : "it", d->unreadable);
                        return *ret ? 0 : -ENOMEM;
                }
        }

        for (size_t k = 0; k < n_members; k++) {
                size_t i = members[k];
                const VfptDevice *d = &snap->devices[i];
                const VfptRule *r = w->matched[i];
                bool forced = r ? r->force : all_force;

                if (d->bridge || forced || (!r && strict))
                        continue;
                if (d->in_use) {
                        *ret = strdup_printf("%s is in use: %s (rule '%s'); set force = yes in the rule to claim it anyway",
                                             d->name, d->in_use, (r ? r : first)->name);
                        return *ret ? 0 : -ENOMEM;
                }
                /* A VF an SR-IOV rule asks for: made with autoprobe off for this
                 * rule, no host driver ever saw it, so there is nothing of the
                 * host's on it that could not be checked. What is in use still is. */
                if (d->unchecked && !(r && r->sriov_numvfs && d->is_vf)) {
                        *ret = strdup_printf("cannot check whether the host uses %s: %s (rule '%s'); set force = yes in the rule if it does not",
                                             d->name, d->unchecked, (r ? r : first)->name);
                        return *ret ? 0 : -ENOMEM;
                }
        }

        if (!snap->iommu_active) {
                *ret = strdup("no IOMMU is active, so nothing can be claimed: enable VT-d or AMD-Vi in the firmware "
                              "and boot with intel_iommu=on (Intel) or amd_iommu=on (AMD)");
                return *ret ? 0 : -ENOMEM;
        }
        if (group < 0) {
                *ret = strdup_printf("%s has no IOMMU group, so it cannot be isolated for passthrough",
                                     snap->devices[members[0]].name);
                return *ret ? 0 : -ENOMEM;
        }
        if (strict && unmatched) {
                _cleanup_free_ char *what = describe(unmatched);
                if (!what)
                        return -ENOMEM;
                *ret = strdup_printf("group %d also holds %s, which no rule matches (rule '%s' has group = strict)",
                                     group, what, strict->name);
                return *ret ? 0 : -ENOMEM;
        }
        /* What the device lacks: a reset method the rule asks for. */
        return vfpt_devprep_reset_refusal(w->matched, snap, members, n_members, ret);
}

/* Adds the steps and plan devices of a group that may be claimed. */
static int group_plan(VfptPlan *p, VfptPlanGroup *g, const GroupWork *w, const VfptSnapshot *snap) {
        const VfptRule *first = NULL;
        int r;

        for (size_t k = 0; k < g->n_members && !first; k++)
                first = w->matched[g->members[k]];

        /* Overrides first, for the whole group, so that no host driver can
         * pick up a member while we work on another. */
        for (int pass = 0; pass < 2; pass++)
                for (size_t k = 0; k < g->n_members; k++) {
                        size_t i = g->members[k];
                        const VfptDevice *d = &snap->devices[i];
                        const VfptRule *rule = w->matched[i];
                        const char *target = (rule ? rule : first)->driver;
                        bool on_target = streq_ptr(d->driver, target);

                        if (d->bridge)
                                continue;
                        if (pass == 0) {
                                VfptPlanDevice *pd = plan_add_device(p);
                                if (!pd)
                                        return -ENOMEM;
                                pd->device = i;
                                pd->rule = rule;
                                pd->via = rule ? rule : first;
                                pd->target = target;
                                pd->group = d->group;
                                pd->state = on_target && streq_ptr(d->driver_override, target) ?
                                            VFPT_STATE_CLAIMED : VFPT_STATE_CLAIM;
                                /* Written again even when it reads right: the snapshot
                                 * may be stale, and the write costs nothing. */
                                if (pd->state == VFPT_STATE_CLAIM &&
                                    (r = group_add_step(g, VFPT_STEP_OVERRIDE, i, target)) < 0)
                                        return r;
                                continue;
                        }
                        if (on_target && streq_ptr(d->driver_override, target))
                                continue;
                        if (!on_target) {
                                if ((r = group_add_step(g, VFPT_STEP_RECORD, i, d->driver)) < 0)
                                        return r;
                                if (d->driver && (r = group_add_step(g, VFPT_STEP_UNBIND, i, d->driver)) < 0)
                                        return r;
                                if ((r = group_add_step(g, VFPT_STEP_PROBE, i, target)) < 0)
                                        return r;
                        }
                        if ((r = group_add_step(g, VFPT_STEP_VERIFY, i, target)) < 0)
                                return r;
                }
        return 0;
}

static int group_refuse(VfptPlan *p, VfptPlanGroup *g, const GroupWork *w, const VfptSnapshot *snap, char *reason) {
        const VfptRule *first = NULL;
        bool strict = false;

        g->refused = true;
        g->reason = reason;
        for (size_t k = 0; k < g->n_members; k++) {
                const VfptRule *r = w->matched[g->members[k]];
                if (r && !first)
                        first = r;
                strict = strict || (r && r->group == VFPT_GROUP_STRICT);
        }
        for (size_t k = 0; k < g->n_members; k++) {
                size_t i = g->members[k];
                const VfptDevice *d = &snap->devices[i];
                const VfptRule *rule = w->matched[i];
                VfptPlanDevice *pd;

                /* Under strict, unmatched members were never going to be
                 * claimed; a PF kept for its VFs has an entry of its own. */
                if (d->bridge || (!rule && strict) || (!rule && w->pf_rule && w->pf_rule[i]))
                        continue;
                pd = plan_add_device(p);
                if (!pd)
                        return -ENOMEM;
                pd->device = i;
                pd->rule = rule;
                pd->via = rule ? rule : first;
                pd->target = (rule ? rule : first)->driver;
                pd->group = d->group;
                pd->state = VFPT_STATE_REFUSED;
                pd->reason = strdup(reason);
                if (!pd->reason)
                        return -ENOMEM;
        }
        return 0;
}

static int plan_absent(VfptPlan *p, const VfptConfig *config, const VfptSnapshot *snap) {
        for (size_t r = 0; r < config->n_rules; r++) {
                const VfptRule *rule = &config->rules[r];

                for (size_t a = 0; a < rule->n_addresses; a++) {
                        const VfptAddressPattern *pat = &rule->addresses[a];
                        bool seen = false;
                        VfptPlanDevice *pd;

                        if (pat->any_function)
                                continue; /* "slot.*" names no single device to miss */
                        for (size_t i = 0; i < snap->n_devices && !seen; i++)
                                seen = vfpt_address_pattern_match(pat, &snap->devices[i].address);
                        /* Another rule may name the same address: report it once. */
                        for (size_t i = 0; i < p->n_devices && !seen; i++) {
                                char buf[VFPT_ADDRESS_MAX];
                                vfpt_address_format(&pat->address, buf);
                                seen = p->devices[i].state == VFPT_STATE_ABSENT && streq(p->devices[i].absent, buf);
                        }
                        if (seen)
                                continue;
                        pd = plan_add_device(p);
                        if (!pd)
                                return -ENOMEM;
                        vfpt_address_format(&pat->address, pd->absent);
                        pd->rule = rule;
                        pd->target = rule->driver;
                        pd->state = VFPT_STATE_ABSENT;
                }
        }
        return 0;
}

static bool is_passthrough_driver(const char *driver) {
        return vfpt_device_is_vfio_driver(driver) || streq_ptr(driver, VFPT_DRIVER_PCI_STUB);
}

/* Gives back the devices vfpt claimed (they have a record) that no rule
 * wants any more, a whole group at a time: the group first has to be free
 * of holders, and the records go last, so that a failure half way can still
 * be rolled back to a group on vfio-pci that a later reconcile releases. */
static int plan_release_group(VfptPlan *p, const VfptSnapshot *snap, int group, const size_t *release,
                              size_t n_release, const size_t *members, size_t n_members) {
        VfptPlanGroup *g, *m;
        bool held = false;
        int r;

        m = realloc(p->groups, (p->n_groups + 1) * sizeof(*m));
        if (!m)
                return -ENOMEM;
        p->groups = m;
        g = &p->groups[p->n_groups++];
        *g = (VfptPlanGroup) { .group = group, .release = true, .n_members = n_members };
        g->members = malloc(n_members * sizeof(size_t));
        if (!g->members)
                return -ENOMEM;
        memcpy(g->members, members, n_members * sizeof(size_t));

        for (size_t k = 0; k < n_release; k++) {
                const VfptDevice *d = &snap->devices[release[k]];
                VfptPlanDevice *pd = plan_add_device(p);

                if (!pd)
                        return -ENOMEM;
                pd->device = release[k];
                pd->target = d->recorded_driver;
                pd->group = d->group;
                pd->state = VFPT_STATE_RELEASE;
                held = held || vfpt_device_is_vfio_driver(d->driver);
        }
        if (held && group >= 0 && (r = group_add_step(g, VFPT_STEP_HOLDERS, release[0], NULL)) < 0)
                return r;
        for (size_t k = 0; k < n_release; k++)
                if (snap->devices[release[k]].driver_override &&
                    (r = group_add_step(g, VFPT_STEP_OVERRIDE, release[k], NULL)) < 0)
                        return r;
        for (size_t k = 0; k < n_release; k++) {
                const VfptDevice *d = &snap->devices[release[k]];

                if (d->driver && !is_passthrough_driver(d->driver))
                        continue; /* already back with the host */
                if (d->driver && (r = group_add_step(g, VFPT_STEP_UNBIND, release[k], d->driver)) < 0)
                        return r;
                if (d->recorded_driver)
                        r = group_add_step(g, VFPT_STEP_BIND, release[k], d->recorded_driver);
                else
                        r = group_add_step(g, VFPT_STEP_PROBE, release[k], NULL);
                if (r < 0 || (r = group_add_step(g, VFPT_STEP_VERIFY, release[k], d->recorded_driver)) < 0)
                        return r;
        }
        for (size_t k = 0; k < n_release; k++)
                if ((r = group_add_step(g, VFPT_STEP_FORGET, release[k], NULL)) < 0)
                        return r;
        return 0;
}

static int plan_releases(VfptPlan *p, const VfptSnapshot *snap, const VfptRule **matched,
                         size_t *release, size_t *members) {
        for (size_t i = 0; i < snap->n_devices; i++) {
                const VfptDevice *d = &snap->devices[i];
                size_t n_release = 0, n_members = 0;
                bool handled = matched[i] != NULL || d->bridge || !d->recorded;
                int r;

                for (size_t g = 0; g < p->n_groups && !handled; g++)
                        handled = d->group >= 0 && p->groups[g].group == d->group;
                if (handled)
                        continue;
                if (d->group < 0) {
                        release[n_release++] = members[n_members++] = i;
                } else
                        for (size_t j = 0; j < snap->n_devices; j++) {
                                const VfptDevice *o = &snap->devices[j];
                                if (o->group != d->group)
                                        continue;
                                members[n_members++] = j;
                                if (o->recorded && !o->bridge && !matched[j])
                                        release[n_release++] = j;
                        }
                r = plan_release_group(p, snap, d->group, release, n_release, members, n_members);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* True when the rule names this device without a wildcard. */
static bool rule_names_exactly(const VfptRule *r, const VfptDevice *d) {
        for (size_t i = 0; i < r->n_addresses; i++)
                if (!r->addresses[i].any_function && vfpt_address_pattern_match(&r->addresses[i], &d->address))
                        return true;
        for (size_t i = 0; i < r->n_ids; i++)
                if (!r->ids[i].any_device && vfpt_id_pattern_match(&r->ids[i], d->vendor, d->device))
                        return true;
        return false;
}

/* One entry per PF an SR-IOV rule makes VFs on: it is never claimed, and
 * says whether it has its VFs (VFPT_STATE_PF) or why it cannot (refused). */
static int plan_sriov_pfs(VfptPlan *p, const VfptConfig *config, const VfptSnapshot *snap,
                          const VfptRule **pf_rule) {
        VfptSriovPlan *sp = NULL;
        int r;

        r = vfpt_sriov_plan_build(&sp, config, snap);
        if (r < 0)
                return r;
        for (size_t k = 0; k < sp->n_pfs; k++) {
                const VfptSriovPf *pf = &sp->pfs[k];
                const VfptDevice *d = &snap->devices[pf->device];
                VfptPlanDevice *pd = plan_add_device(p);

                if (!pd) {
                        vfpt_sriov_plan_free(sp);
                        return -ENOMEM;
                }
                pf_rule[pf->device] = pf->rule;
                pd->device = pf->device;
                pd->rule = pd->via = pf->rule;
                pd->target = d->driver; /* it stays on the driver it has */
                pd->group = d->group;
                pd->state = pf->action == VFPT_SRIOV_REFUSE ? VFPT_STATE_REFUSED : VFPT_STATE_PF;
                if (pf->reason && !(pd->reason = strdup(pf->reason))) {
                        vfpt_sriov_plan_free(sp);
                        return -ENOMEM;
                }
        }
        vfpt_sriov_plan_free(sp);
        return 0;
}

static int cmp_int(const void *a, const void *b) {
        int x = *(const int *) a, y = *(const int *) b;
        return (x > y) - (x < y);
}

int vfpt_plan_build(VfptPlan **ret, const VfptConfig *config, const VfptSnapshot *snap) {
        _cleanup_free_ const VfptRule **matched = NULL, **conflict = NULL, **pf_rule = NULL;
        _cleanup_free_ int *groups = NULL;
        _cleanup_free_ size_t *members = NULL, *scratch = NULL;
        size_t n_groups = 0, n = snap->n_devices;
        VfptPlan *p;
        int r = -ENOMEM;

        p = calloc(1, sizeof(*p));
        matched = calloc(n + 1, sizeof(*matched));
        conflict = calloc(n + 1, sizeof(*conflict));
        groups = calloc(n + 1, sizeof(*groups));
        members = calloc(n + 1, sizeof(*members));
        scratch = calloc(n + 1, sizeof(*scratch));
        pf_rule = calloc(n + 1, sizeof(*pf_rule));
        if (!p || !matched || !conflict || !groups || !members || !scratch || !pf_rule)
                goto fail;

        r = plan_sriov_pfs(p, config, snap, pf_rule);
        if (r < 0)
                goto fail;
        r = -ENOMEM;

        /* Which rule claims each device: the first that matches, in config order. */
        for (size_t i = 0; i < n; i++) {
                const VfptDevice *d = &snap->devices[i];

                for (size_t k = 0; k < config->n_rules; k++) {
                        const VfptRule *rule = &config->rules[k];
                        if (!vfpt_rule_match_device(rule, snap, d))
                                continue;
                        if (!matched[i])
                                matched[i] = rule;
                        else if (!conflict[i] && !streq(matched[i]->driver, rule->driver))
                                conflict[i] = rule;
                }
                if (!matched[i])
                        continue;
                if (d->bridge && !rule_names_exactly(matched[i], d)) {
                        /* "8086:*" or "03:00.*" catching a root port on the way is
                         * no request to claim it. */
                        matched[i] = conflict[i] = NULL;
                        continue;
                }
                if (d->bridge) {
                        /* vfio-pci refuses bridges; say so, but leave the group alone. */
                        VfptPlanDevice *pd = plan_add_device(p);
                        if (!pd)
                                goto fail;
                        pd->device = i;
                        pd->rule = matched[i];
                        pd->target = matched[i]->driver;
                        pd->group = d->group;
                        pd->state = VFPT_STATE_REFUSED;
                        pd->reason = strdup_printf("%s is a PCI bridge; bridges stay with the host (vfio-pci does not take them)", d->name);
                        if (!pd->reason)
                                goto fail;
                        matched[i] = conflict[i] = NULL;
                        continue;
                }
                if (d->group >= 0) {
                        bool seen = false;
                        for (size_t g = 0; g < n_groups && !seen; g++)
                                seen = groups[g] == d->group;
                        if (!seen)
                                groups[n_groups++] = d->group;
                }
        }
        qsort(groups, n_groups, sizeof(int), cmp_int);

        GroupWork w = { .matched = matched, .conflict = conflict, .pf_rule = pf_rule };

        /* Devices without a group each stand alone, after the real groups. */
        for (size_t i = 0; i < n; i++)
                if (matched[i] && snap->devices[i].group < 0)
                        groups[n_groups++] = -1 - (int) i;

        for (size_t gi = 0; gi < n_groups; gi++) {
                int group = groups[gi] >= 0 ? groups[gi] : -1;
                size_t n_members = 0;
                VfptPlanGroup *g, *m;
                char *reason;

                if (groups[gi] >= 0) {
                        for (size_t i = 0; i < n; i++)
                                if (snap->devices[i].group == group)
                                        members[n_members++] = i;
                } else
                        members[n_members++] = (size_t) (-1 - groups[gi]);

                m = realloc(p->groups, (p->n_groups + 1) * sizeof(*m));
                if (!m)
                        goto fail;
                p->groups = m;
                g = &p->groups[p->n_groups++];
                *g = (VfptPlanGroup) { .group = group, .n_members = n_members };
                g->members = malloc(n_members * sizeof(size_t));
                if (!g->members)
                        goto fail;
                memcpy(g->members, members, n_members * sizeof(size_t));

                r = group_refusal(&w, snap, group, members, n_members, &reason);
                if (r < 0)
                        goto fail;
                r = reason ? group_refuse(p, g, &w, snap, reason) : group_plan(p, g, &w, snap);
                if (r < 0)
                        goto fail;
        }

        r = plan_releases(p, snap, matched, scratch, members);
        if (r < 0)
                goto fail;
        r = plan_absent(p, config, snap);
        if (r < 0)
                goto fail;
        *ret = p;
        return 0;

fail:
        vfpt_plan_free(p);
        return r;
}

VfptPlanDevice *vfpt_plan_find_device(const VfptPlan *p, size_t snapshot_index) {
        for (size_t i = 0; i < p->n_devices; i++)
                if (p->devices[i].device == snapshot_index)
                        return &p->devices[i];
        return NULL;
}

void vfpt_plan_count(const VfptPlan *p, size_t counts[static _VFPT_STATE_MAX]) {
        memset(counts, 0, sizeof(size_t) * _VFPT_STATE_MAX);
        for (size_t i = 0; i < p->n_devices; i++)
                counts[p->devices[i].state]++;
}

char *vfpt_plan_summary(const VfptPlan *p) {
        size_t counts[_VFPT_STATE_MAX], groups = 0;
        bool all_vfio = true;
        _cleanup_free_ char *pending = NULL;

        vfpt_plan_count(p, counts);
        for (size_t g = 0; g < p->n_groups; g++) {
                bool claimed = false;
                for (size_t i = 0; i < p->n_devices; i++)
                        if (p->devices[i].device != SIZE_MAX && p->devices[i].state == VFPT_STATE_CLAIMED &&
                            p->devices[i].group == p->groups[g].group)
                                claimed = true;
                groups += claimed;
        }
        for (size_t i = 0; i < p->n_devices; i++)
                if (p->devices[i].state == VFPT_STATE_CLAIMED && !streq(p->devices[i].target, VFPT_DRIVER_VFIO_PCI))
                        all_vfio = false;
        if (counts[VFPT_STATE_CLAIM] > 0)
                pending = strdup_printf("%zu to claim; ", counts[VFPT_STATE_CLAIM]);
        return strdup_printf("%zu device%s in %zu group%s bound to %s; %s%zu absent; %zu refused; %zu failed",
                             counts[VFPT_STATE_CLAIMED], counts[VFPT_STATE_CLAIMED] == 1 ? "" : "s",
                             groups, groups == 1 ? "" : "s",
                             all_vfio ? VFPT_DRIVER_VFIO_PCI : "passthrough drivers",
                             pending ? pending : "",
                             counts[VFPT_STATE_ABSENT], counts[VFPT_STATE_REFUSED], counts[VFPT_STATE_FAILED]);
}
