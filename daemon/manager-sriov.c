/* manager-sriov.c — the reconcile's SR-IOV phase. Before the plan, every PF
 * an SR-IOV rule names is given its VFs (vfpt_sriov_apply), and the snapshot
 * is read again so that the planner sees them and claims them like any
 * other device. A PF's driver being unbound and bound again (many PF drivers
 * remove their VFs on unbind) is just another pass: its bind uevent wakes
 * the worker, the PF has 0 VFs, and they are made and claimed again.
 *
 * A PF whose VFs could not be made waits as a failed group does (backoff),
 * so that the uevents of the kernel's own undoing do not make it fail again
 * at once, forever. */
#include <stdint.h>
#include <time.h>

#include "log.h"
#include "manager.h"
#include "vfpt-sriov.h"
#include "vfpt-util.h"

static uint64_t mono_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

/* Backoff keys are ints; a PF has no group of its own to go by. */
static int pf_key(const VfptDevice *d) {
        const VfptAddress *a = &d->address;
        return (int) ((((unsigned) a->domain & 0x7fu) << 16) | ((unsigned) a->bus << 8) | ((unsigned) a->slot << 3) |
                      a->function);
}

/* "ADDRESS STATE MESSAGE" for the plan: STATE is F (failed) or R (refused). */
static int note(char ***notes, const VfptDevice *d, char state, const char *message) {
        return strv_push(notes, strdup_printf("%s %c %s", d->name, state, strna(message)));
}

int manager_sriov_prepare(Manager *m, const VfptConfig *c, VfptSnapshot **snap, char ***ret_notes) {
        VfptSriovPlan *sp = NULL;
        bool changed = false;
        uint64_t now = mono_usec();
        int r;

        *ret_notes = NULL;
        r = vfpt_sriov_plan_build(&sp, c, *snap);
        if (r < 0)
                return r;
        for (size_t k = 0; k < sp->n_pfs; k++) {
                const VfptSriovPf *pf = &sp->pfs[k];
                const VfptDevice *d = &(*snap)->devices[pf->device];
                int key = pf_key(d);
                _cleanup_free_ char *message = NULL;

                if (pf->action == VFPT_SRIOV_NONE || pf->action == VFPT_SRIOV_REFUSE) {
                        vfpt_backoff_succeeded(&m->sriov_backoff, key);
                        continue;
                }
                if (!vfpt_backoff_allowed(&m->sriov_backoff, key, now)) {
                        const VfptBackoffEntry *e = vfpt_backoff_get(&m->sriov_backoff, key);
                        _cleanup_free_ char *why = strdup_printf("%s (next try in %llu s)", strna(e->reason),
                                                                 (unsigned long long) ((e->retry_usec - now + 999999) / 1000000));
                        (void) note(ret_notes, d, 'F', why);
                        continue;
                }

                r = vfpt_sriov_apply(m->sysfs, *snap, pf, &message);
                changed = true;
                if (r == -ENOMEM) {
                        vfpt_sriov_plan_free(sp);
                        return r;
                }
                if (r < 0) {
                        uint64_t retry = vfpt_backoff_failed(&m->sriov_backoff, key, now, message);

                        log_error("%s [%04x:%04x]: making %u virtual functions failed: %s; next try in %llu s (rule '%s')",
                                  d->name, d->vendor, d->device, pf->wanted, strna(message),
                                  (unsigned long long) ((retry > now ? retry - now : 0) / 1000000), pf->rule->name);
                        (void) note(ret_notes, d, r == -EBUSY ? 'R' : 'F', message);
                        continue;
                }
                vfpt_backoff_succeeded(&m->sriov_backoff, key);
                if (pf->action == VFPT_SRIOV_CREATE)
                        log_info("%s [%04x:%04x]: made %u virtual functions; claiming them for %s (rule '%s')",
                                 d->name, d->vendor, d->device, pf->wanted, pf->rule->driver, pf->rule->name);
                else
                        log_info("%s [%04x:%04x]: virtual functions changed from %u to %u; claiming them for %s (rule '%s')",
                                 d->name, d->vendor, d->device, pf->current, pf->wanted, pf->rule->driver,
                                 pf->rule->name);
        }
        vfpt_sriov_plan_free(sp);

        if (changed) {
                /* The VFs are new devices: the planner must see them. */
                VfptSnapshot *fresh = NULL;

                r = vfpt_snapshot_read(&fresh, m->sysfs);
                if (r < 0)
                        return r;
                vfpt_snapshot_free(*snap);
                *snap = fresh;
        }
        return 0;
}

void manager_sriov_mark(VfptPlan *plan, const VfptSnapshot *snap, char **notes) {
        for (char **n = notes; n && *n; n++) {
                char address[VFPT_ADDRESS_MAX], state;
                int off = 0;
                VfptAddress a;
                const VfptDevice *d;
                VfptPlanDevice *pd;

                if (sscanf(*n, "%12s %c %n", address, &state, &off) != 2 || off == 0 ||
                    vfpt_address_parse(address, &a) < 0 || !(d = vfpt_snapshot_find(snap, &a)))
                        continue;
                pd = vfpt_plan_find_device(plan, (size_t) (d - snap->devices));
                if (!pd || (pd->state != VFPT_STATE_PF && pd->state != VFPT_STATE_REFUSED))
                        continue;
                pd->state = state == 'R' ? VFPT_STATE_REFUSED : VFPT_STATE_FAILED;
                free(pd->reason);
                pd->reason = strdup(*n + off);
        }
}

uint64_t manager_sriov_next_retry(Manager *m) {
        return vfpt_backoff_next(&m->sriov_backoff);
}

void manager_sriov_print(FILE *f, const VfptPlanDevice *pd, const VfptDevice *d, const VfptSnapshot *snap) {
        size_t vfs[64], n;

        if (pd->state != VFPT_STATE_PF || !pd->rule)
                return;
        if (d->sriov_numvfs != pd->rule->sriov_numvfs) {
                fprintf(f, ": sriov_drivers_autoprobe 0, %ssriov_numvfs %u, then claim the VFs for %s",
                        d->sriov_numvfs ? "sriov_numvfs 0, " : "", pd->rule->sriov_numvfs, pd->rule->driver);
                return;
        }
        n = vfpt_sriov_vfs(snap, pd->device, vfs, ELEMENTSOF(vfs));
        fprintf(f, ": %u virtual function%s", d->sriov_numvfs, d->sriov_numvfs == 1 ? "" : "s");
        for (size_t k = 0; k < n && k < ELEMENTSOF(vfs); k++)
                fprintf(f, "%s%s", k ? " " : " ", snap->devices[vfs[k]].name);
}
