/* bus.c — see bus.h.
 *
 * What the bus shows is a view: each time the daemon takes a new State (or
 * a reload begins), the Manager's values and one DeviceView per plan device
 * are computed afresh and compared with the previous view; the differences
 * go out as InterfacesAdded/InterfacesRemoved and PropertiesChanged. Getters
 * read the view, never the State, so a client never reads a value that was
 * not signalled.
 *
 * Claim and Release edit vfptd's own drop-in (claims.h), take the one reload
 * path (the configuration is parsed whole and reconciled, as for SIGHUP), and
 * answer when the reconcile of that generation is done, with what became of
 * the device. A claim that is refused or fails takes its rule out again; a
 * release that fails puts its rule back: nothing half-configured remains. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "bus-names.h"
#include "bus.h"
#include "claims.h"
#include "config.h"
#include "log.h"
#include "vfpt-holders.h"
#include "vfpt-names.h"
#include "vfpt-sriov.h"
#include "vfpt-util.h"

#define DEFAULT_SYSTEM_BUS_ADDRESS "unix:path=/run/dbus/system_bus_socket"
/* A reconcile can wait on the kernel (an unbind waits for a device lock);
 * a call is answered with Failed rather than left hanging for ever. */
#define CALL_TIMEOUT_USEC (100ULL * 1000000ULL)

typedef struct DeviceView {
        char *path;
        char *address;
        uint16_t vendor_id, device_id;
        char *vendor, *name;
        int32_t group;
        char *driver, *target, *state, *rule, *rule_file, *reason;
        /* SR-IOV, for a physical function: VFs now, at most, their addresses. */
        uint32_t sriov_numvfs, sriov_totalvfs;
        char **vfs;
        char *reset_method, *node_owner; /* device preparation (vfpt-devprep.h) */
} DeviceView;

typedef struct View {
        const char *state;
        char *status;
        int iommu_active; /* sd-bus reads "b" as int */
        uint32_t claimed, absent, refused, failed;
        char **config_errors;
        DeviceView *devices;
        size_t n_devices;
} View;

typedef enum CallKind {
        CALL_CLAIM,
        CALL_RELEASE,
        CALL_RELOAD,
} CallKind;

typedef struct Pending Pending;
struct Pending {
        Bus *bus;
        CallKind kind;
        bool persist;
        sd_bus_message *msg;
        char address[VFPT_ADDRESS_MAX];
        unsigned generation;
        /* What the call changed in a claims file, undone when it fails:
         * undo_remove says the call added undo_rule (so remove it), else it
         * removed it (so add it back). */
        char *undo_dir, *undo_file, *undo_rule;
        bool undo_remove;
        sd_event_source *timeout;
        Pending *next;
};

struct Bus {
        Manager *manager;
        sd_event *event;
        sd_bus *bus;
        sd_event_source *reconnect;
        uint64_t reconnect_usec;  /* wait before the next try; doubles while it fails */
        bool connected;           /* the broker said hello since the last loss */
        View view;
        Pending *pending;
};

/* ---- the view ----------------------------------------------------------- */

static void device_view_done(DeviceView *d) {
        free(d->path);
        free(d->address);
        free(d->vendor);
        free(d->name);
        free(d->driver);
        free(d->target);
        free(d->state);
        free(d->rule);
        free(d->rule_file);
        free(d->reason);
        strv_free(d->vfs);
        free(d->reset_method);
        free(d->node_owner);
}

static void view_done(View *v) {
        for (size_t i = 0; i < v->n_devices; i++)
                device_view_done(&v->devices[i]);
        free(v->devices);
        free(v->status);
        strv_free(v->config_errors);
        *v = (View) {};
}

static char *strdup_empty(const char *s) {
        return strdup(s ? s : "");
}

static const char *plan_device_address(const State *st, const VfptPlanDevice *pd) {
        return pd->device == SIZE_MAX ? pd->absent : st->snapshot->devices[pd->device].name;
}

static const DeviceView *view_find(const View *v, const char *address) {
        for (size_t i = 0; i < v->n_devices; i++)
                if (streq(v->devices[i].address, address))
                        return &v->devices[i];
        return NULL;
}

/* A PF's VF count and the VFs' addresses (empty "as" for any other device). */
static int device_view_fill_sriov(const State *st, const VfptPlanDevice *pd, DeviceView *dv) {
        const VfptDevice *d = pd->device == SIZE_MAX ? NULL : &st->snapshot->devices[pd->device];
        size_t vfs[256], n;

        dv->vfs = calloc(1, sizeof(char *));
        if (!dv->vfs)
                return -ENOMEM;
        if (!d || !d->sriov_totalvfs)
                return 0;
        dv->sriov_numvfs = d->sriov_numvfs;
        dv->sriov_totalvfs = d->sriov_totalvfs;
        n = vfpt_sriov_vfs(st->snapshot, pd->device, vfs, ELEMENTSOF(vfs));
        for (size_t k = 0; k < n && k < ELEMENTSOF(vfs); k++)
                if (strv_extend(&dv->vfs, st->snapshot->devices[vfs[k]].name) < 0)
                        return -ENOMEM;
        return 0;
}

static int device_view_fill(Manager *m, const State *st, const VfptPlanDevice *pd, DeviceView *dv) {
        const VfptDevice *d = pd->device == SIZE_MAX ? NULL : &st->snapshot->devices[pd->device];
        const char *address = plan_device_address(st, pd);
        int r;

        *dv = (DeviceView) { .group = pd->group };
        r = sd_bus_path_encode(VFPT_BUS_DEVICE_PATH, address, &dv->path);
        if (r < 0)
                return r;
        dv->address = strdup(address);
        if (d) {
                dv->vendor_id = d->vendor;
                dv->device_id = d->device;
        }
        dv->vendor = strdup_empty(d ? hwdb_lookup(m->hwdb, d, "ID_VENDOR_FROM_DATABASE") : NULL);
        dv->name = strdup_empty(d ? hwdb_lookup(m->hwdb, d, "ID_MODEL_FROM_DATABASE") : NULL);
        dv->driver = strdup_empty(d ? d->driver : NULL);
        dv->target = strdup_empty(pd->target);
        dv->state = strdup(vfpt_device_state_to_string(pd->state));
        dv->rule = strdup_empty(pd->rule ? pd->rule->name : NULL);
        dv->rule_file = pd->rule ? strdup_printf("%s:%u", pd->rule->file, pd->rule->line) : strdup("");
        dv->reason = strdup_empty(pd->reason);
        dv->reset_method = strdup_empty(d ? d->reset_method : NULL);
        dv->node_owner = strdup_empty(d ? d->node_owner : NULL);
        if (!dv->address || !dv->vendor || !dv->name || !dv->driver || !dv->target || !dv->state ||
            !dv->rule || !dv->rule_file || !dv->reason || !dv->reset_method || !dv->node_owner)
                return -ENOMEM;
        return device_view_fill_sriov(st, pd, dv);
}

