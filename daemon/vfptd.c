/* vfptd — keeps the configured PCI devices bound to vfio-pci (or another
 * passthrough driver), a whole IOMMU group at a time. This file is the
 * process: options, the systemd notify protocol and the event loop. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>
#include <time.h>

#include "bus.h"
#include "config.h"
#include "log.h"
#include "manager.h"
#include "vfpt-names.h"
#include "vfpt-util.h"

/* -1: join the system bus unless vfptd runs on a test's sysfs tree and no bus
 * is named in DBUS_SYSTEM_BUS_ADDRESS (a test must never join the host's bus). */
static int arg_bus = -1;
static bool arg_once;
static bool arg_list_config_files;

static void help(void) {
        printf("Usage: vfptd [OPTIONS]\n"
               "Keep the PCI devices listed in vfpt.d(5) bound to vfio-pci, a whole IOMMU group at a time.\n\n"
               "  --config-dir DIR    read *.conf drop-ins from DIR instead of the default directories\n"
               "                      (repeatable; earlier directories take precedence)\n"
               "  --sysfs-root DIR    use the sysfs tree at DIR instead of /sys (tests, planning)\n"
               "  --proc-root DIR     use DIR instead of /proc for the guards and holder checks\n"
               "  --vfio-dir DIR      use DIR instead of /dev/vfio for holder checks\n"
               "  --records-dir DIR   remember original drivers in DIR (default /run/vfptd/devices)\n"
               "  --runtime-dir DIR   keep runtime claims (vfptctl claim) in DIR, which is read as the\n"
               "                      second configuration directory (default /run/vfpt.d)\n"
               "  --bus / --no-bus    serve org.vfpt1 on the system bus, or not (default: serve, except\n"
               "                      with --sysfs-root and no DBUS_SYSTEM_BUS_ADDRESS set)\n"
               "  --uevent-source kernel|udev\n"
               "                      listen to the kernel's uevents (default: wins the race\n"
               "                      against udev loading host drivers) or udev's\n"
               "  --dry-run           print the plan, change nothing, exit (1 if the configuration has errors)\n"
               "  --once              claim once and exit, without a bus or uevents (the initramfs): exit\n"
               "                      status 0 when every device reached its planned state, 2 when one did\n"
               "                      not (the log names it), 1 when the pass could not run or the\n"
               "                      configuration has errors\n"
               "  --list-config-files print the drop-ins that outlive a reboot (the runtime directory left\n"
               "                      out), after precedence and masking, one path a line, and exit\n"
               "                      (1 if they have errors)\n"
               "  --debug             log debug messages\n"
               "  --version           print the version\n"
               "  --help              print this help\n");
}

static int replace_string(char **p, const char *v) {
        char *n = strdup(v);

        if (!n)
                return -ENOMEM;
        free(*p);
        *p = n;
        return 0;
}

