/* ctl-bus.c — the vfptctl commands that ask vfptd over D-Bus: status,
 * claim, release, reload and qemu-args. Every error the daemon names is
 * printed with its message (which says what to do) and its D-Bus name. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "bus-names.h"
#include "ctl.h"
#include "ctl-initramfs.h"
#include "vfpt-address.h"
#include "vfpt-names.h"
#include "vfpt-sysfs.h"
#include "vfpt-util.h"

/* Claims and releases can wait on the kernel; vfptd answers within 100 s. */
#define CALL_TIMEOUT_USEC (120ULL * 1000000ULL)

typedef struct DeviceInfo {
        const char *path, *address;
        uint16_t vendor_id, device_id;
        const char *vendor, *name;
        int32_t group;
        const char *driver, *target, *state, *rule, *rule_file, *reason;
        /* A physical function's (state "pf"): read from its object. */
        uint32_t numvfs, totalvfs;
        char **vfs;
        const char *reset_method, *node_owner;
} DeviceInfo;

typedef struct ManagerInfo {
        const char *state, *status;
        int iommu_active;
        uint32_t claimed, absent, refused, failed;
        char **config_errors;
} ManagerInfo;

static void bus_unrefp(sd_bus **b) {
        sd_bus_flush_close_unref(*b);
}

static int connect_bus(sd_bus **ret) {
        int r = sd_bus_open_system(ret);

        if (r < 0) {
                fprintf(stderr, "vfptctl: cannot connect to the system bus: %s; is dbus running? "
                                "(DBUS_SYSTEM_BUS_ADDRESS names another bus)\n", strerror(-r));
                return CTL_EXIT_NO_DAEMON;
        }
        return 0;
}

/* Prints why a call failed and returns the exit code for it. */
static int call_failed(const char *what, const sd_bus_error *e, int r) {
        if (sd_bus_error_has_name(e, SD_BUS_ERROR_SERVICE_UNKNOWN) ||
            sd_bus_error_has_name(e, SD_BUS_ERROR_NAME_HAS_NO_OWNER)) {
                fprintf(stderr, "vfptctl: %s: vfptd is not running (nobody owns %s on the system bus): "
                                "systemctl start vfptd\n", what, VFPT_BUS_NAME);
                return CTL_EXIT_NO_DAEMON;
        }
        if (sd_bus_error_has_name(e, SD_BUS_ERROR_ACCESS_DENIED)) {
                fprintf(stderr, "vfptctl: %s: the D-Bus policy allows claim, release and reload to root only: "
                                "run it as root [%s]\n", what, e->name);
                return CTL_EXIT_FAILURE;
        }
        if (sd_bus_error_has_name(e, SD_BUS_ERROR_NO_REPLY) || sd_bus_error_has_name(e, SD_BUS_ERROR_TIMEOUT)) {
                fprintf(stderr, "vfptctl: %s: no answer from vfptd; it may still be working (vfptctl status, "
                                "journalctl -u vfptd)\n", what);
                return CTL_EXIT_FAILURE;
        }
        if (sd_bus_error_is_set(e))
                fprintf(stderr, "vfptctl: %s: %s [%s]\n", what, e->message ? e->message : "failed", e->name);
        else
                fprintf(stderr, "vfptctl: %s: %s\n", what, strerror(-r));
        return CTL_EXIT_FAILURE;
}

static int call(sd_bus *bus, const char *what, const char *interface, const char *member, sd_bus_message **ret,
                const char *types, ...) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        va_list ap;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, VFPT_BUS_NAME, VFPT_BUS_PATH, interface, member);
        if (r < 0)
                return call_failed(what, &error, r);
        if (types) {
                va_start(ap, types);
                r = sd_bus_message_appendv(m, types, ap);
                va_end(ap);
                if (r < 0)
                        return call_failed(what, &error, r);
        }
        r = sd_bus_call(bus, m, CALL_TIMEOUT_USEC, &error, ret);
        if (r < 0)
                return call_failed(what, &error, r);
        return 0;
}

