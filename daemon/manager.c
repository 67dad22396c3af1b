/* manager.c — reconcile: snapshot, guards, plan, execute, and tell a person
 * what happened. The worker thread reports what it did (claimed, released,
 * failed, taken back); the event loop reports changes in what was decided
 * (refused, absent), once per change rather than once per uevent. */
#include <errno.h>
#include <fcntl.h>
#include <libudev.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <systemd/sd-daemon.h>

#include "bus-names.h"
#include "config.h"
#include "devprep.h"
#include "log.h"
#include "manager.h"
#include "vfpt-exec.h"
#include "vfpt-modules.h"
#include "vfpt-names.h"
#include "vfpt-util.h"

Config *config_ref(Config *c) {
        if (c)
                __atomic_add_fetch(&c->n_ref, 1, __ATOMIC_SEQ_CST);
        return c;
}

Config *config_unref(Config *c) {
        if (c && __atomic_sub_fetch(&c->n_ref, 1, __ATOMIC_SEQ_CST) == 0) {
                vfpt_config_free(c->config);
                free(c);
        }
        return NULL;
}

State *state_free(State *s) {
        if (!s)
                return NULL;
        vfpt_plan_free(s->plan);
        vfpt_snapshot_free(s->snapshot);
        config_unref(s->config);
        free(s);
        return NULL;
}

