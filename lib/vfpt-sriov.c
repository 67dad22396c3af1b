/* vfpt-sriov.c — see vfpt-sriov.h.
 *
 * Kernel facts this follows (drivers/pci/iov.c, sriov_numvfs_store): writing
 * N to sriov_numvfs gives -ERANGE above sriov_totalvfs; nothing at all when
 * N is the current count; -ENOENT when the PF has no driver or its driver
 * cannot make VFs; -EBUSY when N != 0 while VFs exist, so a change of count
 * goes through 0. VFs are probed as they are made unless the PF's
 * sriov_drivers_autoprobe is 0: that is written first, so that no host VF
 * driver takes them before vfio-pci does. Removing VFs unbinds them, and an
 * unbind from vfio-pci blocks while a process holds the group: so a change
 * of count first makes sure no VF is held. */
#include <stdint.h>

#include "vfpt-holders.h"
#include "vfpt-names.h"
#include "vfpt-sriov.h"
#include "vfpt-util.h"

static const char *const action_names[] = {
        [VFPT_SRIOV_NONE] = "none",
        [VFPT_SRIOV_CREATE] = "create",
        [VFPT_SRIOV_CHANGE] = "change",
        [VFPT_SRIOV_REFUSE] = "refuse",
};

const char *vfpt_sriov_action_to_string(VfptSriovAction a) {
        return a <= VFPT_SRIOV_REFUSE ? action_names[a] : "unknown";
}

bool vfpt_sriov_rule_matches_pf(const VfptRule *r, const VfptDevice *d) {
        return r->sriov_numvfs > 0 && !d->is_vf && d->sriov_totalvfs > 0 && !d->bridge &&
               vfpt_rule_match(r, &d->address, d->vendor, d->device);
}

bool vfpt_rule_match_device(const VfptRule *r, const VfptSnapshot *snap, const VfptDevice *d) {
        const VfptDevice *pf;

        if (!r->sriov_numvfs)
                return vfpt_rule_match(r, &d->address, d->vendor, d->device);
        /* The VF is matched through its PF, never by its own ID, which may
         * be the PF's: the PF itself is never claimed by this rule. */
        if (!d->is_vf)
                return false;
        pf = vfpt_snapshot_find(snap, &d->physfn);
        return pf && vfpt_sriov_rule_matches_pf(r, pf);
}

VfptSriovPlan *vfpt_sriov_plan_free(VfptSriovPlan *p) {
        if (!p)
                return NULL;
        for (size_t i = 0; i < p->n_pfs; i++)
                free(p->pfs[i].reason);
        free(p->pfs);
        free(p);
        return NULL;
}

const VfptSriovPf *vfpt_sriov_plan_find(const VfptSriovPlan *p, size_t device) {
        for (size_t i = 0; p && i < p->n_pfs; i++)
                if (p->pfs[i].device == device)
                        return &p->pfs[i];
        return NULL;
}

size_t vfpt_sriov_vfs(const VfptSnapshot *snap, size_t pf, size_t *ret, size_t max) {
        const VfptAddress *a = &snap->devices[pf].address;
        size_t n = 0;

        /* The snapshot is in address order, so the VFs come out in it too. */
        for (size_t i = 0; i < snap->n_devices; i++)
                if (snap->devices[i].is_vf && vfpt_address_compare(&snap->devices[i].physfn, a) == 0) {
                        if (n < max)
                                ret[n] = i;
                        n++;
                }
        return n;
}

#define REFUSE(...)                                        \
        do {                                               \
                *ret = strdup_printf(__VA_ARGS__);         \
                return *ret ? 0 : -ENOMEM;                 \
        } while (0)