static int read_manager(sd_bus *bus, sd_bus_message **reply, ManagerInfo *ret) {
        sd_bus_message *m;
        int r;

        *ret = (ManagerInfo) {};
        r = call(bus, "status", "org.freedesktop.DBus.Properties", "GetAll", reply, "s", VFPT_BUS_MANAGER_INTERFACE);
        if (r != 0)
                return r;
        m = *reply;
        if ((r = sd_bus_message_enter_container(m, 'a', "{sv}")) < 0)
                goto bad;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *name;

                if ((r = sd_bus_message_read(m, "s", &name)) < 0)
                        goto bad;
                if (streq(name, "State"))
                        r = sd_bus_message_read(m, "v", "s", &ret->state);
                else if (streq(name, "Status"))
                        r = sd_bus_message_read(m, "v", "s", &ret->status);
                else if (streq(name, "IommuActive"))
                        r = sd_bus_message_read(m, "v", "b", &ret->iommu_active);
                else if (streq(name, "Claimed"))
                        r = sd_bus_message_read(m, "v", "u", &ret->claimed);
                else if (streq(name, "Absent"))
                        r = sd_bus_message_read(m, "v", "u", &ret->absent);
                else if (streq(name, "Refused"))
                        r = sd_bus_message_read(m, "v", "u", &ret->refused);
                else if (streq(name, "Failed"))
                        r = sd_bus_message_read(m, "v", "u", &ret->failed);
                else if (streq(name, "ConfigErrors")) {
                        if ((r = sd_bus_message_enter_container(m, 'v', "as")) < 0 ||
                            (r = sd_bus_message_read_strv(m, &ret->config_errors)) < 0)
                                goto bad;
                        r = sd_bus_message_exit_container(m);
                } else
                        r = sd_bus_message_skip(m, "v");
                if (r < 0 || (r = sd_bus_message_exit_container(m)) < 0)
                        goto bad;
        }
        if (r < 0 || (r = sd_bus_message_exit_container(m)) < 0)
                goto bad;
        return 0;
bad:
        fprintf(stderr, "vfptctl: cannot read vfptd's properties: %s\n", strerror(-r));
        return CTL_EXIT_FAILURE;
}

/* Devices point into *reply, which the caller keeps. */
static int read_devices(sd_bus *bus, const char *what, sd_bus_message **reply, DeviceInfo **ret, size_t *ret_n) {
        _cleanup_free_ DeviceInfo *l = NULL;
        size_t n = 0;
        sd_bus_message *m;
        int r;

        r = call(bus, what, VFPT_BUS_MANAGER_INTERFACE, "ListDevices", reply, NULL);
        if (r != 0)
                return r;
        m = *reply;
        if ((r = sd_bus_message_enter_container(m, 'a', "(" VFPT_BUS_DEVICE_STRUCT ")")) < 0)
                goto bad;
        for (;;) {
                DeviceInfo d = {}, *nl;

                r = sd_bus_message_read(m, "(" VFPT_BUS_DEVICE_STRUCT ")", &d.path, &d.address, &d.vendor_id,
                                        &d.device_id, &d.vendor, &d.name, &d.group, &d.driver, &d.target, &d.state,
                                        &d.rule, &d.rule_file, &d.reason, &d.reset_method, &d.node_owner);
                if (r < 0)
                        goto bad;
                if (r == 0)
                        break;
                nl = realloc(l, (n + 1) * sizeof(*l));
                if (!nl) {
                        r = -ENOMEM;
                        goto bad;
                }
                l = nl;
                l[n++] = d;
        }
        if ((r = sd_bus_message_exit_container(m)) < 0)
                goto bad;
        *ret = TAKE_PTR(l);
        *ret_n = n;
        return 0;
bad:
        fprintf(stderr, "vfptctl: cannot read vfptd's device list: %s\n", strerror(-r));
        return CTL_EXIT_FAILURE;
}

/* SR-IOV: the VF count and addresses of each physical function, from its
 * Device object (ListDevices keeps its signature). */
static int read_sriov(sd_bus *bus, DeviceInfo *l, size_t n) {
        for (size_t i = 0; i < n; i++) {
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
                int r;

                if (!streq(l[i].state, "pf"))
                        continue;
                r = sd_bus_get_property_trivial(bus, VFPT_BUS_NAME, l[i].path, VFPT_BUS_DEVICE_INTERFACE,
                                                "SriovNumVfs", &e, 'u', &l[i].numvfs);
                if (r >= 0)
                        r = sd_bus_get_property_trivial(bus, VFPT_BUS_NAME, l[i].path, VFPT_BUS_DEVICE_INTERFACE,
                                                        "SriovTotalVfs", &e, 'u', &l[i].totalvfs);
                if (r >= 0)
                        r = sd_bus_get_property_strv(bus, VFPT_BUS_NAME, l[i].path, VFPT_BUS_DEVICE_INTERFACE,
                                                     "VirtualFunctions", &e, &l[i].vfs);
                if (r < 0) {
                        fprintf(stderr, "vfptctl: cannot read the virtual functions of %s: %s\n", l[i].address,
                                e.message ? e.message : strerror(-r));
                        return CTL_EXIT_FAILURE;
                }
        }
        return 0;
}

