/* vfptctl — the command line of vfpt: ask vfptd what it holds and tell it
 * what to claim or release (over D-Bus), or look at the host without the
 * daemon (IOMMU groups, readiness, the plan). This file is the command line
 * itself: options, per-command help, dispatch and exit codes. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ctl.h"
#include "vfpt-util.h"

enum {
        OPT_JSON = 1 << 0,
        OPT_PERSIST = 1 << 1,
        OPT_LIBVIRT = 1 << 2,
        OPT_SYSFS = 1 << 3,
        OPT_PROC = 1 << 4,
        OPT_CONFIG = 1 << 5, /* --config-dir, --runtime-dir, --records-dir */
        OPT_QUIET = 1 << 6,
};

typedef struct Command {
        const char *name;
        int min_args, max_args;
        unsigned options;
        int (*run)(const CtlOptions *o);
        const char *synopsis;
        const char *help;
} Command;

static const Command commands[] = {
        { "status", 0, 0, OPT_JSON | OPT_QUIET, ctl_status, "status [--json | --quiet]",
          "The daemon's state and a table of every device a rule matches: address,\n"
          "vendor:device, name, IOMMU group, driver, state, rule and reason. Asks vfptd\n"
          "over D-Bus; open to every user. --quiet prints only the addresses of the\n"
          "devices vfptd tracks, one per line.\n" },
        { "groups", 0, 0, OPT_JSON | OPT_QUIET | OPT_SYSFS, ctl_groups,
          "groups [--json | --quiet] [--sysfs-root DIR]",
          "Every IOMMU group with its members, their drivers and names, and whether the\n"
          "group is usable for passthrough as it is: every member on vfio-pci (or a vfio\n"
          "variant), pci-stub or no driver, bridges on pcieport. Reads sysfs; needs\n"
          "neither the daemon nor root. Exits 3 when there are no IOMMU groups.\n"
          "--quiet prints only the addresses of the PCI devices that are not bridges\n"
          "(those a claim can name), one per line.\n" },
        { "check", 0, 0, OPT_JSON | OPT_SYSFS | OPT_PROC, ctl_check,
          "check [--json] [--sysfs-root DIR] [--proc-root DIR]",
          "Whether this host is ready for PCI passthrough, and what to do when not:\n"
          "  IOMMU          active, and which (/sys/class/iommu: dmar* Intel VT-d, ivhd*\n"
          "                 AMD-Vi), with the number of IOMMU groups;\n"
          "  interrupts     interrupt remapping in use: the kernel names its interrupt\n"
          "                 chips IR-* in /proc/interrupts (what the kernel did, not what\n"
          "                 the hardware could do; readable by every user, unlike the\n"
          "                 kernel log); the DMAR ecap bit is only a hint when it is off;\n"
          "  vfio modules   vfio-pci and vfio_iommu_type1 loaded, built in, or available\n"
          "                 to libkmod;\n"
          "  command line   the IOMMU-related parameters in /proc/cmdline.\n"
          "Exits 0 when ready, 3 when not. Needs neither the daemon nor root.\n" },
        { "plan", 0, 0, OPT_JSON | OPT_SYSFS | OPT_PROC | OPT_CONFIG, ctl_plan,
          "plan [--json] [--config-dir DIR]... [--runtime-dir DIR] [--sysfs-root DIR] [--proc-root DIR]",
          "What vfptd would do now, changing nothing: the same output as vfptd --dry-run,\n"
          "computed by the daemon's own code. Exits 1 when the configuration has errors.\n" },
        { "claim", 1, 1, OPT_PERSIST, ctl_claim, "claim ADDRESS [--persist]",
          "Bind the device at ADDRESS (and the rest of its IOMMU group) to vfio-pci now,\n"
          "and answer when vfptd is done. vfptd adds rule [runtime-ADDRESS] to\n"
          "/run/vfpt.d/90-vfptctl-runtime.conf: kept when the daemon restarts, gone at\n"
          "reboot. With --persist the rule [vfptctl-ADDRESS] goes to\n"
          "/etc/vfpt.d/80-vfptctl.conf instead and holds at every boot. A claim that is\n"
          "refused or fails takes its rule out again. Root only.\n" },
        { "release", 1, 1, OPT_PERSIST, ctl_release, "release ADDRESS [--persist]",
          "Give a device claimed with `vfptctl claim` back to the driver it had: vfptd\n"
          "removes its rule and reconciles. --persist removes a rule made by\n"
          "`claim --persist`. A device listed in a configuration file of your own is not\n"
          "released: the error names the file and line to edit. Root only.\n" },
        { "reload", 0, 0, 0, ctl_reload, "reload",
          "Read the configuration again and apply it (as systemctl reload vfptd), and\n"
          "answer when done. A configuration with errors is rejected whole: the running\n"
          "one stays, and the errors are printed. Root only.\n" },
        { "qemu-args", 0, 1, OPT_LIBVIRT, ctl_qemu_args, "qemu-args [RULE] [--libvirt]",
          "QEMU options that give the claimed devices to a guest, one\n"
          "`-device vfio-pci,host=ADDRESS` per line (QEMU's old pci-assign is gone):\n"
          "of every claimed device, or of the devices RULE claimed and those claimed\n"
          "with them because they share an IOMMU group. --libvirt prints <hostdev>\n"
          "elements for a libvirt domain instead (managed='no': vfptd keeps them bound).\n"
          "Devices on pci-stub are left out (QEMU cannot use them). Asks vfptd.\n" },
};

