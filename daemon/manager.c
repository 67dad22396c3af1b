/* manager.c — reconcile: snapshot, guards, plan, execute, and tell a person
 * what happened, one log line per decision that matters. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "manager.h"
#include "vfpt-exec.h"
#include "vfpt-modules.h"
#include "vfpt-names.h"
#include "vfpt-util.h"

int manager_new(Manager **ret) {
        Manager *m = calloc(1, sizeof(*m));

        if (!m)
                return -ENOMEM;
        m->sysfs_root = strdup(VFPT_SYSFS_ROOT);
        m->proc_root = strdup(VFPT_PROC_ROOT);
        m->records_dir = strdup(VFPT_RECORDS_DIR);
        if (!m->sysfs_root || !m->proc_root || !m->records_dir) {
                manager_free(m);
                return -ENOMEM;
        }
        /* Names are a nicety: no hardware database is not an error. */
        if (sd_hwdb_new(&m->hwdb) < 0)
                m->hwdb = NULL;
        *ret = m;
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        strv_free(m->config_dirs);
        free(m->sysfs_root);
        free(m->proc_root);
        free(m->records_dir);
        vfpt_config_free(m->config);
        vfpt_sysfs_free(m->sysfs);
        vfpt_snapshot_free(m->snapshot);
        vfpt_plan_free(m->plan);
        sd_hwdb_unref(m->hwdb);
        free(m);
        return NULL;
}

int manager_load_config(Manager *m, bool reload) {
        VfptConfig *c = NULL;
        int r;

        r = vfpt_config_load(&c, (const char *const *) m->config_dirs);
        if (r < 0)
                return log_error_errno(r, "Cannot load the configuration: %s", strerror(-r));

        for (size_t i = 0; i < c->n_errors; i++)
                log_error("%s%s", c->errors[i].message,
                          reload ? "" : c->errors[i].line > 0 || c->errors[i].key ? " (file skipped)" : "");
        if (reload && c->n_errors > 0) {
                log_error("Reload rejected: %zu error%s in the configuration; the running configuration stays in force.",
                          c->n_errors, c->n_errors == 1 ? "" : "s");
                vfpt_config_free(c);
                return -EINVAL;
        }
        if (c->n_rules == 0)
                log_notice("No rules configured (read %zu file%s); nothing to claim.",
                           strv_length(c->files), strv_length(c->files) == 1 ? "" : "s");
        vfpt_config_free(m->config);
        m->config = c;
        return 0;
}

static const char *hwdb_get(Manager *m, const VfptDevice *d, const char *key) {
        char modalias[64];
        const char *v = NULL;

        if (!m->hwdb)
                return NULL;
        snprintf(modalias, sizeof(modalias), "pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X",
                 d->vendor, d->device, d->subsystem_vendor, d->subsystem_device,
                 (d->class >> 16) & 0xffu, (d->class >> 8) & 0xffu, d->class & 0xffu);
        if (sd_hwdb_get(m->hwdb, modalias, key, &v) < 0)
                return NULL;
        return v;
}

/* The modules a group's target driver needs: vfio-pci and its variants also
 * need the type1 IOMMU backend, which busybox-style modprobes forget. */
static int load_modules_for(Manager *m, const char *driver) {
        const char *names[3] = { driver, NULL, NULL };
        _cleanup_free_ char *error = NULL;
        int r;

        if (m->modules_loaded || !streq(m->sysfs_root, VFPT_SYSFS_ROOT))
                return 0;
        if (vfpt_device_is_vfio_driver(driver))
                names[1] = VFPT_MODULE_VFIO_IOMMU_TYPE1;
        r = vfpt_modules_load(names, &error);
        if (r < 0)
                return log_warning_errno(r, "Cannot load %s: %s", driver, strna(error));
        m->modules_loaded = true;
        return 0;
}

