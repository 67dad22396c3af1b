/* bench-floor — the kernel's own cost of a claim, with no daemon around it:
 * the same driver_override / unbind / drivers_probe writes vfptd makes, done
 * by the smallest program that can make them. Static, so that it runs in the
 * test guest (tests/bench/run.sh puts it there). Only ever run in the guest.
 *
 *   bench-floor claim ADDR DRIVER REPS
 *       REPS times: claim ADDR for DRIVER (override, unbind the bound driver,
 *       drivers_probe, read the driver link), then give it back (clear the
 *       override, unbind, drivers_probe). One line per repetition:
 *       "claim_us=... release_us=... host=DRIVER-BEFORE".
 *   bench-floor listen VID:DID DRIVER
 *       The hotplug floor: listen to the kernel's uevents (the netlink socket
 *       vfptd listens to) and, on "add" of a PCI device with these IDs, write
 *       the override and probe it at once (unbinding first if the host driver
 *       was faster). One line per device: "ADDR claim_us=... host=...".
 *
 * CLOCK_MONOTONIC microseconds; the log lines go to stdout and /dev/kmsg
 * (so that they sit in the kernel log beside the kernel's own lines). */
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PCI "/sys/bus/pci"

static unsigned long long now_us(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (unsigned long long) ts.tv_sec * 1000000ull + (unsigned long long) ts.tv_nsec / 1000;
}

static int write_attr(const char *path, const char *value) {
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return -errno;
        n = write(fd, value, strlen(value));
        n = n < 0 ? -errno : 0;
        close(fd);
        return (int) n;
}

/* The bound driver's name into buf ("" when none). */
static void driver_of(const char *addr, char *buf, size_t size) {
        char p[256], l[256];
        ssize_t n;

        snprintf(p, sizeof(p), PCI "/devices/%.64s/driver", addr);
        n = readlink(p, l, sizeof(l) - 1);
        buf[0] = '\0';
        if (n > 0) {
                const char *b;
                l[n] = '\0';
                b = strrchr(l, '/');
                snprintf(buf, size, "%.63s", b ? b + 1 : l);
        }
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
        char line[512];
        va_list ap;
        int k;

        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        printf("%s\n", line);
        fflush(stdout);
        k = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
        if (k >= 0) {
                dprintf(k, "bench-floor: %s\n", line);
                close(k);
        }
}

/* "claim start" in the kernel log, so that the claim can be timed there the
 * same way as vfptd's (up to the driver core's "bound to device" line). */
static void kmsg_mark(const char *addr) {
        int k = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);

        if (k >= 0) {
                dprintf(k, "bench-mark: claim start %s\n", addr);
                close(k);
        }
}

/* override, unbind, drivers_probe: vfptd's steps minus the record file. */
static int claim(const char *addr, const char *driver, char *host, size_t hsize) {
        char p[256], now[64];
        int r;

        snprintf(p, sizeof(p), PCI "/devices/%s/driver_override", addr);
        if ((r = write_attr(p, driver)) < 0)
                return r;
        driver_of(addr, host, hsize);
        if (host[0] && strcmp(host, driver) != 0) {
                snprintf(p, sizeof(p), PCI "/devices/%s/driver/unbind", addr);
                if ((r = write_attr(p, addr)) < 0 && r != -ENODEV)
                        return r;
        }
        if ((r = write_attr(PCI "/drivers_probe", addr)) < 0 && r != -ENODEV)
                return r;
        driver_of(addr, now, sizeof(now));
        return strcmp(now, driver) == 0 ? 0 : -ENXIO;
}

static int release(const char *addr) {
        char p[256];
        int r;

        snprintf(p, sizeof(p), PCI "/devices/%s/driver_override", addr);
        if ((r = write_attr(p, "\n")) < 0)
                return r;
        snprintf(p, sizeof(p), PCI "/devices/%s/driver/unbind", addr);
        (void) write_attr(p, addr);
        return write_attr(PCI "/drivers_probe", addr);
}

static int do_claim(const char *addr, const char *driver, int reps) {
        for (int i = 0; i < reps; i++) {
                char host[64];
                unsigned long long t0, t1, t2;
                int r;

                kmsg_mark(addr);
                t0 = now_us();
                r = claim(addr, driver, host, sizeof(host));
                t1 = now_us();
                if (r < 0) {
                        fprintf(stderr, "bench-floor: claim %s: %s\n", addr, strerror(-r));
                        return 1;
                }
                r = release(addr);
                t2 = now_us();
                if (r < 0) {
                        fprintf(stderr, "bench-floor: release %s: %s\n", addr, strerror(-r));
                        return 1;
                }
                /* stdout only: /dev/kmsg is rate-limited (printk.devkmsg), and
                 * the "claim start" marks must get through. */
                printf("%s rep=%d claim_us=%llu release_us=%llu host=%s\n", addr, i, t1 - t0, t2 - t1,
                       host[0] ? host : "none");
                fflush(stdout);
                usleep(200000);
        }
        return 0;
}

static int do_listen(const char *ids, const char *driver) {
        struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = 1 /* kernel uevents */ };
        char want[64], buf[8192];
        int fd;

        snprintf(want, sizeof(want), "PCI_ID=%s", ids);
        for (char *c = want; *c; c++)
                if (*c >= 'a' && *c <= 'f')
                        *c = (char) (*c - 'a' + 'A');
        fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT);
        if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                perror("bench-floor: netlink");
                return 1;
        }
        say("listening for %s", want);
        for (;;) {
                ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
                const char *action = NULL, *slot = NULL;
                bool match = false;
                char host[64];
                unsigned long long t0, t1;
                int r;

                if (n <= 0)
                        continue;
                buf[n] = '\0';
                for (char *s = buf; s < buf + n; s += strlen(s) + 1) {
                        if (strncmp(s, "ACTION=", 7) == 0)
                                action = s + 7;
                        else if (strncmp(s, "PCI_SLOT_NAME=", 14) == 0)
                                slot = s + 14;
                        else if (strcmp(s, want) == 0)
                                match = true;
                }
                if (!match || !slot || !action || strcmp(action, "add") != 0)
                        continue;
                t0 = now_us();
                r = claim(slot, driver, host, sizeof(host));
                t1 = now_us();
                say("%s claim_us=%llu host=%s result=%s", slot, t1 - t0, host[0] ? host : "none",
                    r < 0 ? strerror(-r) : "ok");
        }
}

int main(int argc, char **argv) {
        if (argc == 5 && strcmp(argv[1], "claim") == 0)
                return do_claim(argv[2], argv[3], atoi(argv[4]));
        if (argc == 4 && strcmp(argv[1], "listen") == 0)
                return do_listen(argv[2], argv[3]);
        fprintf(stderr, "usage: bench-floor claim ADDR DRIVER REPS | bench-floor listen VID:DID DRIVER\n");
        return 2;
}
