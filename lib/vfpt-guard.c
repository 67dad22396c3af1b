/* vfpt-guard.c — the in-use guards (DESIGN.md section 4): find the PCI
 * devices the host itself depends on — disks behind mounted filesystems and
 * active swap, network interfaces that carry traffic, the boot console — and
 * mark them in a snapshot, so that the planner can refuse a rule that would
 * take them away.
 *
 * Everything is read, nothing is written: sysfs relative to the VfptSysfs
 * root (which may be a test tree) and the proc files under
 * VfptGuardSources.proc_root. A device is marked through the kernel's own
 * device paths: a class/block or class/net entry is a symlink into
 * devices/pci0000:00/.../DDDD:BB:SS.F/..., and the last PCI address on that
 * path is the endpoint that carries it (bridges above it are never claimed,
 * so they need no mark). Stacked devices (dm, md, bridges, bonds, VLANs) pass
 * the mark down to what they are built on.
 *
 * What cannot be seen is said, in VfptDevice.unchecked, rather than taken
 * as "not in use": early in boot a storage controller without a driver has
 * no disks to look at yet. */
#include <ctype.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>

#include "vfpt-guard.h"
#include "vfpt-names.h"
#include "vfpt-util.h"

#define VFPT_SYSFS_CLASS_GRAPHICS "class/graphics"

/* How many names a reason lists before it says "(+N more)". */
#define LIST_MAX 3
/* Stacks deeper than this are a loop in a broken (or fake) tree. */
#define STACK_DEPTH_MAX 16

typedef enum HolderKind {
        HOLDER_MOUNT,
        HOLDER_SWAP,
} HolderKind;

/* Something that keeps a block device busy: a mount or a swap area. */
typedef struct Holder {
        HolderKind kind;
        char *label;        /* mount point, or swap file; NULL for a swap partition */
        dev_t devs[2];      /* the block devices it names, by number */
        size_t n_devs;
        char *name;         /* basename of a "/dev/..." source, matched by name */
} Holder;

typedef struct BlockDev {
        char *name;         /* "sda2", "dm-0" */
        dev_t dev;
        bool has_dev;
        char *dm_name;      /* dm/name, so that /dev/mapper/NAME can be matched */
        ssize_t pci;        /* index into the snapshot, -1 when not on PCI */
        char **slaves;      /* what a dm or md device is built on */
} BlockDev;

typedef struct NetIf {
        char *name;
        ssize_t pci;
        bool up;
        char **lowers;      /* ports of a bridge or bond, the link of a VLAN, ... */
} NetIf;

/* What the guards found out about one snapshot device. */
typedef struct DeviceUse {
        char **mounts;        /* mount points, distinct, in mountinfo order */
        char **mount_blocks;  /* the block devices behind them */
        char **swap_files;
        char **swap_blocks;
        char **reasons;       /* other reasons, whole sentences */
        char **unchecked;
        bool has_block;       /* carries a block device at all */
} DeviceUse;

typedef struct Guard {
        VfptSnapshot *snap;
        int rootfd;
        const char *proc_root;
        bool real_proc;       /* proc_root is this machine's /proc, so /dev is too */
        bool use_getifaddrs;
        DeviceUse *uses;      /* one per snapshot device */
} Guard;

/* --- small helpers --- */

static int grow(void **p, size_t *n_alloc, size_t need, size_t size) {
        size_t n;
        void *m;

        if (need <= *n_alloc)
                return 0;
        n = *n_alloc ? *n_alloc * 2 : 8;
        if (n < need)
                n = need;
        m = realloc(*p, n * size);
        if (!m)
                return -ENOMEM;
        *p = m;
        *n_alloc = n;
        return 0;
}

/* Adds s to a list of distinct strings. */
static int strv_add_unique(char ***l, const char *s) {
        if (strv_contains(*l, s))
                return 0;
        return strv_extend(l, s);
}

static char *strv_join(char *const *l, const char *sep) {
        size_t len = 1, k = strlen(sep);
        char *s, *p;

        for (char *const *i = l; i && *i; i++)
                len += strlen(*i) + k;
        s = malloc(len);
        if (!s)
                return NULL;
        p = s;
        for (char *const *i = l; i && *i; i++) {
                if (i != l)
                        p = stpcpy(p, sep);
                p = stpcpy(p, *i);
        }
        *p = '\0';
        return s;
}

/* "a, b, c (+2 more)" */
static char *format_list(char *const *l) {
        size_t n = strv_length(l);
        _cleanup_free_ char *head = NULL;
        char *shown[LIST_MAX + 1] = { NULL };

        for (size_t i = 0; i < n && i < LIST_MAX; i++)
                shown[i] = l[i];
        head = strv_join(shown, ", ");
        if (!head)
                return NULL;
        if (n <= LIST_MAX)
                return TAKE_PTR(head);
        return strdup_printf("%s (+%zu more)", head, n - LIST_MAX);
}

