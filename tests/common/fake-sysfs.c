/* fake-sysfs.c — a kernel-shaped sysfs tree under a temporary directory and a
 * fake kernel that gives driver_override/unbind/bind/drivers_probe writes
 * their meaning, so that the library's claim and rollback can be tested end
 * to end without touching the machine's /sys.
 *
 * The fake kernel keeps its own model of each device (driver, override, host
 * driver) and, after every write, renders from the model the device the
 * write named and the write-only files (not the whole tree: a write costs the
 * same however many devices there are): the library's write of "vfio-pci" into driver_override (an O_WRONLY write
 * without O_TRUNC over "(null)\n") becomes "vfio-pci\n", links move, and the
 * write-only files (bind, unbind, drivers_probe) read empty again. A failed
 * write is undone the same way: the model did not change, so the render puts
 * the old content back. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fake-sysfs.h"
#include "vfpt-util.h"

#define FAKE_ASSERT(expr, ...)                                                  \
        do {                                                                    \
                if (!(expr)) {                                                  \
                        fprintf(stderr, "fake-sysfs: %s:%d: %s: ", __FILE__,    \
                                __LINE__, #expr);                               \
                        fprintf(stderr, __VA_ARGS__);                           \
                        fputc('\n', stderr);                                    \
                        abort();                                                \
                }                                                               \
        } while (0)

typedef struct FakeDev {
        char *address;
        char *dir;          /* relative to the root: devices/pci0000:00/... */
        char *driver;       /* bound now */
        char *host_driver;  /* what matches by ID table */
        char *initial;      /* the driver it was created on: it matched once */
        char *override;
        bool bridge;
        int group;
        unsigned n_children; /* ata/nvme hosts made below it */
        /* SR-IOV: a PF when totalvfs > 0; a VF when physfn is set. */
        unsigned totalvfs, numvfs;
        bool autoprobe;
        bool keep_vfs;      /* its driver leaves the VFs on unbind */
        uint16_t vendor, vf_device;
        uint32_t class;
        char *vf_driver;    /* what a probe binds to a VF */
        char *physfn;       /* a VF: its PF's address */
} FakeDev;

typedef struct FakeBlock {
        char *name;
        char *dir;
} FakeBlock;

typedef struct FakeFailure {
        char *address;
        char *what;
        int error;
        unsigned after_n;
        unsigned seen;
        bool done;
} FakeFailure;

struct FakeSysfs {
        char *root;
        int rootfd;
        bool iommu;
        bool owned;
        FakeDev *devs;
        size_t n_devs;
        FakeBlock *blocks;
        size_t n_blocks;
        FakeFailure *failures;
        size_t n_failures;
        unsigned writes, unknown, triggered;
        unsigned n_hosts, n_ifindex;
        char **log;
        bool persist;       /* keep FAKE_SYSFS_MODEL_FILE up to date (fake_sysfs_save_model) */
};

static void save_model_if(FakeSysfs *f);
static void pf_remove_vfs(FakeSysfs *f, const char *pf_address);

static void *mfree(void *p) {
        free(p);
        return NULL;
}

static char *xstrdup(const char *s) {
        char *r;

        if (!s)
                return NULL;
        r = strdup(s);
        FAKE_ASSERT(r, "out of memory");
        return r;
}

static char *xprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xprintf(const char *fmt, ...) {
        va_list ap;
        char *s;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        FAKE_ASSERT(r >= 0, "out of memory");
        return s;
}

static void *xrealloc(void *p, size_t n, size_t size) {
        void *r = reallocarray(p, n, size);
        FAKE_ASSERT(r, "out of memory");
        return r;
}

/* Every path the builder touches is relative to the root fd and may not climb
 * out of it: the tree must never reach the machine's /sys. */
static void check_rel(const char *rel) {
        FAKE_ASSERT(rel[0] != '/', "absolute path '%s'", rel);
        FAKE_ASSERT(!strstr(rel, "..") , "path '%s' climbs", rel);
}

static void mkdir_p(FakeSysfs *f, const char *rel) {
        _cleanup_free_ char *p = xstrdup(rel);

        check_rel(rel);
        for (char *s = p;; s++) {
                if (*s == '/' || *s == '\0') {
                        char c = *s;
                        *s = '\0';
                        if (mkdirat(f->rootfd, p, 0755) < 0)
                                FAKE_ASSERT(errno == EEXIST, "mkdir %s: %m", p);
                        *s = c;
                        if (!c)
                                break;
                }
        }
}

static void write_file_len(FakeSysfs *f, const char *rel, const void *data, size_t len) {
        _cleanup_close_ int fd = -1;

        check_rel(rel);
        fd = openat(f->rootfd, rel, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0644);
        FAKE_ASSERT(fd >= 0, "create %s: %m", rel);
        FAKE_ASSERT(write(fd, data, len) == (ssize_t) len, "write %s: %m", rel);
}

static void write_file(FakeSysfs *f, const char *rel, const char *content) {
        write_file_len(f, rel, content, strlen(content));
}