/* Returns 1 to go on, 0 to exit successfully, <0 on a usage error. */
static int parse_argv(Manager *m, int argc, char *argv[]) {
        enum { ARG_CONFIG_DIR = 0x100, ARG_SYSFS_ROOT, ARG_PROC_ROOT, ARG_VFIO_DIR, ARG_RECORDS_DIR, ARG_UEVENT_SOURCE, ARG_DRY_RUN, ARG_DEBUG, ARG_VERSION,
               ARG_RUNTIME_DIR, ARG_BUS, ARG_NO_BUS, ARG_ONCE, ARG_LIST_CONFIG_FILES };
        static const struct option options[] = {
                { "config-dir", required_argument, NULL, ARG_CONFIG_DIR },
                { "sysfs-root", required_argument, NULL, ARG_SYSFS_ROOT },
                { "proc-root", required_argument, NULL, ARG_PROC_ROOT },
                { "vfio-dir", required_argument, NULL, ARG_VFIO_DIR },
                { "records-dir", required_argument, NULL, ARG_RECORDS_DIR },
                { "runtime-dir", required_argument, NULL, ARG_RUNTIME_DIR },
                { "bus", no_argument, NULL, ARG_BUS },
                { "no-bus", no_argument, NULL, ARG_NO_BUS },
                { "uevent-source", required_argument, NULL, ARG_UEVENT_SOURCE },
                { "dry-run", no_argument, NULL, ARG_DRY_RUN },
                { "once", no_argument, NULL, ARG_ONCE },
                { "list-config-files", no_argument, NULL, ARG_LIST_CONFIG_FILES },
                { "debug", no_argument, NULL, ARG_DEBUG },
                { "version", no_argument, NULL, ARG_VERSION },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        int c, r;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case ARG_CONFIG_DIR:
                        if ((r = strv_extend(&m->config_dirs, optarg)) < 0)
                                return r;
                        break;
                case ARG_SYSFS_ROOT:
                        if ((r = replace_string(&m->sysfs_root, optarg)) < 0)
                                return r;
                        break;
                case ARG_PROC_ROOT:
                        if ((r = replace_string(&m->proc_root, optarg)) < 0)
                                return r;
                        break;
                case ARG_VFIO_DIR:
                        if ((r = replace_string(&m->vfio_dir, optarg)) < 0)
                                return r;
                        break;
                case ARG_RECORDS_DIR:
                        if ((r = replace_string(&m->records_dir, optarg)) < 0)
                                return r;
                        break;
                case ARG_RUNTIME_DIR:
                        if ((r = replace_string(&m->runtime_dir, optarg)) < 0)
                                return r;
                        m->runtime_dir_set = true;
                        break;
                case ARG_BUS:
                        arg_bus = 1;
                        break;
                case ARG_NO_BUS:
                        arg_bus = 0;
                        break;
                case ARG_UEVENT_SOURCE:
                        if (!streq(optarg, "kernel") && !streq(optarg, "udev")) {
                                fprintf(stderr, "vfptd: --uevent-source takes kernel or udev, not '%s'\n", optarg);
                                return -EINVAL;
                        }
                        m->udev_events = streq(optarg, "udev");
                        break;
                case ARG_DRY_RUN:
                        m->dry_run = true;
                        break;
                case ARG_ONCE:
                        arg_once = true;
                        break;
                case ARG_LIST_CONFIG_FILES:
                        arg_list_config_files = true;
                        break;
                case ARG_DEBUG:
                        log_set_max_level(LOG_DEBUG);
                        break;
                case ARG_VERSION:
                        printf("vfptd %s\n", VFPT_VERSION);
                        return 0;
                case 'h':
                        help();
                        return 0;
                default:
                        return -EINVAL;
                }
        if (optind < argc) {
                fprintf(stderr, "vfptd: unexpected argument '%s'; see --help\n", argv[optind]);
                return -EINVAL;
        }
        if (m->dry_run + arg_once + arg_list_config_files > 1) {
                fprintf(stderr, "vfptd: --dry-run, --once and --list-config-files exclude each other\n");
                return -EINVAL;
        }
        return 1;
}

static int on_exit_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        log_info("Received SIG%s; exiting. Claimed devices stay on their drivers.", sigabbrev_np((int) si->ssi_signo));
        (void) sd_notify(false, "STOPPING=1");
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

/* SIGHUP and ExecReload=: the same reload path as D-Bus Reload(). */
static int on_reload(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        (void) manager_reload(userdata, NULL);
        return 0;
}

