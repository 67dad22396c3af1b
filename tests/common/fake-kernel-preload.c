/* fake-kernel-preload.c — the fake kernel of fake-sysfs.c for a process the
 * test does not own: LD_PRELOADed into vfptd, it wraps write() so that a
 * write into the tree at $FAKE_SYSFS_ROOT gets its kernel meaning once it
 * has landed (links move, driver_override reads back "vfio-pci\n", write-only
 * files read empty again) or fails with the errno the kernel would give.
 *
 * Which file a write goes to is found from the descriptor
 * (/proc/self/fd/N), so it is the resolved path
 * ("devices/pci0000:00/0000:00:1c.0/0000:01:00.0/driver_override",
 * "bus/pci/drivers/e1000e/unbind"); fake_kernel_hook() understands both forms.
 *
 * The model is rebuilt from the tree before every write, under the tree's
 * lock, so that the test may change the tree between two writes (a person
 * binding the host driver by hand, a device unplugged).
 *
 * Environment:
 *   FAKE_SYSFS_ROOT   the tree (made with fake-sysfs.c, with its model file)
 *   FAKE_KERNEL_LOG   a file to which every write into the tree is appended
 *                     as "PATH=VALUE" (PATH relative to the root, VALUE
 *                     without its "\n"), with " -> ERRNAME" when it failed
 *   FAKE_KERNEL_FAIL  ADDR:STEP:ERRNO[:N][,...]: fail the (N+1)-th write of
 *                     STEP (driver_override, unbind, bind, drivers_probe) for
 *                     ADDR, once; ERRNO is a number or a name (EIO, EBUSY, ...)
 *   FAKE_KERNEL_KILL_AT N: the process kills itself with SIGKILL right after
 *                     its N-th write into the tree took effect (a crash at
 *                     that point of a claim or release)
 *
 * Only write() is given a meaning, as it is what vfpt_sysfs_write() uses;
 * pwrite() and writev() into the tree are reported on stderr as bypassing
 * the fake kernel. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fake-sysfs.h"
#include "vfpt-util.h"

#define EXPORT __attribute__((visibility("default")))
/* What /proc/self/fd/N says after a file was removed. */
#define DELETED " (deleted)"

typedef ssize_t (*WriteFn)(int fd, const void *buf, size_t count);
typedef ssize_t (*PwriteFn)(int fd, const void *buf, size_t count, off_t offset);
typedef ssize_t (*WritevFn)(int fd, const struct iovec *iov, int iovcnt);

typedef struct Failure {
        char *address;
        char *step;
        int error;
        unsigned after_n;
        bool armed;
} Failure;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
/* The fake kernel renders the tree with write(): those go straight through. */
static __thread bool inside;

static char *root;
static size_t root_len;
static const char *log_path;
static unsigned kill_at, writes_seen;
static FakeSysfs *model;
static Failure *failures;
static size_t n_failures;

static const struct {
        const char *name;
        int error;
} errnos[] = {
        { "EIO", EIO },       { "EBUSY", EBUSY },   { "ENODEV", ENODEV }, { "EINVAL", EINVAL },
        { "ENXIO", ENXIO },   { "ENOENT", ENOENT }, { "EPERM", EPERM },   { "ENOMEM", ENOMEM },
        { "EAGAIN", EAGAIN }, { "EEXIST", EEXIST }, { "ENOSPC", ENOSPC }, { "ETIMEDOUT", ETIMEDOUT },
};

static void *next_symbol(const char *name) {
        void *p = dlsym(RTLD_NEXT, name);

        if (!p) {
                fprintf(stderr, "fake-kernel: no next %s(): %s\n", name, dlerror());
                abort();
        }
        return p;
}

static ssize_t real_write(int fd, const void *buf, size_t count) {
        static WriteFn fn;

        if (!fn)
                *(void **) &fn = next_symbol("write");
        return fn(fd, buf, count);
}