static const char *rule_name(const VfptPlanDevice *pd) {
        return pd->rule ? pd->rule->name : "(its IOMMU group)";
}

static void group_failed(Manager *m, const VfptPlanGroup *g, const VfptExecResult *res) {
        for (size_t i = 0; i < m->plan->n_devices; i++) {
                VfptPlanDevice *pd = &m->plan->devices[i];

                if (pd->device == SIZE_MAX || pd->group != g->group || pd->state != VFPT_STATE_CLAIM)
                        continue;
                if (g->group < 0 && pd->device != g->members[0])
                        continue;
                pd->state = VFPT_STATE_FAILED;
                free(pd->reason);
                pd->reason = strdup_printf("%s%s%s", res->message ? res->message : "failed",
                                           res->rollback_message ? "; " : "",
                                           res->rollback_message ? res->rollback_message : "");
        }
}

static void group_claimed(Manager *m, const VfptPlanGroup *g) {
        for (size_t i = 0; i < m->plan->n_devices; i++) {
                VfptPlanDevice *pd = &m->plan->devices[i];

                if (pd->device == SIZE_MAX || pd->group != g->group || pd->state != VFPT_STATE_CLAIM)
                        continue;
                if (g->group < 0 && pd->device != g->members[0])
                        continue;
                pd->state = VFPT_STATE_CLAIMED;
                log_info("%s [%04x:%04x] group %d: bound to %s (rule '%s')",
                         m->snapshot->devices[pd->device].name, m->snapshot->devices[pd->device].vendor,
                         m->snapshot->devices[pd->device].device, pd->group, pd->target, rule_name(pd));
        }
}

static void log_plan(Manager *m) {
        bool said_iommu = false;

        for (size_t i = 0; i < m->plan->n_devices; i++) {
                const VfptPlanDevice *pd = &m->plan->devices[i];

                if (pd->state == VFPT_STATE_ABSENT)
                        log_notice("%s: absent (rule '%s')", pd->absent, rule_name(pd));
                else if (pd->state == VFPT_STATE_REFUSED) {
                        const VfptDevice *d = &m->snapshot->devices[pd->device];
                        if (!m->snapshot->iommu_active && strstr(pd->reason, "no IOMMU")) {
                                if (!said_iommu)
                                        log_warning("%s", pd->reason);
                                said_iommu = true;
                                continue;
                        }
                        log_warning("%s [%04x:%04x] group %d: refused by rule '%s': %s",
                                    d->name, d->vendor, d->device, pd->group, rule_name(pd), pd->reason);
                }
        }
}

int manager_reconcile(Manager *m) {
        VfptGuardSources src = {
                .proc_root = m->proc_root,
                .use_getifaddrs = streq(m->proc_root, VFPT_PROC_ROOT),
        };
        VfptSnapshot *snap = NULL;
        VfptPlan *plan = NULL;
        int r;

        if (!m->sysfs) {
                r = vfpt_sysfs_open(&m->sysfs, m->sysfs_root);
                if (r < 0)
                        return log_error_errno(r, "Cannot open sysfs at %s: %s", m->sysfs_root, strerror(-r));
        }
        r = vfpt_snapshot_read(&snap, m->sysfs);
        if (r < 0)
                return log_error_errno(r, "Cannot read PCI devices under %s: %s", m->sysfs_root, strerror(-r));
        for (char **e = snap->errors; e && *e; e++)
                log_warning("%s", *e);
        r = vfpt_guard_scan(snap, m->sysfs, &src);
        if (r < 0) {
                vfpt_snapshot_free(snap);
                return log_error_errno(r, "Cannot check which devices the host uses: %s", strerror(-r));
        }
        r = vfpt_plan_build(&plan, m->config, snap);
        if (r < 0) {
                vfpt_snapshot_free(snap);
                return log_error_errno(r, "Cannot plan: %s", strerror(-r));
        }
        vfpt_snapshot_free(m->snapshot);
        vfpt_plan_free(m->plan);
        m->snapshot = snap;
        m->plan = plan;

        log_plan(m);
        if (m->dry_run)
                return 0;

        for (size_t g = 0; g < plan->n_groups; g++) {
                const VfptPlanGroup *grp = &plan->groups[g];
                VfptExecResult res;

                if (grp->refused || grp->n_steps == 0)
                        continue;
                (void) load_modules_for(m, grp->steps[0].driver);
                r = vfpt_exec_group(m->sysfs, snap, grp, m->records_dir, &res);
                if (r == -ENOMEM)
                        return log_error_errno(r, "Out of memory");
                if (r < 0) {
                        log_error("Group %d: claim failed: %s; %s", grp->group, strna(res.message),
                                  res.rollback_error ? res.rollback_message
                                                     : "every device of the group is back on the driver it had");
                        group_failed(m, grp, &res);
                } else
                        group_claimed(m, grp);
                vfpt_exec_result_clear(&res);
        }
        return 0;
}