/* The kernel escapes ' ', '\t', '\n' and '\\' in mountinfo and swaps as
 * "\ooo". */
static void unescape_octal(char *s) {
        char *w = s;

        for (const char *r = s; *r; ) {
                if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' &&
                    r[2] >= '0' && r[2] <= '7' && r[3] >= '0' && r[3] <= '7') {
                        *w++ = (char) (((r[1] - '0') << 6) | ((r[2] - '0') << 3) | (r[3] - '0'));
                        r += 4;
                } else
                        *w++ = *r++;
        }
        *w = '\0';
}

static const char *basename_of(const char *path) {
        const char *b = strrchr(path, '/');
        return b ? b + 1 : path;
}

static bool startswith(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int parse_devnum(const char *s, dev_t *ret) {
        unsigned maj, min;
        int n = 0;

        if (sscanf(s, "%u:%u%n", &maj, &min, &n) != 2 || s[n])
                return -EINVAL;
        *ret = makedev(maj, min);
        return 0;
}

static FILE *proc_open(const Guard *g, const char *name, int *ret_errno) {
        _cleanup_free_ char *path = NULL;
        FILE *f;

        path = strdup_printf("%s/%s", g->proc_root, name);
        if (!path) {
                *ret_errno = ENOMEM;
                return NULL;
        }
        f = fopen(path, "re");
        *ret_errno = f ? 0 : errno;
        return f;
}

static int opendir_at(int dirfd, const char *path, DIR **ret) {
        _cleanup_close_ int fd = -1;
        DIR *d;

        fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d)
                return -errno;
        fd = -1; /* owned by d now */
        *ret = d;
        return 0;
}

static bool dot_or_dotdot(const char *s) {
        return streq(s, ".") || streq(s, "..");
}

/* "0000:03:00.0", exactly the form sysfs uses for a PCI device directory;
 * "pci0000:00" (a root bus), "0:0:0:0" (SCSI) or "2-1:1.0" (USB) are not. */
static bool is_pci_component(const char *s, size_t len) {
        static const char form[] = "xxxx:xx:xx.x";

        if (len != sizeof(form) - 1)
                return false;
        for (size_t i = 0; i < len; i++)
                if (form[i] == 'x' ? !isxdigit((unsigned char) s[i]) : s[i] != form[i])
                        return false;
        return true;
}

static ssize_t snapshot_index(const VfptSnapshot *snap, const VfptAddress *a) {
        for (size_t i = 0; i < snap->n_devices; i++)
                if (vfpt_address_compare(&snap->devices[i].address, a) == 0)
                        return (ssize_t) i;
        return -1;
}

/* Resolves the symlink dir/name (both relative to the sysfs root) textually
 * and returns the snapshot index of the last PCI address on the resolved
 * path: the endpoint that carries the device. -1 when it is not on PCI, not
 * a link, or gone. Only textual: sysfs links are relative and point into
 * devices/, which has no further links on the way. */
static int link_pci_index(const Guard *g, const char *dir, const char *name, ssize_t *ret) {
        _cleanup_free_ char *link = NULL, *joined = NULL;
        char target[PATH_MAX];
        char *comp[PATH_MAX / 2];
        size_t n_comp = 0;
        char *save = NULL;
        ssize_t n;

        *ret = -1;
        link = strdup_printf("%s/%s", dir, name);
        if (!link)
                return -ENOMEM;
        n = readlinkat(g->rootfd, link, target, sizeof(target) - 1);
        if (n < 0)
                return 0; /* vanished, or a directory (old CONFIG_SYSFS_DEPRECATED) */
        target[n] = '\0';

        joined = target[0] == '/' ? strdup(target) : strdup_printf("%s/%s", dir, target);
        if (!joined)
                return -ENOMEM;
        for (char *c = strtok_r(joined, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                if (streq(c, "."))
                        continue;
                if (streq(c, "..")) {
                        if (n_comp > 0)
                                n_comp--;
                        continue;
                }
                if (n_comp < ELEMENTSOF(comp))
                        comp[n_comp++] = c;
        }
        for (size_t i = n_comp; i > 0; i--) {
                VfptAddress a;

                if (!is_pci_component(comp[i - 1], strlen(comp[i - 1])))
                        continue;
                if (vfpt_address_parse(comp[i - 1], &a) < 0)
                        continue;
                /* The endpoint, even when the snapshot does not list it:
                 * a bridge above it must not be marked in its place. */
                *ret = snapshot_index(g->snap, &a);
                return 0;
        }
        return 0;
}

/* --- mounted filesystems and swap --- */

static void holders_free(Holder *h, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(h[i].label);
                free(h[i].name);
        }
        free(h);
}