static void write_filef(FakeSysfs *f, const char *rel, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void write_filef(FakeSysfs *f, const char *rel, const char *fmt, ...) {
        _cleanup_free_ char *s = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        FAKE_ASSERT(r >= 0, "out of memory");
        write_file(f, rel, s);
}

/* A symlink at link pointing at target (both relative to the root), written
 * the way the kernel writes them: relative, through the nearest common
 * ancestor ("../../../bus/pci/drivers/x", "../../../0000:00:19.0"). */
static void symlink_rel(FakeSysfs *f, const char *link, const char *target) {
        _cleanup_free_ char *rel = NULL;
        size_t common = 0, depth = 0, len;
        const char *rest;

        check_rel(link);
        check_rel(target);
        /* Longest common prefix of whole directory components. */
        for (size_t i = 0; link[i] && target[i] && link[i] == target[i]; i++)
                if (link[i] == '/')
                        common = i + 1;
        /* Like the kernel, the common ancestor is always a strict ancestor of
         * the target: a link to an ancestor reads "../../../0000:00:19.0". */
        rest = target + common;
        for (const char *s = link + common; *s; s++)
                if (*s == '/')
                        depth++;
        len = depth * 3 + strlen(rest) + 2;
        rel = malloc(len);
        FAKE_ASSERT(rel, "out of memory");
        rel[0] = '\0';
        for (size_t i = 0; i < depth; i++)
                strcat(rel, "../");
        strcat(rel, rest);
        if (unlinkat(f->rootfd, link, 0) < 0)
                FAKE_ASSERT(errno == ENOENT, "unlink %s: %m", link);
        FAKE_ASSERT(symlinkat(rel, f->rootfd, link) == 0, "symlink %s: %m", link);
}

static void unlink_rel(FakeSysfs *f, const char *rel) {
        check_rel(rel);
        if (unlinkat(f->rootfd, rel, 0) < 0)
                FAKE_ASSERT(errno == ENOENT, "unlink %s: %m", rel);
}

static bool exists_rel(FakeSysfs *f, const char *rel) {
        struct stat st;
        return fstatat(f->rootfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static bool driver_exists(FakeSysfs *f, const char *name) {
        _cleanup_free_ char *p = NULL;

        if (!name || !*name || strchr(name, '/'))
                return false;
        p = xprintf("bus/pci/drivers/%s", name);
        return exists_rel(f, p);
}

static FakeDev *find_dev(FakeSysfs *f, const char *address) {
        for (size_t i = 0; i < f->n_devs; i++)
                if (streq(f->devs[i].address, address))
                        return &f->devs[i];
        return NULL;
}

static FakeDev *get_dev(FakeSysfs *f, const char *address) {
        FakeDev *d = find_dev(f, address);
        FAKE_ASSERT(d, "no device %s in the fake tree", address);
        return d;
}

static void make_skeleton(FakeSysfs *f) {
        mkdir_p(f, "devices/virtual");
        mkdir_p(f, "bus/pci/devices");
        mkdir_p(f, "bus/pci/drivers");
        mkdir_p(f, "bus/pci/slots");
        write_file(f, "bus/pci/drivers_probe", "");
        write_file(f, "bus/pci/drivers_autoprobe", "1\n");
        write_file(f, "bus/pci/rescan", "");
        mkdir_p(f, "kernel/iommu_groups");
        mkdir_p(f, "class/block");
        mkdir_p(f, "class/net");
        mkdir_p(f, "class/vtconsole");
        mkdir_p(f, "class/graphics");
        mkdir_p(f, "block");
        mkdir_p(f, "dev/block");
        mkdir_p(f, "dev/char");
        mkdir_p(f, "module");
}

static FakeSysfs *fake_sysfs_alloc(char *root, bool iommu, bool owned) {
        FakeSysfs *f = calloc(1, sizeof(*f));

        FAKE_ASSERT(f, "out of memory");
        /* Refuse anything that could be the machine's own sysfs. */
        FAKE_ASSERT(root[0] == '/' && !streq(root, "/sys") && strncmp(root, "/sys/", 5) != 0,
                    "refusing tree root '%s'", root);
        f->root = root;
        f->iommu = iommu;
        f->owned = owned;
        f->rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        FAKE_ASSERT(f->rootfd >= 0, "open %s: %m", root);
        make_skeleton(f);
        return f;
}

static const char *tmpdir(void) {
        const char *tmp = getenv("TMPDIR");
        return tmp && tmp[0] == '/' ? tmp : "/tmp";
}

char *fake_tempdir(const char *prefix) {
        char *t = xprintf("%s/vfpt-%s-XXXXXX", tmpdir(), prefix);

        FAKE_ASSERT(!strchr(prefix, '/'), "bad prefix '%s'", prefix);
        FAKE_ASSERT(mkdtemp(t), "mkdtemp %s: %m", t);
        return t;
}

static char *run_dir = NULL, *run_saved_tmpdir = NULL;

void fake_run_begin(void) {
        const char *old = getenv("TMPDIR");

        FAKE_ASSERT(!run_dir, "fake_run_begin() twice");
        run_saved_tmpdir = old ? xstrdup(old) : NULL;
        run_dir = fake_tempdir("run");
        FAKE_ASSERT(setenv("TMPDIR", run_dir, 1) == 0, "setenv: %m");
}

void fake_run_end(void) {
        if (!run_dir)
                return;
        if (run_saved_tmpdir)
                FAKE_ASSERT(setenv("TMPDIR", run_saved_tmpdir, 1) == 0, "setenv: %m");
        else
                unsetenv("TMPDIR");
        if (getenv("FAKE_SYSFS_KEEP"))
                fprintf(stderr, "fake-sysfs: trees kept in %s\n", run_dir);
        fake_rm_rf(run_dir);
        run_dir = mfree(run_dir);
        run_saved_tmpdir = mfree(run_saved_tmpdir);
}

FakeSysfs *fake_sysfs_new(bool iommu) {
        return fake_sysfs_alloc(fake_tempdir("fake-sysfs"), iommu, true);
}

FakeSysfs *fake_sysfs_new_at(const char *dir, bool iommu) {
        char *real;
        DIR *d;
        struct dirent *de;

        if (mkdir(dir, 0755) < 0)
                FAKE_ASSERT(errno == EEXIST, "mkdir %s: %m", dir);
        real = realpath(dir, NULL);
        FAKE_ASSERT(real, "realpath %s: %m", dir);
        d = opendir(real);
        FAKE_ASSERT(d, "opendir %s: %m", real);
        while ((de = readdir(d)))
                FAKE_ASSERT(streq(de->d_name, ".") || streq(de->d_name, ".."),
                            "%s is not empty", real);
        closedir(d);
        return fake_sysfs_alloc(real, iommu, false);
}

/* rm -rf relative to a directory fd; never follows symlinks. */
static void remove_tree_at(int dirfd) {
        DIR *d;
        struct dirent *de;
        int fd = dup(dirfd);

        FAKE_ASSERT(fd >= 0, "dup: %m");
        d = fdopendir(fd);
        FAKE_ASSERT(d, "fdopendir: %m");
        while ((de = readdir(d))) {
                struct stat st;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                FAKE_ASSERT(fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0,
                            "stat %s: %m", de->d_name);
                if (S_ISDIR(st.st_mode)) {
                        int sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        FAKE_ASSERT(sub >= 0, "open %s: %m", de->d_name);
                        remove_tree_at(sub);
                        close(sub);
                        FAKE_ASSERT(unlinkat(dirfd, de->d_name, AT_REMOVEDIR) == 0, "rmdir %s: %m", de->d_name);
                } else
                        FAKE_ASSERT(unlinkat(dirfd, de->d_name, 0) == 0, "unlink %s: %m", de->d_name);
        }
        closedir(d);
}

void fake_rm_rf(const char *dir) {
        _cleanup_free_ char *prefix = xprintf("%s/vfpt-", tmpdir());
        int fd;

        if (!dir)
                return;
        FAKE_ASSERT(strncmp(dir, prefix, strlen(prefix)) == 0 && !strchr(dir + strlen(prefix), '/'),
                    "refusing to remove '%s': not made by fake_tempdir()", dir);
        if (getenv("FAKE_SYSFS_KEEP"))
                return;
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
                FAKE_ASSERT(errno == ENOENT, "open %s: %m", dir);
                return;
        }
        remove_tree_at(fd);
        close(fd);
        FAKE_ASSERT(rmdir(dir) == 0, "rmdir %s: %m", dir);
}

void fake_write_file(const char *dir, const char *name, const char *content) {
        _cleanup_free_ char *p = xprintf("%s/%s", dir, name);
        _cleanup_close_ int fd = -1;

        _cleanup_free_ char *prefix = xprintf("%s/vfpt-", tmpdir());

        FAKE_ASSERT(strncmp(dir, prefix, strlen(prefix)) == 0, "refusing to write outside %s*: %s", prefix, dir);
        FAKE_ASSERT(!strstr(name, "..") && name[0] != '/', "bad name '%s'", name);
        for (char *s = p + strlen(dir) + 1; (s = strchr(s, '/')); s++) {
                *s = '\0';
                if (mkdir(p, 0755) < 0)
                        FAKE_ASSERT(errno == EEXIST, "mkdir %s: %m", p);
                *s = '/';
        }
        fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0644);
        FAKE_ASSERT(fd >= 0, "create %s: %m", p);
        FAKE_ASSERT(write(fd, content, strlen(content)) == (ssize_t) strlen(content), "write %s: %m", p);
}

FakeSysfs *fake_sysfs_free(FakeSysfs *f) {
        if (!f)
                return NULL;
        if (f->owned && !getenv("FAKE_SYSFS_KEEP")) {
                remove_tree_at(f->rootfd);
                FAKE_ASSERT(rmdir(f->root) == 0, "rmdir %s: %m", f->root);
        }
        close(f->rootfd);
        for (size_t i = 0; i < f->n_devs; i++) {
                free(f->devs[i].address);
                free(f->devs[i].dir);
                free(f->devs[i].driver);
                free(f->devs[i].host_driver);
                free(f->devs[i].initial);
                free(f->devs[i].override);
                free(f->devs[i].vf_driver);
                free(f->devs[i].physfn);
        }
        free(f->devs);
        for (size_t i = 0; i < f->n_blocks; i++) {
                free(f->blocks[i].name);
                free(f->blocks[i].dir);
        }
        free(f->blocks);
        for (size_t i = 0; i < f->n_failures; i++) {
                free(f->failures[i].address);
                free(f->failures[i].what);
        }
        free(f->failures);
        strv_free(f->log);
        free(f->root);
        free(f);
        return NULL;
}

const char *fake_sysfs_root(const FakeSysfs *f) {
        return f->root;
}

char *fake_sysfs_path(const FakeSysfs *f, const char *fmt, ...) {
        _cleanup_free_ char *s = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        FAKE_ASSERT(r >= 0, "out of memory");
        return xprintf("%s/%s", f->root, s);
}

void fake_sysfs_add_driver(FakeSysfs *f, const char *name) {
        _cleanup_free_ char *dir = xprintf("bus/pci/drivers/%s", name);
        static const char *const files[] = { "bind", "unbind", "new_id", "remove_id", "uevent" };

        FAKE_ASSERT(*name && !strchr(name, '/'), "bad driver name '%s'", name);
        mkdir_p(f, dir);
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                _cleanup_free_ char *p = xprintf("%s/%s", dir, files[i]);
                write_file(f, p, "");
        }
}

/* reset_method: the kernel's state lives in two hidden files of the device
 * directory (so that the preload's fake kernel, which rebuilds its model
 * from the tree, sees it too): what the kernel offers, and what is set. */
#define RESET_OFFERED ".fake-reset-offered"
#define RESET_CURRENT ".fake-reset-current"

static char *dev_read(FakeSysfs *f, const FakeDev *d, const char *name) {
        _cleanup_free_ char *p = xprintf("%s/%s", d->dir, name);
        char *v = NULL;

        return read_attr(f->rootfd, p, &v) < 0 ? NULL : v;
}

static void render_reset_method(FakeSysfs *f, FakeDev *d) {
        _cleanup_free_ char *cur = dev_read(f, d, RESET_CURRENT);
        _cleanup_free_ char *p = xprintf("%s/reset_method", d->dir);

        if (cur)
                write_filef(f, p, "%s\n", cur);
}

/* The kernel's reset_method_store(): "default" restores every method it
 * offers, "" disables reset, else a list of offered methods, none twice. */