int manager_new(Manager **ret) {
        Manager *m = calloc(1, sizeof(*m));

        if (!m)
                return -ENOMEM;
        m->done_fd = -1;
        pthread_mutex_init(&m->lock, NULL);
        pthread_cond_init(&m->wake, NULL);
        pthread_cond_init(&m->arrival, NULL);
        m->sysfs_root = strdup(VFPT_SYSFS_ROOT);
        m->proc_root = strdup(VFPT_PROC_ROOT);
        m->vfio_dir = strdup(VFPT_VFIO_DIR);
        m->records_dir = strdup(VFPT_RECORDS_DIR);
        m->runtime_dir = strdup(VFPT_RUNTIME_CONFIG_DIR);
        if (!m->sysfs_root || !m->proc_root || !m->vfio_dir || !m->records_dir || !m->runtime_dir) {
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
        if (m->worker_running || m->arrival_running) {
                struct timespec deadline;

                pthread_mutex_lock(&m->lock);
                m->quit = true;
                pthread_cond_signal(&m->wake);
                pthread_cond_signal(&m->arrival);
                pthread_mutex_unlock(&m->lock);
                /* A worker stuck in the kernel (an unbind waiting for a device
                 * lock) must not keep the process from exiting: leave it. */
                clock_gettime(CLOCK_REALTIME, &deadline);
                deadline.tv_sec += 5;
                if ((m->arrival_running && pthread_timedjoin_np(m->arrival_thread, NULL, &deadline) != 0) ||
                    (m->worker_running && pthread_timedjoin_np(m->worker, NULL, &deadline) != 0)) {
                        log_warning("The worker is still busy in the kernel; exiting without it.");
                        return NULL;
                }
        }
        manager_devprep_done(m);
        sd_event_source_disable_unref(m->retry_source);
        sd_event_source_disable_unref(m->worker_source);
        sd_event_source_disable_unref(m->monitor_source);
        udev_monitor_unref(m->monitor);
        udev_unref(m->udev);
        sd_event_unref(m->event);
        if (m->done_fd >= 0)
                close(m->done_fd);
        state_free(m->published);
        state_free(m->state);
        config_unref(m->config);
        vfpt_backoff_clear(&m->backoff);
        vfpt_backoff_clear(&m->sriov_backoff);
        strv_free(m->claimed);
        strv_free(m->early);
        strv_free(m->added);
        strv_free(m->modules_tried);
        vfpt_sysfs_free(m->sysfs);
        sd_hwdb_unref(m->hwdb);
        strv_free(m->config_dirs);
        strv_free(m->config_errors);
        free(m->runtime_dir);
        free(m->persistent_dir);
        free(m->sysfs_root);
        free(m->proc_root);
        free(m->vfio_dir);
        free(m->records_dir);
        pthread_mutex_destroy(&m->lock);
        pthread_cond_destroy(&m->wake);
        pthread_cond_destroy(&m->arrival);
        free(m);
        return NULL;
}

int manager_resolve_config_dirs(Manager *m) {
        static const char *const defaults[] = { VFPT_CONFIG_DIRS, NULL };
        _cleanup_strv_free_ char **l = NULL;
        bool listed;
        int r;

        if (!m->config_dirs) {
                /* The runtime directory takes /run/vfpt.d's place among the defaults. */
                for (const char *const *d = defaults; *d; d++)
                        if ((r = strv_extend(&l, streq(*d, VFPT_RUNTIME_CONFIG_DIR) ? m->runtime_dir : *d)) < 0)
                                return r;
        } else {
                /* --config-dir replaces the list; runtime claims only join it
                 * when asked for with --runtime-dir. */
                if (!m->runtime_dir_set) {
                        free(m->runtime_dir);
                        m->runtime_dir = NULL;
                }
                listed = !m->runtime_dir || strv_contains(m->config_dirs, m->runtime_dir);
                for (size_t i = 0; m->config_dirs[i]; i++) {
                        if ((r = strv_extend(&l, m->config_dirs[i])) < 0)
                                return r;
                        /* Runtime claims must be read wherever the rest is. */
                        if (i == 0 && !listed && (r = strv_extend(&l, m->runtime_dir)) < 0)
                                return r;
                }
        }
        free(m->persistent_dir);
        m->persistent_dir = strdup(l[0]);
        if (!m->persistent_dir)
                return -ENOMEM;
        strv_free(m->config_dirs);
        m->config_dirs = TAKE_PTR(l);
        return 0;
}

int manager_load_config(Manager *m, bool reload) {
        _cleanup_free_ Config *c = calloc(1, sizeof(Config));
        VfptConfig *vc = NULL;
        Config *old;
        int r;

        if (!c)
                return log_error_errno(ENOMEM, "Out of memory");
        r = vfpt_config_load(&vc, (const char *const *) m->config_dirs);
        if (r < 0)
                return log_error_errno(r, "Cannot load the configuration: %s", strerror(-r));

        /* Kept for D-Bus, whose Reload() and Claim() say what is wrong. */
        strv_free(m->config_errors);
        m->config_errors = NULL;
        for (size_t i = 0; i < vc->n_errors; i++) {
                log_error("%s%s", vc->errors[i].message, reload ? "" : " (file skipped)");
                if (strv_extend(&m->config_errors, vc->errors[i].message) < 0) {
                        vfpt_config_free(vc);
                        return log_error_errno(ENOMEM, "Out of memory");
                }
        }
        if (reload && vc->n_errors > 0) {
                log_error("Reload rejected: %zu error%s in the configuration; the running configuration stays in force.",
                          vc->n_errors, vc->n_errors == 1 ? "" : "s");
                vfpt_config_free(vc);
                return -EINVAL;
        }
        if (vc->n_rules == 0)
                log_notice("No rules configured (read %zu file%s); nothing to claim.",
                           strv_length(vc->files), strv_length(vc->files) == 1 ? "" : "s");
        c->n_ref = 1;
        c->config = vc;

        pthread_mutex_lock(&m->lock);
        old = m->config;
        m->config = TAKE_PTR(c);
        pthread_mutex_unlock(&m->lock);
        config_unref(old);
        return 0;
}

const char *hwdb_lookup(sd_hwdb *hwdb, const VfptDevice *d, const char *key) {
        char modalias[64];
        const char *v = NULL;

        if (!hwdb)
                return NULL;
        snprintf(modalias, sizeof(modalias), "pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X",
                 d->vendor, d->device, d->subsystem_vendor, d->subsystem_device,
                 (d->class >> 16) & 0xffu, (d->class >> 8) & 0xffu, d->class & 0xffu);
        if (sd_hwdb_get(hwdb, modalias, key, &v) < 0)
                return NULL;
        return v;
}

/* The module loader: VFPT_MODLOAD in the environment (tests, a relocated
 * install), else where meson installed it. */
static const char *modload_path(void) {
        const char *p = getenv("VFPT_MODLOAD");

        return p && *p ? p : VFPT_MODLOAD_PATH;
}

/* The modules the rules' drivers need, loaded before the first claim (and so
 * before a hotplug needs them): vfio-pci and its variants also need the
 * type1 IOMMU backend, which some modprobes (busybox) do not pull in. */
static void load_modules(Manager *m, const VfptConfig *c) {
        if (!streq(m->sysfs_root, VFPT_SYSFS_ROOT))
                return; /* a test tree has no kernel to load into */
        for (size_t i = 0; i < c->n_rules; i++) {
                const char *driver = c->rules[i].driver;
                const char *names[3] = { driver, NULL, NULL };
                _cleanup_free_ char *error = NULL;
                int r;

                if (strv_contains(m->modules_tried, driver))
                        continue;
                (void) strv_extend(&m->modules_tried, driver);
                if (vfpt_device_is_vfio_driver(driver))
                        names[1] = VFPT_MODULE_VFIO_IOMMU_TYPE1;
                r = vfpt_modules_load_helper(modload_path(), names, &error);
                if (r < 0)
                        log_warning_errno(r, "Cannot load %s: %s", driver, strna(error));
        }
}

/* "usb", or "usb, via its IOMMU group" for a device the group pulled in. */
static const char *rule_name(const VfptPlanDevice *pd) {
        static __thread char buf[160];

        if (pd->rule)
                return pd->rule->name;
        if (!pd->via)
                return "none";
        snprintf(buf, sizeof(buf), "%s, via its IOMMU group", pd->via->name);
        return buf;
}

static const char *group_text(int group, char buf[static 24]) {
        if (group < 0)
                return "no group";
        snprintf(buf, 24, "group %d", group);
        return buf;
}

/* Re-reads what execution changed, so the state shows the device as it is. */
static void refresh_device(VfptSysfs *s, VfptDevice *d) {
        _cleanup_close_ int fd = -1;
        char *driver = NULL, *override = NULL;

        if (vfpt_sysfs_open_device(s, d->name, &fd) < 0)
                return;
        if (vfpt_sysfs_read_driver(fd, &driver) < 0 || vfpt_sysfs_read_override(fd, &override) < 0) {
                free(driver);
                return;
        }
        free(d->driver);
        free(d->driver_override);
        d->driver = driver;
        d->driver_override = override;
}

static bool in_group(const VfptPlanGroup *g, size_t device) {
        for (size_t k = 0; k < g->n_members; k++)
                if (g->members[k] == device)
                        return true;
        return false;
}

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

/* A device vfptd held at the last pass is on another driver now. */
static void log_taken(const VfptDevice *d, const VfptPlanDevice *pd, const char *driver) {
        log_warning("%s [%04x:%04x]: %s took it; claiming it again for %s (rule '%s')",
                    d->name, d->vendor, d->device, driver, pd->target, rule_name(pd));
}

/* Backoff is per IOMMU group; a device without one stands for itself. */
static int backoff_key(const VfptSnapshot *snap, const VfptPlanGroup *g) {
        const VfptAddress *a = &snap->devices[g->members[0]].address;

        if (g->group >= 0)
                return g->group;
        return -2 - (int) (((a->domain & 0x7fu) << 16) | ((unsigned) a->bus << 8) | ((unsigned) a->slot << 3) | a->function);
}

static void group_set_state(VfptPlan *plan, const VfptPlanGroup *grp, VfptDeviceState state, const char *reason) {
        for (size_t i = 0; i < plan->n_devices; i++) {
                VfptPlanDevice *pd = &plan->devices[i];

                if (pd->device == SIZE_MAX || !in_group(grp, pd->device))
                        continue;
                if (pd->state != VFPT_STATE_CLAIM && pd->state != VFPT_STATE_RELEASE)
                        continue;
                pd->state = state;
                free(pd->reason);
                pd->reason = reason ? strdup(reason) : NULL;
        }
}

static void execute(Manager *m, VfptSnapshot *snap, VfptPlan *plan) {
        _cleanup_strv_free_ char **claimed = NULL;
        uint64_t now = now_usec();

        for (size_t g = 0; g < plan->n_groups; g++) {
                const VfptPlanGroup *grp = &plan->groups[g];
                const VfptBackoffEntry *waiting;
                int key = grp->n_members > 0 ? backoff_key(snap, grp) : -1;
                VfptExecResult res;
                char gbuf[24];
                int r;

                if (grp->refused || grp->n_steps == 0) {
                        vfpt_backoff_succeeded(&m->backoff, key);
                        continue;
                }

                /* Failed a moment ago: the rollback's own uevents must not
                 * make it fail again at once, and again, forever. */
                if (!vfpt_backoff_allowed(&m->backoff, key, now)) {
                        _cleanup_free_ char *reason = NULL;

                        waiting = vfpt_backoff_get(&m->backoff, key);
                        reason = strdup_printf("%s (next try in %llu s)", strna(waiting->reason),
                                               (unsigned long long) ((waiting->retry_usec - now + 999999) / 1000000));
                        group_set_state(plan, grp, VFPT_STATE_FAILED, reason);
                        continue;
                }

                for (size_t i = 0; i < plan->n_devices; i++) {
                        const VfptPlanDevice *pd = &plan->devices[i];
                        const VfptDevice *d;

                        if (pd->device == SIZE_MAX || !in_group(grp, pd->device) || pd->state != VFPT_STATE_CLAIM)
                                continue;
                        d = &snap->devices[pd->device];
                        /* Claimed at the last pass, on another driver now: someone took it. */
                        if (d->driver && !streq(d->driver, pd->target) && strv_contains(m->claimed, d->name))
                                log_taken(d, pd, d->driver);
                }

                r = vfpt_exec_group(m->sysfs, snap, grp, m->records_dir, &res);

                for (size_t k = 0; k < grp->n_members; k++)
                        refresh_device(m->sysfs, &snap->devices[grp->members[k]]);

                if (r < 0) {
                        _cleanup_free_ char *reason = strdup_printf("%s%s%s", strna(res.message),
                                                                    res.rollback_message ? "; " : "",
                                                                    res.rollback_message ? res.rollback_message : "");
                        uint64_t retry = vfpt_backoff_failed(&m->backoff, key, now, reason);

                        log_error("%s: %s failed: %s; %s; next try in %llu s", group_text(grp->group, gbuf),
                                  grp->release ? "release" : "claim", strna(res.message),
                                  res.rollback_error ? res.rollback_message
                                                     : "every device of the group is back on the driver it had",
                                  (unsigned long long) ((retry > now ? retry - now : 0) / 1000000));
                        group_set_state(plan, grp, VFPT_STATE_FAILED, reason);
                        vfpt_exec_result_clear(&res);
                        continue;
                }
                vfpt_backoff_succeeded(&m->backoff, key);
                /* Bound by another driver while the steps ran (a person, or a
                 * host driver on hotplug): said once, as for one seen before. */
                for (char **t = res.taken; t && *t; t++) {
                        char address[VFPT_ADDRESS_MAX], driver[128];
                        VfptAddress a;
                        const VfptDevice *d;
                        const VfptPlanDevice *pd;

                        if (sscanf(*t, "%12s %127s", address, driver) != 2 || vfpt_address_parse(address, &a) < 0 ||
                            !(d = vfpt_snapshot_find(snap, &a)) ||
                            !(pd = vfpt_plan_find_device(plan, (size_t) (d - snap->devices))))
                                continue;
                        if (strv_contains(m->claimed, d->name))
                                log_taken(d, pd, driver);
                        else
                                log_info("%s [%04x:%04x]: %s bound it first; took it over for %s (rule '%s')",
                                         d->name, d->vendor, d->device, driver, pd->target, rule_name(pd));
                }

                for (size_t i = 0; i < plan->n_devices; i++) {
                        VfptPlanDevice *pd = &plan->devices[i];

                        if (pd->device == SIZE_MAX || !in_group(grp, pd->device))
                                continue;
                        /* Logged by the event loop, with every other change. */
                        if (pd->state == VFPT_STATE_CLAIM)
                                pd->state = VFPT_STATE_CLAIMED;
                        else if (pd->state == VFPT_STATE_RELEASE)
                                pd->state = VFPT_STATE_RELEASED;
                }
                vfpt_exec_result_clear(&res);
        }

        for (size_t i = 0; i < plan->n_devices; i++)
                if (plan->devices[i].state == VFPT_STATE_CLAIMED &&
                    strv_extend(&claimed, snap->devices[plan->devices[i].device].name) < 0)
                        break;
        strv_free(m->claimed);
        m->claimed = TAKE_PTR(claimed);
}

/* Hotplug: a device that a rule lists gets its driver_override at once,
 * before the snapshot, the guards and the plan, so that the host driver's
 * module, which udev is about to load, finds it spoken for. Only a device
 * just added (nothing of the host can be using it) on a machine with an
 * IOMMU; if the plan then refuses it, early_undo() gives it back. */
static bool class_is_bridge(unsigned long class) {
        return (class >> 8) == 0x0604 || (class >> 8) == 0x0607;
}

/* True when the device at fd is the only endpoint of its IOMMU group (the
 * bridges a group may hold stay with the host whatever is claimed). */
static bool alone_in_group(int fd, const char *address) {
        _cleanup_close_ int gfd = openat(fd, VFPT_ATTR_IOMMU_GROUP "/devices", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;

        if (gfd < 0)
                return false;
        d = fdopendir(gfd);
        if (!d)
                return false;
        gfd = -1;
        while ((de = readdir(d))) {
                _cleanup_free_ char *path = NULL;
                unsigned long class;

                if (de->d_name[0] == '.' || streq(de->d_name, address))
                        continue;
                path = strdup_printf("%s/" VFPT_ATTR_CLASS, de->d_name);
                if (!path || read_attr_hex(dirfd(d), path, &class) < 0 || !class_is_bridge(class))
                        return false;
        }
        return true;
}

/* Whether an arriving device may be probed at once, without waiting for the
 * plan: what the planner would decide for it, in the one case where that is
 * plain. It is the only endpoint of its IOMMU group, has no driver (so
 * nothing of the host's runs on it), exactly one rule matches it, and it is
 * not a bridge. Anything else waits for the planner; the pass that follows
 * verifies and reports. */
static bool early_probe_ok(int fd, const char *address, const VfptConfig *c, unsigned long class,
                           const VfptAddress *addr, unsigned vendor, unsigned device) {
        unsigned matches = 0;

        for (size_t i = 0; i < c->n_rules; i++)
                matches += vfpt_rule_match(&c->rules[i], addr, vendor, device);
        return matches == 1 && !class_is_bridge(class) && alone_in_group(fd, address);
}

static void early_overrides(Manager *m, const VfptConfig *c, char **added) {
        for (char **a = added; a && *a; a++) {
                _cleanup_close_ int fd = -1;
                char address[VFPT_ADDRESS_MAX], dir[64], *driver = NULL;
                unsigned long class = 0;
                unsigned vendor, device;
                const VfptRule *rule = NULL;
                VfptAddress addr;

                if (sscanf(*a, "%12s %x:%x", address, &vendor, &device) != 3 ||
                    vfpt_address_parse(address, &addr) < 0)
                        continue;
                /* SR-IOV rules claim VFs the worker makes itself, with the
                 * PF's autoprobe off; and their IDs would match the PF. */
                for (size_t i = 0; i < c->n_rules && !rule; i++)
                        if (!c->rules[i].sriov_numvfs && vfpt_rule_match(&c->rules[i], &addr, vendor, device))
                                rule = &c->rules[i];
                if (!rule || vfpt_sysfs_open_device(m->sysfs, address, &fd) < 0)
                        continue;
                /* Only a device nothing has bound yet: udev's coldplug trigger
                 * replays "add" for every device, the host's disk included,
                 * and a bound device is the planner's to judge, guards first. */
                if (vfpt_sysfs_read_driver(fd, &driver) < 0 || driver) {
                        free(driver);
                        driver = NULL;
                        continue;
                }
                /* Nor a storage controller (unless the rule says force): its
                 * disks show only once its host driver has it, and the
                 * planner's early-boot guard must see that first. An override
                 * set here would let the controller go without that check. */
                if (read_attr_hex(fd, VFPT_ATTR_CLASS, &class) < 0 ||
                    ((class >> 16) == VFPT_PCI_CLASS_STORAGE && !rule->force))
                        continue;
                snprintf(dir, sizeof(dir), VFPT_SYSFS_PCI_DEVICES "/%s", address);
                if (vfpt_sysfs_write(m->sysfs, fd, dir, VFPT_ATTR_DRIVER_OVERRIDE, rule->driver) < 0)
                        continue;
                log_debug("%s: driver_override set to %s on arrival (rule '%s')", address, rule->driver, rule->name);
                /* Alone in its group, it needs nothing more than a probe: done
                 * here, it is on its driver before a pass could start (the
                 * hotplug latency of tests/bench). */
                if (early_probe_ok(fd, address, c, class, &addr, vendor, device) &&
                    vfpt_sysfs_write(m->sysfs, vfpt_sysfs_root_fd(m->sysfs), "", VFPT_SYSFS_PCI_DRIVERS_PROBE, address) >= 0)
                        log_debug("%s: probed on arrival (the only endpoint of its IOMMU group)", address);
                /* It came without a driver: the record says so, for the pass
                 * this thread asks for next (written after the probe, which it
                 * does not have to wait for; a crash in between leaves a device
                 * on vfio-pci with no record, which is released the same way). */
                (void) vfpt_record_write(m->records_dir, address, NULL);
                pthread_mutex_lock(&m->lock);
                (void) strv_extend(&m->early, address);
                pthread_mutex_unlock(&m->lock);
        }
}

static void early_undo(Manager *m, const VfptSnapshot *snap, const VfptPlan *plan) {
        _cleanup_strv_free_ char **early = NULL;

        pthread_mutex_lock(&m->lock);
        early = TAKE_PTR(m->early);
        pthread_mutex_unlock(&m->lock);
        for (char **a = early; a && *a; a++) {
                _cleanup_close_ int fd = -1;
                const VfptPlanDevice *pd = NULL;
                char dir[64];
                VfptAddress addr;
                VfptDevice *d;

                if (vfpt_address_parse(*a, &addr) < 0)
                        continue;
                if (!(d = vfpt_snapshot_find(snap, &addr))) {
                        /* It arrived after this pass's snapshot: the next pass
                         * (the arrival asked for one) decides; unless it is
                         * gone again. */
                        if (vfpt_sysfs_open_device(m->sysfs, *a, &fd) >= 0) {
                                pthread_mutex_lock(&m->lock);
                                (void) strv_extend(&m->early, *a);
                                pthread_mutex_unlock(&m->lock);
                        }
                        continue;
                }
                pd = vfpt_plan_find_device(plan, (size_t) (d - snap->devices));
                if (pd && (pd->state == VFPT_STATE_CLAIMED || pd->state == VFPT_STATE_FAILED))
                        continue; /* claimed, or rolled back to what it was */
                if (vfpt_sysfs_open_device(m->sysfs, *a, &fd) < 0)
                        continue;
                log_info("%s: not claimed after all; clearing the override set on arrival", *a);
                (void) vfpt_record_remove(m->records_dir, *a);
                snprintf(dir, sizeof(dir), VFPT_SYSFS_PCI_DEVICES "/%s", *a);
                (void) vfpt_sysfs_write(m->sysfs, fd, dir, VFPT_ATTR_DRIVER_OVERRIDE, "\n");
                (void) vfpt_sysfs_write(m->sysfs, vfpt_sysfs_root_fd(m->sysfs), "", VFPT_SYSFS_PCI_DRIVERS_PROBE, *a);
                refresh_device(m->sysfs, d);
        }
}

/* The arrival thread: writes driver_override for listed devices the moment
 * the kernel announces them, whatever the worker is busy with. Measured in
 * the guest, a reconcile already under way could hold the override back
 * past the ~80 ms in which the kernel attaches a loaded host driver. Its own
 * thread, not the event loop: the write takes the device lock, which a
 * probe may hold for a while. */
static void *arrival_main(void *userdata) {
        Manager *m = userdata;

        for (;;) {
                _cleanup_strv_free_ char **added = NULL;
                Config *c;
                bool iommu;

                pthread_mutex_lock(&m->lock);
                while (!m->quit && !m->added)
                        pthread_cond_wait(&m->arrival, &m->lock);
                if (m->quit) {
                        pthread_mutex_unlock(&m->lock);
                        return NULL;
                }
                added = TAKE_PTR(m->added);
                c = config_ref(m->config);
                iommu = m->iommu_seen;
                pthread_mutex_unlock(&m->lock);

                if (iommu)
                        early_overrides(m, c->config, added);
                config_unref(c);
                /* The pass for these arrivals comes after what was done here,
                 * never beside it (see on_uevent). */
                (void) manager_request(m);
        }
}

/* One pass: read, decide, and (unless execute is false) act. */
static int reconcile_once(Manager *m, Config *c, bool act, State **ret) {
        VfptGuardSources src = {
                .proc_root = m->proc_root,
                .use_getifaddrs = streq(m->proc_root, VFPT_PROC_ROOT),
        };
        _cleanup_strv_free_ char **sriov_notes = NULL;
        State *st;
        int r;

        st = calloc(1, sizeof(*st));
        if (!st)
                return -ENOMEM;
        st->config = config_ref(c);

        r = vfpt_snapshot_read(&st->snapshot, m->sysfs);
        if (r < 0) {
                log_error_errno(r, "Cannot read PCI devices under %s: %s", m->sysfs_root, strerror(-r));
                goto fail;
        }
        for (char **e = st->snapshot->errors; e && *e; e++)
                log_warning("%s", *e);
        if (act) {
                _cleanup_strv_free_ char **gone = NULL;

                r = vfpt_records_prune(m->records_dir, st->snapshot, &gone);
                if (r < 0)
                        log_warning_errno(r, "Cannot forget the records of removed devices in %s: %s",
                                          m->records_dir, strerror(-r));
                for (char **g = gone; g && *g; g++)
                        log_info("%s: left the machine; its original-driver record is forgotten", *g);

                r = manager_sriov_prepare(m, c->config, &st->snapshot, &sriov_notes);
                if (r < 0) {
                        log_error_errno(r, "Cannot make virtual functions: %s", strerror(-r));
                        goto fail;
                }
        }
        r = vfpt_snapshot_read_records(st->snapshot, m->records_dir);
        if (r < 0)
                goto fail;
        r = vfpt_guard_scan(st->snapshot, m->sysfs, &src);
        if (r < 0) {
                log_error_errno(r, "Cannot check which devices the host uses: %s", strerror(-r));
                goto fail;
        }
        r = vfpt_plan_build(&st->plan, c->config, st->snapshot);
        if (r < 0) {
                log_error_errno(r, "Cannot plan: %s", strerror(-r));
                goto fail;
        }
        manager_sriov_mark(st->plan, st->snapshot, sriov_notes);
        if (act) {
                execute(m, st->snapshot, st->plan);
                early_undo(m, st->snapshot, st->plan);
                manager_devprep_apply(m, st);
                st->retry_usec = vfpt_backoff_next(&m->backoff);
                if (manager_sriov_next_retry(m) &&
                    (!st->retry_usec || manager_sriov_next_retry(m) < st->retry_usec))
                        st->retry_usec = manager_sriov_next_retry(m);
                pthread_mutex_lock(&m->lock);
                m->iommu_seen = st->snapshot->iommu_active;
                pthread_mutex_unlock(&m->lock);
        }
        *ret = st;
        return 0;
fail:
        state_free(st);
        return r;
}

static const char *plan_device_key(const State *s, const VfptPlanDevice *pd) {
        return pd->device == SIZE_MAX ? pd->absent : s->snapshot->devices[pd->device].name;
}

static const VfptPlanDevice *find_same(const State *s, const char *key) {
        for (size_t i = 0; s && s->plan && i < s->plan->n_devices; i++)
                if (streq(plan_device_key(s, &s->plan->devices[i]), key))
                        return &s->plan->devices[i];
        return NULL;
}

/* Logs the decisions that changed since the previous state. */
static void log_decisions(const State *old, const State *new) {
        bool said_iommu = false;

        for (size_t i = 0; i < new->plan->n_devices; i++) {
                const VfptPlanDevice *pd = &new->plan->devices[i];
                const VfptPlanDevice *was = find_same(old, plan_device_key(new, pd));
                char gbuf[24];

                if (was && was->state == pd->state && streq_ptr(was->reason, pd->reason))
                        continue;
                if (pd->state == VFPT_STATE_ABSENT)
                        log_notice("%s: absent (rule '%s')", pd->absent, rule_name(pd));
                else if (pd->state == VFPT_STATE_CLAIMED) {
                        /* Claimed now, by this pass's steps, by the kernel's own
                         * probe after an override on arrival, or found so at start. */
                        const VfptDevice *d = &new->snapshot->devices[pd->device];
                        log_info("%s [%04x:%04x] %s: bound to %s (rule '%s')", d->name, d->vendor, d->device,
                                 group_text(pd->group, gbuf), pd->target, rule_name(pd));
                } else if (pd->state == VFPT_STATE_PF) {
                        const VfptDevice *d = &new->snapshot->devices[pd->device];
                        log_info("%s [%04x:%04x]: physical function with %u virtual function%s; it stays on %s (rule '%s')",
                                 d->name, d->vendor, d->device, d->sriov_numvfs, d->sriov_numvfs == 1 ? "" : "s",
                                 d->driver ? d->driver : "no driver", rule_name(pd));
                } else if (pd->state == VFPT_STATE_RELEASED) {
                        const VfptDevice *d = &new->snapshot->devices[pd->device];
                        log_info("%s [%04x:%04x] %s: released to %s (no rule lists it any more)", d->name, d->vendor,
                                 d->device, group_text(pd->group, gbuf), d->driver ? d->driver : "no driver");
                } else if (pd->state == VFPT_STATE_REFUSED) {
                        const VfptDevice *d = &new->snapshot->devices[pd->device];
                        if (!new->snapshot->iommu_active && strstr(pd->reason, "no IOMMU")) {
                                if (!said_iommu)
                                        log_warning("%s", pd->reason);
                                said_iommu = true;
                                continue;
                        }
                        /* Name the rule unless the reason already does. */
                        _cleanup_free_ char *quoted = pd->via ? strdup_printf("'%s'", pd->via->name) : NULL;
                        bool named = quoted && strstr(pd->reason, quoted);

                        log_warning("%s [%04x:%04x] %s: refused%s%s%s: %s", d->name, d->vendor, d->device,
                                    group_text(pd->group, gbuf), named ? "" : " (rule '", named ? "" : rule_name(pd),
                                    named ? "" : "')", pd->reason);
                }
        }
        /* A device that was claimed and is now simply gone — or, since
         * runtime releases (D-Bus), still there but no longer listed: vfpt
         * found it on its target driver, so it has nothing to give back. */
        for (size_t i = 0; old && i < old->plan->n_devices; i++) {
                const VfptPlanDevice *pd = &old->plan->devices[i];
                const VfptDevice *now;

                if (pd->device == SIZE_MAX || pd->state != VFPT_STATE_CLAIMED || find_same(new, plan_device_key(old, pd)))
                        continue;
                now = vfpt_snapshot_find(new->snapshot, &old->snapshot->devices[pd->device].address);
                if (!now)
                        log_notice("%s: removed from the machine (rule '%s')", plan_device_key(old, pd), rule_name(pd));
                else
                        log_notice("%s: no rule lists it any more; now on %s",
                                   now->name, now->driver ? now->driver : "no driver");
        }
}

int manager_plan_once(Manager *m) {
        State *st = NULL;
        int r;

        if (!m->sysfs) {
                r = vfpt_sysfs_open(&m->sysfs, m->sysfs_root);
                if (r < 0)
                        return log_error_errno(r, "Cannot open sysfs at %s: %s", m->sysfs_root, strerror(-r));
        }
        r = reconcile_once(m, m->config, false, &st);
        if (r < 0)
                return r;
        log_decisions(NULL, st);
        state_free(m->state);
        m->state = st;
        return 0;
}

static void *worker_main(void *userdata) {
        Manager *m = userdata;

        for (;;) {
                State *st = NULL;
                Config *c;
                unsigned gen;
                bool idle;

                pthread_mutex_lock(&m->lock);
                while (!m->quit && m->started == m->requested)
                        pthread_cond_wait(&m->wake, &m->lock);
                if (m->quit) {
                        pthread_mutex_unlock(&m->lock);
                        return NULL;
                }
                gen = m->started = m->requested;
                c = config_ref(m->config);
                if (m->forget_failures) {
                        vfpt_backoff_clear(&m->backoff);
                        vfpt_backoff_clear(&m->sriov_backoff);
                        m->modules_tried = strv_free(m->modules_tried);
                        m->forget_failures = false;
                }
                pthread_mutex_unlock(&m->lock);

                load_modules(m, c->config);

                if (reconcile_once(m, c, true, &st) >= 0)
                        st->generation = gen;
                config_unref(c);

                /* Published even when the pass failed: a reload still owes
                 * READY=1, and callers wait for this generation. */
                pthread_mutex_lock(&m->lock);
                if (st) {
                        state_free(m->published); /* superseded before anyone took it */
                        m->published = st;
                }
                m->done = gen;
                idle = m->requested == gen;
                pthread_mutex_unlock(&m->lock);
                (void) eventfd_write(m->done_fd, 1);

                /* A pass over many devices leaves freed snapshot and plan
                 * memory in this thread's arena; give it back before idling
                 * (measured: tests/bench/run.sh BUILD --idle). */
                if (idle)
                        (void) malloc_trim(0);
        }
}

unsigned manager_request(Manager *m) {
        unsigned gen;

        pthread_mutex_lock(&m->lock);
        gen = ++m->requested;
        pthread_cond_signal(&m->wake);
        pthread_mutex_unlock(&m->lock);
        return gen;
}

int manager_reload(Manager *m, unsigned *ret_generation) {
        int r;

        (void) sd_notifyf(false, "RELOADING=1\nMONOTONIC_USEC=%llu", (unsigned long long) now_usec());
        log_info("Reloading the configuration.");
        r = manager_load_config(m, true);
        if (r < 0) {
                _cleanup_free_ char *status = manager_status(m);
                (void) sd_notifyf(false, "READY=1\nSTATUS=Reload rejected (see the log); %s", strna(status));
                if (m->changed) /* the configuration errors changed */
                        m->changed(m, m->changed_userdata);
                return r;
        }
        /* A new configuration deserves a fresh try at groups that failed. */
        pthread_mutex_lock(&m->lock);
        m->forget_failures = true;
        pthread_mutex_unlock(&m->lock);
        m->reload_generation = manager_request(m);
        if (ret_generation)
                *ret_generation = m->reload_generation;
        if (m->changed)
                m->changed(m, m->changed_userdata);
        return 0;
}

const char *manager_daemon_state(Manager *m) {
        if (!m->ready_sent)
                return "starting";
        return m->reload_generation ? "reloading" : "running";
}

char *manager_status(Manager *m) {
        _cleanup_free_ char *s = m->state ? vfpt_plan_summary(m->state->plan) : NULL;

        if (!s)
                return NULL;
        if (!m->state->snapshot->iommu_active)
                return strdup_printf("%s; no IOMMU active", s);
        return TAKE_PTR(s);
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        manager_request(userdata);
        return 0;
}

/* A group whose claim failed is tried again when its backoff ends, even if
 * no uevent comes to wake us. */
static void manager_arm_retry(Manager *m, uint64_t usec) {
        int r;

        if (!usec) {
                (void) sd_event_source_set_enabled(m->retry_source, SD_EVENT_OFF);
                return;
        }
        if (m->retry_source) {
                r = sd_event_source_set_time(m->retry_source, usec);
                if (r >= 0)
                        r = sd_event_source_set_enabled(m->retry_source, SD_EVENT_ONESHOT);
        } else
                r = sd_event_add_time(m->event, &m->retry_source, CLOCK_MONOTONIC, usec, 0, on_retry, m);
        if (r < 0)
                log_warning_errno(r, "Cannot schedule a retry: %s", strerror(-r));
}

static int on_worker_done(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;
        _cleanup_free_ char *status = NULL, *old_status = NULL;
        eventfd_t v;
        State *st;
        unsigned done;
        bool ready;

        (void) eventfd_read(fd, &v);
        pthread_mutex_lock(&m->lock);
        st = TAKE_PTR(m->published);
        done = m->done;
        pthread_mutex_unlock(&m->lock);

        old_status = manager_status(m);
        if (st) {
                log_decisions(m->state, st);
                state_free(m->state);
                m->state = st;
                manager_arm_retry(m, st->retry_usec);
        } else if (m->state && m->state->generation < done)
                /* The pass failed (and said why); what we know is still the
                 * answer for the calls waiting on it. */
                m->state->generation = done;
        status = manager_status(m);

        ready = (!m->ready_sent && st) || (m->reload_generation && done >= m->reload_generation);
        if (ready) {
                m->ready_sent = true;
                m->reload_generation = 0;
        }
        if (status && (!streq_ptr(status, old_status) || ready))
                log_info("%s", status);
        /* Only news: a storm of uevents must not become a storm of messages. */
        if (ready || !streq_ptr(status, old_status))
                (void) sd_notifyf(false, "%sSTATUS=%s", ready ? "READY=1\n" : "", strna(status));
        if (m->changed)
                m->changed(m, m->changed_userdata);
        return 0;
}

static int on_uevent(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;
        bool any = false;

        /* Drain everything queued: one reconcile answers them all. An "add"
         * goes to the arrival thread first, which asks for the pass itself
         * once it has set the override: so the pass never races it. */
        for (;;) {
                struct udev_device *d = udev_monitor_receive_device(m->monitor);
                const char *action;

                if (!d)
                        break;
                action = udev_device_get_action(d);
                if (action && (streq(action, "add") || streq(action, "remove") || streq(action, "bind") ||
                               streq(action, "unbind") || streq(action, "change"))) {
                        const char *id = udev_device_get_property_value(d, "PCI_ID");
                        const char *name = udev_device_get_sysname(d);

                        log_full(LOG_DEBUG, 0, "uevent %s %s", action, strna(name));
                        if (streq(action, "add") && id && name) {
                                pthread_mutex_lock(&m->lock);
                                if (strv_push(&m->added, strdup_printf("%s %s", name, id)) < 0)
                                        any = true; /* out of memory: a plain pass, then */
                                pthread_cond_signal(&m->arrival);
                                pthread_mutex_unlock(&m->lock);
                        } else
                                any = true;
                }
                udev_device_unref(d);
        }
        if (any)
                manager_request(m);
        return 0;
}

/* Kernel uevents, not udev's: measured in the test guest, a listener on
 * udev's processed events hears of a hotplugged device only after udev has
 * loaded the host driver's module, and loses the race; the kernel's event
 * comes 40-60 ms earlier, in time to write driver_override first. */
static int monitor_start(Manager *m) {
        int r;

        m->udev = udev_new();
        if (!m->udev)
                return -ENOMEM;
        m->monitor = udev_monitor_new_from_netlink(m->udev, m->udev_events ? "udev" : "kernel");
        if (!m->monitor)
                return -errno ? -errno : -EIO;
        r = udev_monitor_filter_add_match_subsystem_devtype(m->monitor, "pci", NULL);
        if (r < 0)
                return r;
        /* A hotplug storm must not overflow the socket; failing to grow it
         * only costs events, and the next one reconciles everything anyway. */
        (void) udev_monitor_set_receive_buffer_size(m->monitor, 16 * 1024 * 1024);
        r = udev_monitor_enable_receiving(m->monitor);
        if (r < 0)
                return r;
        return sd_event_add_io(m->event, &m->monitor_source, udev_monitor_get_fd(m->monitor), EPOLLIN, on_uevent, m);
}

/* The sysfs tree and the host paths the guards read, as the options say. */
static int open_sysfs(Manager *m) {
        int r;

        r = vfpt_sysfs_open(&m->sysfs, m->sysfs_root);
        if (r < 0)
                return log_error_errno(r, "Cannot open sysfs at %s: %s", m->sysfs_root, strerror(-r));
        r = vfpt_sysfs_set_host_paths(m->sysfs, m->proc_root, m->vfio_dir);
        if (r < 0)
                return log_error_errno(r, "Out of memory");
        return 0;
}

int manager_start(Manager *m, sd_event *e) {
        int r;

        m->event = sd_event_ref(e);
        r = open_sysfs(m);
        if (r < 0)
                return r;

        /* Listen before the first scan, so that nothing falls between them. */
        r = monitor_start(m);
        if (r < 0)
                return log_error_errno(r, "Cannot listen to kernel uevents: %s", strerror(-r));
        r = manager_devprep_monitor_start(m);
        if (r < 0)
                return log_error_errno(r, "Cannot listen to udev's events for /dev/vfio: %s", strerror(-r));

        m->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (m->done_fd < 0)
                return log_error_errno(errno, "Cannot create an eventfd: %m");
        r = sd_event_add_io(e, &m->worker_source, m->done_fd, EPOLLIN, on_worker_done, m);
        if (r < 0)
                return log_error_errno(r, "Cannot watch the worker: %s", strerror(-r));

        r = -pthread_create(&m->worker, NULL, worker_main, m);
        if (r < 0)
                return log_error_errno(r, "Cannot start the worker thread: %s", strerror(-r));
        m->worker_running = true;
        r = -pthread_create(&m->arrival_thread, NULL, arrival_main, m);
        if (r < 0)
                return log_error_errno(r, "Cannot start the arrival thread: %s", strerror(-r));
        m->arrival_running = true;
        manager_request(m);
        return 0;
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
                                fprintf(f, s->driver ? "override %s" : "clear override", s->driver);
                                break;
                        case VFPT_STEP_UNBIND:
                        case VFPT_STEP_BIND:
                                fprintf(f, "%s %s", vfpt_step_kind_to_string(s->kind), s->driver);
                                break;
                        default:
                                fputs(vfpt_step_kind_to_string(s->kind), f);
                        }
                }
}