static int view_build(Manager *m, View *ret) {
        const State *st = m->state;
        View v = { .state = manager_daemon_state(m), .iommu_active = true };
        int r = -ENOMEM;

        if (m->config_errors && !(v.config_errors = calloc(strv_length(m->config_errors) + 1, sizeof(char *))))
                goto fail;
        for (size_t i = 0; m->config_errors && m->config_errors[i]; i++)
                if (!(v.config_errors[i] = strdup(m->config_errors[i])))
                        goto fail;
        if (!st) {
                v.status = strdup("starting");
                if (!v.status)
                        goto fail;
                *ret = v;
                return 0;
        }

        size_t counts[_VFPT_STATE_MAX];
        vfpt_plan_count(st->plan, counts);
        v.claimed = (uint32_t) counts[VFPT_STATE_CLAIMED];
        v.absent = (uint32_t) counts[VFPT_STATE_ABSENT];
        v.refused = (uint32_t) counts[VFPT_STATE_REFUSED];
        v.failed = (uint32_t) counts[VFPT_STATE_FAILED];
        v.iommu_active = st->snapshot->iommu_active;
        v.status = manager_status(m);
        if (!v.status)
                goto fail;

        v.devices = calloc(st->plan->n_devices + 1, sizeof(DeviceView));
        if (!v.devices)
                goto fail;
        for (size_t i = 0; i < st->plan->n_devices; i++) {
                const VfptPlanDevice *pd = &st->plan->devices[i];

                /* One object per address: the first plan entry speaks for it. */
                if (view_find(&v, plan_device_address(st, pd)))
                        continue;
                r = device_view_fill(m, st, pd, &v.devices[v.n_devices]);
                v.n_devices++;
                if (r < 0)
                        goto fail;
        }
        *ret = v;
        return 0;
fail:
        view_done(&v);
        return r;
}

/* ---- signals ------------------------------------------------------------ */

static bool bus_ready(Bus *b) {
        return b->bus && sd_bus_is_ready(b->bus) > 0;
}

static void emit_changed(Bus *b, const char *path, const char *interface, char **names) {
        int r;

        if (!names || !names[0])
                return;
        r = sd_bus_emit_properties_changed_strv(b->bus, path, interface, names);
        if (r < 0)
                log_warning_errno(r, "Cannot signal changed properties of %s: %s", path, strerror(-r));
}

#define CHANGED(list, cond, name)                                 \
        do {                                                      \
                if ((cond) && strv_extend(&(list), (name)) < 0)   \
                        return;                                   \
        } while (0)

static bool strv_equal(char **a, char **b);

static void emit_device_changes(Bus *b, const DeviceView *o, const DeviceView *n) {
        _cleanup_strv_free_ char **l = NULL;

        CHANGED(l, o->vendor_id != n->vendor_id, "VendorId");
        CHANGED(l, o->device_id != n->device_id, "DeviceId");
        CHANGED(l, !streq(o->vendor, n->vendor), "Vendor");
        CHANGED(l, !streq(o->name, n->name), "Name");
        CHANGED(l, o->group != n->group, "IommuGroup");
        CHANGED(l, !streq(o->driver, n->driver), "Driver");
        CHANGED(l, !streq(o->target, n->target), "TargetDriver");
        CHANGED(l, !streq(o->state, n->state), "State");
        CHANGED(l, !streq(o->rule, n->rule), "Rule");
        CHANGED(l, !streq(o->rule_file, n->rule_file), "RuleFile");
        CHANGED(l, !streq(o->reason, n->reason), "Reason");
        CHANGED(l, o->sriov_numvfs != n->sriov_numvfs, "SriovNumVfs");
        CHANGED(l, o->sriov_totalvfs != n->sriov_totalvfs, "SriovTotalVfs");
        CHANGED(l, !strv_equal(o->vfs, n->vfs), "VirtualFunctions");
        CHANGED(l, !streq(o->reset_method, n->reset_method), "ResetMethod");
        CHANGED(l, !streq(o->node_owner, n->node_owner), "NodeOwner");
        emit_changed(b, n->path, VFPT_BUS_DEVICE_INTERFACE, l);
}

static bool strv_equal(char **a, char **b) {
        size_t n = strv_length(a);

        if (n != strv_length(b))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!streq(a[i], b[i]))
                        return false;
        return true;
}

static void emit_manager_changes(Bus *b, const View *o, const View *n, bool devices_changed) {
        _cleanup_strv_free_ char **l = NULL;

        CHANGED(l, !streq(o->state, n->state), "State");
        CHANGED(l, !streq_ptr(o->status, n->status), "Status");
        CHANGED(l, o->iommu_active != n->iommu_active, "IommuActive");
        CHANGED(l, o->claimed != n->claimed, "Claimed");
        CHANGED(l, o->absent != n->absent, "Absent");
        CHANGED(l, o->refused != n->refused, "Refused");
        CHANGED(l, o->failed != n->failed, "Failed");
        CHANGED(l, !strv_equal(o->config_errors, n->config_errors), "ConfigErrors");
        CHANGED(l, devices_changed, "Devices");
        emit_changed(b, VFPT_BUS_PATH, VFPT_BUS_MANAGER_INTERFACE, l);
}

/* Swaps in a new view and signals the difference. Objects are removed while
 * the old view still holds them (sd-bus reads their interfaces to say what
 * went), and added once the new one does. */