static int store_reset_method(FakeSysfs *f, FakeDev *d, const char *v) {
        _cleanup_free_ char *offered = dev_read(f, d, RESET_OFFERED), *copy = xstrdup(v), *out = xstrdup("");
        _cleanup_free_ char *p = xprintf("%s/%s", d->dir, RESET_CURRENT);
        char *save = NULL;

        if (!offered)
                return -ENOENT; /* no attribute: no reset offered */
        if (streq(v, "default")) {
                write_file(f, p, offered);
                return 0;
        }
        for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
                _cleanup_free_ char *padded = xprintf(" %s ", offered), *word = xprintf(" %s ", w);
                _cleanup_free_ char *seen = xprintf(" %s ", out);
                char *more;

                if (!strstr(padded, word) || strstr(seen, word))
                        return -EINVAL;
                more = *out ? xprintf("%s %s", out, w) : xstrdup(w);
                free(out);
                out = more;
        }
        write_file(f, p, out);
        return 0;
}

void fake_sysfs_set_reset_methods(FakeSysfs *f, const char *address, const char *offered) {
        FakeDev *d = get_dev(f, address);
        _cleanup_free_ char *a = xprintf("%s/%s", d->dir, RESET_OFFERED);
        _cleanup_free_ char *b = xprintf("%s/%s", d->dir, RESET_CURRENT);

        write_file(f, a, offered);
        write_file(f, b, offered);
        render_reset_method(f, d);
}

char *fake_sysfs_reset_method_of(FakeSysfs *f, const char *address) {
        return dev_read(f, get_dev(f, address), "reset_method");
}

/* Puts the tree in line with the model for one device: driver_override,
 * driver links both ways, the uevent file. */
