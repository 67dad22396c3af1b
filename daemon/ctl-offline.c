/* ctl-offline.c — the vfptctl commands that need no daemon and no root:
 * groups (what the usual `find /sys/kernel/iommu_groups` loop prints, but
 * readable), check (is this host ready for passthrough) and plan (the dry
 * run, through the daemon's own manager code). They only read. */
#include <ctype.h>
#include <fcntl.h>
#include <libkmod.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-hwdb.h>

#include "ctl.h"
#include "ctl-initramfs.h"
#include "manager.h"
#include "vfpt-names.h"
#include "vfpt-util.h"

static const char *sysfs_root(const CtlOptions *o) {
        return o->sysfs_root ? o->sysfs_root : VFPT_SYSFS_ROOT;
}

static const char *proc_root(const CtlOptions *o) {
        return o->proc_root ? o->proc_root : VFPT_PROC_ROOT;
}

static int read_snapshot(const CtlOptions *o, VfptSysfs **ret_sysfs, VfptSnapshot **ret_snap) {
        VfptSysfs *s = NULL;
        int r;

        r = vfpt_sysfs_open(&s, sysfs_root(o));
        if (r < 0) {
                fprintf(stderr, "vfptctl: cannot open sysfs at %s: %s\n", sysfs_root(o), strerror(-r));
                return r;
        }
        r = vfpt_snapshot_read(ret_snap, s);
        if (r < 0) {
                fprintf(stderr, "vfptctl: cannot read the PCI devices under %s: %s\n", sysfs_root(o), strerror(-r));
                vfpt_sysfs_free(s);
                return r;
        }
        *ret_sysfs = s;
        return 0;
}

/* ---- groups ------------------------------------------------------------- */

/* Why a member keeps its group from being handed to a guest, or NULL. */
static const char *member_blocks(const VfptDevice *d) {
        if (d->unreadable)
                return "unreadable";
        if (!d->driver || vfpt_device_is_vfio_driver(d->driver) || streq(d->driver, VFPT_DRIVER_PCI_STUB))
                return NULL;
        if (d->bridge && streq(d->driver, VFPT_DRIVER_PCIEPORT))
                return NULL;
        return d->driver;
}

static int cmp_group_address(const void *a, const void *b) {
        const VfptDevice *x = *(const VfptDevice *const *) a, *y = *(const VfptDevice *const *) b;

        if (x->group != y->group)
                return x->group < 0 ? 1 : y->group < 0 ? -1 : (x->group > y->group) - (x->group < y->group);
        return vfpt_address_compare(&x->address, &y->address);
}