static void view_update(Bus *b) {
        View old, new;
        bool devices_changed = false;
        bool ready = bus_ready(b);
        int r;

        r = view_build(b->manager, &new);
        if (r < 0) {
                log_error_errno(r, "Cannot update the D-Bus view: %s", strerror(-r));
                return;
        }
        for (size_t i = 0; i < b->view.n_devices; i++)
                if (!view_find(&new, b->view.devices[i].address)) {
                        devices_changed = true;
                        if (ready && (r = sd_bus_emit_object_removed(b->bus, b->view.devices[i].path)) < 0)
                                log_warning_errno(r, "Cannot signal the removal of %s: %s",
                                                  b->view.devices[i].path, strerror(-r));
                }
        old = b->view;
        b->view = new;
        for (size_t i = 0; i < new.n_devices; i++) {
                const DeviceView *o = view_find(&old, new.devices[i].address);

                if (!o) {
                        devices_changed = true;
                        if (ready && (r = sd_bus_emit_object_added(b->bus, new.devices[i].path)) < 0)
                                log_warning_errno(r, "Cannot signal the addition of %s: %s",
                                                  new.devices[i].path, strerror(-r));
                } else if (ready)
                        emit_device_changes(b, o, &new.devices[i]);
        }
        /* Order matters to a client that shows a list: compare it too. */
        if (!devices_changed && old.n_devices == new.n_devices)
                for (size_t i = 0; i < new.n_devices && !devices_changed; i++)
                        devices_changed = !streq(old.devices[i].path, new.devices[i].path);
        if (ready)
                emit_manager_changes(b, &old, &new, devices_changed);
        view_done(&old);
}

/* ---- answering calls ---------------------------------------------------- */

static Pending *pending_free(Pending *p) {
        if (!p)
                return NULL;
        sd_event_source_disable_unref(p->timeout);
        sd_bus_message_unref(p->msg);
        free(p->undo_dir);
        free(p->undo_file);
        free(p->undo_rule);
        free(p);
        return NULL;
}

static void pending_unlink(Bus *b, Pending *p) {
        for (Pending **q = &b->pending; *q; q = &(*q)->next)
                if (*q == p) {
                        *q = p->next;
                        return;
                }
}

/* Undoes the call's change to its claims file, and reloads so that the
 * running configuration matches the files again. */
static void pending_undo(Pending *p) {
        int r;

        if (!p->undo_rule)
                return;
        if (p->undo_remove)
                r = claims_file_remove(p->undo_dir, p->undo_file, p->undo_rule);
        else
                r = claims_file_add(p->undo_dir, p->undo_file, p->undo_rule, p->address);
        if (r < 0) {
                log_error_errno(r, "Cannot %s rule [%s] in %s/%s: %s", p->undo_remove ? "remove" : "restore",
                                p->undo_rule, p->undo_dir, p->undo_file, strerror(-r));
                return;
        }
        (void) manager_reload(p->bus->manager, NULL);
}

static void reply_error(sd_bus_message *msg, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void reply_error(sd_bus_message *msg, const char *name, const char *fmt, ...) {
        _cleanup_free_ char *text = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&text, fmt, ap);
        va_end(ap);
        if (r < 0)
                text = NULL;
        r = sd_bus_reply_method_errorf(msg, name, "%s", text ? text : "out of memory");
        if (r < 0)
                log_debug("Cannot send an error reply: %s", strerror(-r));
}

static const VfptPlanDevice *state_find(const State *st, const char *address) {
        for (size_t i = 0; st && i < st->plan->n_devices; i++)
                if (streq(plan_device_address(st, &st->plan->devices[i]), address))
                        return &st->plan->devices[i];
        return NULL;
}

static bool reason_is_holder(const char *reason) {
        return reason && strstr(reason, " is open by pid ");
}

static void resolve_claim(Bus *b, Pending *p, const State *st) {
        const VfptPlanDevice *pd = state_find(st, p->address);
        const char *rule = pd && pd->rule ? pd->rule->name : "its IOMMU group";

        if (pd && pd->state == VFPT_STATE_CLAIMED) {
                (void) sd_bus_reply_method_return(p->msg, NULL);
                if (p->persist) {
                        /* The persistent rule now speaks for it; a runtime one is redundant. */
                        _cleanup_free_ char *name = strdup_printf(VFPT_RUNTIME_RULE_PREFIX "%s", p->address);
                        if (name && b->manager->runtime_dir &&
                            claims_file_remove(b->manager->runtime_dir, VFPT_RUNTIME_FILE, name) > 0)
                                (void) manager_reload(b->manager, NULL);
                }
                return;
        }

        /* Everything below fails: take the rule out again first, so the files
         * say what is in force. */
        pending_undo(p);
        if (!pd)
                reply_error(p->msg, VFPT_BUS_ERROR_FAILED,
                            "%s is not in the plan after the reload; check `vfptctl status` and the vfptd log",
                            p->address);
        else if (pd->state == VFPT_STATE_ABSENT)
                reply_error(p->msg, VFPT_BUS_ERROR_NOT_FOUND,
                            "there is no PCI device at %s; `vfptctl groups` lists the devices of this machine",
                            p->address);
        else if (pd->state == VFPT_STATE_REFUSED && !st->snapshot->iommu_active)
                reply_error(p->msg, VFPT_BUS_ERROR_NO_IOMMU, "%s", strna(pd->reason));
        else if (pd->state == VFPT_STATE_REFUSED)
                reply_error(p->msg, VFPT_BUS_ERROR_REFUSED, "%s refused (rule '%s'): %s%s",
                            p->address, rule, strna(pd->reason),
                            p->undo_rule && pd->reason && strstr(pd->reason, "force = yes") ?
                            " (vfptctl claim never forces: to override the guard, write a rule with force = yes "
                            "in /etc/vfpt.d and run vfptctl reload)" : "");
        else if (pd->state == VFPT_STATE_FAILED && reason_is_holder(pd->reason))
                reply_error(p->msg, VFPT_BUS_ERROR_IN_USE, "%s: %s", p->address, pd->reason);
        else
                reply_error(p->msg, VFPT_BUS_ERROR_FAILED,
                            "claiming %s failed: %s; every device of its group is back on the driver it had, "
                            "and the vfptd log (journalctl -u vfptd) says more",
                            p->address, pd->reason ? pd->reason : vfpt_device_state_to_string(pd->state));
}

static void resolve_release(Bus *b, Pending *p, const State *st) {
        const VfptPlanDevice *pd = state_find(st, p->address);

        if (!pd || pd->state == VFPT_STATE_RELEASED) {
                (void) sd_bus_reply_method_return(p->msg, NULL);
                return;
        }
        if (pd->state == VFPT_STATE_FAILED) {
                pending_undo(p);
                if (reason_is_holder(pd->reason))
                        reply_error(p->msg, VFPT_BUS_ERROR_IN_USE, "%s stays claimed: %s", p->address, pd->reason);
                else
                        reply_error(p->msg, VFPT_BUS_ERROR_FAILED,
                                    "releasing %s failed: %s; it stays claimed (the vfptd log says more)",
                                    p->address, strna(pd->reason));
                return;
        }
        if (pd->rule) {
                /* Another rule still lists it: we checked before, so it arrived meanwhile. */
                pending_undo(p);
                reply_error(p->msg, VFPT_BUS_ERROR_CONFIGURED,
                            "%s is still listed by rule '%s' in %s:%u: remove it there and run `vfptctl reload`",
                            p->address, pd->rule->name, pd->rule->file, pd->rule->line);
                return;
        }
        (void) sd_bus_reply_method_return(p->msg, NULL);
}