void manager_print_plan(Manager *m, FILE *f) {
        _cleanup_free_ char *status = NULL;
        const State *st = m->state;

        if (st && !st->snapshot->iommu_active)
                fprintf(f, "# no IOMMU is active on this machine: nothing can be claimed\n");
        for (size_t i = 0; st && i < st->plan->n_devices; i++) {
                const VfptPlanDevice *pd = &st->plan->devices[i];
                const char *rule = pd->rule ? pd->rule->name : NULL;
                const char *target = pd->target ? pd->target : "(host)";

                if (pd->state == VFPT_STATE_ABSENT) {
                        fprintf(f, "%s ----:---- group=- driver=- target=%s rule=%s absent\n",
                                pd->absent, target, strna(rule));
                        continue;
                }

                const VfptDevice *d = &st->snapshot->devices[pd->device];
                const char *model = hwdb_lookup(m->hwdb, d, "ID_MODEL_FROM_DATABASE");
                char group[16] = "-";

                if (pd->group >= 0)
                        snprintf(group, sizeof(group), "%d", pd->group);
                /* A device pulled in by its group has no rule of its own. */
                fprintf(f, "%s %04x:%04x group=%s driver=%s target=%s rule=%s",
                        d->name, d->vendor, d->device, group, d->driver ? d->driver : "-", target,
                        rule ? rule : pd->state == VFPT_STATE_RELEASE ? "(none)" : "(group)");
                if (!rule && pd->via)
                        fprintf(f, " via=%s", pd->via->name);
                if (model)
                        fprintf(f, " name=\"%s\"", model);
                fprintf(f, " %s", vfpt_device_state_to_string(pd->state));
                if (pd->state == VFPT_STATE_CLAIM || pd->state == VFPT_STATE_RELEASE)
                        print_steps(f, st->plan, pd);
                else if (pd->state == VFPT_STATE_PF)
                        manager_sriov_print(f, pd, d, st->snapshot);
                else if (pd->reason)
                        fprintf(f, ": %s", pd->reason);
                fputc('\n', f);
        }
        status = manager_status(m);
        fprintf(f, "summary: %s\n", strna(status));
}