static void blocks_free(BlockDev *b, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(b[i].name);
                free(b[i].dm_name);
                strv_free(b[i].slaves);
        }
        free(b);
}

/* A "/dev/..." source is matched by the name of its node (so that a test
 * tree works, and btrfs, whose st_dev is an anonymous 0:N, is still seen)
 * and, on this machine's own /dev, by the device number it really has
 * (so that /dev/disk/by-uuid/... or /dev/root work too). */
static int holder_set_source(const Guard *g, Holder *h, const char *source, bool want_rdev) {
        struct stat st;

        if (!startswith(source, "/dev/"))
                return 0;
        h->name = strdup(basename_of(source));
        if (!h->name)
                return -ENOMEM;
        if (want_rdev && g->real_proc && stat(source, &st) == 0 && S_ISBLK(st.st_mode))
                h->devs[h->n_devs++] = st.st_rdev;
        return 0;
}

static int holders_add(Holder **holders, size_t *n, size_t *n_alloc, Holder *h) {
        if (grow((void **) holders, n_alloc, *n + 1, sizeof(Holder)) < 0) {
                free(h->label);
                free(h->name);
                return -ENOMEM;
        }
        (*holders)[(*n)++] = *h;
        *h = (Holder) { .label = NULL };
        return 0;
}

/* Fields: id parent MAJ:MIN root mountpoint options [optional...] - fstype
 * source superoptions */