static void pending_resolve(Bus *b, Pending *p, const State *st) {
        switch (p->kind) {
        case CALL_CLAIM:
                resolve_claim(b, p, st);
                break;
        case CALL_RELEASE:
                resolve_release(b, p, st);
                break;
        case CALL_RELOAD:
                (void) sd_bus_reply_method_return(p->msg, NULL);
                break;
        }
}

static void pending_run(Bus *b) {
        const State *st = b->manager->state;

        for (Pending *p = b->pending, *next; p; p = next) {
                next = p->next;
                if (!st || st->generation < p->generation)
                        continue;
                /* Unlinked first: resolving may reload, which calls us again. */
                pending_unlink(b, p);
                pending_resolve(b, p, st);
                pending_free(p);
                next = b->pending;
        }
}

static int on_pending_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Pending *p = userdata;
        Bus *b = p->bus;

        pending_unlink(b, p);
        log_error("No reconcile finished within %llu s of a D-Bus call; answering it with an error.",
                  CALL_TIMEOUT_USEC / 1000000ULL);
        pending_undo(p);
        reply_error(p->msg, VFPT_BUS_ERROR_FAILED,
                    "no reconcile finished within %llu s (a device may be stuck in the kernel); "
                    "see journalctl -u vfptd", CALL_TIMEOUT_USEC / 1000000ULL);
        pending_free(p);
        return 0;
}

static int pending_add(Bus *b, sd_bus_message *msg, CallKind kind, const char *address, unsigned generation,
                       Pending **ret) {
        Pending *p = calloc(1, sizeof(*p));
        int r;

        if (!p)
                return -ENOMEM;
        p->bus = b;
        p->kind = kind;
        p->msg = sd_bus_message_ref(msg);
        p->generation = generation;
        if (address)
                snprintf(p->address, sizeof(p->address), "%s", address);
        r = sd_event_add_time_relative(b->event, &p->timeout, CLOCK_MONOTONIC, CALL_TIMEOUT_USEC, 0,
                                       on_pending_timeout, p);
        if (r < 0) {
                pending_free(p);
                return r;
        }
        p->next = b->pending;
        b->pending = p;
        if (ret)
                *ret = p;
        return 0;
}

static int pending_set_undo(Pending *p, const char *dir, const char *file, const char *rule, bool remove) {
        p->undo_dir = strdup(dir);
        p->undo_file = strdup(file);
        p->undo_rule = strdup(rule);
        p->undo_remove = remove;
        return p->undo_dir && p->undo_file && p->undo_rule ? 0 : -ENOMEM;
}

static void on_manager_changed(Manager *m, void *userdata) {
        Bus *b = userdata;

        view_update(b);
        pending_run(b);
}

/* ---- methods ------------------------------------------------------------ */

/* Mutating methods are for root. The policy file says so too; this check
 * holds when a policy is missing or too generous. */
static int check_root(sd_bus_message *msg, sd_bus_error *error) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        uid_t uid;
        int r;

        r = sd_bus_query_sender_creds(msg, SD_BUS_CREDS_EUID | SD_BUS_CREDS_UID | SD_BUS_CREDS_AUGMENT, &creds);
        if (r >= 0) {
                r = sd_bus_creds_get_euid(creds, &uid);
                if (r < 0)
                        r = sd_bus_creds_get_uid(creds, &uid);
        }
        if (r < 0)
                return sd_bus_error_setf(error, VFPT_BUS_ERROR_ACCESS_DENIED,
                                         "cannot tell who is calling %s (%s); only root may", sd_bus_message_get_member(msg),
                                         strerror(-r));
        if (uid != 0)
                return sd_bus_error_setf(error, VFPT_BUS_ERROR_ACCESS_DENIED,
                                         "%s changes which devices the host keeps and is for root only: run it as root "
                                         "(sudo vfptctl ...); reading the state is open to everyone",
                                         sd_bus_message_get_member(msg));
        return 0;
}

/* A caller's string as it may appear in an error: printable characters
 * only, and at most 64 of them, so that a huge or binary argument neither
 * bloats the reply nor garbles a log line. */
static const char *quote_arg(const char *s, char buf[static 72]) {
        size_t i;

        for (i = 0; s[i] && i < 64; i++)
                buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
        if (s[i]) {
                memcpy(buf + i, "...", 3);
                i += 3;
        }
        buf[i] = '\0';
        return buf;
}

static int read_address(sd_bus_message *msg, VfptAddress *ret_address, char ret_text[static VFPT_ADDRESS_MAX],
                        sd_bus_error *error) {
        const char *s;
        char q[72];
        int r;

        r = sd_bus_message_read(msg, "s", &s);
        if (r < 0)
                return r;
        if (vfpt_address_parse(s, ret_address) < 0)
                return sd_bus_error_setf(error, VFPT_BUS_ERROR_INVALID_ADDRESS,
                                         "'%s' is not a PCI address: expected DOMAIN:BUS:SLOT.FUNCTION such as "
                                         "0000:03:00.0 (domain optional); `vfptctl groups` lists them",
                                         quote_arg(s, q));
        vfpt_address_format(ret_address, ret_text);
        return 0;
}

static char *config_errors_text(Manager *m) {
        _cleanup_free_ char *out = NULL;

        for (size_t i = 0; m->config_errors && m->config_errors[i]; i++) {
                char *n = strdup_printf("%s%s%s", out ? out : "", out ? "; " : "", m->config_errors[i]);
                if (!n)
                        return NULL;
                free(out);
                out = n;
        }
        return TAKE_PTR(out);
}

static int reply_rejected(Manager *m, sd_bus_error *error, const char *what) {
        _cleanup_free_ char *errors = config_errors_text(m);

        return sd_bus_error_setf(error, VFPT_BUS_ERROR_INVALID_CONFIG,
                                 "the configuration has errors, so %s: %s; fix them and run `vfptctl reload`",
                                 what, errors ? errors : "see the vfptd log");
}