int ctl_groups(const CtlOptions *o) {
        _cleanup_free_ const VfptDevice **order = NULL;
        VfptSysfs *s = NULL;
        VfptSnapshot *snap = NULL;
        sd_hwdb *hwdb = NULL;
        bool first_group = true;
        int r;

        r = read_snapshot(o, &s, &snap);
        if (r < 0)
                return CTL_EXIT_FAILURE;
        if (o->quiet) {
                /* For scripts and shell completion: what `vfptctl claim` can name. */
                for (size_t i = 0; i < snap->n_devices; i++)
                        if (!snap->devices[i].bridge && !snap->devices[i].unreadable)
                                printf("%s\n", snap->devices[i].name);
                r = snap->iommu_active ? CTL_EXIT_OK : CTL_EXIT_NOT_READY;
                goto finish;
        }
        if (sd_hwdb_new(&hwdb) < 0)
                hwdb = NULL;
        order = calloc(snap->n_devices + 1, sizeof(*order));
        if (!order) {
                r = CTL_EXIT_FAILURE;
                goto finish;
        }
        for (size_t i = 0; i < snap->n_devices; i++)
                order[i] = &snap->devices[i];
        qsort(order, snap->n_devices, sizeof(*order), cmp_group_address);

        if (o->json) {
                printf("{\"iommu_active\":%s,\"groups\":[", snap->iommu_active ? "true" : "false");
        } else if (!snap->iommu_active)
                fprintf(stderr, "No IOMMU groups: the IOMMU is off, so no device can be passed through; "
                                "`vfptctl check` says how to turn it on.\n");

        for (size_t i = 0; i < snap->n_devices;) {
                int group = order[i]->group;
                size_t end = i;
                const VfptDevice *blocker = NULL;

                while (end < snap->n_devices && order[end]->group == group)
                        end++;
                bool endpoints = false;

                for (size_t k = i; k < end && !blocker; k++)
                        if (member_blocks(order[k]))
                                blocker = order[k];
                /* A group of bridges alone (a root port, the host bridge) has
                 * nothing in it to give to a guest. */
                for (size_t k = i; k < end; k++)
                        endpoints = endpoints || !order[k]->bridge;
                if (group < 0 && snap->iommu_active && !o->json)
                        printf("%sno group (cannot be passed through):\n", first_group ? "" : "\n");
                else if (group < 0 && !o->json)
                        ; /* without an IOMMU every device is here; the header said why */
                else if (!o->json) {
                        if (blocker)
                                printf("%sgroup %d: not usable for passthrough: %s is on %s\n", first_group ? "" : "\n",
                                       group, blocker->name, member_blocks(blocker));
                        else if (!endpoints)
                                printf("%sgroup %d: bridges only, nothing to pass through\n", first_group ? "" : "\n",
                                       group);
                        else
                                printf("%sgroup %d: usable for passthrough\n", first_group ? "" : "\n", group);
                } else {
                        bool f = true;
                        printf("%s{", first_group ? "" : ",");
                        json_key(stdout, &f, "group");
                        if (group < 0)
                                fputs("null", stdout);
                        else
                                printf("%d", group);
                        json_key(stdout, &f, "usable");
                        fputs(group >= 0 && !blocker && endpoints ? "true" : "false", stdout);
                        json_key(stdout, &f, "blocked_by");
                        json_string(stdout, blocker ? blocker->name : NULL);
                        json_key(stdout, &f, "devices");
                        fputc('[', stdout);
                }
                first_group = false;

                for (size_t k = i; k < end; k++) {
                        const VfptDevice *d = order[k];
                        const char *vendor = hwdb_lookup(hwdb, d, "ID_VENDOR_FROM_DATABASE");
                        const char *model = hwdb_lookup(hwdb, d, "ID_MODEL_FROM_DATABASE");
                        char id[16], class[16];

                        snprintf(id, sizeof(id), "%04x:%04x", d->vendor, d->device);
                        snprintf(class, sizeof(class), "%06x", d->class);
                        if (o->json) {
                                bool f = true;
                                printf("%s{", k == i ? "" : ",");
                                json_key(stdout, &f, "address");
                                json_string(stdout, d->name);
                                json_key(stdout, &f, "id");
                                json_string(stdout, d->unreadable ? NULL : id);
                                json_key(stdout, &f, "class");
                                json_string(stdout, d->unreadable ? NULL : class);
                                json_key(stdout, &f, "bridge");
                                fputs(d->bridge ? "true" : "false", stdout);
                                json_key(stdout, &f, "driver");
                                json_string(stdout, d->driver);
                                json_key(stdout, &f, "vendor");
                                json_string(stdout, vendor);
                                json_key(stdout, &f, "name");
                                json_string(stdout, model);
                                fputc('}', stdout);
                                continue;
                        }
                        _cleanup_free_ char *line = strdup_printf(
                                "  %s  %s  %-12s%s  %s%s%s", d->name, d->unreadable ? "????:????" : id,
                                d->driver ? d->driver : "(no driver)", d->bridge ? "  [bridge]" : "",
                                vendor ? vendor : "", vendor && model ? " " : "", model ? model : "");
                        size_t len = line ? strlen(line) : 0;

                        while (len > 0 && line[len - 1] == ' ')
                                line[--len] = '\0';
                        printf("%s\n", line ? line : d->name);
                }
                if (o->json)
                        fputs("]}", stdout);
                i = end;
        }
        if (o->json)
                fputs("]}\n", stdout);
        r = snap->iommu_active ? CTL_EXIT_OK : CTL_EXIT_NOT_READY;
finish:
        sd_hwdb_unref(hwdb);
        vfpt_snapshot_free(snap);
        vfpt_sysfs_free(s);
        return r;
}