static int read_mountinfo(const Guard *g, const char *file, Holder **holders, size_t *n, size_t *n_alloc) {
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_free_ char *line = NULL;
        size_t sz = 0;
        int e, r;

        f = proc_open(g, file, &e);
        if (!f)
                return -e;

        while (getline(&line, &sz, f) > 0) {
                char *field[5] = { NULL }, *source = NULL, *save = NULL, *t;
                bool sep = false;
                size_t k = 0;
                Holder h = { .kind = HOLDER_MOUNT };

                for (t = strtok_r(line, " \n", &save); t; t = strtok_r(NULL, " \n", &save)) {
                        if (k < ELEMENTSOF(field))
                                field[k++] = t;
                        else if (!sep)
                                sep = streq(t, "-");
                        else {
                                /* the one after fstype */
                                source = strtok_r(NULL, " \n", &save);
                                break;
                        }
                }
                if (k < ELEMENTSOF(field))
                        continue;
                if (parse_devnum(field[2], &h.devs[0]) == 0)
                        h.n_devs = 1;
                unescape_octal(field[4]);
                h.label = strdup(field[4]);
                if (!h.label)
                        return -ENOMEM;
                if (source) {
                        unescape_octal(source);
                        /* The mount's own MAJ:MIN is the truth for a block
                         * filesystem; stat() only where it is not one. */
                        r = holder_set_source(g, &h, source, major(h.devs[0]) == 0);
                        if (r < 0) {
                                free(h.label);
                                return r;
                        }
                }
                r = holders_add(holders, n, n_alloc, &h);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* /proc/swaps: "Filename Type Size Used Priority", one header line. */
static int read_swaps(const Guard *g, Holder **holders, size_t *n, size_t *n_alloc) {
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_free_ char *line = NULL;
        size_t sz = 0;
        bool header = true;
        int e, r;

        f = proc_open(g, "swaps", &e);
        if (!f)
                return -e;

        while (getline(&line, &sz, f) > 0) {
                char *path, *type, *save = NULL;
                Holder h = { .kind = HOLDER_SWAP };

                if (header) {
                        header = false;
                        continue;
                }
                path = strtok_r(line, " \t\n", &save);
                type = strtok_r(NULL, " \t\n", &save);
                if (!path || !type)
                        continue;
                unescape_octal(path);

                if (streq(type, "file")) {
                        struct stat st;

                        /* The filesystem holding the file is mounted and so
                         * seen anyway; its number still names the disk when
                         * mountinfo is from another namespace. */
                        h.label = strdup(path);
                        if (!h.label)
                                return -ENOMEM;
                        if (g->real_proc && stat(path, &st) == 0)
                                h.devs[h.n_devs++] = st.st_dev;
                } else {
                        r = holder_set_source(g, &h, path, true);
                        if (r < 0)
                                return r;
                }
                r = holders_add(holders, n, n_alloc, &h);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int read_block_dev(const Guard *g, const char *name, BlockDev *b) {
        _cleanup_free_ char *dev = NULL, *path = NULL;
        _cleanup_closedir_ DIR *d = NULL;
        int r;

        *b = (BlockDev) { .pci = -1 };
        b->name = strdup(name);
        if (!b->name)
                return -ENOMEM;

        path = strdup_printf(VFPT_SYSFS_CLASS_BLOCK "/%s/dev", name);
        if (!path)
                return -ENOMEM;
        r = read_attr(g->rootfd, path, &dev);
        if (r == -ENOMEM)
                return r;
        if (r >= 0 && parse_devnum(dev, &b->dev) >= 0)
                b->has_dev = true;

        free(path);
        path = strdup_printf(VFPT_SYSFS_CLASS_BLOCK "/%s/dm/name", name);
        if (!path)
                return -ENOMEM;
        r = read_attr(g->rootfd, path, &b->dm_name);
        if (r == -ENOMEM)
                return r;

        r = link_pci_index(g, VFPT_SYSFS_CLASS_BLOCK, name, &b->pci);
        if (r < 0)
                return r;

        free(path);
        path = strdup_printf(VFPT_SYSFS_CLASS_BLOCK "/%s/slaves", name);
        if (!path)
                return -ENOMEM;
        if (opendir_at(g->rootfd, path, &d) < 0)
                return 0; /* not stacked */
        for (struct dirent *de; (de = readdir(d)); ) {
                if (dot_or_dotdot(de->d_name))
                        continue;
                r = strv_extend(&b->slaves, de->d_name);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int read_blocks(const Guard *g, BlockDev **ret, size_t *ret_n) {
        _cleanup_closedir_ DIR *d = NULL;
        BlockDev *blocks = NULL;
        size_t n = 0, n_alloc = 0;
        int r;

        *ret = NULL;
        *ret_n = 0;
        if (opendir_at(g->rootfd, VFPT_SYSFS_CLASS_BLOCK, &d) < 0)
                return 0;
        for (struct dirent *de; (de = readdir(d)); ) {
                if (dot_or_dotdot(de->d_name))
                        continue;
                if (grow((void **) &blocks, &n_alloc, n + 1, sizeof(BlockDev)) < 0) {
                        blocks_free(blocks, n);
                        return -ENOMEM;
                }
                r = read_block_dev(g, de->d_name, &blocks[n]);
                n++;
                if (r < 0) {
                        blocks_free(blocks, n);
                        return r;
                }
        }
        *ret = blocks;
        *ret_n = n;
        return 0;
}

static ssize_t block_find(const BlockDev *blocks, size_t n, const char *name) {
        for (size_t i = 0; i < n; i++)
                if (streq(blocks[i].name, name))
                        return (ssize_t) i;
        return -1;
}

static bool holder_matches(const Holder *h, const BlockDev *b) {
        for (size_t i = 0; i < h->n_devs; i++)
                if (b->has_dev && h->devs[i] == b->dev)
                        return true;
        return h->name && (streq(h->name, b->name) || streq_ptr(h->name, b->dm_name));
}

/* Marks block device i as held by h, and, through slaves/, everything it is
 * built on: a mounted dm-0 on sda2 keeps sda's controller busy. */
static int mark_block(Guard *g, const BlockDev *blocks, size_t n, size_t i,
                      const Holder *h, size_t top, unsigned depth) {
        const BlockDev *b = &blocks[i];
        int r;

        if (depth > STACK_DEPTH_MAX)
                return 0;
        if (b->pci >= 0) {
                DeviceUse *u = &g->uses[b->pci];
                _cleanup_free_ char *label = NULL;

                label = i == top ? strdup(b->name) : strdup_printf("%s via %s", b->name, blocks[top].name);
                if (!label)
                        return -ENOMEM;
                if (h->kind == HOLDER_MOUNT) {
                        r = strv_add_unique(&u->mounts, h->label);
                        if (r >= 0)
                                r = strv_add_unique(&u->mount_blocks, label);
                } else {
                        r = h->label ? strv_add_unique(&u->swap_files, h->label) : 0;
                        if (r >= 0)
                                r = strv_add_unique(&u->swap_blocks, label);
                }
                if (r < 0)
                        return r;
        }
        for (char **s = b->slaves; s && *s; s++) {
                ssize_t j = block_find(blocks, n, *s);

                if (j < 0)
                        continue;
                r = mark_block(g, blocks, n, (size_t) j, h, top, depth + 1);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int guard_block(Guard *g) {
        Holder *holders = NULL;
        size_t n_holders = 0, n_alloc = 0, n_blocks = 0;
        BlockDev *blocks = NULL;
        int r, mountinfo_error;

        r = read_blocks(g, &blocks, &n_blocks);
        if (r < 0)
                return r;

        mountinfo_error = read_mountinfo(g, "self/mountinfo", &holders, &n_holders, &n_alloc);
        if (mountinfo_error == -ENOMEM) {
                r = -ENOMEM;
                goto finish;
        }
        /* The daemon's own mount namespace may be narrower than the host's
         * (a unit with PrivateMounts= or ProtectSystem=); PID 1's is the
         * host's. Readable only by root, so a failure is no error. */
        r = read_mountinfo(g, "1/mountinfo", &holders, &n_holders, &n_alloc);
        if (r == -ENOMEM)
                goto finish;
        /* No /proc/swaps on a kernel without CONFIG_SWAP: no swap at all. */
        r = read_swaps(g, &holders, &n_holders, &n_alloc);
        if (r == -ENOMEM)
                goto finish;

        for (size_t i = 0; i < n_blocks; i++)
                if (blocks[i].pci >= 0)
                        g->uses[blocks[i].pci].has_block = true;
        /* Holders outside, so that mount points are listed in mountinfo
         * order: "/" first, as the administrator reads it. */
        for (size_t k = 0; k < n_holders; k++)
                for (size_t i = 0; i < n_blocks; i++) {
                        if (!holder_matches(&holders[k], &blocks[i]))
                                continue;
                        r = mark_block(g, blocks, n_blocks, i, &holders[k], i, 0);
                        if (r < 0)
                                goto finish;
                }

        if (mountinfo_error < 0) {
                /* Without the mount table nothing above proves a disk idle:
                 * say so on every device that carries one. (The scan itself
                 * still succeeds; the planner decides what unchecked means.) */
                for (size_t i = 0; i < g->snap->n_devices; i++) {
                        _cleanup_free_ char *msg = NULL;

                        if (!g->uses[i].has_block)
                                continue;
                        msg = strdup_printf("mounted filesystems could not be read (%s/self/mountinfo: %s)",
                                            g->proc_root, strerror(-mountinfo_error));
                        if (!msg) {
                                r = -ENOMEM;
                                goto finish;
                        }
                        r = strv_push(&g->uses[i].unchecked, TAKE_PTR(msg));
                        if (r < 0)
                                goto finish;
                }
        }
        r = 0;
finish:
        holders_free(holders, n_holders);
        blocks_free(blocks, n_blocks);
        return r;
}

/* --- network --- */

static void netifs_free(NetIf *l, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(l[i].name);
                strv_free(l[i].lowers);
        }
        free(l);
}

static int read_netif(const Guard *g, const char *name, NetIf *nif) {
        _cleanup_free_ char *path = NULL, *operstate = NULL;
        _cleanup_closedir_ DIR *d = NULL;
        unsigned long flags;
        int r;

        *nif = (NetIf) { .pci = -1 };
        nif->name = strdup(name);
        if (!nif->name)
                return -ENOMEM;

        /* Administratively up counts, whatever the carrier: a NIC with a
         * static address whose cable is out for a moment is still the
         * host's NIC. operstate is the fallback when flags is unreadable,
         * and "up" always counts. */
        path = strdup_printf(VFPT_SYSFS_CLASS_NET "/%s/flags", name);
        if (!path)
                return -ENOMEM;
        r = read_attr_hex(g->rootfd, path, &flags);
        if (r == -ENOMEM)
                return r;
        if (r >= 0 && (flags & IFF_UP))
                nif->up = true;
        free(path);
        path = strdup_printf(VFPT_SYSFS_CLASS_NET "/%s/operstate", name);
        if (!path)
                return -ENOMEM;
        r = read_attr(g->rootfd, path, &operstate);
        if (r == -ENOMEM)
                return r;
        if (r >= 0 && streq(operstate, "up"))
                nif->up = true;

        r = link_pci_index(g, VFPT_SYSFS_CLASS_NET, name, &nif->pci);
        if (r < 0)
                return r;

        free(path);
        path = strdup_printf(VFPT_SYSFS_CLASS_NET "/%s", name);
        if (!path)
                return -ENOMEM;
        if (opendir_at(g->rootfd, path, &d) < 0)
                return 0;
        for (struct dirent *de; (de = readdir(d)); ) {
                if (!startswith(de->d_name, "lower_") || !de->d_name[6])
                        continue;
                r = strv_extend(&nif->lowers, de->d_name + 6);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int read_netifs(const Guard *g, NetIf **ret, size_t *ret_n) {
        _cleanup_closedir_ DIR *d = NULL;
        NetIf *l = NULL;
        size_t n = 0, n_alloc = 0;
        int r;

        *ret = NULL;
        *ret_n = 0;
        if (opendir_at(g->rootfd, VFPT_SYSFS_CLASS_NET, &d) < 0)
                return 0;
        for (struct dirent *de; (de = readdir(d)); ) {
                if (dot_or_dotdot(de->d_name))
                        continue;
                if (grow((void **) &l, &n_alloc, n + 1, sizeof(NetIf)) < 0) {
                        netifs_free(l, n);
                        return -ENOMEM;
                }
                r = read_netif(g, de->d_name, &l[n]);
                n++;
                if (r < 0) {
                        netifs_free(l, n);
                        return r;
                }
        }
        *ret = l;
        *ret_n = n;
        return 0;
}

/* Collects the names of interfaces that have a route or address from one
 * proc file. column: which whitespace-separated field names the interface
 * (-1: the last). skip: header lines. Returns -errno when unreadable. */
typedef bool (*LineFilter)(char **fields, size_t n_fields);

static int read_net_file(const Guard *g, const char *file, size_t skip, LineFilter filter,
                         int column, char ***configured) {
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_free_ char *line = NULL;
        size_t sz = 0;
        int e, r;

        f = proc_open(g, file, &e);
        if (!f)
                return -e;
        while (getline(&line, &sz, f) > 0) {
                char *fields[32], *save = NULL;
                const char *ifname;
                size_t n = 0;

                if (skip > 0) {
                        skip--;
                        continue;
                }
                for (char *t = strtok_r(line, " \t\n", &save); t && n < ELEMENTSOF(fields);
                     t = strtok_r(NULL, " \t\n", &save))
                        fields[n++] = t;
                if (n == 0)
                        continue;
                if (filter && !filter(fields, n))
                        continue;
                ifname = column < 0 ? fields[n - 1] : (size_t) column < n ? fields[column] : NULL;
                if (!ifname)
                        continue;
                r = strv_add_unique(configured, ifname);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* /proc/net/ipv6_route: every interface with IPv6 on has fe80::/64 and
 * ff00::/8 routes (and local fe80::x/128 ones) as soon as it is up, with no
 * configuration at all; they say nothing. */
static bool ipv6_route_counts(char **fields, size_t n) {
        const char *dest = fields[0];

        if (n < 10 || strlen(dest) != 32)
                return false;
        if (strncasecmp(dest, "ff", 2) == 0)
                return false;
        if (strncasecmp(dest, "fe", 2) == 0 && strchr("89abAB", dest[2]))
                return false;
        return true;
}

/* /proc/net/if_inet6: address ifindex prefixlen scope flags ifname; scope
 * 0x20 is link-local (every up interface has one), 0x10 loopback. */
static bool if_inet6_counts(char **fields, size_t n) {
        unsigned long scope;
        char *end;

        if (n < 6)
                return false;
        scope = strtoul(fields[3], &end, 16);
        if (*end)
                return false;
        return scope != 0x20 && scope != 0x10;
}

/* Returns the number of sources that could be read, or -ENOMEM. */
static int read_configured(const Guard *g, char ***configured) {
        int n_read = 0, r;

        /* Only the main table shows in /proc/net/route; an IPv4 address
         * with a prefix route shows there too, getifaddrs() sees the rest. */
        r = read_net_file(g, "net/route", 1, NULL, 0, configured);
        if (r == -ENOMEM)
                return r;
        n_read += r >= 0;
        r = read_net_file(g, "net/ipv6_route", 0, ipv6_route_counts, -1, configured);
        if (r == -ENOMEM)
                return r;
        n_read += r >= 0;
        r = read_net_file(g, "net/if_inet6", 0, if_inet6_counts, -1, configured);
        if (r == -ENOMEM)
                return r;
        n_read += r >= 0;

        if (g->use_getifaddrs) {
                struct ifaddrs *ifa = NULL;

                if (getifaddrs(&ifa) >= 0) {
                        n_read++;
                        for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
                                _cleanup_free_ char *name = NULL;
                                char *colon;

                                if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !i->ifa_name)
                                        continue;
                                name = strdup(i->ifa_name);
                                if (!name) {
                                        freeifaddrs(ifa);
                                        return -ENOMEM;
                                }
                                colon = strchr(name, ':'); /* "eth0:1", an old-style alias */
                                if (colon)
                                        *colon = '\0';
                                r = strv_add_unique(configured, name);
                                if (r < 0) {
                                        freeifaddrs(ifa);
                                        return r;
                                }
                        }
                        freeifaddrs(ifa);
                }
        }
        return n_read;
}

static ssize_t netif_find(const NetIf *l, size_t n, const char *name) {
        for (size_t i = 0; i < n; i++)
                if (streq(l[i].name, name))
                        return (ssize_t) i;
        return -1;
}

/* Marks interface i, which carries top, and what it is built on: a bridge
 * with the address keeps its ports busy, a VLAN its link, a bond its
 * slaves. known: false when addresses and routes could not be read. */
static int mark_netif(Guard *g, const NetIf *l, size_t n, size_t i, size_t top, bool known, unsigned depth) {
        const NetIf *nif = &l[i];
        int r;

        if (depth > STACK_DEPTH_MAX)
                return 0;
        if (nif->pci >= 0) {
                DeviceUse *u = &g->uses[nif->pci];
                _cleanup_free_ char *msg = NULL;

                if (i == top)
                        msg = known ? strdup_printf("network interface %s is up with an address or route", nif->name)
                                    : strdup_printf("network interface %s is up, but its addresses and routes could not be read",
                                                    nif->name);
                else
                        msg = known ? strdup_printf("network interface %s carries %s, which is up with an address or route",
                                                    nif->name, l[top].name)
                                    : strdup_printf("network interface %s carries %s, which is up, but whose addresses and routes could not be read",
                                                    nif->name, l[top].name);
                if (!msg)
                        return -ENOMEM;
                r = strv_add_unique(known ? &u->reasons : &u->unchecked, msg);
                if (r < 0)
                        return r;
        }
        for (char **s = nif->lowers; s && *s; s++) {
                ssize_t j = netif_find(l, n, *s);

                if (j < 0)
                        continue;
                r = mark_netif(g, l, n, (size_t) j, top, known, depth + 1);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int guard_net(Guard *g) {
        _cleanup_strv_free_ char **configured = NULL;
        NetIf *l = NULL;
        size_t n = 0;
        int r, n_read;

        r = read_netifs(g, &l, &n);
        if (r < 0)
                return r;
        n_read = read_configured(g, &configured);
        if (n_read < 0) {
                r = n_read;
                goto finish;
        }
        for (size_t i = 0; i < n; i++) {
                if (!l[i].up)
                        continue;
                if (n_read == 0) {
                        /* Nothing to tell an idle interface from a busy one. */
                        r = mark_netif(g, l, n, i, i, false, 0);
                } else if (strv_contains(configured, l[i].name))
                        r = mark_netif(g, l, n, i, i, true, 0);
                else
                        r = 0;
                if (r < 0)
                        goto finish;
        }
        r = 0;
finish:
        netifs_free(l, n);
        return r;
}

/* --- boot console --- */

/* A bound vtcon is a console driver in use (fbcon, or vgacon's "VGA+").
 * The "dummy device" is always bound and drives nothing. */
static int console_bound(const Guard *g, bool *ret) {
        _cleanup_closedir_ DIR *d = NULL;

        *ret = false;
        if (opendir_at(g->rootfd, VFPT_SYSFS_CLASS_VTCONSOLE, &d) < 0)
                return 0;
        for (struct dirent *de; (de = readdir(d)); ) {
                _cleanup_free_ char *path = NULL, *bind = NULL, *name = NULL;
                int r;

                if (!startswith(de->d_name, "vtcon"))
                        continue;
                path = strdup_printf(VFPT_SYSFS_CLASS_VTCONSOLE "/%s/" VFPT_ATTR_BIND, de->d_name);
                if (!path)
                        return -ENOMEM;
                r = read_attr(g->rootfd, path, &bind);
                if (r == -ENOMEM)
                        return r;
                if (r < 0 || !streq(bind, "1"))
                        continue;
                free(path);
                path = strdup_printf(VFPT_SYSFS_CLASS_VTCONSOLE "/%s/name", de->d_name);
                if (!path)
                        return -ENOMEM;
                r = read_attr(g->rootfd, path, &name);
                if (r == -ENOMEM)
                        return r;
                if (r >= 0 && strstr(name, "dummy"))
                        continue;
                *ret = true; /* also when the name is unreadable: safe side */
                return 0;
        }
        return 0;
}

static int guard_console(Guard *g) {
        _cleanup_closedir_ DIR *d = NULL;
        bool bound;
        int r;

        r = console_bound(g, &bound);
        if (r < 0)
                return r;

        /* Only the boot VGA device: it is where the firmware, and then
         * vgacon, efifb or simpledrm, put the console (whose framebuffer is
         * then a platform device, not under the PCI device, hence
         * the vtcon test). A framebuffer under the device is the console
         * driver's own. */
        if (opendir_at(g->rootfd, VFPT_SYSFS_CLASS_GRAPHICS, &d) >= 0)
                for (struct dirent *de; (de = readdir(d)); ) {
                        ssize_t i;

                        if (!startswith(de->d_name, "fb"))
                                continue;
                        r = link_pci_index(g, VFPT_SYSFS_CLASS_GRAPHICS, de->d_name, &i);
                        if (r < 0)
                                return r;
                        if (i >= 0 && g->snap->devices[i].boot_vga) {
                                bound = true;
                                break;
                        }
                }
        if (!bound)
                return 0;

        for (size_t i = 0; i < g->snap->n_devices; i++) {
                if (!g->snap->devices[i].boot_vga)
                        continue;
                r = strv_add_unique(&g->uses[i].reasons, "boot VGA device with the console on it");
                if (r < 0)
                        return r;
        }
        return 0;
}

/* --- early boot --- */

/* A storage controller with no driver has no block devices yet, so none of
 * the above can see a filesystem that /etc/fstab will mount from it once its
 * module loads: say so. Not for an unbound NIC: it carries no traffic now,
 * and the network configuration that would use it names an interface that
 * does not exist yet, so nothing the host runs depends on it yet. Nor for a
 * USB controller: a boot disk behind one is mounted (and seen) by the time
 * vfptd runs, and USB controllers are what vfptd most often has to claim
 * before their host driver loads. A storage device on vfio-pci or pci-stub
 * has a driver and no disks: nothing to check. Nor when driver_override
 * already names vfio-pci or pci-stub (a claim in progress, or a restart):
 * the host driver can no longer bind it, so its disks cannot appear on the
 * host whatever /etc/fstab says. */
static int guard_early_boot(Guard *g) {
        for (size_t i = 0; i < g->snap->n_devices; i++) {
                const VfptDevice *d = &g->snap->devices[i];
                int r;

                if ((d->class >> 16) != VFPT_PCI_CLASS_STORAGE || d->driver)
                        continue;
                if (vfpt_device_is_vfio_driver(d->driver_override) ||
                    streq_ptr(d->driver_override, VFPT_DRIVER_PCI_STUB))
                        continue;
                r = strv_add_unique(&g->uses[i].unchecked,
                                    "mass storage controller has no driver yet, so its disks "
                                    "(and whether /etc/fstab mounts them) cannot be seen");
                if (r < 0)
                        return r;
        }
        return 0;
}

/* --- results --- */

static int device_use_format(const DeviceUse *u, char **ret_in_use, char **ret_unchecked) {
        _cleanup_strv_free_ char **parts = NULL;
        int r;

        *ret_in_use = *ret_unchecked = NULL;
        if (u->mounts) {
                _cleanup_free_ char *where = format_list(u->mounts), *what = format_list(u->mount_blocks);

                if (!where || !what)
                        return -ENOMEM;
                r = strv_push(&parts, strdup_printf("backs mounted filesystem%s %s (%s)",
                                                    strv_length(u->mounts) > 1 ? "s" : "", where, what));
                if (r < 0)
                        return r;
        }
        if (u->swap_blocks) {
                _cleanup_free_ char *files = u->swap_files ? format_list(u->swap_files) : NULL;
                _cleanup_free_ char *what = format_list(u->swap_blocks);

                if (!what || (u->swap_files && !files))
                        return -ENOMEM;
                r = strv_push(&parts, strdup_printf("backs active swap%s%s (%s)",
                                                    files ? " " : "", files ? files : "", what));
                if (r < 0)
                        return r;
        }
        for (char **s = u->reasons; s && *s; s++) {
                r = strv_extend(&parts, *s);
                if (r < 0)
                        return r;
        }
        if (parts) {
                *ret_in_use = strv_join(parts, "; ");
                if (!*ret_in_use)
                        return -ENOMEM;
        }
        if (u->unchecked) {
                *ret_unchecked = strv_join(u->unchecked, "; ");
                if (!*ret_unchecked) {
                        free(*ret_in_use);
                        *ret_in_use = NULL;
                        return -ENOMEM;
                }
        }
        return 0;
}

static void device_use_done(DeviceUse *u) {
        strv_free(u->mounts);
        strv_free(u->mount_blocks);
        strv_free(u->swap_files);
        strv_free(u->swap_blocks);
        strv_free(u->reasons);
        strv_free(u->unchecked);
}

int vfpt_guard_scan(VfptSnapshot *snap, VfptSysfs *s, const VfptGuardSources *src) {
        Guard g = {
                .snap = snap,
                .proc_root = src && src->proc_root ? src->proc_root : VFPT_PROC_ROOT,
                .use_getifaddrs = src ? src->use_getifaddrs : true,
        };
        int r;

        if (!snap || !s)
                return -EINVAL;
        g.rootfd = vfpt_sysfs_root_fd(s);
        g.real_proc = streq(g.proc_root, VFPT_PROC_ROOT);

        /* A rescan of the same snapshot starts from nothing. */
        for (size_t i = 0; i < snap->n_devices; i++) {
                free(snap->devices[i].in_use);
                free(snap->devices[i].unchecked);
                snap->devices[i].in_use = snap->devices[i].unchecked = NULL;
        }
        if (snap->n_devices == 0)
                return 0;
        g.uses = calloc(snap->n_devices, sizeof(DeviceUse));
        if (!g.uses)
                return -ENOMEM;

        /* Only -ENOMEM comes back from these: whatever is missing or
         * vanished in sysfs or proc is skipped (or named in unchecked). */
        r = guard_block(&g);
        if (r >= 0)
                r = guard_net(&g);
        if (r >= 0)
                r = guard_console(&g);
        if (r >= 0)
                r = guard_early_boot(&g);
        for (size_t i = 0; r >= 0 && i < snap->n_devices; i++)
                r = device_use_format(&g.uses[i], &snap->devices[i].in_use, &snap->devices[i].unchecked);

        for (size_t i = 0; i < snap->n_devices; i++)
                device_use_done(&g.uses[i]);
        free(g.uses);
        return r < 0 ? r : 0;
}