/* Whether a rule lists the device (d in snap). For a device that is not on
 * the machine only the rule's addresses can say. An SR-IOV rule lists the
 * VFs of its PFs, never the PF. */
static bool rule_lists(const VfptRule *r, const VfptAddress *a, const VfptDevice *d, const VfptSnapshot *snap) {
        if (d && snap)
                return vfpt_rule_match_device(r, snap, d);
        if (d)
                return vfpt_rule_match(r, a, d->vendor, d->device);
        for (size_t i = 0; i < r->n_addresses; i++)
                if (vfpt_address_pattern_match(&r->addresses[i], a))
                        return true;
        return false;
}

static bool rule_is(const VfptRule *r, const char *dir, const char *file, const char *name) {
        _cleanup_free_ char *path = dir ? claims_file_path(dir, file) : NULL;

        return path && streq(r->file, path) && streq(r->name, name);
}

static int claim(sd_bus_message *msg, Bus *b, bool persist, sd_bus_error *error) {
        Manager *m = b->manager;
        const State *st = m->state;
        const VfptDevice *d = NULL;
        _cleanup_free_ char *runtime_rule = NULL, *persistent_rule = NULL;
        char address[VFPT_ADDRESS_MAX];
        const char *dir, *file, *rule;
        bool listed = false;
        unsigned gen;
        VfptAddress a;
        Pending *p;
        int r;

        r = check_root(msg, error);
        if (r < 0)
                return r;
        r = read_address(msg, &a, address, error);
        if (r < 0)
                return r;

        /* What the newest state already tells, before any file is touched. */
        if (st) {
                const VfptPlanDevice *pd;

                d = vfpt_snapshot_find(st->snapshot, &a);
                if (!d)
                        return sd_bus_error_setf(error, VFPT_BUS_ERROR_NOT_FOUND,
                                                 "there is no PCI device at %s; `vfptctl groups` lists the devices of this machine",
                                                 address);
                if (!st->snapshot->iommu_active)
                        return sd_bus_error_setf(error, VFPT_BUS_ERROR_NO_IOMMU,
                                                 "no IOMMU is active, so %s cannot be claimed: enable VT-d or AMD-Vi in the "
                                                 "firmware and boot with intel_iommu=on (Intel) or amd_iommu=on (AMD); "
                                                 "`vfptctl check` says more", address);
                if (d->bridge)
                        return sd_bus_error_setf(error, VFPT_BUS_ERROR_REFUSED,
                                                 "%s is a PCI bridge; bridges stay with the host (vfio-pci does not take "
                                                 "them): claim the devices behind it instead", address);
                pd = state_find(st, address);
                if (!persist && pd && pd->state == VFPT_STATE_CLAIMED)
                        return sd_bus_reply_method_return(msg, NULL); /* nothing to do */
        }

        runtime_rule = strdup_printf(VFPT_RUNTIME_RULE_PREFIX "%s", address);
        persistent_rule = strdup_printf(VFPT_PERSISTENT_RULE_PREFIX "%s", address);
        if (!runtime_rule || !persistent_rule)
                return -ENOMEM;
        dir = persist ? m->persistent_dir : m->runtime_dir;
        if (!dir)
                return sd_bus_error_set(error, VFPT_BUS_ERROR_FAILED,
                                        "Runtime claims are off: vfptd runs with --config-dir and no --runtime-dir. "
                                        "Use --persist, or start vfptd with --runtime-dir.");
        file = persist ? VFPT_PERSISTENT_FILE : VFPT_RUNTIME_FILE;
        rule = persist ? persistent_rule : runtime_rule;

        /* A rule that lists it already decides for it (the first that
         * matches wins): add none, just reconcile and report. For --persist
         * the runtime rule does not count: it is what is being replaced. */
        for (size_t i = 0; i < m->config->config->n_rules && !listed; i++) {
                const VfptRule *cr = &m->config->config->rules[i];
                if (rule_lists(cr, &a, d, st ? st->snapshot : NULL) &&
                    !(persist && rule_is(cr, m->runtime_dir, VFPT_RUNTIME_FILE, runtime_rule)))
                        listed = true;
        }
        if (listed) {
                r = pending_add(b, msg, CALL_CLAIM, address, manager_request(m), &p);
                if (r < 0)
                        return r;
                p->persist = persist;
                log_info("D-Bus: claim of %s requested; a rule lists it already, reconciling.", address);
                return 1;
        }

        r = claims_file_add(dir, file, rule, address);
        if (r < 0)
                return sd_bus_error_setf(error, VFPT_BUS_ERROR_FAILED, "cannot write rule [%s] to %s/%s: %s",
                                         rule, dir, file, strerror(-r));
        log_info("D-Bus: claim of %s requested; added rule [%s] to %s/%s.", address, rule, dir, file);
        r = manager_reload(m, &gen);
        if (r < 0) {
                (void) claims_file_remove(dir, file, rule);
                return reply_rejected(m, error, "the claim was not applied (its rule is removed again)");
        }
        r = pending_add(b, msg, CALL_CLAIM, address, gen, &p);
        if (r < 0)
                return r;
        p->persist = persist;
        r = pending_set_undo(p, dir, file, rule, true);
        return r < 0 ? r : 1;
}

static int method_claim(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return claim(msg, userdata, false, error);
}

static int method_claim_persistent(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return claim(msg, userdata, true, error);
}