static void render_device(FakeSysfs *f, FakeDev *d) {
        _cleanup_free_ char *ov = xprintf("%s/driver_override", d->dir);
        _cleanup_free_ char *link = xprintf("%s/driver", d->dir);
        _cleanup_free_ char *ue = xprintf("%s/uevent", d->dir);
        _cleanup_closedir_ DIR *dd = NULL;
        struct dirent *de;
        int fd;

        write_filef(f, ov, "%s\n", d->override ? d->override : "(null)");
        if (d->totalvfs) {
                _cleanup_free_ char *nv = xprintf("%s/sriov_numvfs", d->dir);
                _cleanup_free_ char *ap = xprintf("%s/sriov_drivers_autoprobe", d->dir);
                write_filef(f, nv, "%u\n", d->numvfs);
                write_filef(f, ap, "%d\n", d->autoprobe ? 1 : 0);
        }
        render_reset_method(f, d);

        fd = openat(f->rootfd, "bus/pci/drivers", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        FAKE_ASSERT(fd >= 0, "open bus/pci/drivers: %m");
        dd = fdopendir(fd);
        FAKE_ASSERT(dd, "fdopendir: %m");
        while ((de = readdir(dd))) {
                _cleanup_free_ char *back = NULL;

                if (de->d_name[0] == '.')
                        continue;
                back = xprintf("bus/pci/drivers/%s/%s", de->d_name, d->address);
                if (d->driver && streq(d->driver, de->d_name))
                        symlink_rel(f, back, d->dir);
                else
                        unlink_rel(f, back);
        }
        if (d->driver) {
                _cleanup_free_ char *target = xprintf("bus/pci/drivers/%s", d->driver);
                symlink_rel(f, link, target);
        } else
                unlink_rel(f, link);

        {
                _cleanup_free_ char *drv = d->driver ? xprintf("DRIVER=%s\n", d->driver) : xstrdup("");
                write_filef(f, ue, "%sPCI_SLOT_NAME=%s\n", drv, d->address);
        }
}

/* Write-only attributes read back empty: bus/pci/drivers_probe and every
 * driver's bind, unbind, new_id, remove_id. */
static void render_write_only(FakeSysfs *f) {
        _cleanup_closedir_ DIR *dd = NULL;
        struct dirent *de;
        int fd;


        write_file(f, "bus/pci/drivers_probe", "");
        fd = openat(f->rootfd, "bus/pci/drivers", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        FAKE_ASSERT(fd >= 0, "open bus/pci/drivers: %m");
        dd = fdopendir(fd);
        FAKE_ASSERT(dd, "fdopendir: %m");
        while ((de = readdir(dd))) {
                if (de->d_name[0] == '.')
                        continue;
                fake_sysfs_add_driver(f, de->d_name);
        }
}

static void render_all(FakeSysfs *f) {
        for (size_t i = 0; i < f->n_devs; i++)
                render_device(f, &f->devs[i]);
        render_write_only(f);
}

void fake_sysfs_remove_driver(FakeSysfs *f, const char *name) {
        _cleanup_free_ char *dir = xprintf("bus/pci/drivers/%s", name);
        _cleanup_strv_free_ char **pfs = NULL;
        int fd;

        for (size_t i = 0; i < f->n_devs; i++)
                if (streq_ptr(f->devs[i].driver, name) && f->devs[i].numvfs && !f->devs[i].keep_vfs)
                        FAKE_ASSERT(strv_extend(&pfs, f->devs[i].address) == 0, "oom");
        for (char **a = pfs; a && *a; a++)
                pf_remove_vfs(f, *a);
        for (size_t i = 0; i < f->n_devs; i++)
                if (streq_ptr(f->devs[i].driver, name)) {
                        free(f->devs[i].driver);
                        f->devs[i].driver = NULL;
                }
        render_all(f);
        check_rel(dir);
        fd = openat(f->rootfd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        FAKE_ASSERT(fd >= 0, "open %s: %m", dir);
        remove_tree_at(fd);
        close(fd);
        FAKE_ASSERT(unlinkat(f->rootfd, dir, AT_REMOVEDIR) == 0, "rmdir %s: %m", dir);
}

static void parse_address(const char *address, unsigned *domain, unsigned *bus) {
        unsigned slot, fn;
        int n = -1;

        FAKE_ASSERT(sscanf(address, "%4x:%2x:%2x.%1x%n", domain, bus, &slot, &fn, &n) == 4 &&
                    n == (int) strlen(address) && strlen(address) == 12,
                    "bad address '%s' (want 0000:00:00.0)", address);
}

void fake_sysfs_add_device(FakeSysfs *f, const FakeDevice *in) {
        unsigned domain, bus;
        uint32_t class = in->class ? in->class : (in->bridge ? 0x060400 : 0x020000);
        uint8_t config[256] = {};
        FakeDev *d;
        _cleanup_free_ char *p = NULL;

        parse_address(in->address, &domain, &bus);
        FAKE_ASSERT(!find_dev(f, in->address), "device %s added twice", in->address);

        f->devs = xrealloc(f->devs, f->n_devs + 1, sizeof(FakeDev));
        d = &f->devs[f->n_devs++];
        *d = (FakeDev) {
                .address = xstrdup(in->address),
                .driver = xstrdup(in->driver),
                .host_driver = xstrdup(in->host_driver ? in->host_driver : in->driver),
                .initial = xstrdup(in->driver),
                .override = xstrdup(in->driver_override),
                .bridge = in->bridge,
                .group = f->iommu ? in->group : -1,
                .totalvfs = in->sriov_totalvfs,
                .autoprobe = true,
                .keep_vfs = in->sriov_keep_vfs_on_unbind,
                .vendor = in->vendor,
                .vf_device = in->sriov_vf_device ? in->sriov_vf_device : in->device,
                .class = class,
                .vf_driver = xstrdup(in->sriov_vf_driver),
        };
        if (in->parent) {
                FakeDev *parent = get_dev(f, in->parent);
                FAKE_ASSERT(parent->bridge, "parent %s of %s is not a bridge", in->parent, in->address);
                d->dir = xprintf("%s/%s", parent->dir, in->address);
        } else
                d->dir = xprintf("devices/pci%04x:%02x/%s", domain, bus, in->address);
        mkdir_p(f, d->dir);

#define ATTR(name, ...)                                                 \
        do {                                                            \
                _cleanup_free_ char *_p = xprintf("%s/%s", d->dir, name); \
                write_filef(f, _p, __VA_ARGS__);                        \
        } while (0)
        ATTR("vendor", "0x%04x\n", in->vendor);
        ATTR("device", "0x%04x\n", in->device);
        ATTR("subsystem_vendor", "0x%04x\n", in->subsystem_vendor);
        ATTR("subsystem_device", "0x%04x\n", in->subsystem_device);
        ATTR("class", "0x%06x\n", class);
        ATTR("revision", "0x00\n");
        ATTR("enable", "1\n");
        ATTR("irq", "16\n");
        ATTR("numa_node", "-1\n");
        ATTR("modalias", "pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X\n",
             in->vendor, in->device, in->subsystem_vendor, in->subsystem_device,
             (class >> 16) & 0xff, (class >> 8) & 0xff, class & 0xff);
        if (in->boot_vga || (class >> 16) == 0x03)
                ATTR("boot_vga", "%d\n", in->boot_vga ? 1 : 0);
        ATTR("remove", "%s", "");
        ATTR("rescan", "%s", "");
        ATTR("reset", "%s", "");
        if (in->sriov_totalvfs) {
                ATTR("sriov_totalvfs", "%u\n", in->sriov_totalvfs);
                ATTR("sriov_offset", "1\n");
                ATTR("sriov_stride", "1\n");
                ATTR("sriov_vf_device", "%04x\n", d->vf_device);
        }
#undef ATTR

        config[0x00] = in->vendor & 0xff;
        config[0x01] = in->vendor >> 8;
        config[0x02] = in->device & 0xff;
        config[0x03] = in->device >> 8;
        config[0x04] = 0x06; /* memory + bus master */
        config[0x06] = 0x10; /* capabilities list */
        config[0x09] = class & 0xff;
        config[0x0a] = (class >> 8) & 0xff;
        config[0x0b] = (class >> 16) & 0xff;
        config[0x0e] = in->bridge ? 0x01 : 0x00;
        if (in->bridge) {
                config[0x18] = (uint8_t) bus;
                config[0x19] = (uint8_t) (bus + 1);
                config[0x1a] = (uint8_t) (bus + 1);
        } else {
                config[0x2c] = in->subsystem_vendor & 0xff;
                config[0x2d] = in->subsystem_vendor >> 8;
                config[0x2e] = in->subsystem_device & 0xff;
                config[0x2f] = in->subsystem_device >> 8;
        }
        p = xprintf("%s/config", d->dir);
        write_file_len(f, p, config, sizeof(config));
        p = mfree(p);

        p = xprintf("%s/subsystem", d->dir);
        symlink_rel(f, p, "bus/pci");
        p = mfree(p);

        p = xprintf("bus/pci/devices/%s", in->address);
        symlink_rel(f, p, d->dir);
        p = mfree(p);

        if (d->group >= 0) {
                _cleanup_free_ char *g = xprintf("kernel/iommu_groups/%d", d->group);
                _cleanup_free_ char *gd = xprintf("%s/devices", g);
                _cleanup_free_ char *gl = xprintf("%s/devices/%s", g, in->address);
                _cleanup_free_ char *gt = xprintf("%s/type", g);
                _cleanup_free_ char *dl = xprintf("%s/iommu_group", d->dir);

                mkdir_p(f, gd);
                write_file(f, gt, "DMA\n");
                symlink_rel(f, gl, d->dir);
                symlink_rel(f, dl, g);
        }

        if (d->driver)
                fake_sysfs_add_driver(f, d->driver);
        render_device(f, d);
        save_model_if(f);
}

static FakeBlock *find_block(FakeSysfs *f, const char *name) {
        for (size_t i = 0; i < f->n_blocks; i++)
                if (streq(f->blocks[i].name, name))
                        return &f->blocks[i];
        return NULL;
}

static void add_block_dir(FakeSysfs *f, const char *dir, const char *name, unsigned major, unsigned minor, int partition) {
        _cleanup_free_ char *p = NULL;

        FAKE_ASSERT(!find_block(f, name), "block device %s added twice", name);
        mkdir_p(f, dir);
        p = xprintf("%s/dev", dir);
        write_filef(f, p, "%u:%u\n", major, minor);
        p = mfree(p);
        p = xprintf("%s/uevent", dir);
        write_filef(f, p, "MAJOR=%u\nMINOR=%u\nDEVNAME=%s\nDEVTYPE=%s\n", major, minor, name,
                    partition ? "partition" : "disk");
        p = mfree(p);
        p = xprintf("%s/size", dir);
        write_file(f, p, "2097152\n");
        p = mfree(p);
        if (partition) {
                p = xprintf("%s/partition", dir);
                write_filef(f, p, "%d\n", partition);
                p = mfree(p);
        }
        p = xprintf("%s/subsystem", dir);
        symlink_rel(f, p, "class/block");
        p = mfree(p);
        p = xprintf("class/block/%s", name);
        symlink_rel(f, p, dir);
        p = mfree(p);
        p = xprintf("dev/block/%u:%u", major, minor);
        symlink_rel(f, p, dir);
        p = mfree(p);
        if (!partition) {
                p = xprintf("block/%s", name);
                symlink_rel(f, p, dir);
                p = mfree(p);
        }

        f->blocks = xrealloc(f->blocks, f->n_blocks + 1, sizeof(FakeBlock));
        f->blocks[f->n_blocks++] = (FakeBlock) { .name = xstrdup(name), .dir = xstrdup(dir) };
}

void fake_sysfs_add_block(FakeSysfs *f, const char *address, const char *name, unsigned major, unsigned minor) {
        FakeDev *d = get_dev(f, address);
        _cleanup_free_ char *dir = NULL;
        unsigned h = f->n_hosts++;

        FAKE_ASSERT(*name && !strchr(name, '/'), "bad block name '%s'", name);
        if (strncmp(name, "nvme", 4) == 0)
                dir = xprintf("%s/nvme/nvme%u/%s", d->dir, h, name);
        else
                dir = xprintf("%s/ata%u/host%u/target%u:0:0/%u:0:0:0/block/%s",
                              d->dir, d->n_children + 1, h, h, h, name);
        d->n_children++;
        add_block_dir(f, dir, name, major, minor, 0);
}

void fake_sysfs_add_partition(FakeSysfs *f, const char *disk, const char *name, unsigned major, unsigned minor) {
        FakeBlock *b = find_block(f, disk);
        _cleanup_free_ char *dir = NULL;
        size_t dl = strlen(disk);
        int n;

        FAKE_ASSERT(b, "no disk %s", disk);
        FAKE_ASSERT(strncmp(name, disk, dl) == 0, "partition %s is not on %s", name, disk);
        n = atoi(name + dl + (name[dl] == 'p'));
        FAKE_ASSERT(n > 0, "partition %s has no number", name);
        dir = xprintf("%s/%s", b->dir, name);
        add_block_dir(f, dir, name, major, minor, n);
}

void fake_sysfs_add_net(FakeSysfs *f, const char *address, const char *ifname, const char *operstate) {
        FakeDev *d = get_dev(f, address);
        _cleanup_free_ char *dir = xprintf("%s/net/%s", d->dir, ifname);
        _cleanup_free_ char *p = NULL;
        bool up = streq(operstate, "up");
        unsigned idx = 2 + f->n_ifindex++;

        mkdir_p(f, dir);
#define NATTR(name, ...)                                                \
        do {                                                            \
                p = xprintf("%s/%s", dir, name);                        \
                write_filef(f, p, __VA_ARGS__);                         \
                free(p);                                                \
                p = NULL;                                               \
        } while (0)
        NATTR("operstate", "%s\n", operstate);
        NATTR("carrier", "%d\n", up ? 1 : 0);
        NATTR("flags", "0x%x\n", up ? 0x1043u : 0x1002u);
        NATTR("ifindex", "%u\n", idx);
        NATTR("address", "52:54:00:12:34:%02x\n", idx & 0xff);
        NATTR("type", "1\n");
        NATTR("uevent", "INTERFACE=%s\nIFINDEX=%u\n", ifname, idx);
#undef NATTR
        p = xprintf("%s/subsystem", dir);
        symlink_rel(f, p, "class/net");
        p = mfree(p);
        p = xprintf("%s/device", dir);
        symlink_rel(f, p, d->dir);
        p = mfree(p);
        p = xprintf("class/net/%s", ifname);
        symlink_rel(f, p, dir);
}

void fake_sysfs_add_vtconsole(FakeSysfs *f, unsigned n, const char *name, bool bound) {
        _cleanup_free_ char *dir = xprintf("devices/virtual/vtconsole/vtcon%u", n);
        _cleanup_free_ char *p = NULL;

        mkdir_p(f, dir);
        p = xprintf("%s/name", dir);
        write_filef(f, p, "%s\n", name);
        p = mfree(p);
        p = xprintf("%s/bind", dir);
        write_filef(f, p, "%d\n", bound ? 1 : 0);
        p = mfree(p);
        p = xprintf("%s/subsystem", dir);
        symlink_rel(f, p, "class/vtconsole");
        p = mfree(p);
        p = xprintf("class/vtconsole/vtcon%u", n);
        symlink_rel(f, p, dir);
}

void fake_sysfs_add_framebuffer(FakeSysfs *f, const char *address, unsigned n) {
        _cleanup_free_ char *dir = NULL;
        _cleanup_free_ char *p = NULL;

        if (address) {
                FakeDev *d = get_dev(f, address);
                dir = xprintf("%s/graphics/fb%u", d->dir, n);
        } else
                dir = xprintf("devices/platform/simple-framebuffer.0/graphics/fb%u", n);
        mkdir_p(f, dir);
        p = xprintf("%s/dev", dir);
        write_filef(f, p, "29:%u\n", n);
        p = mfree(p);
        p = xprintf("%s/name", dir);
        write_file(f, p, address ? "fake drmfb\n" : "simple\n");
        p = mfree(p);
        p = xprintf("%s/subsystem", dir);
        symlink_rel(f, p, "class/graphics");
        p = mfree(p);
        if (address) {
                FakeDev *d = get_dev(f, address);
                p = xprintf("%s/device", dir);
                symlink_rel(f, p, d->dir);
                p = mfree(p);
        }
        p = xprintf("class/graphics/fb%u", n);
        symlink_rel(f, p, dir);
        p = mfree(p);
        p = xprintf("dev/char/29:%u", n);
        symlink_rel(f, p, dir);
}

void fake_sysfs_set_attr(FakeSysfs *f, const char *address, const char *attr, const char *content) {
        FakeDev *d = get_dev(f, address);
        _cleanup_free_ char *p = xprintf("%s/%s", d->dir, attr);

        write_file(f, p, content);
}

void fake_sysfs_set_config_byte(FakeSysfs *f, const char *address, unsigned offset, uint8_t value) {
        FakeDev *d = get_dev(f, address);
        _cleanup_free_ char *p = xprintf("%s/config", d->dir);
        _cleanup_close_ int fd = openat(f->rootfd, p, O_WRONLY | O_CLOEXEC | O_NOCTTY);

        FAKE_ASSERT(fd >= 0, "open %s: %m", p);
        FAKE_ASSERT(offset < 256, "config offset %u out of range", offset);
        FAKE_ASSERT(pwrite(fd, &value, 1, offset) == 1, "write %s: %m", p);
}

char *fake_sysfs_driver_of(FakeSysfs *f, const char *address) {
        FakeDev *d = get_dev(f, address);
        _cleanup_free_ char *link = xprintf("%s/driver", d->dir);
        char buf[PATH_MAX];
        const char *base;
        ssize_t n;

        n = readlinkat(f->rootfd, link, buf, sizeof(buf) - 1);
        if (n < 0) {
                FAKE_ASSERT(errno == ENOENT, "readlink %s: %m", link);
                return NULL;
        }
        buf[n] = '\0';
        base = strrchr(buf, '/');
        return xstrdup(base ? base + 1 : buf);
}

char *fake_sysfs_override_of(FakeSysfs *f, const char *address) {
        FakeDev *d = get_dev(f, address);
        _cleanup_free_ char *p = xprintf("%s/driver_override", d->dir);
        char *s = NULL;
        int r;

        r = read_attr(f->rootfd, p, &s);
        FAKE_ASSERT(r >= 0, "read %s: %s", p, strerror(-r));
        if (streq(s, "(null)") || !*s) {
                free(s);
                return NULL;
        }
        return s;
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t len) {
        const unsigned char *p = data;
        for (size_t i = 0; i < len; i++) {
                h ^= p[i];
                h *= UINT64_C(0x100000001b3);
        }
        return h;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static void digest_dir(FakeSysfs *f, const char *rel, char ***lines) {
        _cleanup_closedir_ DIR *dd = NULL;
        struct dirent *de;
        int fd;

        fd = openat(f->rootfd, *rel ? rel : ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        FAKE_ASSERT(fd >= 0, "open %s: %m", rel);
        dd = fdopendir(fd);
        FAKE_ASSERT(dd, "fdopendir: %m");
        while ((de = readdir(dd))) {
                _cleanup_free_ char *p = NULL;
                struct stat st;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                p = *rel ? xprintf("%s/%s", rel, de->d_name) : xstrdup(de->d_name);
                FAKE_ASSERT(fstatat(f->rootfd, p, &st, AT_SYMLINK_NOFOLLOW) == 0, "stat %s: %m", p);
                if (S_ISDIR(st.st_mode)) {
                        FAKE_ASSERT(strv_push(lines, xprintf("%s/", p)) == 0, "oom");
                        digest_dir(f, p, lines);
                } else if (S_ISLNK(st.st_mode)) {
                        char buf[PATH_MAX];
                        ssize_t n = readlinkat(f->rootfd, p, buf, sizeof(buf) - 1);
                        FAKE_ASSERT(n >= 0, "readlink %s: %m", p);
                        buf[n] = '\0';
                        FAKE_ASSERT(strv_push(lines, xprintf("%s -> %s", p, buf)) == 0, "oom");
                } else {
                        _cleanup_close_ int ffd = openat(f->rootfd, p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                        uint64_t h = UINT64_C(0xcbf29ce484222325);
                        char buf[4096];
                        ssize_t n;

                        FAKE_ASSERT(ffd >= 0, "open %s: %m", p);
                        while ((n = read(ffd, buf, sizeof(buf))) > 0)
                                h = fnv1a(h, buf, (size_t) n);
                        FAKE_ASSERT(n == 0, "read %s: %m", p);
                        FAKE_ASSERT(strv_push(lines, xprintf("%s %jd %016" PRIx64, p,
                                                             (intmax_t) st.st_size, h)) == 0, "oom");
                }
        }
}

char *fake_sysfs_digest(FakeSysfs *f) {
        _cleanup_strv_free_ char **lines = NULL;
        size_t n, len = 1;
        char *r;

        digest_dir(f, "", &lines);
        n = strv_length(lines);
        if (n)
                qsort(lines, n, sizeof(char *), cmp_str);
        for (size_t i = 0; i < n; i++)
                len += strlen(lines[i]) + 1;
        r = malloc(len);
        FAKE_ASSERT(r, "out of memory");
        r[0] = '\0';
        for (size_t i = 0; i < n; i++) {
                strcat(r, lines[i]);
                strcat(r, "\n");
        }
        return r;
}

/* ---- the fake kernel ---- */

void fake_kernel_fail(FakeSysfs *f, const char *address, const char *what, int error, unsigned after_n) {
        FAKE_ASSERT(error > 0, "error must be a positive errno");
        FAKE_ASSERT(streq(what, "driver_override") || streq(what, "unbind") ||
                    streq(what, "drivers_probe") || streq(what, "bind") || streq(what, "sriov_numvfs") ||
                    streq(what, "sriov_drivers_autoprobe") || streq(what, "reset_method"),
                    "unknown step '%s'", what);
        get_dev(f, address);
        f->failures = xrealloc(f->failures, f->n_failures + 1, sizeof(FakeFailure));
        f->failures[f->n_failures++] = (FakeFailure) {
                .address = xstrdup(address),
                .what = xstrdup(what),
                .error = error,
                .after_n = after_n,
        };
}

void fake_kernel_clear_failures(FakeSysfs *f) {
        for (size_t i = 0; i < f->n_failures; i++)
                f->failures[i].done = true;
}

unsigned fake_kernel_failures_triggered(const FakeSysfs *f) {
        return f->triggered;
}

void fake_kernel_set_host_driver(FakeSysfs *f, const char *address, const char *driver) {
        FakeDev *d = get_dev(f, address);
        free(d->host_driver);
        d->host_driver = xstrdup(driver);
        save_model_if(f);
}

unsigned fake_kernel_writes(const FakeSysfs *f) {
        return f->writes;
}

char *const *fake_kernel_log(const FakeSysfs *f) {
        static char *const empty[] = { NULL };
        return f->log ? f->log : empty;
}

unsigned fake_kernel_unknown_writes(const FakeSysfs *f) {
        return f->unknown;
}

void fake_kernel_reset_log(FakeSysfs *f) {
        f->log = strv_free(f->log);
        f->writes = 0;
        f->unknown = 0;
}

/* A driver matches by driver_override alone when one is set (the kernel's
 * pci_match_device), else by its ID table: the host driver, or the driver
 * the device was found on. vfio-pci refuses bridges in its probe. */
static int driver_probe(FakeSysfs *f, FakeDev *d, const char *drv) {
        if (!driver_exists(f, drv))
                return -ENODEV;
        if (d->override ? !streq(d->override, drv)
                        : !(streq_ptr(drv, d->host_driver) || streq_ptr(drv, d->initial)))
                return -ENODEV;
        if (d->bridge && strstr(drv, "vfio"))
                return -EINVAL;
        free(d->driver);
        d->driver = xstrdup(drv);
        return 0;
}

static char *strip_value(const char *value) {
        char *s = xstrdup(value);
        char *nl = strchr(s, '\n');
        if (nl)
                *nl = '\0';
        return s;
}

static bool take_failure(FakeSysfs *f, const char *address, const char *what, int *ret) {
        for (size_t i = 0; i < f->n_failures; i++) {
                FakeFailure *x = &f->failures[i];
                if (x->done || !streq(x->address, address) || !streq(x->what, what))
                        continue;
                if (x->seen++ == x->after_n) {
                        x->done = true;
                        f->triggered++;
                        *ret = -x->error;
                        return true;
                }
        }
        return false;
}

/* ---- SR-IOV ----
 *
 * The kernel's sriov_numvfs_store(): a u16 or -EINVAL; above sriov_totalvfs
 * -ERANGE; the current count changes nothing; without a PF driver that can
 * make VFs -ENOENT; N while VFs exist -EBUSY; 0 removes them all. */

static char *vf_address(const FakeDev *pf, unsigned k) {
        unsigned domain, bus, slot, fn, devfn;

        FAKE_ASSERT(sscanf(pf->address, "%x:%x:%x.%x", &domain, &bus, &slot, &fn) == 4, "bad address %s", pf->address);
        devfn = ((slot << 3) | fn) + 1 + k;
        FAKE_ASSERT(devfn < 256, "VF %u of %s would not fit on its bus", k, pf->address);
        return xprintf("%04x:%02x:%02x.%x", domain, bus, devfn >> 3, devfn & 7);
}

char *fake_sysfs_vf_address(FakeSysfs *f, const char *pf, unsigned k) {
        return vf_address(get_dev(f, pf), k);
}

unsigned fake_sysfs_numvfs(FakeSysfs *f, const char *pf) {
        return get_dev(f, pf)->numvfs;
}

bool fake_sysfs_autoprobe(FakeSysfs *f, const char *pf) {
        return get_dev(f, pf)->autoprobe;
}

/* The bridge a device sits below, or NULL on a root bus. */
static char *parent_address(const FakeDev *d) {
        const char *end = strrchr(d->dir, '/'), *start;

        FAKE_ASSERT(end, "bad device dir %s", d->dir);
        for (start = end; start > d->dir && start[-1] != '/'; start--)
                ;
        if (end - start != 12 || strncmp(start, "pci", 3) == 0)
                return NULL;
        return strndup(start, 12);
}

static int next_group(FakeSysfs *f) {
        int g = 0;

        for (size_t i = 0; i < f->n_devs; i++)
                if (f->devs[i].group >= g)
                        g = f->devs[i].group + 1;
        return g;
}

static void vf_add(FakeSysfs *f, const char *pf_address, unsigned k) {
        FakeDev *pf = get_dev(f, pf_address), *vf;
        _cleanup_free_ char *addr = vf_address(pf, k), *parent = parent_address(pf);
        _cleanup_free_ char *pfdir = xstrdup(pf->dir), *vf_driver = xstrdup(pf->vf_driver);
        _cleanup_free_ char *link = NULL;
        bool autoprobe = pf->autoprobe;
        FakeDevice in = {
                .address = addr,
                .parent = parent,
                .vendor = pf->vendor,
                .device = pf->vf_device,
                .class = pf->class,
                .group = next_group(f),
                .host_driver = vf_driver,
        };

        fake_sysfs_add_device(f, &in); /* moves f->devs: pf is stale from here */
        vf = get_dev(f, addr);
        vf->physfn = xstrdup(pf_address);
        link = xprintf("%s/physfn", vf->dir);
        symlink_rel(f, link, pfdir);
        link = mfree(link);
        link = xprintf("%s/virtfn%u", pfdir, k);
        symlink_rel(f, link, vf->dir);
        if (autoprobe && vf->host_driver)
                (void) driver_probe(f, vf, vf->host_driver);
        render_device(f, vf);
}

static void pf_remove_vfs(FakeSysfs *f, const char *pf_address) {
        unsigned n = get_dev(f, pf_address)->numvfs;

        /* The kernel removes them last first. */
        for (unsigned k = n; k-- > 0;) {
                FakeDev *pf = get_dev(f, pf_address);
                _cleanup_free_ char *addr = vf_address(pf, k);
                _cleanup_free_ char *link = xprintf("%s/virtfn%u", pf->dir, k);

                unlink_rel(f, link);
                if (find_dev(f, addr))
                        fake_sysfs_remove_device(f, addr);
        }
        get_dev(f, pf_address)->numvfs = 0;
        save_model_if(f);
}

static int pf_set_numvfs(FakeSysfs *f, const char *pf_address, const char *v) {
        FakeDev *d = get_dev(f, pf_address);
        unsigned long n;
        char *end;

        errno = 0;
        n = strtoul(v, &end, 0);
        if (!*v || *end || errno || n > 0xffff)
                return -EINVAL;
        if (n > d->totalvfs)
                return -ERANGE;
        if (n == d->numvfs)
                return 0;
        /* No driver, or one without sriov_configure (pci-stub; vfio-pci
         * without enable_sriov answers the same). */
        if (!d->driver || strstr(d->driver, "vfio") || streq(d->driver, "pci-stub"))
                return -ENOENT;
        if (n == 0) {
                pf_remove_vfs(f, pf_address);
                return 0;
        }
        if (d->numvfs)
                return -EBUSY;
        for (unsigned k = 0; k < n; k++)
                vf_add(f, pf_address, k);
        get_dev(f, pf_address)->numvfs = (unsigned) n;
        save_model_if(f);
        return 0;
}

static int pf_set_autoprobe(FakeDev *d, const char *v) {
        if (streq(v, "1") || streq(v, "y") || streq(v, "Y"))
                d->autoprobe = true;
        else if (streq(v, "0") || streq(v, "n") || streq(v, "N"))
                d->autoprobe = false;
        else
                return -EINVAL;
        return 0;
}

/* Splits a write path into (device address or NULL, driver name or NULL,
 * attribute). "bus/pci/devices/A/driver/unbind" is the bound driver's
 * unbind; a path through a device's real directory is the same device. */
static bool parse_path(FakeSysfs *f, const char *path, const char **ret_dev,
                       char **ret_driver, const char **ret_attr) {
        const char *rest = NULL;
        FakeDev *d = NULL;

        *ret_dev = NULL;
        *ret_driver = NULL;
        if (streq(path, "bus/pci/drivers_probe")) {
                *ret_attr = "drivers_probe";
                return true;
        }
        if (strncmp(path, "bus/pci/drivers/", 16) == 0) {
                const char *name = path + 16, *slash = strchr(name, '/');
                if (!slash || strchr(slash + 1, '/'))
                        return false;
                *ret_driver = strndup(name, (size_t) (slash - name));
                FAKE_ASSERT(*ret_driver, "oom");
                *ret_attr = slash + 1;
                return true;
        }
        if (strncmp(path, "bus/pci/devices/", 16) == 0) {
                const char *a = path + 16;
                if (strlen(a) > 13 && a[12] == '/') {
                        char addr[13];
                        memcpy(addr, a, 12);
                        addr[12] = '\0';
                        d = find_dev(f, addr);
                        rest = a + 13;
                }
        } else {
                for (size_t i = 0; i < f->n_devs; i++) {
                        size_t l = strlen(f->devs[i].dir);
                        if (strncmp(path, f->devs[i].dir, l) == 0 && path[l] == '/') {
                                d = &f->devs[i];
                                rest = path + l + 1;
                        }
                }
        }
        if (!d)
                return false;
        if (strncmp(rest, "driver/", 7) == 0) {
                if (!d->driver)
                        return false;
                *ret_driver = xstrdup(d->driver);
                *ret_attr = rest + 7;
                return true;
        }
        *ret_dev = d->address;
        *ret_attr = rest;
        return true;
}

int fake_kernel_hook(void *userdata, const char *path, const char *value) {
        FakeSysfs *f = userdata;
        _cleanup_free_ char *driver = NULL;
        _cleanup_free_ char *v = strip_value(value);
        const char *dev_addr, *attr, *what, *target;
        FakeDev *d = NULL;
        int r = 0;

        f->writes++;
        FAKE_ASSERT(strv_push(&f->log, xprintf("%s=%s", path, v)) == 0, "oom");

        if (!parse_path(f, path, &dev_addr, &driver, &attr))
                goto unknown;

        if (dev_addr && (streq(attr, "driver_override") || streq(attr, "sriov_numvfs") ||
                         streq(attr, "sriov_drivers_autoprobe"))) {
                what = attr;
                target = dev_addr;
        } else if (dev_addr && streq(attr, "reset_method")) {
                what = "reset_method";
                target = dev_addr;
        } else if (!dev_addr && (streq(attr, "unbind") || streq(attr, "bind") ||
                                 streq(attr, "drivers_probe"))) {
                what = attr;
                target = v;
        } else
                goto unknown;

        d = find_dev(f, target);
        if (!d) {
                r = -ENODEV;
                goto done;
        }
        if (take_failure(f, d->address, what, &r))
                goto done;

        if (streq(what, "sriov_numvfs")) {
                _cleanup_free_ char *a = xstrdup(d->address);
                r = pf_set_numvfs(f, a, v);
                d = get_dev(f, a);
        } else if (streq(what, "sriov_drivers_autoprobe")) {
                r = pf_set_autoprobe(d, v);
        } else if (streq(what, "reset_method")) {
                r = store_reset_method(f, d, v);
        } else if (streq(what, "driver_override")) {
                if (strlen(value) >= 4095) {
                        r = -EINVAL;
                        goto done;
                }
                free(d->override);
                d->override = *v ? xstrdup(v) : NULL;
        } else if (streq(what, "unbind")) {
                if (!streq_ptr(d->driver, driver)) {
                        r = -ENODEV;
                        goto done;
                }
                if (d->numvfs && !d->keep_vfs) {
                        /* Most PF drivers disable SR-IOV in their remove(). */
                        _cleanup_free_ char *a = xstrdup(d->address);
                        pf_remove_vfs(f, a);
                        d = get_dev(f, a);
                }
                free(d->driver);
                d->driver = NULL;
        } else if (streq(what, "bind")) {
                if (d->driver) {
                        r = -EBUSY;
                        goto done;
                }
                r = driver_probe(f, d, driver);
        } else if (!d->driver) { /* drivers_probe: an unmatched device stays unbound */
                if (d->override)
                        (void) driver_probe(f, d, d->override);
                else if (driver_probe(f, d, d->host_driver) < 0)
                        (void) driver_probe(f, d, d->initial);
        }

done:
        /* A write changes at most the device it names: render that one (and
         * the write-only files), not the whole tree, so that a claim costs
         * the same with 16 devices as with 1024. */
        if (d)
                render_device(f, d);
        render_write_only(f);
        return r;

unknown:
        f->unknown++;
        fprintf(stderr, "fake-kernel: no meaning for write '%s' = '%s'\n", path, v);
        render_all(f);
        return 0;
}

/* ---- the model on disk, for a fake kernel in another process ----
 *
 * The tree says most of what the fake kernel needs (links, overrides,
 * config space); what it cannot say — which driver a probe binds when no
 * override is set, and which driver a device was found on — goes into a
 * small file beside it. fake_sysfs_load() rebuilds a model from both, so the
 * LD_PRELOAD fake kernel inside vfptd and the test outside it can take turns
 * changing the same tree, each under fake_sysfs_lock(). */

static const char *dash(const char *s) {
        return s ? s : "-";
}

static char *undash(const char *s) {
        return streq(s, "-") ? NULL : xstrdup(s);
}

static void save_model(FakeSysfs *f) {
        _cleanup_free_ char *text = xprintf("# fake-sysfs model: what the tree itself cannot say\niommu %d\n",
                                            f->iommu ? 1 : 0);

        for (size_t i = 0; i < f->n_devs; i++) {
                const FakeDev *d = &f->devs[i];
                char *more = xprintf("%sdevice %s host=%s initial=%s\n", text, d->address,
                                     dash(d->host_driver), dash(d->initial));
                free(text);
                text = more;
                if (!d->totalvfs)
                        continue;
                more = xprintf("%ssriov %s total=%u vendor=%04x vfdev=%04x class=%06x keep=%d vfdrv=%s\n", text,
                               d->address, d->totalvfs, d->vendor, d->vf_device, (unsigned) d->class,
                               d->keep_vfs ? 1 : 0, dash(d->vf_driver));
                free(text);
                text = more;
        }
        write_file(f, FAKE_SYSFS_MODEL_FILE ".tmp", text);
        FAKE_ASSERT(renameat(f->rootfd, FAKE_SYSFS_MODEL_FILE ".tmp", f->rootfd, FAKE_SYSFS_MODEL_FILE) == 0,
                    "rename %s: %m", FAKE_SYSFS_MODEL_FILE);
}

static void save_model_if(FakeSysfs *f) {
        if (f->persist)
                save_model(f);
}

void fake_sysfs_save_model(FakeSysfs *f) {
        _cleanup_close_ int fd = -1;

        f->persist = true;
        save_model(f);
        /* Made now, so that the tree does not change when a lock is first taken. */
        fd = openat(f->rootfd, FAKE_SYSFS_LOCK_FILE, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
        FAKE_ASSERT(fd >= 0, "create %s: %m", FAKE_SYSFS_LOCK_FILE);
}

int fake_sysfs_lock(const char *root) {
        _cleanup_free_ char *p = xprintf("%s/%s", root, FAKE_SYSFS_LOCK_FILE);
        int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);

        FAKE_ASSERT(fd >= 0, "open %s: %m", p);
        while (flock(fd, LOCK_EX) < 0)
                FAKE_ASSERT(errno == EINTR, "flock %s: %m", p);
        return fd;
}

void fake_sysfs_unlock(int fd) {
        if (fd >= 0)
                close(fd);
}

typedef struct ModelEntry {
        char *address, *host, *initial;
        bool sriov; /* a "sriov" line: the rest below, not host/initial */
        unsigned total, vendor, vfdev, class;
        int keep;
        char *vfdrv;
} ModelEntry;

/* Reads the model file; returns -1/0/1 for "no file"/iommu off/on. */
static int read_model(FakeSysfs *f, ModelEntry **ret, size_t *ret_n) {
        _cleanup_close_ int fd = openat(f->rootfd, FAKE_SYSFS_MODEL_FILE, O_RDONLY | O_CLOEXEC);
        FILE *in;
        char *line = NULL;
        size_t cap = 0;
        int iommu = -1;

        *ret = NULL;
        *ret_n = 0;
        if (fd < 0) {
                FAKE_ASSERT(errno == ENOENT, "open %s: %m", FAKE_SYSFS_MODEL_FILE);
                return -1;
        }
        in = fdopen(fd, "re");
        FAKE_ASSERT(in, "fdopen: %m");
        fd = -1;
        while (getline(&line, &cap, in) >= 0) {
                char a[64], h[256], i[256];
                int on;

                if (sscanf(line, "iommu %d", &on) == 1)
                        iommu = on ? 1 : 0;
                else if (sscanf(line, "device %63s host=%255s initial=%255s", a, h, i) == 3) {
                        *ret = xrealloc(*ret, *ret_n + 1, sizeof(ModelEntry));
                        (*ret)[(*ret_n)++] = (ModelEntry) { xstrdup(a), undash(h), undash(i) };
                } else {
                        ModelEntry e = { .sriov = true };
                        if (sscanf(line, "sriov %63s total=%u vendor=%x vfdev=%x class=%x keep=%d vfdrv=%255s", a,
                                   &e.total, &e.vendor, &e.vfdev, &e.class, &e.keep, h) != 7)
                                continue;
                        e.address = xstrdup(a);
                        e.vfdrv = undash(h);
                        *ret = xrealloc(*ret, *ret_n + 1, sizeof(ModelEntry));
                        (*ret)[(*ret_n)++] = e;
                }
        }
        free(line);
        fclose(in);
        return iommu;
}

static char *read_link_name(FakeSysfs *f, const char *rel) {
        char buf[PATH_MAX];
        const char *base;
        ssize_t n = readlinkat(f->rootfd, rel, buf, sizeof(buf) - 1);

        if (n < 0)
                return NULL;
        buf[n] = '\0';
        base = strrchr(buf, '/');
        return xstrdup(base ? base + 1 : buf);
}

/* One device as the tree shows it; false when it is not all there. */
static bool load_device(FakeSysfs *f, const char *address, const ModelEntry *model, size_t n_model, FakeDev *ret) {
        _cleanup_free_ char *link = xprintf("%s/bus/pci/devices/%s", f->root, address);
        _cleanup_free_ char *real = realpath(link, NULL);
        _cleanup_free_ char *p = NULL, *override = NULL, *group = NULL;
        _cleanup_close_ int cfd = -1;
        size_t rl = strlen(f->root);
        uint8_t header;
        FakeDev d = {};

        if (!real || strncmp(real, f->root, rl) != 0 || real[rl] != '/')
                return false;
        d.dir = xstrdup(real + rl + 1);
        p = xprintf("%s/driver_override", d.dir);
        if (read_attr(f->rootfd, p, &override) < 0)
                goto partial;
        p = mfree(p);
        p = xprintf("%s/config", d.dir);
        cfd = openat(f->rootfd, p, O_RDONLY | O_CLOEXEC);
        if (cfd < 0 || pread(cfd, &header, 1, 0x0e) != 1)
                goto partial;
        p = mfree(p);
        p = xprintf("%s/driver", d.dir);
        d.driver = read_link_name(f, p);
        p = mfree(p);
        p = xprintf("%s/iommu_group", d.dir);
        group = read_link_name(f, p);

        d.address = xstrdup(address);
        d.override = streq(override, "(null)") || !*override ? NULL : xstrdup(override);
        d.bridge = (header & 0x7f) == 1 || (header & 0x7f) == 2;
        d.group = group ? atoi(group) : -1;
        d.host_driver = xstrdup(d.driver);
        d.initial = xstrdup(d.driver);
        p = mfree(p);
        p = xprintf("%s/physfn", d.dir);
        d.physfn = read_link_name(f, p);
        for (size_t i = 0; i < n_model; i++)
                if (streq(model[i].address, address) && model[i].sriov) {
                        _cleanup_free_ char *nv = NULL, *ap = NULL;

                        d.totalvfs = model[i].total;
                        d.vendor = (uint16_t) model[i].vendor;
                        d.vf_device = (uint16_t) model[i].vfdev;
                        d.class = model[i].class;
                        d.keep_vfs = model[i].keep;
                        d.vf_driver = xstrdup(model[i].vfdrv);
                        p = mfree(p);
                        p = xprintf("%s/sriov_numvfs", d.dir);
                        if (read_attr(f->rootfd, p, &nv) >= 0)
                                d.numvfs = (unsigned) strtoul(nv, NULL, 10);
                        p = mfree(p);
                        p = xprintf("%s/sriov_drivers_autoprobe", d.dir);
                        d.autoprobe = read_attr(f->rootfd, p, &ap) < 0 || !streq(ap, "0");
                } else if (streq(model[i].address, address)) {
                        free(d.host_driver);
                        free(d.initial);
                        d.host_driver = xstrdup(model[i].host);
                        d.initial = xstrdup(model[i].initial);
                }
        *ret = d;
        return true;

partial:
        free(d.dir);
        free(d.driver);
        return false;
}

/* Parents before children: parse_path() takes the last, longest match. */
static int cmp_dev(const void *a, const void *b) {
        const FakeDev *x = a, *y = b;
        size_t lx = strlen(x->dir), ly = strlen(y->dir);

        if (lx != ly)
                return lx < ly ? -1 : 1;
        return strcmp(x->address, y->address);
}

static void clear_devs(FakeSysfs *f) {
        for (size_t i = 0; i < f->n_devs; i++) {
                free(f->devs[i].address);
                free(f->devs[i].dir);
                free(f->devs[i].driver);
                free(f->devs[i].host_driver);
                free(f->devs[i].initial);
                free(f->devs[i].override);
                free(f->devs[i].vf_driver);
                free(f->devs[i].physfn);
        }
        f->devs = mfree(f->devs);
        f->n_devs = 0;
        for (size_t i = 0; i < f->n_blocks; i++) {
                free(f->blocks[i].name);
                free(f->blocks[i].dir);
        }
        f->blocks = mfree(f->blocks);
        f->n_blocks = 0;
}

void fake_sysfs_reload(FakeSysfs *f) {
        _cleanup_closedir_ DIR *dd = NULL;
        ModelEntry *model;
        size_t n_model;
        struct dirent *de;
        int iommu, fd;

        clear_devs(f);
        iommu = read_model(f, &model, &n_model);
        fd = openat(f->rootfd, "bus/pci/devices", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        FAKE_ASSERT(fd >= 0, "open bus/pci/devices: %m");
        dd = fdopendir(fd);
        FAKE_ASSERT(dd, "fdopendir: %m");
        while ((de = readdir(dd))) {
                FakeDev d;

                if (de->d_name[0] == '.' || !load_device(f, de->d_name, model, n_model, &d))
                        continue;
                f->devs = xrealloc(f->devs, f->n_devs + 1, sizeof(FakeDev));
                f->devs[f->n_devs++] = d;
        }
        if (f->n_devs > 1)
                qsort(f->devs, f->n_devs, sizeof(FakeDev), cmp_dev);
        if (iommu < 0) {
                iommu = 0;
                for (size_t i = 0; i < f->n_devs; i++)
                        if (f->devs[i].group >= 0)
                                iommu = 1;
        }
        f->iommu = iommu;
        for (size_t i = 0; i < n_model; i++) {
                free(model[i].address);
                free(model[i].host);
                free(model[i].initial);
                free(model[i].vfdrv);
        }
        free(model);
}

FakeSysfs *fake_sysfs_load(const char *root) {
        FakeSysfs *f = calloc(1, sizeof(*f));
        char *real = realpath(root, NULL);

        FAKE_ASSERT(f, "out of memory");
        FAKE_ASSERT(real, "realpath %s: %m", root);
        FAKE_ASSERT(!streq(real, "/sys") && strncmp(real, "/sys/", 5) != 0 && !streq(real, "/"),
                    "refusing tree root '%s'", real);
        f->root = real;
        f->rootfd = open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        FAKE_ASSERT(f->rootfd >= 0, "open %s: %m", real);
        f->persist = true;
        fake_sysfs_reload(f);
        return f;
}

/* Symlinks in dir (relative to the root) that point into the device's directory. */
static void unlink_links_into(FakeSysfs *f, const char *dir, const char *address) {
        _cleanup_closedir_ DIR *dd = NULL;
        _cleanup_free_ char *inner = xprintf("/%s/", address), *tail = xprintf("/%s", address);
        struct dirent *de;
        int fd = openat(f->rootfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0)
                return;
        dd = fdopendir(fd);
        FAKE_ASSERT(dd, "fdopendir: %m");
        while ((de = readdir(dd))) {
                _cleanup_free_ char *p = NULL;
                char buf[PATH_MAX];
                ssize_t n;
                size_t tl = strlen(tail);

                if (de->d_name[0] == '.')
                        continue;
                p = xprintf("%s/%s", dir, de->d_name);
                n = readlinkat(f->rootfd, p, buf, sizeof(buf) - 1);
                if (n < 0)
                        continue;
                buf[n] = '\0';
                if (strstr(buf, inner) || ((size_t) n >= tl && streq(buf + n - tl, tail)))
                        unlink_rel(f, p);
        }
}

void fake_sysfs_remove_device(FakeSysfs *f, const char *address) {
        static const char *const classes[] = { "class/net", "class/block", "class/graphics", "block",
                                                "dev/block", "dev/char" };
        FakeDev *d = get_dev(f, address);
        size_t l = strlen(d->dir), idx = (size_t) (d - f->devs);
        _cleanup_free_ char *p = NULL;
        int fd;

        for (size_t i = 0; i < f->n_devs; i++)
                FAKE_ASSERT(!(strncmp(f->devs[i].dir, d->dir, l) == 0 && f->devs[i].dir[l] == '/'),
                            "remove %s (below %s) first", f->devs[i].address, address);
        if (d->driver) {
                p = xprintf("bus/pci/drivers/%s/%s", d->driver, address);
                unlink_rel(f, p);
                p = mfree(p);
        }
        p = xprintf("bus/pci/devices/%s", address);
        unlink_rel(f, p);
        p = mfree(p);
        if (d->group >= 0) {
                _cleanup_free_ char *gdir = xprintf("kernel/iommu_groups/%d", d->group);
                _cleanup_free_ char *gdev = xprintf("%s/devices", gdir);
                _cleanup_free_ char *gtype = xprintf("%s/type", gdir);

                p = xprintf("%s/%s", gdev, address);
                unlink_rel(f, p);
                p = mfree(p);
                /* The kernel frees a group with its last device. */
                if (unlinkat(f->rootfd, gdev, AT_REMOVEDIR) == 0) {
                        unlink_rel(f, gtype);
                        FAKE_ASSERT(unlinkat(f->rootfd, gdir, AT_REMOVEDIR) == 0, "rmdir %s: %m", gdir);
                } else
                        FAKE_ASSERT(errno == ENOTEMPTY || errno == EEXIST, "rmdir %s: %m", gdev);
        }
        for (size_t i = 0; i < ELEMENTSOF(classes); i++)
                unlink_links_into(f, classes[i], address);
        for (size_t i = 0; i < f->n_blocks;) {
                if (strncmp(f->blocks[i].dir, d->dir, l) == 0 && f->blocks[i].dir[l] == '/') {
                        free(f->blocks[i].name);
                        free(f->blocks[i].dir);
                        f->blocks[i] = f->blocks[--f->n_blocks];
                } else
                        i++;
        }

        check_rel(d->dir);
        fd = openat(f->rootfd, d->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        FAKE_ASSERT(fd >= 0, "open %s: %m", d->dir);
        remove_tree_at(fd);
        close(fd);
        FAKE_ASSERT(unlinkat(f->rootfd, d->dir, AT_REMOVEDIR) == 0, "rmdir %s: %m", d->dir);

        free(d->address);
        free(d->dir);
        free(d->driver);
        free(d->host_driver);
        free(d->initial);
        free(d->override);
        free(d->vf_driver);
        free(d->physfn);
        memmove(&f->devs[idx], &f->devs[idx + 1], (f->n_devs - idx - 1) * sizeof(FakeDev));
        f->n_devs--;
        save_model_if(f);
}

int fake_kernel_store(FakeSysfs *f, const char *path, const char *value) {
        _cleanup_close_ int fd = -1;
        size_t len = strlen(value);

        check_rel(path);
        fd = openat(f->rootfd, path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
        FAKE_ASSERT(fd >= 0, "open %s: %m", path);
        FAKE_ASSERT(write(fd, value, len) == (ssize_t) len, "write %s: %m", path);
        return fake_kernel_hook(f, path, value);
}

bool fake_sysfs_has_device(FakeSysfs *f, const char *address) {
        return find_dev(f, address) != NULL;
}