/* ---- check -------------------------------------------------------------- */

typedef struct Check {
        const char *name;
        int ok;        /* 1 ok, 0 not, -1 only information */
        char *detail;
        char *fix;
} Check;

static char *read_file_at(const char *root, const char *path) {
        _cleanup_close_ int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        char *v = NULL;

        if (fd < 0 || read_attr(fd, path, &v) < 0)
                return NULL;
        return v;
}

/* Whether a word (a whole kernel parameter, or its name before '=') is on the command line. */
static const char *cmdline_find(const char *cmdline, const char *word) {
        size_t n = strlen(word);

        for (const char *p = cmdline; p && *p;) {
                while (*p == ' ')
                        p++;
                if (strncmp(p, word, n) == 0 && (p[n] == ' ' || p[n] == '\0' || word[n - 1] == '='))
                        return p;
                p = strchr(p, ' ');
        }
        return NULL;
}

static const char *cpu_vendor(const CtlOptions *o) {
        _cleanup_free_ char *path = strdup_printf("%s/cpuinfo", proc_root(o));
        _cleanup_fclose_ FILE *f = path ? fopen(path, "re") : NULL;
        char line[256];

        while (f && fgets(line, sizeof(line), f))
                if (strncmp(line, "vendor_id", 9) == 0) {
                        if (strstr(line, "GenuineIntel"))
                                return "intel";
                        if (strstr(line, "AuthenticAMD"))
                                return "amd";
                        return NULL;
                }
        return NULL;
}

static void check_iommu(const CtlOptions *o, const char *cmdline, Check *c) {
        _cleanup_free_ char *class_dir = strdup_printf("%s/class/iommu", sysfs_root(o));
        _cleanup_free_ char *groups_dir = strdup_printf("%s/" VFPT_SYSFS_IOMMU_GROUPS, sysfs_root(o));
        _cleanup_free_ char *units = NULL;
        _cleanup_closedir_ DIR *d = class_dir ? opendir(class_dir) : NULL;
        _cleanup_closedir_ DIR *g = groups_dir ? opendir(groups_dir) : NULL;
        const char *kind = NULL, *vendor = cpu_vendor(o);
        unsigned n_groups = 0;
        struct dirent *de;

        c->name = "IOMMU";
        while (d && (de = readdir(d))) {
                char *n;
                if (de->d_name[0] == '.')
                        continue;
                if (!kind)
                        kind = strncmp(de->d_name, "dmar", 4) == 0 ? "Intel VT-d" :
                               strncmp(de->d_name, "ivhd", 4) == 0 ? "AMD-Vi" : "IOMMU";
                n = strdup_printf("%s%s%s", units ? units : "", units ? ", " : "", de->d_name);
                free(units);
                units = n;
        }
        while (g && (de = readdir(g)))
                if (isdigit((unsigned char) de->d_name[0]))
                        n_groups++;

        if (n_groups > 0) {
                c->ok = 1;
                c->detail = strdup_printf("%s active (%s); %u IOMMU group%s", kind ? kind : "an IOMMU",
                                          units ? units : "no unit in /sys/class/iommu", n_groups,
                                          n_groups == 1 ? "" : "s");
                return;
        }
        c->ok = 0;
        c->detail = strdup_printf("no IOMMU groups in %s%s%s", groups_dir ? groups_dir : "sysfs",
                                  units ? "; units present: " : "", units ? units : "");
        if (cmdline_find(cmdline, "intel_iommu=off") || cmdline_find(cmdline, "amd_iommu=off") ||
            cmdline_find(cmdline, "iommu=off"))
                c->fix = strdup("the kernel command line turns the IOMMU off: remove intel_iommu=off, amd_iommu=off "
                                "or iommu=off (GRUB_CMDLINE_LINUX in /etc/default/grub, then update-grub) and reboot");
        else if (vendor && streq(vendor, "amd"))
                c->fix = strdup("enable the IOMMU (AMD-Vi, often \"IOMMU\" or \"SVM\") in the firmware setup; the kernel "
                                "turns it on by itself (amd_iommu=on where it does not), then reboot");
        else
                c->fix = strdup("enable VT-d in the firmware setup and boot with intel_iommu=on (add it to "
                                "GRUB_CMDLINE_LINUX in /etc/default/grub, run update-grub) — or amd_iommu=on on AMD — "
                                "then reboot");
}