/* Why a PF that rule asks VFs of cannot have them; *ret = NULL when it can. */
static int pf_refusal(const VfptConfig *c, const VfptDevice *d, const VfptRule *rule, char **ret) {
        *ret = NULL;
        for (size_t k = 0; k < c->n_rules; k++) {
                const VfptRule *o = &c->rules[k];

                if (o == rule)
                        continue;
                if (o->sriov_numvfs && o->sriov_numvfs != rule->sriov_numvfs && vfpt_sriov_rule_matches_pf(o, d))
                        REFUSE("rules '%s' (sriov_numvfs = %u) and '%s' (sriov_numvfs = %u) both make "
                                             "virtual functions on %s but disagree on how many",
                                             rule->name, rule->sriov_numvfs, o->name, o->sriov_numvfs, d->name);
                if (!o->sriov_numvfs && vfpt_rule_match(o, &d->address, d->vendor, d->device))
                        REFUSE("rule '%s' claims %s itself, but rule '%s' makes its virtual functions, "
                                             "which needs the physical function on its host driver",
                                             o->name, d->name, rule->name);
        }
        if (d->unreadable)
                REFUSE("%s is unreadable (%s)", d->name, d->unreadable);
        if (rule->sriov_numvfs > d->sriov_totalvfs)
                REFUSE("rule '%s' asks for %u virtual functions, but %s can make at most %u "
                                     "(sriov_totalvfs)", rule->name, rule->sriov_numvfs, d->name, d->sriov_totalvfs);
        if (d->sriov_numvfs != rule->sriov_numvfs && !d->driver)
                REFUSE("%s has no driver, and the kernel makes virtual functions only through the "
                                     "physical function's driver; they are made once it is bound (rule '%s')",
                                     d->name, rule->name);
        return 0;
}
#undef REFUSE

int vfpt_sriov_plan_build(VfptSriovPlan **ret, const VfptConfig *c, const VfptSnapshot *snap) {
        VfptSriovPlan *p = calloc(1, sizeof(*p));

        if (!p)
                return -ENOMEM;
        for (size_t i = 0; i < snap->n_devices; i++) {
                const VfptDevice *d = &snap->devices[i];
                const VfptRule *rule = NULL;
                VfptSriovPf *pf, *m;

                for (size_t k = 0; k < c->n_rules && !rule; k++)
                        if (vfpt_sriov_rule_matches_pf(&c->rules[k], d))
                                rule = &c->rules[k];
                if (!rule)
                        continue;
                m = realloc(p->pfs, (p->n_pfs + 1) * sizeof(*m));
                if (!m)
                        goto oom;
                p->pfs = m;
                pf = &p->pfs[p->n_pfs++];
                *pf = (VfptSriovPf) {
                        .device = i,
                        .rule = rule,
                        .current = d->sriov_numvfs,
                        .wanted = rule->sriov_numvfs,
                };
                if (pf_refusal(c, d, rule, &pf->reason) < 0)
                        goto oom;
                if (pf->reason)
                        pf->action = VFPT_SRIOV_REFUSE;
                else if (d->sriov_numvfs == rule->sriov_numvfs)
                        pf->action = VFPT_SRIOV_NONE;
                else
                        pf->action = d->sriov_numvfs == 0 ? VFPT_SRIOV_CREATE : VFPT_SRIOV_CHANGE;
        }
        *ret = p;
        return 0;
oom:
        vfpt_sriov_plan_free(p);
        return -ENOMEM;
}

/* ---- carrying it out ---------------------------------------------------- */

static int write_u(VfptSysfs *s, int fd, const char *dir, const char *attr, unsigned v) {
        char buf[16];

        snprintf(buf, sizeof(buf), "%u", v);
        return vfpt_sysfs_write(s, fd, dir, attr, buf);
}

/* What an error from sriov_numvfs means, in words a person can act on. */
static const char *numvfs_hint(int error) {
        switch (error) {
        case -ENOENT:
                return "the physical function has no driver, or its driver cannot make virtual functions";
        case -ERANGE:
                return "more than the device supports";
        case -EBUSY:
                return "it has virtual functions already";
        default:
                return NULL;
        }
}

static char *numvfs_error(const VfptDevice *d, unsigned n, int error) {
        const char *hint = numvfs_hint(error);

        return strdup_printf("%s: write %u to %s: %s%s%s", d->name, n, VFPT_ATTR_SRIOV_NUMVFS, strerror(-error),
                             hint ? " (" : "", hint ? hint : "");
}

