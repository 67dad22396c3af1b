/* test-vfptd.c — the real vfptd (not a dry run) against a fake sysfs tree:
 * start-up, enforcement, hotplug, a uevent storm, reload (release, rejected,
 * refused while a VFIO group is held), restart adoption and a failed claim,
 * each checked in the tree, in the records and through the sd_notify
 * messages vfptd sends to a socket the test binds.
 *
 * How vfptd is surrounded:
 *  - the tree lives under a temporary directory; vfptd gets --sysfs-root,
 *    --records-dir, --config-dir and --vfio-dir inside it, and never sees
 *    this machine's /sys;
 *  - the fake kernel runs inside vfptd as fake-kernel-preload.so, which gives
 *    its sysfs writes their meaning (and fails one on request, through
 *    FAKE_KERNEL_FAIL) and logs every write to a file the test reads;
 *  - uevents come from umockdev: vfptd runs with libumockdev-preload.so.0,
 *    whose netlink sockets are AF_UNIX sockets in the test bed, and the test
 *    sends with umockdev_testbed_uevent(). Both --uevent-source kernel (the
 *    default) and udev hear them. The test bed only carries the events; the
 *    devices vfptd reads are those of the fake tree;
 *  - the test changes the tree as the kernel would (hotplug, a person binding
 *    the host driver back) under the tree's lock, which the fake kernel in
 *    vfptd also takes.
 *
 * umockdev sends without blocking to a datagram socket whose queue holds
 * net.unix.max_dgram_qlen (10 here) messages: more at once are dropped
 * silently. So a storm goes in bursts below that, and the test waits until
 * vfptd has logged (--debug) every event of a burst before the next.
 *
 * Environment: VFPTD (the binary), FAKE_KERNEL_PRELOAD (the shim), and
 * optionally VFPTD_WRAPPER (e.g. "valgrind --error-exitcode=99 -q") and
 * VFPT_TEST_TIMEOUT_SCALE (multiplies every wait). CK_RUN_CASE picks one case. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <umockdev.h>
#include <unistd.h>

#include "fake-sysfs.h"
#include "vfpt-exec.h"
#include "vfpt-util.h"

/* Group 7: a root port with a NIC and a USB controller behind it. Group 1:
 * the host's graphics, which no rule names. Group 9: a second root port
 * with an empty slot, where HOT is plugged in. */
#define GPU "0000:00:02.0"
#define BRIDGE "0000:00:1c.0"
#define NIC "0000:01:00.0"
#define USB "0000:01:00.1"
#define PORT2 "0000:00:1d.0"
#define HOT "0000:02:00.0"

/* An SR-IOV PF (tree option sriov_pf) and the VFs it gets. */
#define SRIOV_PF "0000:03:00.0"
#define SRIOV_VF0 "0000:03:00.1"
#define SRIOV_VF1 "0000:03:00.2"

#define RULE_NIC "[nic]\naddresses = " NIC "\n"
#define RULE_HOT "[hot]\naddresses = " HOT "\n"

#define STATUS_GROUP7 "STATUS=2 devices in 1 group bound to vfio-pci; 0 absent; 0 refused; 0 failed"
#define STATUS_NONE "STATUS=0 devices in 0 groups bound to vfio-pci; 0 absent; 0 refused; 0 failed"

static const char *const uevent_devices[] = { BRIDGE, NIC, USB, PORT2, HOT, SRIOV_PF };

typedef struct TreeOptions {
        const char *nic_driver; /* default e1000e */
        const char *nic_host;   /* what a probe binds; default: nic_driver */
        bool sriov_pf;          /* add SRIOV_PF, an NVMe on nvme that can make 4 VFs */
} TreeOptions;

typedef struct Daemon {
        char *work; /* everything below: $TMPDIR/vfpt-daemon-XXXXXX */
        char *sys, *conf, *records, *vfio, *log, *writes, *notify_path;
        UMockdevTestbed *tb;
        char *syspath[ELEMENTSOF(uevent_devices)];
        int notify_fd;
        pid_t pid;
        const char *uevent_source; /* NULL: vfptd's default (kernel) */
        const char *mode;          /* e.g. "--once"; NULL: the daemon */
        const char *fail;          /* FAKE_KERNEL_FAIL */
        unsigned kill_at;          /* FAKE_KERNEL_KILL_AT, 0: never */
        int exit_status;           /* wait status, once it exited */
        char **messages;           /* every notify message so far */
        size_t n_messages, cursor; /* daemon_expect() looks from cursor on */
} Daemon;

/* ---- time ---- */

static double scale(void) {
        const char *s = getenv("VFPT_TEST_TIMEOUT_SCALE");
        double v = s ? atof(s) : 1.0;
        return v >= 1.0 ? v : 1.0;
}

static long long now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long deadline_after(double seconds) {
        return now_ms() + (long long) (seconds * scale() * 1000.0);
}


/* ---- files ---- */

static char *read_file(const char *path) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        char *buf = NULL;
        size_t len = 0;

        if (fd < 0) {
                ck_assert_msg(errno == ENOENT, "open %s: %s", path, strerror(errno));
                return strdup("");
        }
        for (;;) {
                char chunk[4096];
                ssize_t n = read(fd, chunk, sizeof(chunk));

                ck_assert_msg(n >= 0, "read %s: %s", path, strerror(errno));
                if (n == 0)
                        break;
                buf = realloc(buf, len + (size_t) n + 1);
                ck_assert_ptr_nonnull(buf);
                memcpy(buf + len, chunk, (size_t) n);
                len += (size_t) n;
        }
        if (!buf)
                return strdup("");
        buf[len] = '\0';
        return buf;
}

static size_t count_in(const char *text, const char *needle) {
        size_t n = 0;

        for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
                n++;
        return n;
}

static char *log_text(Daemon *d) {
        return read_file(d->log);
}

static size_t log_count(Daemon *d, const char *needle) {
        _cleanup_free_ char *t = log_text(d);
        return count_in(t, needle);
}

/* The fake kernel's record of vfptd's writes into the tree, one per line. */
static size_t writes_count(Daemon *d, const char *needle) {
        _cleanup_free_ char *t = read_file(d->writes);
        return count_in(t, needle ? needle : "\n");
}

/* ---- the daemon ---- */

static void daemon_dump(Daemon *d) {
        _cleanup_free_ char *log = log_text(d);
        _cleanup_free_ char *writes = read_file(d->writes);

        fprintf(stderr, "---- notify messages:\n");
        for (size_t i = 0; i < d->n_messages; i++)
                fprintf(stderr, "[%zu]%s %s\n", i, i < d->cursor ? "" : " (unread)", d->messages[i]);
        fprintf(stderr, "---- vfptd's log:\n%s---- writes into the tree:\n%s----\n", log, writes);
}

#define daemon_assert(d, expr, ...)                                     \
        do {                                                            \
                if (!(expr)) {                                          \
                        daemon_dump(d);                                 \
                        ck_abort_msg(__VA_ARGS__);                      \
                }                                                       \
        } while (0)

/* Reaps vfptd when it exited; its wait status is kept for daemon_stop(). */
static bool daemon_running(Daemon *d) {
        int status;
        pid_t r;

        if (d->pid <= 0)
                return false;
        r = waitpid(d->pid, &status, WNOHANG);
        if (r == 0)
                return true;
        d->exit_status = r == d->pid ? status : -1;
        d->pid = 0;
        return false;
}

