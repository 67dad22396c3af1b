/* fault-preload.c — an LD_PRELOAD library for vfptd inside the test guest,
 * so that the vm suite can make two faults happen on the real kernel at a
 * point it chooses. Never used outside the guest.
 *
 *   VFPT_FAULT_KILL_AT=N    SIGKILL the process just before its Nth write(2)
 *                           to a file under /sys (counted from start-up), so
 *                           that N-1 sysfs writes took effect. Once only: the
 *                           marker VFPT_FAULT_MARKER (default
 *                           /run/vfpt-fault-killed) is written first, with N
 *                           and the path, and while it exists nothing is
 *                           injected, so the restarted daemon runs clean.
 *   VFPT_FAULT_STALL=PATH   when PATH exists as the event loop goes to sleep
 *                           (epoll_wait, epoll_pwait, epoll_pwait2), remove it
 *                           and never return: the loop is stuck, as if a
 *                           callback hung, while the other threads run on.
 *
 * Built by tests/vm/meson.build (or lib.sh) against the host's glibc, which
 * is the guest's too (both Debian 12). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RTLD_NEXT; meson defines it already */
#endif
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

typedef ssize_t (*write_fn)(int, const void *, size_t);

static unsigned long sysfs_writes;

static const char *marker(void) {
        const char *m = getenv("VFPT_FAULT_MARKER");

        return m && *m ? m : "/run/vfpt-fault-killed";
}

static void maybe_kill(int fd, write_fn real) {
        const char *at = getenv("VFPT_FAULT_KILL_AT");
        char link[64], path[PATH_MAX], note[PATH_MAX + 32];
        unsigned long n;
        ssize_t len;
        int m;

        if (!at || !*at || access(marker(), F_OK) == 0)
                return;
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        len = readlink(link, path, sizeof(path) - 1);
        if (len <= 0)
                return;
        path[len] = '\0';
        if (strncmp(path, "/sys/", 5) != 0)
                return;
        n = __atomic_add_fetch(&sysfs_writes, 1, __ATOMIC_SEQ_CST);
        if (n != strtoul(at, NULL, 10))
                return;
        m = open(marker(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (m < 0)
                return; /* another thread got here first */
        len = snprintf(note, sizeof(note), "%lu %s\n", n, path);
        (void) real(m, note, (size_t) len);
        (void) fsync(m);
        (void) close(m);
        kill(getpid(), SIGKILL);
}

ssize_t write(int fd, const void *buf, size_t count) {
        static write_fn real;

        if (!real)
                real = (write_fn) dlsym(RTLD_NEXT, "write");
        maybe_kill(fd, real);
        return real(fd, buf, count);
}

static void maybe_stall(void) {
        const char *p = getenv("VFPT_FAULT_STALL");

        if (!p || !*p || unlink(p) < 0)
                return;
        for (;;)
                pause();
}

int epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout) {
        static int (*real)(int, struct epoll_event *, int, int);

        if (!real)
                real = (int (*)(int, struct epoll_event *, int, int)) dlsym(RTLD_NEXT, "epoll_wait");
        maybe_stall();
        return real(epfd, events, maxevents, timeout);
}

int epoll_pwait(int epfd, struct epoll_event *events, int maxevents, int timeout, const sigset_t *sigmask) {
        static int (*real)(int, struct epoll_event *, int, int, const sigset_t *);

        if (!real)
                real = (int (*)(int, struct epoll_event *, int, int, const sigset_t *)) dlsym(RTLD_NEXT, "epoll_pwait");
        maybe_stall();
        return real(epfd, events, maxevents, timeout, sigmask);
}

int epoll_pwait2(int epfd, struct epoll_event *events, int maxevents, const struct timespec *timeout,
                 const sigset_t *sigmask) {
        static int (*real)(int, struct epoll_event *, int, const struct timespec *, const sigset_t *);

        if (!real)
                real = (int (*)(int, struct epoll_event *, int, const struct timespec *, const sigset_t *))
                        dlsym(RTLD_NEXT, "epoll_pwait2");
        maybe_stall();
        return real(epfd, events, maxevents, timeout, sigmask);
}