char *manager_status(Manager *m) {
        _cleanup_free_ char *s = m->plan ? vfpt_plan_summary(m->plan) : NULL;

        if (!s)
                return NULL;
        if (m->snapshot && !m->snapshot->iommu_active)
                return strdup_printf("%s; no IOMMU active", s);
        return TAKE_PTR(s);
}

static void print_steps(FILE *f, const VfptPlan *p, const VfptPlanDevice *pd) {
        const char *sep = ": ";

        for (size_t g = 0; g < p->n_groups; g++)
                for (size_t k = 0; k < p->groups[g].n_steps; k++) {
                        const VfptStep *s = &p->groups[g].steps[k];
                        if (s->device != pd->device)
                                continue;
                        fputs(sep, f);
                        sep = ", ";
                        switch (s->kind) {
                        case VFPT_STEP_OVERRIDE:
                                fprintf(f, "override %s", s->driver);
                                break;
                        case VFPT_STEP_UNBIND:
                                fprintf(f, "unbind %s", s->driver);
                                break;
                        default:
                                fputs(vfpt_step_kind_to_string(s->kind), f);
                        }
                }
}

void manager_print_plan(Manager *m, FILE *f) {
        _cleanup_free_ char *status = NULL;

        if (m->snapshot && !m->snapshot->iommu_active)
                fprintf(f, "# no IOMMU is active on this machine: nothing can be claimed\n");
        for (size_t i = 0; m->plan && i < m->plan->n_devices; i++) {
                const VfptPlanDevice *pd = &m->plan->devices[i];
                const char *rule = pd->rule ? pd->rule->name : NULL;

                if (pd->state == VFPT_STATE_ABSENT) {
                        fprintf(f, "%s ----:---- group=- driver=- target=%s rule=%s absent\n",
                                pd->absent, pd->target, rule);
                        continue;
                }

                const VfptDevice *d = &m->snapshot->devices[pd->device];
                const char *model = hwdb_get(m, d, "ID_MODEL_FROM_DATABASE");
                char group[16] = "-";

                if (pd->group >= 0)
                        snprintf(group, sizeof(group), "%d", pd->group);
                /* A device pulled in by its group has no rule of its own. */
                fprintf(f, "%s %04x:%04x group=%s driver=%s target=%s rule=%s",
                        d->name, d->vendor, d->device, group, d->driver ? d->driver : "-", pd->target,
                        rule ? rule : "(group)");
                if (model)
                        fprintf(f, " name=\"%s\"", model);
                fprintf(f, " %s", vfpt_device_state_to_string(pd->state));
                if (pd->state == VFPT_STATE_CLAIM)
                        print_steps(f, m->plan, pd);
                else if (pd->reason)
                        fprintf(f, ": %s", pd->reason);
                fputc('\n', f);
        }
        status = manager_status(m);
        fprintf(f, "summary: %s\n", strna(status));
}