static const char *errno_name(int error) {
        for (size_t i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
                if (errnos[i].error == error)
                        return errnos[i].name;
        return "E?";
}

static int parse_errno(const char *s) {
        char *end;
        long v;

        for (size_t i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
                if (strcmp(errnos[i].name, s) == 0)
                        return errnos[i].error;
        v = strtol(s, &end, 10);
        return *end || v <= 0 || v > 4095 ? -1 : (int) v;
}

static void parse_failures(const char *spec) {
        char *copy = strdup(spec), *save = NULL;

        if (!copy)
                abort();
        for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
                /* The address has colons of its own: ADDR is the first 12 characters. */
                char step[32] = "", err[32] = "";
                unsigned n = 0;
                Failure *x;

                if (strlen(item) < 14 || item[12] != ':' ||
                    sscanf(item + 13, "%31[^:]:%31[^:]:%u", step, err, &n) < 2 || parse_errno(err) < 0) {
                        fprintf(stderr, "fake-kernel: bad FAKE_KERNEL_FAIL item '%s' "
                                        "(want ADDR:STEP:ERRNO[:N])\n", item);
                        abort();
                }
                failures = realloc(failures, (n_failures + 1) * sizeof(Failure));
                if (!failures)
                        abort();
                x = &failures[n_failures++];
                *x = (Failure) { .address = strndup(item, 12), .step = strdup(step),
                                 .error = parse_errno(err), .after_n = n };
                if (!x->address || !x->step)
                        abort();
        }
        free(copy);
}

static void init(void) {
        const char *r = getenv("FAKE_SYSFS_ROOT"), *fail = getenv("FAKE_KERNEL_FAIL");

        if (!r || !*r)
                return;
        root = realpath(r, NULL);
        if (!root) {
                fprintf(stderr, "fake-kernel: FAKE_SYSFS_ROOT=%s: %m\n", r);
                abort();
        }
        root_len = strlen(root);
        log_path = getenv("FAKE_KERNEL_LOG");
        if (getenv("FAKE_KERNEL_KILL_AT"))
                kill_at = (unsigned) strtoul(getenv("FAKE_KERNEL_KILL_AT"), NULL, 10);
        if (fail && *fail)
                parse_failures(fail);
}

/* The path of fd relative to the root, when it lies below it. */
static bool path_in_tree(int fd, char *rel, size_t size) {
        char link[64], buf[PATH_MAX];
        ssize_t n;

        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        n = readlink(link, buf, sizeof(buf) - 1);
        if (n < 0)
                return false;
        buf[n] = '\0';
        if ((size_t) n <= root_len + 1 || strncmp(buf, root, root_len) != 0 || buf[root_len] != '/')
                return false;
        /* Still a write into the tree, to a file that is gone (see kernel_write()). */
        if ((size_t) n > strlen(DELETED) && strcmp(buf + n - strlen(DELETED), DELETED) == 0) {
                snprintf(rel, size, "%s", DELETED);
                return true;
        }
        /* The fake kernel's own files are not sysfs. */
        if (buf[root_len + 1] == '.')
                return false;
        snprintf(rel, size, "%s", buf + root_len + 1);
        return true;
}

/* Failures name devices that may not be there yet (hotplug): hand each to
 * the fake kernel once its device exists. */
static void arm_failures(void) {
        for (size_t i = 0; i < n_failures; i++) {
                Failure *x = &failures[i];

                if (x->armed || !fake_sysfs_has_device(model, x->address))
                        continue;
                fake_kernel_fail(model, x->address, x->step, x->error, x->after_n);
                x->armed = true;
        }
}

static void log_write(const char *rel, const char *value, int error) {
        char *line = NULL;
        size_t len;
        int fd, r;

        if (!log_path)
                return;
        len = strcspn(value, "\n");
        r = error ? asprintf(&line, "%s=%.*s -> %s\n", rel, (int) len, value, errno_name(error))
                  : asprintf(&line, "%s=%.*s\n", rel, (int) len, value);
        if (r < 0)
                abort();
        fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
        if (fd >= 0) {
                (void) real_write(fd, line, strlen(line));
                close(fd);
        }
        free(line);
}

static ssize_t kernel_write(int fd, const void *buf, size_t count, const char *rel) {
        char now[PATH_MAX];
        char *value = NULL;
        ssize_t n;
        int lockfd, error = 0;

        pthread_mutex_lock(&mutex);
        lockfd = fake_sysfs_lock(root);
        if (!model)
                model = fake_sysfs_load(root);
        else
                fake_sysfs_reload(model);
        arm_failures();

        /* The device may have been unplugged since the file was opened (the
         * test holds the lock meanwhile): the kernel answers ENODEV to a write
         * into the attributes of a removed device, and writes nothing. */
        if (!path_in_tree(fd, now, sizeof(now)) || streq(now, DELETED)) {
                value = strndup(buf, count);
                if (!value)
                        abort();
                log_write(rel, value, ENODEV);
                free(value);
                fake_sysfs_unlock(lockfd);
                pthread_mutex_unlock(&mutex);
                errno = ENODEV;
                return -1;
        }

        n = real_write(fd, buf, count);
        if (n < 0)
                error = errno;
        value = strndup(buf, count);
        if (!value)
                abort();
        if (n >= 0) {
                int r = fake_kernel_hook(model, rel, value);
                if (r < 0) {
                        n = -1;
                        error = -r;
                }
        }
        log_write(rel, value, error);
        free(value);
        fake_sysfs_unlock(lockfd);
        if (kill_at && ++writes_seen == kill_at)
                raise(SIGKILL);
        pthread_mutex_unlock(&mutex);
        errno = error;
        return n;
}

EXPORT ssize_t write(int fd, const void *buf, size_t count) {
        char rel[PATH_MAX];
        ssize_t n;
        int saved = errno;

        if (inside)
                return real_write(fd, buf, count);
        inside = true;
        pthread_once(&once, init);
        if (!root || !path_in_tree(fd, rel, sizeof(rel))) {
                errno = saved;
                n = real_write(fd, buf, count);
        } else
                n = kernel_write(fd, buf, count, rel);
        inside = false;
        return n;
}

static void warn_bypass(const char *what, int fd) {
        char rel[PATH_MAX];

        if (inside)
                return;
        inside = true;
        pthread_once(&once, init);
        if (root && path_in_tree(fd, rel, sizeof(rel)))
                fprintf(stderr, "fake-kernel: %s() to %s bypasses the fake kernel\n", what, rel);
        inside = false;
}

EXPORT ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset) {
        static PwriteFn fn;
        int saved = errno;

        if (!fn)
                *(void **) &fn = next_symbol("pwrite");
        warn_bypass("pwrite", fd);
        errno = saved;
        return fn(fd, buf, count, offset);
}

EXPORT ssize_t writev(int fd, const struct iovec *iov, int iovcnt) {
        static WritevFn fn;
        int saved = errno;

        if (!fn)
                *(void **) &fn = next_symbol("writev");
        warn_bypass("writev", fd);
        errno = saved;
        return fn(fd, iov, iovcnt);
}