/* The kernel names interrupt chips "IR-PCI-MSI", "IR-IO-APIC"... when it
 * remaps interrupts: that is what it did, on Intel and AMD alike. */
static bool interrupts_remapped(const CtlOptions *o) {
        _cleanup_free_ char *path = strdup_printf("%s/interrupts", proc_root(o));
        _cleanup_fclose_ FILE *f = path ? fopen(path, "re") : NULL;
        char line[1024];

        while (f && fgets(line, sizeof(line), f))
                if (strstr(line, " IR-"))
                        return true;
        return false;
}

/* DMAR extended capability bit 3 (IR): the hardware could remap. */
static bool dmar_supports_ir(const CtlOptions *o) {
        _cleanup_free_ char *class_dir = strdup_printf("%s/class/iommu", sysfs_root(o));
        _cleanup_closedir_ DIR *d = class_dir ? opendir(class_dir) : NULL;
        struct dirent *de;

        while (d && (de = readdir(d))) {
                _cleanup_free_ char *path = NULL, *v = NULL;
                if (strncmp(de->d_name, "dmar", 4) != 0)
                        continue;
                path = strdup_printf("%s/%s/intel-iommu/ecap", class_dir, de->d_name);
                v = path ? read_file_at("/", path + 1) : NULL;
                if (v && (strtoull(v, NULL, 16) & (1ULL << 3)))
                        return true;
        }
        return false;
}

static void check_interrupts(const CtlOptions *o, const char *cmdline, bool iommu, Check *c) {
        _cleanup_free_ char *unsafe = read_file_at(sysfs_root(o), "module/vfio_iommu_type1/parameters/allow_unsafe_interrupts");

        c->name = "interrupt remapping";
        if (interrupts_remapped(o)) {
                c->ok = 1;
                c->detail = strdup_printf("on (IR-* interrupt chips in %s/interrupts)", proc_root(o));
                return;
        }
        if (unsafe && (streq(unsafe, "Y") || streq(unsafe, "1"))) {
                c->ok = 1;
                c->detail = strdup("off, but vfio_iommu_type1 allow_unsafe_interrupts=Y lets vfio work without it "
                                   "(a guest could forge interrupts)");
                return;
        }
        c->ok = 0;
        c->detail = strdup_printf("off: no IR-* interrupt chips in %s/interrupts%s", proc_root(o),
                                  dmar_supports_ir(o) ? " although the DMAR unit supports it (ecap bit 3)" : "");
        if (!iommu)
                c->fix = strdup("turn the IOMMU on first (see above); interrupt remapping comes with it");
        else if (cmdline_find(cmdline, "intremap=off") || cmdline_find(cmdline, "intremap=nosid") ||
                 cmdline_find(cmdline, "nointremap"))
                c->fix = strdup("remove intremap=off / nointremap from the kernel command line and reboot");
        else
                c->fix = strdup("enable interrupt remapping (x2APIC) in the firmware setup; as a last resort, and unsafe, "
                                "load vfio_iommu_type1 with allow_unsafe_interrupts=1");
}