static void free_sriov(DeviceInfo *l, size_t n) {
        for (size_t i = 0; l && i < n; i++)
                l[i].vfs = strv_free(l[i].vfs);
}

static const char *rule_text(const DeviceInfo *d) {
        if (*d->rule)
                return d->rule;
        return streq(d->state, "release") || streq(d->state, "released") ? "(none)" : "(group)";
}

static void print_device_json(const DeviceInfo *d) {
        char id[16];
        bool f = true;

        snprintf(id, sizeof(id), "%04x:%04x", d->vendor_id, d->device_id);
        fputc('{', stdout);
        json_key(stdout, &f, "address");
        json_string(stdout, d->address);
        json_key(stdout, &f, "id");
        json_string(stdout, d->vendor_id || d->device_id ? id : NULL);
        json_key(stdout, &f, "vendor");
        json_string(stdout, *d->vendor ? d->vendor : NULL);
        json_key(stdout, &f, "name");
        json_string(stdout, *d->name ? d->name : NULL);
        json_key(stdout, &f, "iommu_group");
        if (d->group >= 0)
                printf("%d", (int) d->group);
        else
                fputs("null", stdout);
        json_key(stdout, &f, "driver");
        json_string(stdout, *d->driver ? d->driver : NULL);
        json_key(stdout, &f, "target_driver");
        json_string(stdout, *d->target ? d->target : NULL);
        json_key(stdout, &f, "state");
        json_string(stdout, d->state);
        json_key(stdout, &f, "rule");
        json_string(stdout, *d->rule ? d->rule : NULL);
        json_key(stdout, &f, "rule_file");
        json_string(stdout, *d->rule_file ? d->rule_file : NULL);
        json_key(stdout, &f, "reason");
        json_string(stdout, *d->reason ? d->reason : NULL);
        json_key(stdout, &f, "reset_method");
        json_string(stdout, *d->reset_method ? d->reset_method : NULL);
        json_key(stdout, &f, "node_owner");
        json_string(stdout, *d->node_owner ? d->node_owner : NULL);
        json_key(stdout, &f, "object_path");
        json_string(stdout, d->path);
        if (streq(d->state, "pf")) {
                printf(",\"sriov_numvfs\":%u,\"sriov_totalvfs\":%u", d->numvfs, d->totalvfs);
                json_key(stdout, &f, "virtual_functions");
                fputc('[', stdout);
                for (size_t k = 0; d->vfs && d->vfs[k]; k++) {
                        if (k)
                                fputc(',', stdout);
                        json_string(stdout, d->vfs[k]);
                }
                fputc(']', stdout);
        }
        fputc('}', stdout);
}

/* A line when the initramfs would claim other devices than the drop-ins say. */
static void print_initramfs_stale(void) {
        _cleanup_free_ char *detail = NULL, *fix = NULL;
        CtlInitramfsState state;

        if (ctl_initramfs_system_state(&state, &detail, &fix) >= 0 && state == CTL_INITRAMFS_STALE)
                printf("initramfs: %s; %s\n", detail, strna(fix));
}