/* vfptd --once (the initramfs): one pass that acts, as the daemon's first
 * one does, on the calling thread; no uevents, no bus, no sd_notify. The
 * records go to records_dir, where the daemon started later adopts them. */
int manager_claim_once(Manager *m) {
        State *st = NULL;
        size_t counts[_VFPT_STATE_MAX];
        int r;

        r = open_sysfs(m);
        if (r < 0)
                return r;
        load_modules(m, m->config->config);
        r = reconcile_once(m, m->config, true, &st);
        if (r < 0)
                return r;
        log_decisions(NULL, st);
        state_free(m->state);
        m->state = st;

        vfpt_plan_count(st->plan, counts);
        for (size_t i = 0; i < st->plan->n_devices; i++) {
                const VfptPlanDevice *pd = &st->plan->devices[i];

                if (pd->state == VFPT_STATE_FAILED || pd->state == VFPT_STATE_CLAIM || pd->state == VFPT_STATE_RELEASE)
                        log_error("%s: not in its planned state: %s%s%s", plan_device_key(st, pd),
                                  vfpt_device_state_to_string(pd->state), pd->reason ? ": " : "", pd->reason ? pd->reason : "");
        }
        return (int) (counts[VFPT_STATE_FAILED] + counts[VFPT_STATE_CLAIM] + counts[VFPT_STATE_RELEASE]);
}