static void help_exit_codes(void) {
        printf("\nExit status: 0 success; 1 the operation failed or was refused; 2 usage error;\n"
               "3 the host is not ready for passthrough (check, groups); 4 no system bus, or\n"
               "vfptd is not running on it.\n");
}

static void help(void) {
        printf("Usage: vfptctl [OPTIONS] COMMAND [ARGS]\n"
               "Inspect and control vfptd, which keeps PCI devices on vfio-pci for passthrough.\n\n"
               "Commands:\n");
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                printf("  %s\n", commands[i].synopsis);
        printf("\nOptions:\n"
               "  --json              print JSON instead of a table (status, groups, check, plan)\n"
               "  -q --quiet          print only PCI addresses, one per line (status, groups)\n"
               "  --sysfs-root DIR    read the sysfs tree at DIR instead of /sys (offline commands)\n"
               "  --proc-root DIR     read DIR instead of /proc (check, plan)\n"
               "  --config-dir DIR    plan with DIR's drop-ins instead of the defaults (repeatable)\n"
               "  --runtime-dir DIR   runtime claims directory read by plan (default /run/vfpt.d)\n"
               "  --records-dir DIR   records of original drivers read by plan (default /run/vfptd/devices)\n"
               "  --persist           claim/release: a rule in /etc/vfpt.d instead of /run/vfpt.d\n"
               "  --libvirt           qemu-args: libvirt <hostdev> XML\n"
               "  -h --help           this help; `vfptctl COMMAND --help` for a command's\n"
               "  --version           print the version\n\n"
               "status, claim, release, reload and qemu-args talk to vfptd on the system bus\n"
               "(DBUS_SYSTEM_BUS_ADDRESS names another); groups, check and plan do not.\n");
        help_exit_codes();
}

static void help_command(const Command *c) {
        printf("Usage: vfptctl %s\n\n%s", c->synopsis, c->help);
        help_exit_codes();
}

static const Command *find_command(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                if (streq(commands[i].name, name))
                        return &commands[i];
        return NULL;
}