static int release(sd_bus_message *msg, Bus *b, bool persist, sd_bus_error *error) {
        Manager *m = b->manager;
        const State *st = m->state;
        const VfptDevice *d = NULL;
        const VfptPlanDevice *pd = NULL;
        _cleanup_free_ char *runtime_rule = NULL, *persistent_rule = NULL;
        char address[VFPT_ADDRESS_MAX];
        const char *dir, *file, *rule;
        bool ours = false;
        unsigned gen;
        VfptAddress a;
        Pending *p;
        int r;

        r = check_root(msg, error);
        if (r < 0)
                return r;
        r = read_address(msg, &a, address, error);
        if (r < 0)
                return r;
        runtime_rule = strdup_printf(VFPT_RUNTIME_RULE_PREFIX "%s", address);
        persistent_rule = strdup_printf(VFPT_PERSISTENT_RULE_PREFIX "%s", address);
        if (!runtime_rule || !persistent_rule)
                return -ENOMEM;
        dir = persist ? m->persistent_dir : m->runtime_dir;
        if (!dir)
                return sd_bus_error_set(error, VFPT_BUS_ERROR_FAILED,
                                        "Runtime claims are off: vfptd runs with --config-dir and no --runtime-dir. "
                                        "Use --persist, or start vfptd with --runtime-dir.");
        file = persist ? VFPT_PERSISTENT_FILE : VFPT_RUNTIME_FILE;
        rule = persist ? persistent_rule : runtime_rule;
        if (st) {
                d = vfpt_snapshot_find(st->snapshot, &a);
                pd = state_find(st, address);
        }

        /* Any rule but the one this call may remove keeps the device claimed:
         * say which, and where to change it. */
        for (size_t i = 0; i < m->config->config->n_rules; i++) {
                const VfptRule *cr = &m->config->config->rules[i];

                if (!rule_lists(cr, &a, d, st ? st->snapshot : NULL))
                        continue;
                if (rule_is(cr, dir, file, rule)) {
                        ours = true;
                        continue;
                }
                if (!persist && rule_is(cr, m->persistent_dir, VFPT_PERSISTENT_FILE, persistent_rule))
                        return sd_bus_error_setf(error, VFPT_BUS_ERROR_CONFIGURED,
                                                 "%s was claimed with `vfptctl claim --persist` (rule '%s' in %s:%u): "
                                                 "release it with `vfptctl release --persist %s`",
                                                 address, cr->name, cr->file, cr->line, address);
                return sd_bus_error_setf(error, VFPT_BUS_ERROR_CONFIGURED,
                                         "%s is listed by rule '%s' in %s:%u, which is configuration: remove the device "
                                         "from that rule (or mask the file) and run `vfptctl reload`",
                                         address, cr->name, cr->file, cr->line);
        }

        if (!ours) {
                /* Claimed only because its group is: a group goes back whole. */
                if (pd && !pd->rule && pd->state != VFPT_STATE_RELEASE && pd->state != VFPT_STATE_RELEASED &&
                    pd->group >= 0)
                        for (size_t i = 0; i < st->plan->n_devices; i++) {
                                const VfptPlanDevice *o = &st->plan->devices[i];
                                if (o->group == pd->group && o->rule && o->device != SIZE_MAX)
                                        return sd_bus_error_setf(error, VFPT_BUS_ERROR_REFUSED,
                                                                 "%s is claimed only because it shares IOMMU group %d with %s "
                                                                 "(rule '%s'); a group is released whole: release %s instead",
                                                                 address, pd->group, plan_device_address(st, o),
                                                                 o->rule->name, plan_device_address(st, o));
                        }
                /* A release that failed before is retried by any reconcile. */
                if (!(pd && (pd->state == VFPT_STATE_RELEASE || pd->state == VFPT_STATE_FAILED)))
                        return sd_bus_error_setf(error, VFPT_BUS_ERROR_NOT_FOUND,
                                                 "vfpt holds no claim on %s: no rule lists it%s; `vfptctl status` shows "
                                                 "what vfpt holds", address,
                                                 persist ? " in " VFPT_PERSISTENT_FILE : "");
        }

        /* Unbinding a device whose group a process holds would block in the
         * kernel: refuse now, while nothing has changed. */
        if (d && d->group >= 0 && vfpt_device_is_vfio_driver(d->driver)) {
                _cleanup_free_ char *node = strdup_printf("%s/%d", m->vfio_dir, d->group), *comm = NULL;
                pid_t pid;

                if (!node)
                        return -ENOMEM;
                if (vfpt_holders_find(m->proc_root, node, &pid, &comm) > 0)
                        return sd_bus_error_setf(error, VFPT_BUS_ERROR_IN_USE,
                                                 "%s stays claimed: IOMMU group %d (%s) is open by pid %d (%s); "
                                                 "stop that VM or process first", address, d->group, node, (int) pid,
                                                 strna(comm));
        }

        if (!ours) {
                r = pending_add(b, msg, CALL_RELEASE, address, manager_request(m), NULL);
                return r < 0 ? r : 1;
        }
        r = claims_file_remove(dir, file, rule);
        if (r < 0)
                return sd_bus_error_setf(error, VFPT_BUS_ERROR_FAILED, "cannot remove rule [%s] from %s/%s: %s",
                                         rule, dir, file, strerror(-r));
        log_info("D-Bus: release of %s requested; removed rule [%s] from %s/%s.", address, rule, dir, file);
        r = manager_reload(m, &gen);
        if (r < 0) {
                (void) claims_file_add(dir, file, rule, address);
                return reply_rejected(m, error, "the release was not applied (its rule is back)");
        }
        r = pending_add(b, msg, CALL_RELEASE, address, gen, &p);
        if (r < 0)
                return r;
        r = pending_set_undo(p, dir, file, rule, false);
        return r < 0 ? r : 1;
}

static int method_release(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return release(msg, userdata, false, error);
}

static int method_release_persistent(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return release(msg, userdata, true, error);
}

static int method_reload(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Bus *b = userdata;
        unsigned gen;
        int r;

        r = check_root(msg, error);
        if (r < 0)
                return r;
        r = manager_reload(b->manager, &gen);
        if (r < 0)
                return reply_rejected(b->manager, error, "the running configuration stays in force");
        r = pending_add(b, msg, CALL_RELOAD, NULL, gen, NULL);
        return r < 0 ? r : 1;
}

static int append_device(sd_bus_message *reply, const DeviceView *d) {
        return sd_bus_message_append(reply, "(" VFPT_BUS_DEVICE_STRUCT ")", d->path, d->address, d->vendor_id,
                                     d->device_id, d->vendor, d->name, d->group, d->driver, d->target, d->state,
                                     d->rule, d->rule_file, d->reason, d->reset_method, d->node_owner);
}

static int method_list_devices(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Bus *b = userdata;
        int r;

        r = sd_bus_message_new_method_return(msg, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "(" VFPT_BUS_DEVICE_STRUCT ")");
        if (r < 0)
                return r;
        for (size_t i = 0; i < b->view.n_devices; i++)
                if ((r = append_device(reply, &b->view.devices[i])) < 0)
                        return r;
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_message_send(reply);
}

static int method_get_device(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Bus *b = userdata;
        char address[VFPT_ADDRESS_MAX];
        const DeviceView *d;
        VfptAddress a;
        int r;

        r = read_address(msg, &a, address, error);
        if (r < 0)
                return r;
        d = view_find(&b->view, address);
        if (!d)
                return sd_bus_error_setf(error, VFPT_BUS_ERROR_NOT_FOUND,
                                         "no rule matches %s, so vfpt does not track it; `vfptctl status` lists what it does",
                                         address);
        return sd_bus_reply_method_return(msg, "o", d->path);
}