static void build_tree(Daemon *d, const TreeOptions *o) {
        static const TreeOptions none = {};
        const char *nic_driver, *nic_host;
        FakeSysfs *f;

        if (!o)
                o = &none;
        nic_driver = o->nic_driver ? o->nic_driver : "e1000e";
        nic_host = o->nic_host ? o->nic_host : nic_driver;
        f = fake_sysfs_new_at(d->sys, true);
        fake_sysfs_add_driver(f, "vfio-pci");
        fake_sysfs_add_driver(f, nic_host);
        fake_sysfs_add_driver(f, "e1000e");
        fake_sysfs_add_device(f, &(FakeDevice) {
                .address = GPU, .vendor = 0x8086, .device = 0x3e92, .class = 0x030000,
                .group = 1, .driver = "i915", .boot_vga = true });
        fake_sysfs_add_device(f, &(FakeDevice) {
                .address = BRIDGE, .vendor = 0x8086, .device = 0xa110, .bridge = true,
                .group = 7, .driver = "pcieport" });
        fake_sysfs_add_device(f, &(FakeDevice) {
                .address = NIC, .parent = BRIDGE, .vendor = 0x8086, .device = 0x10d3,
                .class = 0x020000, .group = 7, .driver = nic_driver, .host_driver = nic_host });
        fake_sysfs_add_device(f, &(FakeDevice) {
                .address = USB, .parent = BRIDGE, .vendor = 0x1b21, .device = 0x1242,
                .class = 0x0c0330, .group = 7, .driver = "xhci_hcd" });
        fake_sysfs_add_device(f, &(FakeDevice) {
                .address = PORT2, .vendor = 0x8086, .device = 0xa111, .bridge = true,
                .group = 9, .driver = "pcieport" });
        if (o->sriov_pf) {
                fake_sysfs_add_driver(f, "nvme");
                fake_sysfs_add_device(f, &(FakeDevice) {
                        .address = SRIOV_PF, .vendor = 0x1b36, .device = 0x0010, .class = 0x010802,
                        .group = 11, .driver = "nvme", .sriov_totalvfs = 4, .sriov_vf_driver = "nvme" });
        }
        fake_sysfs_save_model(f);
        fake_sysfs_free(f);
}

static void daemon_init(Daemon *d, const TreeOptions *o) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        *d = (Daemon) { .notify_fd = -1 };
        d->work = fake_tempdir("daemon");
        d->sys = strdup_printf("%s/sys", d->work);
        d->conf = strdup_printf("%s/conf", d->work);
        d->records = strdup_printf("%s/run/vfptd/devices", d->work);
        d->vfio = strdup_printf("%s/dev-vfio", d->work);
        d->log = strdup_printf("%s/vfptd.log", d->work);
        d->writes = strdup_printf("%s/writes.log", d->work);
        d->notify_path = strdup_printf("%s/notify", d->work);
        ck_assert(d->sys && d->conf && d->records && d->vfio && d->log && d->writes && d->notify_path);
        ck_assert_int_eq(mkdir(d->conf, 0755), 0);
        ck_assert_int_eq(mkdir(d->vfio, 0755), 0);
        build_tree(d, o);

        /* The test bed only carries uevents: one device per address that
         * takes part in one. */
        d->tb = umockdev_testbed_new();
        ck_assert_ptr_nonnull(d->tb);
        for (size_t i = 0; i < ELEMENTSOF(uevent_devices); i++) {
                /* HOT's "add" carries PCI_ID as the kernel's does: vfptd's
                 * arrival path needs it. */
                bool hot = streq(uevent_devices[i], HOT);
                d->syspath[i] = umockdev_testbed_add_device(d->tb, "pci", uevent_devices[i], NULL,
                                                            "vendor", "0x8086", NULL,
                                                            "PCI_SLOT_NAME", uevent_devices[i],
                                                            hot ? "PCI_ID" : NULL, "8086:10D3", NULL);
                ck_assert_ptr_nonnull(d->syspath[i]);
        }

        d->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        ck_assert_int_ge(d->notify_fd, 0);
        ck_assert_uint_lt(strlen(d->notify_path), sizeof(sa.sun_path));
        strcpy(sa.sun_path, d->notify_path);
        ck_assert_int_eq(bind(d->notify_fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
}

static void daemon_done(Daemon *d) {
        if (d->pid > 0) {
                kill(d->pid, SIGKILL);
                (void) waitpid(d->pid, NULL, 0);
        }
        if (d->notify_fd >= 0)
                close(d->notify_fd);
        for (size_t i = 0; i < ELEMENTSOF(uevent_devices); i++)
                g_free(d->syspath[i]);
        if (d->tb)
                g_object_unref(d->tb);
        fake_rm_rf(d->work);
        strv_free(d->messages);
        free(d->work);
        free(d->sys);
        free(d->conf);
        free(d->records);
        free(d->vfio);
        free(d->log);
        free(d->writes);
        free(d->notify_path);
        *d = (Daemon) { .notify_fd = -1 };
}

static void conf_write(Daemon *d, const char *name, const char *content) {
        _cleanup_free_ char *rel = strdup_printf("conf/%s", name);
        fake_write_file(d->work, rel, content);
}

static void conf_remove(Daemon *d, const char *name) {
        _cleanup_free_ char *p = strdup_printf("%s/%s", d->conf, name);
        ck_assert_msg(unlink(p) == 0, "unlink %s: %s", p, strerror(errno));
}

static void setenv_or_die(const char *k, const char *v) {
        if (setenv(k, v, 1) < 0)
                _exit(126);
}

static void daemon_start(Daemon *d) {
        const char *vfptd = getenv("VFPTD"), *shim = getenv("FAKE_KERNEL_PRELOAD");
        pid_t parent = getpid();

        ck_assert_msg(vfptd && shim, "VFPTD and FAKE_KERNEL_PRELOAD must be set (meson test sets them)");
        ck_assert_int_eq(d->pid, 0);
        d->pid = fork();
        ck_assert_int_ge(d->pid, 0);
        if (d->pid == 0) {
                _cleanup_free_ char *preload = strdup_printf("%s libumockdev-preload.so.0", shim);
                const char *asan = getenv("ASAN_OPTIONS");
                _cleanup_free_ char *asan_opts = strdup_printf("%s%sverify_asan_link_order=0",
                                                               asan ? asan : "", asan && *asan ? ":" : "");
                const char *argv[32];
                size_t n = 0;
                char *wrapper = getenv("VFPTD_WRAPPER") ? strdup(getenv("VFPTD_WRAPPER")) : NULL;
                int fd;

                /* Never outlive the test, however it ends. */
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                        _exit(125);
                fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0644);
                if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
                        _exit(124);
                setenv_or_die("NOTIFY_SOCKET", d->notify_path);
                setenv_or_die("FAKE_SYSFS_ROOT", d->sys);
                setenv_or_die("FAKE_KERNEL_LOG", d->writes);
                if (d->fail)
                        setenv_or_die("FAKE_KERNEL_FAIL", d->fail);
                else
                        unsetenv("FAKE_KERNEL_FAIL");
                if (d->kill_at) {
                        char at[16];
                        snprintf(at, sizeof(at), "%u", d->kill_at);
                        setenv_or_die("FAKE_KERNEL_KILL_AT", at);
                } else
                        unsetenv("FAKE_KERNEL_KILL_AT");
                setenv_or_die("SYSTEMD_DEVICE_VERIFY_SYSFS", "0");
                setenv_or_die("LD_PRELOAD", preload);
                setenv_or_die("ASAN_OPTIONS", asan_opts);
                unsetenv("JOURNAL_STREAM");
                /* Never this machine's system bus (vfptd serves D-Bus when
                 * this is set, even with a test root). */
                unsetenv("DBUS_SYSTEM_BUS_ADDRESS");
                unsetenv("WATCHDOG_USEC");
                unsetenv("WATCHDOG_PID");

                for (char *save = NULL, *w = wrapper ? strtok_r(wrapper, " ", &save) : NULL; w && n < 16;
                     w = strtok_r(NULL, " ", &save))
                        argv[n++] = w;
                argv[n++] = vfptd;
                argv[n++] = "--sysfs-root";
                argv[n++] = d->sys;
                argv[n++] = "--config-dir";
                argv[n++] = d->conf;
                argv[n++] = "--records-dir";
                argv[n++] = d->records;
                argv[n++] = "--vfio-dir";
                argv[n++] = d->vfio;
                argv[n++] = "--proc-root";
                argv[n++] = "/proc";
                argv[n++] = "--debug";
                if (d->uevent_source) {
                        argv[n++] = "--uevent-source";
                        argv[n++] = d->uevent_source;
                }
                if (d->mode)
                        argv[n++] = d->mode;
                argv[n] = NULL;
                execvp(argv[0], (char **) argv);
                fprintf(stderr, "exec %s: %m\n", argv[0]);
                _exit(127);
        }
}