int main(int argc, char *argv[]) {
        enum { ARG_JSON = 0x100, ARG_PERSIST, ARG_LIBVIRT, ARG_SYSFS_ROOT, ARG_PROC_ROOT, ARG_CONFIG_DIR,
               ARG_RUNTIME_DIR, ARG_RECORDS_DIR, ARG_VERSION };
        static const struct option options[] = {
                { "json", no_argument, NULL, ARG_JSON },
                { "quiet", no_argument, NULL, 'q' },
                { "persist", no_argument, NULL, ARG_PERSIST },
                { "libvirt", no_argument, NULL, ARG_LIBVIRT },
                { "sysfs-root", required_argument, NULL, ARG_SYSFS_ROOT },
                { "proc-root", required_argument, NULL, ARG_PROC_ROOT },
                { "config-dir", required_argument, NULL, ARG_CONFIG_DIR },
                { "runtime-dir", required_argument, NULL, ARG_RUNTIME_DIR },
                { "records-dir", required_argument, NULL, ARG_RECORDS_DIR },
                { "version", no_argument, NULL, ARG_VERSION },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        _cleanup_strv_free_ char **config_dirs = NULL;
        CtlOptions o = {};
        unsigned given = 0;
        bool want_help = false;
        const Command *c;
        int opt;

        opterr = 0;
        while ((opt = getopt_long(argc, argv, "hq", options, NULL)) >= 0)
                switch (opt) {
                case ARG_JSON:
                        o.json = true;
                        given |= OPT_JSON;
                        break;
                case 'q':
                        o.quiet = true;
                        given |= OPT_QUIET;
                        break;
                case ARG_PERSIST:
                        o.persist = true;
                        given |= OPT_PERSIST;
                        break;
                case ARG_LIBVIRT:
                        o.libvirt = true;
                        given |= OPT_LIBVIRT;
                        break;
                case ARG_SYSFS_ROOT:
                        o.sysfs_root = optarg;
                        given |= OPT_SYSFS;
                        break;
                case ARG_PROC_ROOT:
                        o.proc_root = optarg;
                        given |= OPT_PROC;
                        break;
                case ARG_CONFIG_DIR:
                        if (strv_extend(&config_dirs, optarg) < 0) {
                                fprintf(stderr, "vfptctl: out of memory\n");
                                return CTL_EXIT_FAILURE;
                        }
                        given |= OPT_CONFIG;
                        break;
                case ARG_RUNTIME_DIR:
                        o.runtime_dir = optarg;
                        given |= OPT_CONFIG;
                        break;
                case ARG_RECORDS_DIR:
                        o.records_dir = optarg;
                        given |= OPT_CONFIG;
                        break;
                case ARG_VERSION:
                        printf("vfptctl %s\n", VFPT_VERSION);
                        return CTL_EXIT_OK;
                case 'h':
                        want_help = true;
                        break;
                case '?':
                default:
                        if (optopt && optopt < 0x100)
                                fprintf(stderr, "vfptctl: unknown option '-%c'; see vfptctl --help\n", optopt);
                        else
                                fprintf(stderr, "vfptctl: unknown option or missing argument: '%s'; see vfptctl --help\n",
                                        argv[optind - 1]);
                        return CTL_EXIT_USAGE;
                }

        if (optind >= argc) {
                if (want_help) {
                        help();
                        return CTL_EXIT_OK;
                }
                fprintf(stderr, "vfptctl: no command given; see vfptctl --help\n");
                return CTL_EXIT_USAGE;
        }
        c = find_command(argv[optind]);
        if (!c) {
                fprintf(stderr, "vfptctl: unknown command '%s'; see vfptctl --help\n", argv[optind]);
                return CTL_EXIT_USAGE;
        }
        if (want_help) {
                help_command(c);
                return CTL_EXIT_OK;
        }
        o.args = argv + optind + 1;
        o.n_args = argc - optind - 1;
        if (o.n_args < c->min_args || o.n_args > c->max_args) {
                fprintf(stderr, "vfptctl: %s takes %s; usage: vfptctl %s\n", c->name,
                        c->max_args == 0 ? "no arguments" :
                        c->min_args == c->max_args ? "one argument" : "at most one argument", c->synopsis);
                return CTL_EXIT_USAGE;
        }
        if (given & ~c->options) {
                fprintf(stderr, "vfptctl: an option given does not apply to %s; usage: vfptctl %s\n", c->name,
                        c->synopsis);
                return CTL_EXIT_USAGE;
        }
        if (o.json && o.quiet) {
                fprintf(stderr, "vfptctl: --json and --quiet exclude each other; usage: vfptctl %s\n", c->synopsis);
                return CTL_EXIT_USAGE;
        }
        o.config_dirs = config_dirs;
        return c->run(&o);
}