static int property_get_devices(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Bus *b = userdata;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "o");
        if (r < 0)
                return r;
        for (size_t i = 0; i < b->view.n_devices; i++)
                if ((r = sd_bus_message_append(reply, "o", b->view.devices[i].path)) < 0)
                        return r;
        return sd_bus_message_close_container(reply);
}

static int property_get_manager_string(sd_bus *bus, const char *path, const char *interface, const char *property,
                                       sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Bus *b = userdata;
        const char *v = streq(property, "Version") ? VFPT_VERSION :
                        streq(property, "RuntimeDirectory") ? b->manager->runtime_dir :
                        b->manager->persistent_dir;

        return sd_bus_message_append(reply, "s", v ? v : "");
}

static int property_get_config_dirs(sd_bus *bus, const char *path, const char *interface, const char *property,
                                    sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Bus *b = userdata;
        return sd_bus_message_append_strv(reply, b->manager->config_dirs);
}

#define EMITS SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE
#define CONST SD_BUS_VTABLE_PROPERTY_CONST

/* Every method is marked unprivileged so that sd-bus lets the call through
 * to check_root(), which answers with our own AccessDenied and a hint. */
static const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        /* Fixed for the life of the process. */
        SD_BUS_PROPERTY("Version", "s", property_get_manager_string, 0, CONST),
        SD_BUS_PROPERTY("RuntimeDirectory", "s", property_get_manager_string, 0, CONST),
        SD_BUS_PROPERTY("PersistentDirectory", "s", property_get_manager_string, 0, CONST),
        SD_BUS_PROPERTY("ConfigDirectories", "as", property_get_config_dirs, 0, CONST),
        /* Follow the daemon: signalled with their values when they change. */
        SD_BUS_PROPERTY("State", "s", NULL, offsetof(Bus, view.state), EMITS),
        SD_BUS_PROPERTY("Status", "s", NULL, offsetof(Bus, view.status), EMITS),
        SD_BUS_PROPERTY("IommuActive", "b", NULL, offsetof(Bus, view.iommu_active), EMITS),
        SD_BUS_PROPERTY("Claimed", "u", NULL, offsetof(Bus, view.claimed), EMITS),
        SD_BUS_PROPERTY("Absent", "u", NULL, offsetof(Bus, view.absent), EMITS),
        SD_BUS_PROPERTY("Refused", "u", NULL, offsetof(Bus, view.refused), EMITS),
        SD_BUS_PROPERTY("Failed", "u", NULL, offsetof(Bus, view.failed), EMITS),
        SD_BUS_PROPERTY("ConfigErrors", "as", NULL, offsetof(Bus, view.config_errors), EMITS),
        SD_BUS_PROPERTY("Devices", "ao", property_get_devices, 0, EMITS),
        SD_BUS_METHOD_WITH_NAMES("Claim", "s", SD_BUS_PARAM(address), "", "", method_claim, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("ClaimPersistent", "s", SD_BUS_PARAM(address), "", "", method_claim_persistent,
                                 SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("Release", "s", SD_BUS_PARAM(address), "", "", method_release,
                                 SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("ReleasePersistent", "s", SD_BUS_PARAM(address), "", "", method_release_persistent,
                                 SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Reload", "", "", method_reload, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("ListDevices", "", "", "a(" VFPT_BUS_DEVICE_STRUCT ")", SD_BUS_PARAM(devices),
                                 method_list_devices, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("GetDevice", "s", SD_BUS_PARAM(address), "o", SD_BUS_PARAM(device),
                                 method_get_device, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

static const sd_bus_vtable device_vtable[] = {
        SD_BUS_VTABLE_START(0),
        /* The object is the address: it never changes. */
        SD_BUS_PROPERTY("Address", "s", NULL, offsetof(DeviceView, address), CONST),
        /* An absent device (a rule names an empty slot) has no ids or names
         * until something is plugged in there, so these change too. */
        SD_BUS_PROPERTY("VendorId", "q", NULL, offsetof(DeviceView, vendor_id), EMITS),
        SD_BUS_PROPERTY("DeviceId", "q", NULL, offsetof(DeviceView, device_id), EMITS),
        SD_BUS_PROPERTY("Vendor", "s", NULL, offsetof(DeviceView, vendor), EMITS),
        SD_BUS_PROPERTY("Name", "s", NULL, offsetof(DeviceView, name), EMITS),
        SD_BUS_PROPERTY("IommuGroup", "i", NULL, offsetof(DeviceView, group), EMITS),
        SD_BUS_PROPERTY("Driver", "s", NULL, offsetof(DeviceView, driver), EMITS),
        SD_BUS_PROPERTY("TargetDriver", "s", NULL, offsetof(DeviceView, target), EMITS),
        SD_BUS_PROPERTY("State", "s", NULL, offsetof(DeviceView, state), EMITS),
        SD_BUS_PROPERTY("Rule", "s", NULL, offsetof(DeviceView, rule), EMITS),
        SD_BUS_PROPERTY("RuleFile", "s", NULL, offsetof(DeviceView, rule_file), EMITS),
        SD_BUS_PROPERTY("Reason", "s", NULL, offsetof(DeviceView, reason), EMITS),
        SD_BUS_PROPERTY("SriovNumVfs", "u", NULL, offsetof(DeviceView, sriov_numvfs), EMITS),
        SD_BUS_PROPERTY("SriovTotalVfs", "u", NULL, offsetof(DeviceView, sriov_totalvfs), EMITS),
        SD_BUS_PROPERTY("VirtualFunctions", "as", NULL, offsetof(DeviceView, vfs), EMITS),
        SD_BUS_PROPERTY("ResetMethod", "s", NULL, offsetof(DeviceView, reset_method), EMITS),
        SD_BUS_PROPERTY("NodeOwner", "s", NULL, offsetof(DeviceView, node_owner), EMITS),
        SD_BUS_VTABLE_END,
};

static int device_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                       sd_bus_error *error) {
        Bus *b = userdata;

        for (size_t i = 0; i < b->view.n_devices; i++)
                if (streq(b->view.devices[i].path, path)) {
                        *found = &b->view.devices[i];
                        return 1;
                }
        return 0;
}

static int device_enumerate(sd_bus *bus, const char *path, void *userdata, char ***nodes, sd_bus_error *error) {
        Bus *b = userdata;
        char **l = calloc(b->view.n_devices + 1, sizeof(char *));

        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < b->view.n_devices; i++)
                if (!(l[i] = strdup(b->view.devices[i].path))) {
                        strv_free(l);
                        return -ENOMEM;
                }
        *nodes = l;
        return 1;
}

/* ---- the connection ----------------------------------------------------- */

static int bus_connect(Bus *b);

static void pending_drop_all(Bus *b) {
        while (b->pending) {
                Pending *p = b->pending;
                b->pending = p->next;
                pending_free(p);
        }
}

static void bus_disconnect(Bus *b) {
        pending_drop_all(b);
        if (b->bus) {
                sd_bus_detach_event(b->bus);
                b->bus = sd_bus_flush_close_unref(b->bus);
        }
}

static int on_reconnect(sd_event_source *s, uint64_t usec, void *userdata) {
        Bus *b = userdata;
        int r;

        b->reconnect = sd_event_source_disable_unref(b->reconnect);
        bus_disconnect(b);
        r = bus_connect(b);
        if (r < 0)
                log_error_errno(r, "Cannot reconnect to the system bus: %s; D-Bus is off until vfptd restarts",
                                strerror(-r));
        return 0;
}

static int on_disconnected(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Bus *b = userdata;
        int r;

        if (b->connected)
                log_warning("Lost the system bus; serving org.vfpt1 again when it is back.");
        b->connected = false;
        /* Not from inside the bus's own dispatch, and not in a hot loop while
         * the broker is going away (at shutdown its socket lingers): wait a
         * little longer after every failed try, up to half a minute. */
        if (!b->reconnect) {
                b->reconnect_usec = b->reconnect_usec ? b->reconnect_usec * 2 : 100 * 1000;
                if (b->reconnect_usec > 30 * 1000000ULL)
                        b->reconnect_usec = 30 * 1000000ULL;
                r = sd_event_add_time_relative(b->event, &b->reconnect, CLOCK_MONOTONIC, b->reconnect_usec, 0,
                                               on_reconnect, b);
                if (r < 0)
                        log_error_errno(r, "Cannot schedule a reconnect: %s", strerror(-r));
        }
        return 0;
}

static int on_connected(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Bus *b = userdata;

        b->connected = true;
        b->reconnect_usec = 0;
        log_info("Connected to the system bus.");
        return 0;
}

static int on_name(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        const sd_bus_error *e = sd_bus_message_get_error(msg);

        if (e && sd_bus_error_has_name(e, SD_BUS_ERROR_ACCESS_DENIED))
                log_error("Cannot own the name %s on the system bus: %s (is the policy %s.conf installed in "
                          "/usr/share/dbus-1/system.d?)", VFPT_BUS_NAME, e->message ? e->message : e->name,
                          VFPT_BUS_NAME);
        else if (e) /* the broker went away meanwhile: the reconnect will ask again */
                log_debug("Cannot own the name %s: %s", VFPT_BUS_NAME, e->message ? e->message : e->name);
        else
                log_info("Serving %s on the system bus.", VFPT_BUS_NAME);
        return 0;
}

static int bus_connect(Bus *b) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        const char *address = getenv("DBUS_SYSTEM_BUS_ADDRESS");
        int r;

        r = sd_bus_new(&bus);
        if (r < 0)
                return r;
        (void) sd_bus_set_description(bus, "system-bus");
        if ((r = sd_bus_set_address(bus, address ? address : DEFAULT_SYSTEM_BUS_ADDRESS)) < 0 ||
            (r = sd_bus_set_bus_client(bus, true)) < 0 ||
            (r = sd_bus_negotiate_creds(bus, true, SD_BUS_CREDS_UID | SD_BUS_CREDS_EUID)) < 0 ||
            (r = sd_bus_set_watch_bind(bus, true)) < 0 ||
            (r = sd_bus_set_connected_signal(bus, true)) < 0)
                return r;

        if ((r = sd_bus_add_object_vtable(bus, NULL, VFPT_BUS_PATH, VFPT_BUS_MANAGER_INTERFACE, manager_vtable, b)) < 0 ||
            (r = sd_bus_add_fallback_vtable(bus, NULL, VFPT_BUS_DEVICE_PATH, VFPT_BUS_DEVICE_INTERFACE, device_vtable,
                                            device_find, b)) < 0 ||
            (r = sd_bus_add_node_enumerator(bus, NULL, VFPT_BUS_DEVICE_PATH, device_enumerate, b)) < 0 ||
            (r = sd_bus_add_object_manager(bus, NULL, VFPT_BUS_PATH)) < 0)
                return r;
        if ((r = sd_bus_match_signal_async(bus, NULL, "org.freedesktop.DBus.Local", NULL, "org.freedesktop.DBus.Local",
                                           "Connected", on_connected, NULL, b)) < 0 ||
            (r = sd_bus_match_signal_async(bus, NULL, "org.freedesktop.DBus.Local", NULL, "org.freedesktop.DBus.Local",
                                           "Disconnected", on_disconnected, NULL, b)) < 0)
                return r;

        /* With watch_bind this returns at once, also when the socket is not there yet. */
        r = sd_bus_start(bus);
        if (r < 0)
                return r;
        r = sd_bus_request_name_async(bus, NULL, VFPT_BUS_NAME, 0, on_name, b);
        if (r < 0)
                return r;
        r = sd_bus_attach_event(bus, b->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return r;
        b->bus = TAKE_PTR(bus);
        return 0;
}

int bus_new(Bus **ret, Manager *m) {
        Bus *b = calloc(1, sizeof(*b));
        int r;

        if (!b)
                return -ENOMEM;
        b->manager = m;
        r = view_build(m, &b->view);
        if (r < 0) {
                free(b);
                return r;
        }
        m->changed = on_manager_changed;
        m->changed_userdata = b;
        *ret = b;
        return 0;
}

int bus_start(Bus *b, sd_event *e) {
        b->event = sd_event_ref(e);
        return bus_connect(b);
}

Bus *bus_free(Bus *b) {
        if (!b)
                return NULL;
        if (b->manager->changed_userdata == b) {
                b->manager->changed = NULL;
                b->manager->changed_userdata = NULL;
        }
        sd_event_source_disable_unref(b->reconnect);
        bus_disconnect(b);
        view_done(&b->view);
        sd_event_unref(b->event);
        free(b);
        return NULL;
}