/* Loaded (sysfs says so), built in, or present for modprobe. */
static const char *module_state(const CtlOptions *o, struct kmod_ctx *ctx, const char *name) {
        _cleanup_free_ char *under = strdup(name), *path = NULL;
        struct kmod_list *list = NULL, *it;
        const char *state = NULL;
        struct stat st;

        if (!under)
                return NULL;
        for (char *p = under; *p; p++)
                if (*p == '-')
                        *p = '_';
        path = strdup_printf("%s/module/%s", sysfs_root(o), under);
        if (path && stat(path, &st) == 0)
                return "loaded";
        if (!ctx || kmod_module_new_from_lookup(ctx, name, &list) < 0 || !list)
                return NULL;
        kmod_list_foreach(it, list) {
                struct kmod_module *mod = kmod_module_get_module(it);
                int s = kmod_module_get_initstate(mod);

                if (s == KMOD_MODULE_BUILTIN)
                        state = "built in";
                else if (s == KMOD_MODULE_LIVE)
                        state = "loaded";
                else if (!state && kmod_module_get_path(mod))
                        state = "available";
                kmod_module_unref(mod);
        }
        kmod_module_unref_list(list);
        return state;
}

static void check_modules(const CtlOptions *o, Check *c) {
        static const char *const names[] = { VFPT_MODULE_VFIO_PCI, VFPT_MODULE_VFIO_IOMMU_TYPE1 };
        struct kmod_ctx *ctx = kmod_new(NULL, NULL);
        _cleanup_free_ char *detail = NULL, *missing = NULL;

        c->name = "vfio modules";
        c->ok = 1;
        if (ctx)
                (void) kmod_load_resources(ctx);
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                const char *s = module_state(o, ctx, names[i]);
                char *n = strdup_printf("%s%s%s %s", detail ? detail : "", detail ? ", " : "", names[i],
                                        s ? s : "missing");
                free(detail);
                detail = n;
                if (!s) {
                        c->ok = 0;
                        n = strdup_printf("%s%s%s", missing ? missing : "", missing ? " and " : "", names[i]);
                        free(missing);
                        missing = n;
                }
        }
        kmod_unref(ctx);
        c->detail = TAKE_PTR(detail);
        if (!c->ok)
                c->fix = strdup_printf("%s not found for this kernel: install its modules package (linux-image-*, "
                                       "or linux-modules-extra-* on Ubuntu) or build CONFIG_VFIO_PCI", strna(missing));
}

static void check_cmdline(const char *cmdline, Check *c) {
        static const char *const words[] = { "intel_iommu=", "amd_iommu=", "iommu=", "iommu.passthrough=",
                                             "intremap=", "nointremap", "vfio-pci.ids=", "pcie_acs_override=" };
        _cleanup_free_ char *found = NULL;

        c->name = "kernel command line";
        c->ok = -1;
        for (size_t i = 0; cmdline && i < ELEMENTSOF(words); i++) {
                const char *p = cmdline_find(cmdline, words[i]);
                size_t n;
                char *x;

                if (!p)
                        continue;
                n = strcspn(p, " ");
                x = strdup_printf("%s%s%.*s", found ? found : "", found ? " " : "", (int) n, p);
                free(found);
                found = x;
        }
        c->detail = strdup_printf("%s", found ? found : "no IOMMU-related parameters");
        if (cmdline && cmdline_find(cmdline, "vfio-pci.ids="))
                c->fix = strdup("vfio-pci.ids= grabs every device with those IDs at boot; with vfptd, list them in "
                                "/etc/vfpt.d instead and drop the parameter");
        else if (cmdline && cmdline_find(cmdline, "pcie_acs_override="))
                c->fix = strdup("pcie_acs_override= makes IOMMU groups the hardware does not isolate: devices in one "
                                "such group can still reach each other");
}

/* Whether the initramfs (initramfs-tools hook, dracut module) claims with
 * the drop-ins in force; false when the early claim is not in use at all. */