int ctl_status(const CtlOptions *o) {
        _cleanup_(bus_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *props = NULL, *list = NULL;
        _cleanup_free_ DeviceInfo *devices = NULL;
        ManagerInfo mi;
        Table *t;
        size_t n = 0;
        int r;

        if ((r = connect_bus(&bus)) != 0)
                return r;
        if (o->quiet) {
                /* For scripts and shell completion: what `vfptctl release` can name. */
                if ((r = read_devices(bus, "status", &list, &devices, &n)) != 0)
                        return r;
                for (size_t i = 0; i < n; i++)
                        printf("%s\n", devices[i].address);
                return CTL_EXIT_OK;
        }
        if ((r = read_manager(bus, &props, &mi)) != 0)
                return r;
        if ((r = read_devices(bus, "status", &list, &devices, &n)) != 0) {
                strv_free(mi.config_errors);
                return r;
        }
        if ((r = read_sriov(bus, devices, n)) != 0) {
                free_sriov(devices, n);
                strv_free(mi.config_errors);
                return r;
        }

        if (o->json) {
                bool f = true;
                fputc('{', stdout);
                json_key(stdout, &f, "state");
                json_string(stdout, mi.state);
                json_key(stdout, &f, "status");
                json_string(stdout, mi.status);
                json_key(stdout, &f, "iommu_active");
                fputs(mi.iommu_active ? "true" : "false", stdout);
                printf(",\"claimed\":%u,\"absent\":%u,\"refused\":%u,\"failed\":%u", mi.claimed, mi.absent,
                       mi.refused, mi.failed);
                json_key(stdout, &f, "config_errors");
                fputc('[', stdout);
                for (size_t i = 0; mi.config_errors && mi.config_errors[i]; i++) {
                        if (i)
                                fputc(',', stdout);
                        json_string(stdout, mi.config_errors[i]);
                }
                fputc(']', stdout);
                json_key(stdout, &f, "devices");
                fputc('[', stdout);
                for (size_t i = 0; i < n; i++) {
                        if (i)
                                fputc(',', stdout);
                        print_device_json(&devices[i]);
                }
                fputs("]}\n", stdout);
                strv_free(mi.config_errors);
                free_sriov(devices, n);
                return CTL_EXIT_OK;
        }

        printf("vfptd: %s%s\n%s\n", strna(mi.state), mi.iommu_active ? "" : "; no IOMMU is active (vfptctl check)",
               strna(mi.status));
        for (size_t i = 0; mi.config_errors && mi.config_errors[i]; i++)
                printf("configuration error: %s\n", mi.config_errors[i]);
        strv_free(mi.config_errors);
        print_initramfs_stale();
        if (n == 0) {
                printf("No rule matches a device (rules in /etc/vfpt.d/*.conf; vfptctl plan shows the effect).\n");
                return CTL_EXIT_OK;
        }
        putchar('\n');
        t = table_new(10, "ADDRESS", "ID", "NAME", "GROUP", "DRIVER", "STATE", "RULE", "RESET", "NODE", "REASON");
        for (size_t i = 0; t && i < n; i++) {
                const DeviceInfo *d = &devices[i];
                char id[16] = "", group[16] = "", name[41];

                if (d->vendor_id || d->device_id)
                        snprintf(id, sizeof(id), "%04x:%04x", d->vendor_id, d->device_id);
                if (d->group >= 0)
                        snprintf(group, sizeof(group), "%d", (int) d->group);
                /* Names from the hardware database can be long; --json has them whole. */
                snprintf(name, sizeof(name), "%s", d->name);
                if (strlen(d->name) >= sizeof(name))
                        memcpy(name + sizeof(name) - 4, "...", 4);
                if (table_add(t, d->address, id, name, group, d->driver, d->state, rule_text(d), d->reset_method,
                              d->node_owner, d->reason) < 0)
                        t = table_free(t);
        }
        if (!t) {
                free_sriov(devices, n);
                fprintf(stderr, "vfptctl: out of memory\n");
                return CTL_EXIT_FAILURE;
        }
        table_print(t, stdout);
        table_free(t);
        /* A physical function stays with the host; what it gave is below. */
        for (size_t i = 0, said = 0; i < n; i++) {
                if (!streq(devices[i].state, "pf"))
                        continue;
                printf("%s%s: %u virtual function%s (of %u):", said++ ? "" : "\n", devices[i].address,
                       devices[i].numvfs, devices[i].numvfs == 1 ? "" : "s", devices[i].totalvfs);
                for (size_t k = 0; devices[i].vfs && devices[i].vfs[k]; k++)
                        printf(" %s", devices[i].vfs[k]);
                putchar('\n');
        }
        free_sriov(devices, n);
        return CTL_EXIT_OK;
}

static const DeviceInfo *find_device(const DeviceInfo *l, size_t n, const char *address) {
        VfptAddress a;
        char buf[VFPT_ADDRESS_MAX];

        if (vfpt_address_parse(address, &a) < 0)
                return NULL;
        vfpt_address_format(&a, buf);
        for (size_t i = 0; i < n; i++)
                if (streq(l[i].address, buf))
                        return &l[i];
        return NULL;
}

static int claim_or_release(const CtlOptions *o, bool claim) {
        _cleanup_(bus_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL, *list = NULL;
        _cleanup_free_ DeviceInfo *devices = NULL;
        _cleanup_free_ char *what = strdup_printf("%s %s", claim ? "claim" : "release", o->args[0]);
        const char *member = claim ? (o->persist ? "ClaimPersistent" : "Claim")
                                   : (o->persist ? "ReleasePersistent" : "Release");
        const DeviceInfo *d;
        size_t n = 0;
        int r;

        if ((r = connect_bus(&bus)) != 0)
                return r;
        r = call(bus, what ? what : member, VFPT_BUS_MANAGER_INTERFACE, member, &reply, "s", o->args[0]);
        if (r != 0)
                return r;

        /* Say where it ended; the call itself succeeded whatever this finds. */
        if (read_devices(bus, what ? what : member, &list, &devices, &n) != 0)
                return CTL_EXIT_OK;
        d = find_device(devices, n, o->args[0]);
        if (claim && d)
                printf("%s: %s, on %s (rule '%s'%s%s)\n", d->address, d->state, *d->driver ? d->driver : "no driver",
                       rule_text(d), *d->rule_file ? " in " : "", d->rule_file);
        else if (claim)
                printf("%s: claimed\n", o->args[0]);
        else if (d)
                printf("%s: %s, on %s\n", d->address, d->state, *d->driver ? d->driver : "no driver");
        else
                printf("%s: released; no rule lists it any more\n", o->args[0]);
        return CTL_EXIT_OK;
}

int ctl_claim(const CtlOptions *o) {
        return claim_or_release(o, true);
}

int ctl_release(const CtlOptions *o) {
        return claim_or_release(o, false);
}

int ctl_reload(const CtlOptions *o) {
        _cleanup_(bus_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL, *props = NULL;
        ManagerInfo mi;
        int r;

        if ((r = connect_bus(&bus)) != 0)
                return r;
        r = call(bus, "reload", VFPT_BUS_MANAGER_INTERFACE, "Reload", &reply, NULL);
        if (r != 0)
                return r;
        if (read_manager(bus, &props, &mi) == 0) {
                printf("reloaded: %s\n", strna(mi.status));
                strv_free(mi.config_errors);
        }
        return CTL_EXIT_OK;
}

static bool in_groups(const int32_t *groups, size_t n, int32_t g) {
        for (size_t i = 0; i < n; i++)
                if (groups[i] == g)
                        return true;
        return false;
}

int ctl_qemu_args(const CtlOptions *o) {
        _cleanup_(bus_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *list = NULL;
        _cleanup_free_ DeviceInfo *devices = NULL;
        _cleanup_free_ int32_t *groups = NULL;
        const char *rule = o->n_args > 0 ? o->args[0] : NULL;
        size_t n = 0, n_groups = 0, printed = 0, stub = 0;
        int r;

        if ((r = connect_bus(&bus)) != 0)
                return r;
        if ((r = read_devices(bus, "qemu-args", &list, &devices, &n)) != 0)
                return r;

        /* With a rule: its devices, and those claimed with them for sharing a group. */
        groups = calloc(n + 1, sizeof(*groups));
        if (!groups)
                return CTL_EXIT_FAILURE;
        for (size_t i = 0; rule && i < n; i++)
                if (streq(devices[i].rule, rule) && devices[i].group >= 0)
                        groups[n_groups++] = devices[i].group;

        for (size_t i = 0; i < n; i++) {
                const DeviceInfo *d = &devices[i];
                VfptAddress a;

                if (!streq(d->state, "claimed"))
                        continue;
                if (rule && !streq(d->rule, rule) && !(!*d->rule && in_groups(groups, n_groups, d->group)))
                        continue;
                if (!vfpt_device_is_vfio_driver(d->driver)) {
                        stub++;
                        continue;
                }
                if (vfpt_address_parse(d->address, &a) < 0)
                        continue;
                if (o->libvirt)
                        printf("<hostdev mode='subsystem' type='pci' managed='no'>\n"
                               "  <source>\n"
                               "    <address domain='0x%04x' bus='0x%02x' slot='0x%02x' function='0x%x'/>\n"
                               "  </source>\n"
                               "</hostdev>\n", a.domain, a.bus, a.slot, a.function);
                else
                        printf("-device vfio-pci,host=%s\n", d->address);
                printed++;
        }
        if (stub > 0)
                fprintf(stderr, "vfptctl: left out %zu device%s on pci-stub: QEMU passes through only vfio devices\n",
                        stub, stub == 1 ? "" : "s");
        if (printed == 0) {
                if (rule)
                        fprintf(stderr, "vfptctl: rule '%s' has no claimed vfio device (vfptctl status shows why)\n", rule);
                else
                        fprintf(stderr, "vfptctl: no device is claimed for vfio (vfptctl status shows why)\n");
                return CTL_EXIT_FAILURE;
        }
        return CTL_EXIT_OK;
}