/* The persistent drop-ins: what the initramfs hook packs. */
static int list_config_files(Manager *m) {
        _cleanup_strv_free_ char **dirs = NULL;
        VfptConfig *c = NULL;
        size_t n_errors;
        int r;

        for (char **d = m->config_dirs; *d; d++)
                if ((!m->runtime_dir || !streq(*d, m->runtime_dir)) && (r = strv_extend(&dirs, *d)) < 0)
                        return log_error_errno(r, "Out of memory");
        if (!dirs)
                return 0;
        r = vfpt_config_load(&c, (const char *const *) dirs);
        if (r < 0)
                return log_error_errno(r, "Cannot load the configuration: %s", strerror(-r));
        for (char **f = c->files; f && *f; f++)
                printf("%s\n", *f);
        for (size_t i = 0; i < c->n_errors; i++)
                log_error("%s", c->errors[i].message);
        n_errors = c->n_errors;
        vfpt_config_free(c);
        if (fflush(stdout) != 0)
                return log_error_errno(errno, "Cannot write the list: %m");
        return n_errors > 0 ? -EINVAL : 0;
}

/* --once: the exit status --help describes. */
static int claim_once(Manager *m) {
        _cleanup_free_ char *status = NULL;
        int r;

        r = manager_claim_once(m);
        if (r < 0)
                return EXIT_FAILURE;
        status = manager_status(m);
        log_info("%s", strna(status));
        if (r > 0) {
                log_error("%d device%s did not reach %s planned state.", r, r == 1 ? "" : "s", r == 1 ? "its" : "their");
                return 2;
        }
        return m->config->config->n_errors > 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

static int run(Manager *m) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        Bus *bus = NULL;
        sigset_t mask;
        int r;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(errno, "Cannot block signals: %m");

        r = sd_event_default(&e);
        if (r < 0)
                return log_error_errno(r, "Cannot create the event loop: %s", strerror(-r));
        if ((r = sd_event_add_signal(e, NULL, SIGTERM, on_exit_signal, m)) < 0 ||
            (r = sd_event_add_signal(e, NULL, SIGINT, on_exit_signal, m)) < 0 ||
            (r = sd_event_add_signal(e, NULL, SIGHUP, on_reload, m)) < 0)
                return log_error_errno(r, "Cannot watch signals: %s", strerror(-r));
        r = sd_event_set_watchdog(e, true);
        if (r < 0)
                return log_error_errno(r, "Cannot set up the watchdog: %s", strerror(-r));

        /* READY=1 follows the first reconcile, from the worker's result. */
        r = manager_start(m, e);
        if (r < 0)
                return r;

        /* The bus attaches whenever dbus comes up; READY=1 never waits for it. */
        if (arg_bus < 0)
                arg_bus = streq(m->sysfs_root, VFPT_SYSFS_ROOT) || getenv("DBUS_SYSTEM_BUS_ADDRESS");
        if (arg_bus) {
                r = bus_new(&bus, m);
                if (r >= 0)
                        r = bus_start(bus, e);
                if (r < 0) {
                        log_error_errno(r, "Cannot serve D-Bus; going on without it: %s", strerror(-r));
                        bus = bus_free(bus);
                }
        } else
                log_debug("Not joining the system bus.");

        r = sd_event_loop(e);
        bus_free(bus);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %s", strerror(-r));
        return 0;
}

int main(int argc, char *argv[]) {
        Manager *m = NULL;
        int r;

        log_setup();
        r = manager_new(&m);
        if (r < 0) {
                log_error("Out of memory");
                return EXIT_FAILURE;
        }
        r = parse_argv(m, argc, argv);
        if (r <= 0) {
                manager_free(m);
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        }

        r = manager_resolve_config_dirs(m);
        if (r < 0) {
                log_error("Out of memory");
                goto finish;
        }
        if (arg_list_config_files) {
                r = list_config_files(m);
                goto finish;
        }
        r = manager_load_config(m, false);
        if (r < 0)
                goto finish;
        if (arg_once) {
                r = claim_once(m);
                manager_free(m);
                return r;
        }

        if (m->dry_run) {
                r = manager_plan_once(m);
                if (r >= 0) {
                        manager_print_plan(m, stdout);
                        r = m->config->config->n_errors > 0 ? -EINVAL : 0;
                }
                goto finish;
        }
        r = run(m);

finish:
        manager_free(m);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