static bool check_initramfs(Check *c) {
        CtlInitramfsState state;

        c->name = "initramfs claim";
        c->ok = -1;
        if (ctl_initramfs_system_state(&state, &c->detail, &c->fix) < 0 || state == CTL_INITRAMFS_UNUSED) {
                free(c->detail);
                free(c->fix);
                c->detail = c->fix = NULL;
                return false;
        }
        return true;
}

int ctl_check(const CtlOptions *o) {
        _cleanup_free_ char *cmdline = read_file_at(proc_root(o), "cmdline");
        Check checks[5] = {};
        size_t n_checks = 4;
        bool ready = true;

        check_iommu(o, cmdline ? cmdline : "", &checks[0]);
        check_interrupts(o, cmdline ? cmdline : "", checks[0].ok == 1, &checks[1]);
        check_modules(o, &checks[2]);
        check_cmdline(cmdline, &checks[3]);
        for (size_t i = 0; i < n_checks; i++)
                ready = ready && checks[i].ok != 0;
        /* Only information, and only where the initramfs claim is in use. */
        if (check_initramfs(&checks[4]))
                n_checks++;

        if (o->json) {
                bool f = true;
                fputc('{', stdout);
                json_key(stdout, &f, "ready");
                fputs(ready ? "true" : "false", stdout);
                json_key(stdout, &f, "cmdline");
                json_string(stdout, cmdline);
                json_key(stdout, &f, "checks");
                fputc('[', stdout);
                for (size_t i = 0; i < n_checks; i++) {
                        bool g = true;
                        printf("%s{", i ? "," : "");
                        json_key(stdout, &g, "check");
                        json_string(stdout, checks[i].name);
                        json_key(stdout, &g, "ok");
                        fputs(checks[i].ok < 0 ? "null" : checks[i].ok ? "true" : "false", stdout);
                        json_key(stdout, &g, "detail");
                        json_string(stdout, checks[i].detail);
                        json_key(stdout, &g, "fix");
                        json_string(stdout, checks[i].fix);
                        fputc('}', stdout);
                }
                fputs("]}\n", stdout);
        } else {
                for (size_t i = 0; i < n_checks; i++) {
                        printf("%-5s %s: %s\n", checks[i].ok < 0 ? "info" : checks[i].ok ? "ok" : "FAIL",
                               checks[i].name, strna(checks[i].detail));
                        if (checks[i].fix)
                                printf("      %s: %s\n", checks[i].ok == 0 ? "fix" : "note", checks[i].fix);
                }
                printf("%s\n", ready ? "ready for passthrough" : "NOT ready for passthrough");
        }
        for (size_t i = 0; i < n_checks; i++) {
                free(checks[i].detail);
                free(checks[i].fix);
        }
        return ready ? CTL_EXIT_OK : CTL_EXIT_NOT_READY;
}

/* ---- plan --------------------------------------------------------------- */

static int replace(char **p, const char *v) {
        char *n;

        if (!v)
                return 0;
        n = strdup(v);
        if (!n)
                return -ENOMEM;
        free(*p);
        *p = n;
        return 0;
}