/* Takes what is queued on the notify socket, waiting up to timeout_ms for the first. */
static void notify_receive(Daemon *d, int timeout_ms) {
        struct pollfd p = { .fd = d->notify_fd, .events = POLLIN };

        if (poll(&p, 1, timeout_ms) <= 0)
                return;
        for (;;) {
                char buf[4096];
                ssize_t n = recv(d->notify_fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

                if (n < 0) {
                        ck_assert_msg(errno == EAGAIN || errno == EINTR, "recv: %s", strerror(errno));
                        return;
                }
                buf[n] = '\0';
                ck_assert_int_eq(strv_extend(&d->messages, buf), 0);
                d->n_messages++;
        }
}

/* Waits a little between two looks at the tree or the log, reading the
 * notify socket meanwhile: vfptd's sd_notify() blocks once the socket's queue
 * (10 datagrams) is full, as it would with a stuck PID 1, and a uevent storm
 * makes a STATUS= per reconcile. */
static void nap(Daemon *d) {
        notify_receive(d, 20);
}

/* The first message from the cursor on that contains needle; the cursor moves
 * past it. Fails after a timeout or when vfptd died. */
static const char *daemon_expect(Daemon *d, const char *needle, double seconds) {
        long long deadline = deadline_after(seconds);

        for (;;) {
                long long left;

                for (size_t i = d->cursor; i < d->n_messages; i++)
                        if (strstr(d->messages[i], needle)) {
                                d->cursor = i + 1;
                                return d->messages[i];
                        }
                left = deadline - now_ms();
                daemon_assert(d, left > 0, "no notify message with '%s' within %g s", needle, seconds * scale());
                if (!daemon_running(d)) {
                        /* What it sent before it exited is still queued. */
                        size_t n = d->n_messages;
                        notify_receive(d, 0);
                        daemon_assert(d, d->n_messages > n, "vfptd is gone (wait status 0x%x) while waiting for '%s'",
                                      (unsigned) d->exit_status, needle);
                        continue;
                }
                notify_receive(d, left > 200 ? 200 : (int) left);
        }
}

static void daemon_signal(Daemon *d, int sig) {
        ck_assert_int_gt(d->pid, 0);
        ck_assert_int_eq(kill(d->pid, sig), 0);
}

/* SIGHUP: RELOADING=1 and MONOTONIC_USEC= in one message, then READY=1.
 * Returns the READY=1 message. */
static const char *daemon_reload(Daemon *d) {
        struct timespec ts;
        unsigned long long usec, now;
        const char *m, *u;

        daemon_signal(d, SIGHUP);
        m = daemon_expect(d, "RELOADING=1", 10);
        u = strstr(m, "MONOTONIC_USEC=");
        daemon_assert(d, u, "RELOADING=1 came without MONOTONIC_USEC= in the same message: '%s'", m);
        usec = strtoull(u + strlen("MONOTONIC_USEC="), NULL, 10);
        clock_gettime(CLOCK_MONOTONIC, &ts);
        now = (unsigned long long) ts.tv_sec * 1000000ULL + (unsigned long long) ts.tv_nsec / 1000ULL;
        daemon_assert(d, usec <= now && now - usec < 60ULL * 1000000ULL,
                      "MONOTONIC_USEC=%llu is not a recent CLOCK_MONOTONIC time (now %llu)", usec, now);
        return daemon_expect(d, "READY=1", 10);
}

/* SIGTERM: STOPPING=1, and a clean exit (so that a sanitizer's or valgrind's
 * findings at exit fail the test). Every test ends with it. */
static void daemon_stop(Daemon *d) {
        long long deadline;
        int status;

        daemon_signal(d, SIGTERM);
        daemon_expect(d, "STOPPING=1", 10);
        deadline = deadline_after(10);
        while (daemon_running(d)) {
                daemon_assert(d, now_ms() < deadline, "vfptd did not exit within 10 s of SIGTERM");
                nap(d);
        }
        status = d->exit_status;
        daemon_assert(d, status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "vfptd did not exit cleanly (wait status 0x%x)", (unsigned) status);
}

/* The STATUS= line of a message. */
static char *status_of(const char *message) {
        const char *s = strstr(message, "STATUS=");
        char *r;

        if (!s)
                return strdup("");
        r = strndup(s, strcspn(s, "\n"));
        ck_assert_ptr_nonnull(r);
        return r;
}

static void assert_status(Daemon *d, const char *message, const char *expected) {
        _cleanup_free_ char *s = status_of(message);
        daemon_assert(d, streq(s, expected), "'%s', expected '%s'", s, expected);
}

static unsigned failed_count(const char *message) {
        const char *s = strstr(message, " failed");
        const char *p = s;

        if (!s)
                return 0;
        while (p > message && p[-1] >= '0' && p[-1] <= '9')
                p--;
        return (unsigned) strtoul(p, NULL, 10);
}

static void uevent(Daemon *d, const char *address, const char *action) {
        for (size_t i = 0; i < ELEMENTSOF(uevent_devices); i++)
                if (streq(uevent_devices[i], address)) {
                        umockdev_testbed_uevent(d->tb, d->syspath[i], action);
                        return;
                }
        ck_abort_msg("no test bed device for %s", address);
}

/* ---- the tree, as the test sees and changes it (under the tree's lock) ---- */

typedef struct Tree {
        FakeSysfs *f;
        int lock;
} Tree;

static Tree tree_begin(Daemon *d) {
        Tree t;

        t.lock = fake_sysfs_lock(d->sys);
        t.f = fake_sysfs_load(d->sys);
        return t;
}

static void tree_end(Tree *t) {
        t->f = fake_sysfs_free(t->f);
        fake_sysfs_unlock(t->lock);
        t->lock = -1;
}

static char *tree_driver(Daemon *d, const char *address) {
        Tree t = tree_begin(d);
        char *r = fake_sysfs_has_device(t.f, address) ? fake_sysfs_driver_of(t.f, address) : strdup("(gone)");

        tree_end(&t);
        return r;
}

static char *tree_override(Daemon *d, const char *address) {
        Tree t = tree_begin(d);
        char *r = fake_sysfs_override_of(t.f, address);

        tree_end(&t);
        return r;
}

static char *tree_digest(Daemon *d) {
        Tree t = tree_begin(d);
        char *r = fake_sysfs_digest(t.f);

        tree_end(&t);
        return r;
}

static void assert_driver(Daemon *d, const char *address, const char *expected) {
        _cleanup_free_ char *drv = tree_driver(d, address);
        daemon_assert(d, streq_ptr(drv, expected), "%s: driver is %s, expected %s", address, strna(drv),
                      strna(expected));
}

static void assert_override(Daemon *d, const char *address, const char *expected) {
        _cleanup_free_ char *o = tree_override(d, address);
        daemon_assert(d, streq_ptr(o, expected), "%s: driver_override is %s, expected %s", address, strna(o),
                      strna(expected));
}

static void wait_driver(Daemon *d, const char *address, const char *expected, double seconds) {
        long long deadline = deadline_after(seconds);

        for (;;) {
                _cleanup_free_ char *drv = tree_driver(d, address);

                if (streq_ptr(drv, expected))
                        return;
                daemon_assert(d, now_ms() < deadline, "%s: still on %s after %g s, expected %s", address,
                              strna(drv), seconds * scale(), strna(expected));
                daemon_assert(d, daemon_running(d), "vfptd is gone while waiting for %s", address);
                nap(d);
        }
}

static void wait_log_count(Daemon *d, const char *needle, size_t n, double seconds) {
        long long deadline = deadline_after(seconds);

        for (;;) {
                size_t c = log_count(d, needle);

                if (c >= n)
                        return;
                daemon_assert(d, now_ms() < deadline, "the log has %zu lines with '%s' after %g s, expected %zu",
                              c, needle, seconds * scale(), n);
                daemon_assert(d, daemon_running(d), "vfptd is gone while waiting for '%s' in its log", needle);
                nap(d);
        }
}

static void assert_record(Daemon *d, const char *address, const char *expected) {
        _cleanup_free_ char *rec = NULL;
        int r = vfpt_record_read(d->records, address, &rec);

        daemon_assert(d, r == 0, "%s: no record of its original driver (%s)", address, strerror(-r));
        daemon_assert(d, streq_ptr(rec, expected), "%s: record says %s, expected %s", address, strna(rec),
                      strna(expected));
}

static void assert_no_record(Daemon *d, const char *address) {
        _cleanup_free_ char *rec = NULL;
        int r = vfpt_record_read(d->records, address, &rec);

        daemon_assert(d, r == -ENOENT, "%s: a record is left (%d, '%s')", address, r, strna(rec));
}

/* Nothing vfptd wrote went unexplained, and it left alone what no rule names. */
static void assert_writes_clean(Daemon *d) {
        daemon_assert(d, log_count(d, "fake-kernel:") == 0, "the fake kernel complained (see the log)");
        daemon_assert(d, writes_count(d, "new_id") == 0, "new_id was written: it grabs every device with that ID");
        /* Paths are resolved, so the bridge's address is in every path below
         * it: look for its own attributes, and for it as the value. */
        daemon_assert(d, writes_count(d, BRIDGE "/driver_override") + writes_count(d, "=" BRIDGE) == 0,
                      "the bridge was written to");
        daemon_assert(d, writes_count(d, GPU) == 0, "a device no rule names was written to");
}

/* A person puts a claimed device back on its host driver by hand. */
static void rebind_by_hand(Daemon *d, const char *address, const char *driver) {
        _cleanup_free_ char *ov = strdup_printf("bus/pci/devices/%s/driver_override", address);
        _cleanup_free_ char *unbind = strdup_printf("bus/pci/devices/%s/driver/unbind", address);
        _cleanup_free_ char *bind = strdup_printf("bus/pci/drivers/%s/bind", driver);
        Tree t = tree_begin(d);

        ck_assert_int_eq(fake_kernel_store(t.f, ov, "\n"), 0);
        ck_assert_int_eq(fake_kernel_store(t.f, unbind, address), 0);
        ck_assert_int_eq(fake_kernel_store(t.f, bind, address), 0);
        tree_end(&t);
}

/* Hotplug: the host driver is loaded already, so the kernel binds it before
 * any uevent reaches user space (DESIGN.md section 3). */
static void plug_hot(Daemon *d) {
        Tree t = tree_begin(d);

        fake_sysfs_add_device(t.f, &(FakeDevice) {
                .address = HOT, .parent = PORT2, .vendor = 0x8086, .device = 0x10d3,
                .class = 0x020000, .group = 9, .driver = "e1000e" });
        tree_end(&t);
}

static void unplug_hot(Daemon *d) {
        Tree t = tree_begin(d);

        fake_sysfs_remove_device(t.f, HOT);
        tree_end(&t);
}

/* ---- the tests ---- */

START_TEST(test_startup_claims_the_whole_group_of_a_listed_endpoint_then_says_ready) {
        Daemon d;
        const char *m;

        daemon_init(&d, NULL);
        conf_write(&d, "10-nic.conf", RULE_NIC);
        daemon_start(&d);
        m = daemon_expect(&d, "READY=1", 10);
        /* READY=1 follows the first reconcile: the tree is claimed by now. */
        assert_driver(&d, NIC, "vfio-pci");
        assert_driver(&d, USB, "vfio-pci");
        assert_override(&d, NIC, "vfio-pci");
        assert_override(&d, USB, "vfio-pci");
        assert_status(&d, m, STATUS_GROUP7);
        daemon_assert(&d, d.cursor == 1, "READY=1 was not vfptd's first message");

        assert_driver(&d, BRIDGE, "pcieport");
        assert_override(&d, BRIDGE, NULL);
        assert_driver(&d, GPU, "i915");
        assert_record(&d, NIC, "e1000e");
        assert_record(&d, USB, "xhci_hcd");
        assert_no_record(&d, BRIDGE);
        assert_writes_clean(&d);
        daemon_assert(&d, log_count(&d, NIC " [8086:10d3] group 7: bound to vfio-pci (rule 'nic')") == 1,
                      "the claim of the NIC is not logged once");
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

START_TEST(test_device_bound_back_by_hand_is_claimed_again_and_logged_once) {
        Daemon d;
        const char *m;

        daemon_init(&d, NULL);
        conf_write(&d, "10-nic.conf", RULE_NIC);
        daemon_start(&d);
        daemon_expect(&d, "READY=1", 10);
        assert_driver(&d, NIC, "vfio-pci");

        rebind_by_hand(&d, NIC, "e1000e");
        assert_driver(&d, NIC, "e1000e");
        /* The kernel said unbind, then bind (since 4.14). Only the bind is
         * sent: it alone must make vfptd look again. */
        uevent(&d, NIC, "bind");

        wait_driver(&d, NIC, "vfio-pci", 10);
        assert_override(&d, NIC, "vfio-pci");
        assert_driver(&d, USB, "vfio-pci");
        wait_log_count(&d, "took it", 1, 10);
        daemon_assert(&d, log_count(&d, NIC " [8086:10d3]: e1000e took it; claiming it again for vfio-pci (rule 'nic')") == 1,
                      "the warning does not name the NIC, e1000e and the rule");
        /* The record keeps the driver it had before vfpt first claimed it. */
        assert_record(&d, NIC, "e1000e");

        /* Once: a reconcile after it (the reload's) says nothing more. */
        m = daemon_reload(&d);
        assert_status(&d, m, STATUS_GROUP7);
        daemon_assert(&d, log_count(&d, "took it") == 1, "'took it' logged %zu times", log_count(&d, "took it"));
        assert_writes_clean(&d);
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

static const char *const sources[] = { NULL, "udev" };

START_TEST(test_hotplugged_device_is_claimed_and_its_removal_reported) {
        Daemon d;
        const char *m;

        daemon_init(&d, NULL);
        d.uevent_source = sources[_i];
        conf_write(&d, "20-hot.conf", RULE_HOT);
        daemon_start(&d);
        m = daemon_expect(&d, "READY=1", 10);
        assert_status(&d, m, "STATUS=0 devices in 0 groups bound to vfio-pci; 1 absent; 0 refused; 0 failed");

        plug_hot(&d);
        uevent(&d, HOT, "add");
        wait_driver(&d, HOT, "vfio-pci", 10);
        assert_override(&d, HOT, "vfio-pci");
        assert_record(&d, HOT, "e1000e");
        m = daemon_expect(&d, "STATUS=1 device in 1 group", 10);
        assert_status(&d, m, "STATUS=1 device in 1 group bound to vfio-pci; 0 absent; 0 refused; 0 failed");

        unplug_hot(&d);
        uevent(&d, HOT, "remove");
        m = daemon_expect(&d, "1 absent", 10);
        assert_status(&d, m, "STATUS=0 devices in 0 groups bound to vfio-pci; 1 absent; 0 refused; 0 failed");

        /* Plugged in again, the kernel binds e1000e again. */
        plug_hot(&d);
        uevent(&d, HOT, "add");
        wait_driver(&d, HOT, "vfio-pci", 10);
        m = daemon_expect(&d, "STATUS=1 device in 1 group", 10);
        assert_status(&d, m, "STATUS=1 device in 1 group bound to vfio-pci; 0 absent; 0 refused; 0 failed");
        assert_driver(&d, NIC, "e1000e"); /* no rule names group 7 */
        assert_writes_clean(&d);
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

/* An override as the tree has it, polled until it is expected. */
static void wait_override(Daemon *d, const char *address, const char *expected, double seconds) {
        long long deadline = deadline_after(seconds);

        for (;;) {
                Tree t = tree_begin(d);
                _cleanup_free_ char *ov = fake_sysfs_override_of(t.f, address);

                tree_end(&t);
                if (streq_ptr(ov, expected))
                        return;
                daemon_assert(d, now_ms() < deadline, "%s: driver_override is %s, expected %s within %g s",
                              address, strna(ov), strna(expected), seconds * scale());
                usleep(20 * 1000);
        }
}

/* A device that arrives with no driver bound (its host driver is not
 * loaded), the only endpoint of its group: the arrival thread sets the
 * override and probes it at once, before the pass. A storage controller
 * arriving the same way is left alone by the arrival path: its disks cannot
 * be checked before a host driver shows them, so the planner refuses it
 * (an override set on arrival would have let it through unchecked). */
START_TEST(test_unbound_arrival_alone_in_its_group_is_probed_at_once) {
        static const uint32_t classes[] = { 0x020000, 0x010802 };
        uint32_t class = classes[_i];
        Daemon d;
        const char *m;
        Tree t;

        daemon_init(&d, NULL);
        conf_write(&d, "20-hot.conf", RULE_HOT);
        daemon_start(&d);
        (void) daemon_expect(&d, "READY=1", 10);

        t = tree_begin(&d);
        fake_sysfs_add_device(t.f, &(FakeDevice) {
                .address = HOT, .parent = PORT2, .vendor = 0x8086, .device = 0x10d3,
                .class = class, .group = 9, .driver = NULL });
        tree_end(&t);
        uevent(&d, HOT, "add");
        if (class >> 16 == 0x02) {
                wait_driver(&d, HOT, "vfio-pci", 10);
                m = daemon_expect(&d, "STATUS=1 device in 1 group", 10);
                assert_status(&d, m, "STATUS=1 device in 1 group bound to vfio-pci; 0 absent; 0 refused; 0 failed");
                daemon_assert(&d, log_count(&d, HOT ": probed on arrival") == 1, "no probe on arrival was logged");
                /* Override and probe, once each: the pass found it claimed. */
                daemon_assert(&d, writes_count(&d, HOT "/driver_override=vfio-pci") == 1, "the override was written again");
                daemon_assert(&d, writes_count(&d, "drivers_probe=" HOT) == 1, "the device was probed again");
                assert_record(&d, HOT, NULL);
        } else {
                m = daemon_expect(&d, "1 refused", 10);
                daemon_assert(&d, strstr(m, "STATUS=0 devices"), "the storage controller was claimed: %s", m);
                daemon_assert(&d, log_count(&d, "on arrival") == 0, "the arrival path touched a storage controller");
                daemon_assert(&d, log_count(&d, "cannot check whether the host uses " HOT) >= 1,
                              "the refusal does not say why");
                wait_override(&d, HOT, NULL, 10);
                assert_driver(&d, HOT, NULL);
        }
        assert_writes_clean(&d);
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

/* Resident memory of a process, from /proc/PID/status. */
static long rss_kib(pid_t pid) {
        _cleanup_free_ char *path = strdup_printf("/proc/%d/status", (int) pid), *text = NULL;
        const char *p;

        ck_assert_ptr_nonnull(path);
        text = read_file(path);
        ck_assert_ptr_nonnull(text);
        p = strstr(text, "VmRSS:");
        ck_assert_ptr_nonnull(p);
        return strtol(p + 6, NULL, 10);
}

START_TEST(test_uevent_storm_ends_in_the_right_state_with_vfptd_answering) {
        enum { BURST = 4, WARMUP = 50 };
        const unsigned PAIRS = getenv("VFPT_STORM_PAIRS") ? (unsigned) atoi(getenv("VFPT_STORM_PAIRS")) : 500; /* 8 events per burst: below the socket's queue of 10 */
        Daemon d;
        const char *m;
        size_t sent = 0;
        long rss_before, rss_after;

        daemon_init(&d, NULL);
        conf_write(&d, "20-hot.conf", RULE_HOT);
        daemon_start(&d);
        daemon_expect(&d, "READY=1", 10);
        /* A first tenth of the storm before measuring: vfptd (and the fake
         * kernel and umockdev preloaded into it) grow once, by about 1 MiB,
         * to a size that then stays put however long the storm goes on
         * (measured with 100, 500 and 1500 pairs). That plateau is "before". */
        for (unsigned i = 0; i < WARMUP; i++) {
                plug_hot(&d);
                uevent(&d, HOT, "add");
                unplug_hot(&d);
                uevent(&d, HOT, "remove");
                sent += 2;
                if ((i + 1) % BURST == 0 || i + 1 == WARMUP) {
                        wait_log_count(&d, "uevent add " HOT, sent / 2, 30);
                        wait_log_count(&d, "uevent remove " HOT, sent / 2, 30);
                }
        }
        rss_before = rss_kib(d.pid);

        for (unsigned i = WARMUP; i < PAIRS; i++) {
                plug_hot(&d);
                uevent(&d, HOT, "add");
                unplug_hot(&d);
                uevent(&d, HOT, "remove");
                sent += 2;
                if ((i + 1) % BURST == 0 || i + 1 == PAIRS) {
                        wait_log_count(&d, "uevent add " HOT, sent / 2, 30);
                        wait_log_count(&d, "uevent remove " HOT, sent / 2, 30);
                }
        }
        plug_hot(&d);
        uevent(&d, HOT, "add");
        wait_driver(&d, HOT, "vfio-pci", 30);
        assert_override(&d, HOT, "vfio-pci");

        /* Still answering, and the state it reports is the final one. */
        m = daemon_reload(&d);
        assert_status(&d, m, "STATUS=1 device in 1 group bound to vfio-pci; 0 absent; 0 refused; 0 failed");
        assert_driver(&d, HOT, "vfio-pci");
        daemon_assert(&d, log_count(&d, "uevent add " HOT) == PAIRS + 1, "%zu add events heard, sent %u",
                      log_count(&d, "uevent add " HOT), PAIRS + 1);
        daemon_assert(&d, log_count(&d, "uevent remove " HOT) == PAIRS, "%zu remove events heard, sent %u",
                      log_count(&d, "uevent remove " HOT), PAIRS);
        daemon_assert(&d, log_count(&d, "fake-kernel:") == 0, "the fake kernel complained (see the log)");
        daemon_assert(&d, daemon_running(&d), "vfptd is gone");
        rss_after = rss_kib(d.pid);
        printf("storm: %u add/remove events; vfptd RSS %ld KiB after the first %u, %ld KiB at the end\n",
               2 * PAIRS + 1, rss_before, 2u * WARMUP, rss_after);
        /* A leak of a few hundred bytes per event would show as hundreds of
         * KiB. Not under ASan: its quarantine keeps freed memory resident. */
#ifndef __SANITIZE_ADDRESS__
        daemon_assert(&d, rss_after - rss_before < 256, "RSS grew from %ld to %ld KiB over the storm",
                      rss_before, rss_after);
#endif
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

START_TEST(test_reload_without_the_rule_releases_to_the_recorded_drivers) {
        Daemon d;
        const char *m;

        daemon_init(&d, NULL);
        conf_write(&d, "10-nic.conf", RULE_NIC);
        daemon_start(&d);
        daemon_expect(&d, "READY=1", 10);
        assert_driver(&d, NIC, "vfio-pci");

        conf_remove(&d, "10-nic.conf");
        m = daemon_reload(&d);
        /* READY=1 after the reconcile that applied it: released by now. */
        assert_driver(&d, NIC, "e1000e");
        assert_driver(&d, USB, "xhci_hcd");
        assert_override(&d, NIC, NULL);
        assert_override(&d, USB, NULL);
        assert_no_record(&d, NIC);
        assert_no_record(&d, USB);
        assert_status(&d, m, STATUS_NONE);
        daemon_assert(&d, log_count(&d, NIC " [8086:10d3] group 7: released to e1000e") == 1, "the release is not logged");
        assert_writes_clean(&d);
        daemon_assert(&d, daemon_running(&d), "vfptd is gone");
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

START_TEST(test_reload_with_an_error_is_rejected_whole_and_changes_nothing) {
        Daemon d;
        _cleanup_free_ char *before = NULL, *after = NULL;
        const char *m;
        size_t writes;

        daemon_init(&d, NULL);
        conf_write(&d, "10-nic.conf", RULE_NIC);
        daemon_start(&d);
        daemon_expect(&d, "READY=1", 10);
        assert_driver(&d, NIC, "vfio-pci");
        before = tree_digest(&d);
        writes = writes_count(&d, NULL);

        /* Accepted, this would release the NIC's group: it must not be. */
        conf_remove(&d, "10-nic.conf");
        conf_write(&d, "30-bad.conf", "[broken]\nids = zzzz:1\n");
        m = daemon_reload(&d);
        daemon_assert(&d, strstr(m, "Reload rejected"), "READY=1 does not say the reload was rejected: '%s'", m);
        daemon_assert(&d, log_count(&d, "30-bad.conf:2") >= 1, "the error does not name 30-bad.conf:2");
        daemon_assert(&d, daemon_running(&d), "vfptd is gone");
        after = tree_digest(&d);
        daemon_assert(&d, streq(before, after), "a rejected reload changed the tree");
        daemon_assert(&d, writes_count(&d, NULL) == writes, "a rejected reload wrote to sysfs");
        assert_record(&d, NIC, "e1000e");

        /* The running configuration is still in force, and a good reload still works. */
        conf_remove(&d, "30-bad.conf");
        m = daemon_reload(&d);
        assert_status(&d, m, STATUS_NONE);
        assert_driver(&d, NIC, "e1000e");
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

START_TEST(test_release_is_refused_while_the_group_is_held_and_done_once_let_go) {
        Daemon d;
        _cleanup_free_ char *node = NULL, *holder = NULL;
        _cleanup_close_ int held = -1;
        const char *m;

        daemon_init(&d, NULL);
        conf_write(&d, "10-nic.conf", RULE_NIC);
        daemon_start(&d);
        daemon_expect(&d, "READY=1", 10);
        assert_driver(&d, NIC, "vfio-pci");

        /* A VM holds /dev/vfio/7. */
        node = strdup_printf("%s/7", d.vfio);
        held = open(node, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
        ck_assert_int_ge(held, 0);
        conf_remove(&d, "10-nic.conf");
        m = daemon_reload(&d);
        assert_driver(&d, NIC, "vfio-pci");
        assert_driver(&d, USB, "vfio-pci");
        assert_override(&d, NIC, "vfio-pci");
        assert_override(&d, USB, "vfio-pci");
        assert_record(&d, NIC, "e1000e");
        daemon_assert(&d, writes_count(&d, "unbind") == 2, "a held group was unbound (only the 2 claim unbinds expected)");
        daemon_assert(&d, failed_count(m) >= 1, "STATUS does not count the refused release as failed: '%s'", m);
        holder = strdup_printf("open by pid %d (test-vfptd)", (int) getpid());
        daemon_assert(&d, log_count(&d, holder) >= 1, "the log does not name the holder ('%s')", holder);

        /* Let go: the next reload releases. */
        close(held);
        held = -1;
        m = daemon_reload(&d);
        assert_status(&d, m, STATUS_NONE);
        assert_driver(&d, NIC, "e1000e");
        assert_driver(&d, USB, "xhci_hcd");
        assert_no_record(&d, NIC);
        assert_no_record(&d, USB);
        assert_writes_clean(&d);
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

START_TEST(test_restarted_vfptd_adopts_its_claims_and_releases_to_the_original_driver) {
        /* The NIC was on r8168 (bound by hand, say); a plain probe would
         * give it r8169. Only the record can say r8168. */
        TreeOptions o = { .nic_driver = "r8168", .nic_host = "r8169" };
        Daemon d;
        _cleanup_free_ char *before = NULL, *after = NULL, *second = NULL;
        const char *m;

        daemon_init(&d, &o);
        conf_write(&d, "10-nic.conf", RULE_NIC);
        daemon_start(&d);
        daemon_expect(&d, "READY=1", 10);
        assert_driver(&d, NIC, "vfio-pci");
        assert_record(&d, NIC, "r8168");
        before = tree_digest(&d);

        daemon_stop(&d);
        after = tree_digest(&d);
        daemon_assert(&d, streq(before, after), "stopping vfptd changed the tree");

        /* Again, with the same records: nothing to do, nothing written. */
        second = strdup_printf("%s/writes-2.log", d.work);
        free(d.writes);
        d.writes = TAKE_PTR(second);
        daemon_start(&d);
        m = daemon_expect(&d, "READY=1", 10);
        assert_status(&d, m, STATUS_GROUP7);
        daemon_assert(&d, writes_count(&d, NULL) == 0, "the restarted vfptd wrote %zu times", writes_count(&d, NULL));

        conf_remove(&d, "10-nic.conf");
        m = daemon_reload(&d);
        assert_status(&d, m, STATUS_NONE);
        assert_driver(&d, NIC, "r8168");
        assert_driver(&d, USB, "xhci_hcd");
        assert_override(&d, NIC, NULL);
        assert_no_record(&d, NIC);
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

START_TEST(test_failed_probe_of_the_second_device_puts_the_group_back) {
        Daemon d;
        const char *m;

        daemon_init(&d, NULL);
        d.fail = USB ":drivers_probe:EIO";
        conf_write(&d, "10-nic.conf", RULE_NIC);
        daemon_start(&d);
        m = daemon_expect(&d, "READY=1", 10);

        daemon_assert(&d, writes_count(&d, "bus/pci/drivers_probe=" USB " -> EIO") == 1,
                      "the injected failure did not happen");
        daemon_assert(&d, failed_count(m) >= 1, "STATUS does not count the failure: '%s'", m);
        daemon_assert(&d, strstr(m, "STATUS=0 devices in 0 groups"), "STATUS counts claimed devices: '%s'", m);
        /* The first device had been claimed already: it is back too. */
        assert_driver(&d, NIC, "e1000e");
        assert_driver(&d, USB, "xhci_hcd");
        assert_override(&d, NIC, NULL);
        assert_override(&d, USB, NULL);
        assert_no_record(&d, NIC);
        assert_no_record(&d, USB);
        daemon_assert(&d, log_count(&d, "every device of the group is back on the driver it had") == 1,
                      "the failure is not logged as rolled back");
        assert_writes_clean(&d);

        /* Still running; the failure was a one-off, so a reload claims. */
        m = daemon_reload(&d);
        assert_status(&d, m, STATUS_GROUP7);
        assert_driver(&d, NIC, "vfio-pci");
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

/* Waits for vfptd to die of the SIGKILL the fake kernel was told to send. */
static void wait_killed(Daemon *d) {
        long long deadline = deadline_after(20);

        while (daemon_running(d)) {
                daemon_assert(d, now_ms() < deadline, "vfptd was not killed at write %u", d->kill_at);
                nap(d);
        }
        daemon_assert(d, WIFSIGNALED(d->exit_status) && WTERMSIG(d->exit_status) == SIGKILL,
                      "vfptd ended with wait status 0x%x, not by SIGKILL at write %u",
                      (unsigned) d->exit_status, d->kill_at);
        d->kill_at = 0;
}

/* A claim and a release of the two-endpoint group each take six writes
 * (two overrides, then unbind and probe or bind per device). Killed after
 * each, then started again, vfptd must converge: the configured state,
 * no device left without the driver it should have, records right. */
#define CRASH_POINTS 6

START_TEST(test_killed_at_any_write_vfptd_converges_after_restart) {
        bool release = _i >= CRASH_POINTS;
        unsigned point = (unsigned) (_i % CRASH_POINTS) + 1;
        Daemon d;
        const char *m;

        daemon_init(&d, NULL);
        conf_write(&d, "10-nic.conf", RULE_NIC);
        if (release) {
                daemon_start(&d);
                daemon_expect(&d, "READY=1", 10);
                daemon_stop(&d);
                conf_remove(&d, "10-nic.conf");
        }
        d.kill_at = point;
        daemon_start(&d);
        wait_killed(&d);

        daemon_start(&d);
        m = daemon_expect(&d, "READY=1", 10);
        if (release) {
                assert_status(&d, m, STATUS_NONE);
                assert_driver(&d, NIC, "e1000e");
                assert_driver(&d, USB, "xhci_hcd");
                assert_override(&d, NIC, NULL);
                assert_override(&d, USB, NULL);
                assert_no_record(&d, NIC);
                assert_no_record(&d, USB);
        } else {
                assert_status(&d, m, STATUS_GROUP7);
                assert_driver(&d, NIC, "vfio-pci");
                assert_driver(&d, USB, "vfio-pci");
                assert_record(&d, NIC, "e1000e");
                assert_record(&d, USB, "xhci_hcd");
                /* And it still gives them back properly afterwards. */
                conf_remove(&d, "10-nic.conf");
                m = daemon_reload(&d);
                assert_status(&d, m, STATUS_NONE);
                assert_driver(&d, NIC, "e1000e");
                assert_driver(&d, USB, "xhci_hcd");
        }
        assert_driver(&d, BRIDGE, "pcieport");
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

/* SR-IOV: vfptd makes the VFs with the PF's autoprobe off, claims them and
 * not the PF; when the PF's driver is unbound (its VFs go with it) and
 * bound again, the PF's bind uevent alone makes vfptd make and claim them
 * again. */
START_TEST(test_sriov_vfs_are_made_claimed_and_made_again_after_the_pf_is_rebound) {
        _cleanup_free_ char *writes = NULL;
        const char *autoprobe, *numvfs, *m;
        Daemon d;

        daemon_init(&d, &(TreeOptions) { .sriov_pf = true });
        conf_write(&d, "10-vfs.conf", "[vfs]\nids = 1b36:0010\nsriov_numvfs = 2\n");
        daemon_start(&d);
        m = daemon_expect(&d, "READY=1", 10);
        assert_status(&d, m, "STATUS=2 devices in 2 groups bound to vfio-pci; 0 absent; 0 refused; 0 failed");
        assert_driver(&d, SRIOV_VF0, "vfio-pci");
        assert_driver(&d, SRIOV_VF1, "vfio-pci");
        assert_driver(&d, SRIOV_PF, "nvme");
        assert_override(&d, SRIOV_PF, NULL);
        writes = read_file(d.writes);
        autoprobe = strstr(writes, SRIOV_PF "/sriov_drivers_autoprobe=0");
        numvfs = strstr(writes, SRIOV_PF "/sriov_numvfs=2");
        daemon_assert(&d, autoprobe && numvfs && autoprobe < numvfs, "autoprobe was not turned off before sriov_numvfs");
        daemon_assert(&d, writes_count(&d, "drivers/nvme/unbind") == 0, "something was unbound from nvme");

        {
                Tree t = tree_begin(&d);
                ck_assert_int_eq(fake_kernel_store(t.f, "bus/pci/drivers/nvme/unbind", SRIOV_PF), 0);
                ck_assert(!fake_sysfs_has_device(t.f, SRIOV_VF0));
                ck_assert_int_eq(fake_kernel_store(t.f, "bus/pci/drivers/nvme/bind", SRIOV_PF), 0);
                tree_end(&t);
        }
        uevent(&d, SRIOV_PF, "bind");
        wait_driver(&d, SRIOV_VF0, "vfio-pci", 10);
        wait_driver(&d, SRIOV_VF1, "vfio-pci", 10);
        assert_driver(&d, SRIOV_PF, "nvme");
        wait_log_count(&d, SRIOV_PF " [1b36:0010]: made 2 virtual functions", 2, 10);
        daemon_assert(&d, writes_count(&d, SRIOV_PF "/driver_override") == 0, "the PF's driver_override was written");
        assert_writes_clean(&d);
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

/* Waits for a vfptd that exits by itself (--once); returns its exit status. */
static int wait_exit(Daemon *d, double seconds) {
        long long deadline = deadline_after(seconds);

        while (daemon_running(d)) {
                daemon_assert(d, now_ms() < deadline, "vfptd %s did not exit within %g s", strna(d->mode), seconds);
                nap(d);
        }
        daemon_assert(d, WIFEXITED(d->exit_status), "vfptd %s ended with wait status 0x%x", strna(d->mode),
                      (unsigned) d->exit_status);
        return WEXITSTATUS(d->exit_status);
}

/* The initramfs's one-shot claim: claims the group, writes the records the
 * daemon adopts, says nothing to systemd, exits 0; the daemon started after
 * it finds nothing to do. */
START_TEST(test_once_claims_the_group_exits_and_the_daemon_adopts_it) {
        _cleanup_free_ char *second = NULL;
        Daemon d;
        const char *m;

        daemon_init(&d, NULL);
        conf_write(&d, "10-nic.conf", RULE_NIC);
        d.mode = "--once";
        daemon_start(&d);
        daemon_assert(&d, wait_exit(&d, 20) == 0, "vfptd --once exited with %d", WEXITSTATUS(d.exit_status));
        notify_receive(&d, 0);
        daemon_assert(&d, d.n_messages == 0, "vfptd --once sent %zu sd_notify messages", d.n_messages);
        assert_driver(&d, NIC, "vfio-pci");
        assert_driver(&d, USB, "vfio-pci");
        assert_driver(&d, BRIDGE, "pcieport");
        assert_override(&d, NIC, "vfio-pci");
        assert_record(&d, NIC, "e1000e");
        assert_record(&d, USB, "xhci_hcd");
        daemon_assert(&d, log_count(&d, "2 devices in 1 group bound to vfio-pci; 0 absent; 0 refused; 0 failed") == 1,
                      "vfptd --once did not log its summary");

        /* The daemon of the real root: adopts, writes nothing. */
        second = strdup_printf("%s/writes-2.log", d.work);
        free(d.writes);
        d.writes = TAKE_PTR(second);
        d.mode = NULL;
        daemon_start(&d);
        m = daemon_expect(&d, "READY=1", 10);
        assert_status(&d, m, STATUS_GROUP7);
        daemon_assert(&d, writes_count(&d, NULL) == 0, "the daemon wrote %zu times after --once", writes_count(&d, NULL));
        /* And gives back to the drivers --once recorded. */
        conf_remove(&d, "10-nic.conf");
        m = daemon_reload(&d);
        assert_status(&d, m, STATUS_NONE);
        assert_driver(&d, NIC, "e1000e");
        assert_driver(&d, USB, "xhci_hcd");
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

/* Device preparation through the daemon: at start-up the group node that is
 * already there (a restart finds it so) gets the rule's owner and mode and
 * the NIC its reset_method; when the node is changed behind vfptd's back,
 * udev's next event for the "vfio" device makes vfptd set it again; a
 * release writes "default" back. */
static mode_t node_mode(const char *path) {
        struct stat st;

        return stat(path, &st) == 0 ? st.st_mode & 07777 : (mode_t) -1;
}

static void wait_node_mode(Daemon *d, const char *path, mode_t mode, double seconds) {
        long long end = deadline_after(seconds);

        while (node_mode(path) != mode && now_ms() < end)
                nap(d);
        daemon_assert(d, node_mode(path) == mode, "%s has mode %04o, expected %04o", path,
                      (unsigned) node_mode(path), (unsigned) mode);
}

static char *tree_reset_method(Daemon *d, const char *address) {
        Tree t = tree_begin(d);
        char *v = fake_sysfs_reset_method_of(t.f, address);

        tree_end(&t);
        return v;
}

START_TEST(test_owner_mode_and_reset_method_applied_at_start_and_after_udev_events) {
        _cleanup_free_ char *node = NULL, *conf = NULL, *rm = NULL, *vfio_syspath = NULL;
        uid_t uid = geteuid() == 0 ? 65534 : geteuid();
        gid_t gid = geteuid() == 0 ? 65534 : getegid();
        struct stat st;
        Daemon d;
        Tree t;
        int fd;

        daemon_init(&d, NULL);
        t = tree_begin(&d);
        fake_sysfs_set_reset_methods(t.f, NIC, "pm bus");
        tree_end(&t);
        node = strdup_printf("%s/7", d.vfio);
        fd = open(node, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        ck_assert_int_ge(fd, 0);
        close(fd);
        ck_assert_int_eq(chmod(node, 0600), 0);
        conf = strdup_printf(RULE_NIC "reset_method = bus\nowner = %u:%u\nmode = 0640\n", (unsigned) uid, (unsigned) gid);
        conf_write(&d, "10-nic.conf", conf);
        daemon_start(&d);
        daemon_expect(&d, "READY=1", 10);
        assert_driver(&d, NIC, "vfio-pci");
        rm = tree_reset_method(&d, NIC);
        daemon_assert(&d, streq_ptr(rm, "bus"), "reset_method reads '%s', expected 'bus'", strna(rm));
        /* The pass runs right after the claim, before READY=1 goes out. */
        daemon_assert(&d, node_mode(node) == 0640, "the node has mode %04o, expected 0640", (unsigned) node_mode(node));
        ck_assert_int_eq(stat(node, &st), 0);
        daemon_assert(&d, st.st_uid == uid && st.st_gid == gid, "the node is %u:%u, expected %u:%u",
                      (unsigned) st.st_uid, (unsigned) st.st_gid, (unsigned) uid, (unsigned) gid);
        daemon_assert(&d, log_count(&d, "/7: mode set to 0640 (rule 'nic')") == 1, "the mode change is not logged once");

        /* Behind vfptd's back; then udev says it processed the node. */
        ck_assert_int_eq(chmod(node, 0600), 0);
        vfio_syspath = umockdev_testbed_add_device(d.tb, "vfio", "7", NULL, NULL, "DEVNAME", "vfio/7", NULL);
        ck_assert_ptr_nonnull(vfio_syspath);
        umockdev_testbed_uevent(d.tb, vfio_syspath, "change");
        wait_node_mode(&d, node, 0640, 5);

        conf_remove(&d, "10-nic.conf");
        daemon_reload(&d);
        assert_driver(&d, NIC, "e1000e");
        free(rm);
        rm = tree_reset_method(&d, NIC);
        daemon_assert(&d, streq_ptr(rm, "pm bus"), "reset_method reads '%s' after the release, expected 'pm bus'",
                      strna(rm));
        assert_writes_clean(&d);
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

/* A failed step: the group is rolled back, the exit status is 2 and the log
 * names the devices that did not get there. */
START_TEST(test_once_that_fails_exits_2_naming_the_devices) {
        Daemon d;
        int status;

        daemon_init(&d, NULL);
        conf_write(&d, "10-nic.conf", RULE_NIC);
        d.fail = USB ":drivers_probe:EIO";
        d.mode = "--once";
        daemon_start(&d);
        status = wait_exit(&d, 20);
        daemon_assert(&d, status == 2, "vfptd --once exited with %d, not 2", status);
        daemon_assert(&d, log_count(&d, NIC ": not in its planned state: failed") == 1 &&
                                  log_count(&d, USB ": not in its planned state: failed") == 1,
                      "the log does not name both devices");
        daemon_assert(&d, log_count(&d, "2 devices did not reach their planned state.") == 1, "no closing line");
        assert_driver(&d, NIC, "e1000e");
        assert_driver(&d, USB, "xhci_hcd");
        assert_no_record(&d, NIC);
        assert_no_record(&d, USB);
        assert_writes_clean(&d);

        /* A broken drop-in: the rest still applies, the exit status is 1. */
        d.fail = NULL;
        conf_write(&d, "20-broken.conf", "[broken]\nids = nonsense\n");
        daemon_start(&d);
        status = wait_exit(&d, 20);
        daemon_assert(&d, status == 1, "vfptd --once with a broken drop-in exited with %d, not 1", status);
        assert_driver(&d, NIC, "vfio-pci");
        daemon_done(&d);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("vfptd");
        struct {
                const char *name;
                const TTest *test;
                int loops;
        } cases[] = {
                { "startup", test_startup_claims_the_whole_group_of_a_listed_endpoint_then_says_ready, 1 },
                { "enforcement", test_device_bound_back_by_hand_is_claimed_again_and_logged_once, 1 },
                { "hotplug", test_hotplugged_device_is_claimed_and_its_removal_reported, (int) ELEMENTSOF(sources) },
                { "arrival-probe", test_unbound_arrival_alone_in_its_group_is_probed_at_once, 2 },
                { "storm", test_uevent_storm_ends_in_the_right_state_with_vfptd_answering, 1 },
                { "reload-release", test_reload_without_the_rule_releases_to_the_recorded_drivers, 1 },
                { "reload-rejected", test_reload_with_an_error_is_rejected_whole_and_changes_nothing, 1 },
                { "release-held", test_release_is_refused_while_the_group_is_held_and_done_once_let_go, 1 },
                { "restart", test_restarted_vfptd_adopts_its_claims_and_releases_to_the_original_driver, 1 },
                { "failure", test_failed_probe_of_the_second_device_puts_the_group_back, 1 },
                { "crash", test_killed_at_any_write_vfptd_converges_after_restart, 2 * CRASH_POINTS },
                { "sriov", test_sriov_vfs_are_made_claimed_and_made_again_after_the_pf_is_rebound, 1 },
                { "once", test_once_claims_the_group_exits_and_the_daemon_adopts_it, 1 },
                { "once-failure", test_once_that_fails_exits_2_naming_the_devices, 1 },
                { "devprep", test_owner_mode_and_reset_method_applied_at_start_and_after_udev_events, 1 },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                TCase *tc = tcase_create(cases[i].name);

                tcase_set_timeout(tc, 300);
                tcase_add_loop_test(tc, cases[i].test, 0, cases[i].loops);
                suite_add_tcase(s, tc);
        }
        return s;
}

/* umockdev_testbed_uevent() looks the device up through /sys, which only
 * the preload library turns into the test bed: run under it. */
static void reexec_with_umockdev(char **argv) {
        const char *pre = getenv("LD_PRELOAD"), *asan = getenv("ASAN_OPTIONS");
        _cleanup_free_ char *v = NULL, *a = NULL;
        char *self;

        if (pre && strstr(pre, "libumockdev-preload"))
                return;
        v = strdup_printf("libumockdev-preload.so.0%s%s", pre && *pre ? " " : "", pre ? pre : "");
        a = strdup_printf("%s%sverify_asan_link_order=0", asan ? asan : "", asan && *asan ? ":" : "");
        if (!v || !a || setenv("LD_PRELOAD", v, 1) < 0 || setenv("ASAN_OPTIONS", a, 1) < 0) {
                perror("setenv");
                exit(EXIT_FAILURE);
        }
        /* By its own name, so that the holder check names "test-vfptd". */
        self = realpath("/proc/self/exe", NULL);
        execv(self ? self : "/proc/self/exe", argv);
        perror("re-exec under libumockdev-preload.so.0");
        exit(EXIT_FAILURE);
}

int main(int argc, char **argv) {
        SRunner *sr;
        int failed;

        reexec_with_umockdev(argv);
        fake_run_begin();
        sr = srunner_create(suite());
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        fake_run_end();
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