/* -EBUSY with a message when a process holds the group of one of the PF's VFs. */
static int vfs_held(VfptSysfs *s, const VfptSnapshot *snap, const VfptSriovPf *pf, char **ret_message) {
        size_t vfs[256], n = vfpt_sriov_vfs(snap, pf->device, vfs, ELEMENTSOF(vfs));
        const VfptDevice *d = &snap->devices[pf->device];

        if (n > ELEMENTSOF(vfs))
                n = ELEMENTSOF(vfs);
        for (size_t k = 0; k < n; k++) {
                const VfptDevice *vf = &snap->devices[vfs[k]];
                _cleanup_free_ char *node = NULL, *comm = NULL;
                pid_t pid;
                int r, busy;

                if (vf->group < 0 || !vfpt_device_is_vfio_driver(vf->driver))
                        continue;
                node = strdup_printf("%s/%d", vfpt_sysfs_vfio_dir(s), vf->group);
                if (!node)
                        return -ENOMEM;
                busy = vfpt_vfio_group_busy(node);
                r = vfpt_holders_find(vfpt_sysfs_proc_root(s), node, &pid, &comm);
                if (r < 0) {
                        *ret_message = strdup_printf("%s: cannot check who holds %s: %s", d->name, node, strerror(-r));
                        return r;
                }
                if (r > 0 || busy != 0) {
                        _cleanup_free_ char *who = r > 0 ? strdup_printf("pid %d (%s)", (int) pid, strna(comm))
                                                         : strdup("a process vfptd cannot see");
                        *ret_message = strdup_printf("%s: cannot change from %u to %u virtual functions: that removes "
                                                     "them all first, and VF %s is held: %s is open by %s; stop it first",
                                                     d->name, pf->current, pf->wanted, vf->name, node, strna(who));
                        return -EBUSY;
                }
        }
        return 0;
}

int vfpt_sriov_apply(VfptSysfs *s, const VfptSnapshot *snap, const VfptSriovPf *pf, char **ret_message) {
        const VfptDevice *d = &snap->devices[pf->device];
        _cleanup_free_ char *autoprobe = NULL;
        _cleanup_close_ int fd = -1;
        char dir[64];
        int r, r2;

        *ret_message = NULL;
        if (pf->action != VFPT_SRIOV_CREATE && pf->action != VFPT_SRIOV_CHANGE)
                return 0;
        snprintf(dir, sizeof(dir), VFPT_SYSFS_PCI_DEVICES "/%s", d->name);
        r = vfpt_sysfs_open_device(s, d->name, &fd);
        if (r < 0) {
                *ret_message = strdup_printf("%s: cannot open its sysfs directory: %s", d->name, strerror(-r));
                return r;
        }
        if (pf->action == VFPT_SRIOV_CHANGE) {
                r = vfs_held(s, snap, pf, ret_message);
                if (r < 0)
                        return r;
        }

        /* The VFs must come up without a driver, for vfio-pci to take them. */
        (void) read_attr(fd, VFPT_ATTR_SRIOV_DRIVERS_AUTOPROBE, &autoprobe);
        r = vfpt_sysfs_write(s, fd, dir, VFPT_ATTR_SRIOV_DRIVERS_AUTOPROBE, "0");
        if (r < 0) {
                *ret_message = strdup_printf("%s: write 0 to %s: %s", d->name, VFPT_ATTR_SRIOV_DRIVERS_AUTOPROBE,
                                             strerror(-r));
                return r;
        }

        if (pf->action == VFPT_SRIOV_CHANGE) {
                r = write_u(s, fd, dir, VFPT_ATTR_SRIOV_NUMVFS, 0);
                if (r < 0) {
                        _cleanup_free_ char *e = numvfs_error(d, 0, r);
                        *ret_message = strdup_printf("%s; it keeps its %u virtual functions", strna(e), pf->current);
                        return r;
                }
        }
        r = write_u(s, fd, dir, VFPT_ATTR_SRIOV_NUMVFS, pf->wanted);
        if (r >= 0)
                return 0;

        _cleanup_free_ char *e = numvfs_error(d, pf->wanted, r);
        if (pf->action == VFPT_SRIOV_CREATE) {
                /* Nothing was made; leave the PF as it was found. */
                if (autoprobe && !streq(autoprobe, "0"))
                        (void) vfpt_sysfs_write(s, fd, dir, VFPT_ATTR_SRIOV_DRIVERS_AUTOPROBE, autoprobe);
                *ret_message = strdup_printf("%s; it has no virtual functions", strna(e));
                return r;
        }
        /* Never fewer than before: put the old count back. */
        r2 = write_u(s, fd, dir, VFPT_ATTR_SRIOV_NUMVFS, pf->current);
        if (r2 < 0)
                *ret_message = strdup_printf("%s; putting its %u virtual functions back failed too: %s; "
                                             "it has none now", strna(e), pf->current, strerror(-r2));
        else
                *ret_message = strdup_printf("%s; its %u virtual functions are made again", strna(e), pf->current);
        return r;
}