static void print_plan_json(Manager *m) {
        const State *st = m->state;
        _cleanup_free_ char *summary = manager_status(m);
        bool f = true;

        fputc('{', stdout);
        json_key(stdout, &f, "iommu_active");
        fputs(st->snapshot->iommu_active ? "true" : "false", stdout);
        json_key(stdout, &f, "summary");
        json_string(stdout, summary);
        json_key(stdout, &f, "config_errors");
        fputc('[', stdout);
        for (size_t i = 0; i < m->config->config->n_errors; i++) {
                if (i)
                        fputc(',', stdout);
                json_string(stdout, m->config->config->errors[i].message);
        }
        fputc(']', stdout);
        json_key(stdout, &f, "devices");
        fputc('[', stdout);
        for (size_t i = 0; i < st->plan->n_devices; i++) {
                const VfptPlanDevice *pd = &st->plan->devices[i];
                const VfptDevice *d = pd->device == SIZE_MAX ? NULL : &st->snapshot->devices[pd->device];
                char id[16];
                bool g = true, first_step = true;

                if (d)
                        snprintf(id, sizeof(id), "%04x:%04x", d->vendor, d->device);
                printf("%s{", i ? "," : "");
                json_key(stdout, &g, "address");
                json_string(stdout, d ? d->name : pd->absent);
                json_key(stdout, &g, "id");
                json_string(stdout, d ? id : NULL);
                json_key(stdout, &g, "name");
                json_string(stdout, d ? hwdb_lookup(m->hwdb, d, "ID_MODEL_FROM_DATABASE") : NULL);
                json_key(stdout, &g, "iommu_group");
                if (pd->group >= 0)
                        printf("%d", pd->group);
                else
                        fputs("null", stdout);
                json_key(stdout, &g, "driver");
                json_string(stdout, d ? d->driver : NULL);
                json_key(stdout, &g, "target_driver");
                json_string(stdout, pd->target);
                json_key(stdout, &g, "rule");
                json_string(stdout, pd->rule ? pd->rule->name : NULL);
                json_key(stdout, &g, "state");
                json_string(stdout, vfpt_device_state_to_string(pd->state));
                json_key(stdout, &g, "reason");
                json_string(stdout, pd->reason);
                json_key(stdout, &g, "steps");
                fputc('[', stdout);
                for (size_t k = 0; d && k < st->plan->n_groups; k++)
                        for (size_t j = 0; j < st->plan->groups[k].n_steps; j++) {
                                const VfptStep *s = &st->plan->groups[k].steps[j];
                                bool h = true;
                                if (s->device != pd->device)
                                        continue;
                                printf("%s{", first_step ? "" : ",");
                                first_step = false;
                                json_key(stdout, &h, "step");
                                json_string(stdout, vfpt_step_kind_to_string(s->kind));
                                json_key(stdout, &h, "driver");
                                json_string(stdout, s->driver);
                                fputc('}', stdout);
                        }
                fputs("]}", stdout);
        }
        fputs("]}\n", stdout);
}

int ctl_plan(const CtlOptions *o) {
        Manager *m = NULL;
        int r;

        r = manager_new(&m);
        if (r < 0) {
                fprintf(stderr, "vfptctl: out of memory\n");
                return CTL_EXIT_FAILURE;
        }
        if (replace(&m->sysfs_root, o->sysfs_root) < 0 || replace(&m->proc_root, o->proc_root) < 0 ||
            replace(&m->records_dir, o->records_dir) < 0 || replace(&m->runtime_dir, o->runtime_dir) < 0 ||
            (o->config_dirs && !(m->config_dirs = calloc(strv_length(o->config_dirs) + 1, sizeof(char *))))) {
                r = -ENOMEM;
                goto finish;
        }
        m->runtime_dir_set = o->runtime_dir != NULL;
        for (size_t i = 0; o->config_dirs && o->config_dirs[i]; i++)
                if (!(m->config_dirs[i] = strdup(o->config_dirs[i]))) {
                        r = -ENOMEM;
                        goto finish;
                }
        m->dry_run = true;
        r = manager_resolve_config_dirs(m);
        if (r < 0)
                goto finish;
        r = manager_load_config(m, false);
        if (r < 0)
                goto finish;
        r = manager_plan_once(m);
        if (r < 0)
                goto finish;
        if (o->json)
                print_plan_json(m);
        else
                manager_print_plan(m, stdout);
        r = m->config->config->n_errors > 0 ? -EINVAL : 0;
finish:
        if (r == -ENOMEM)
                fprintf(stderr, "vfptctl: out of memory\n");
        manager_free(m);
        return r < 0 ? CTL_EXIT_FAILURE : CTL_EXIT_OK;
}
