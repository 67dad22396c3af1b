/* vfpt-sysfs.c — reads PCI devices and IOMMU groups from a sysfs root, and
 * the one function through which every sysfs write passes. */
#include <fcntl.h>
#include <sys/stat.h>

#include "vfpt-names.h"
#include "vfpt-sysfs.h"
#include "vfpt-util.h"

struct VfptSysfs {
        char *root;
        int root_fd;
        VfptKernelHook hook;
        void *hook_userdata;
        char *proc_root;
        char *vfio_dir;
};

int vfpt_sysfs_open(VfptSysfs **ret, const char *root) {
        VfptSysfs *s;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->root_fd = -1;
        s->root = strdup(root ? root : VFPT_SYSFS_ROOT);
        if (!s->root) {
                free(s);
                return -ENOMEM;
        }
        s->proc_root = strdup(VFPT_PROC_ROOT);
        s->vfio_dir = strdup(VFPT_VFIO_DIR);
        if (!s->proc_root || !s->vfio_dir) {
                vfpt_sysfs_free(s);
                return -ENOMEM;
        }
        s->root_fd = open(s->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (s->root_fd < 0) {
                int r = -errno;
                vfpt_sysfs_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

VfptSysfs *vfpt_sysfs_free(VfptSysfs *s) {
        if (!s)
                return NULL;
        if (s->root_fd >= 0)
                close(s->root_fd);
        free(s->root);
        free(s->proc_root);
        free(s->vfio_dir);
        free(s);
        return NULL;
}

int vfpt_sysfs_set_host_paths(VfptSysfs *s, const char *proc_root, const char *vfio_dir) {
        char *p = strdup(proc_root), *v = strdup(vfio_dir);

        if (!p || !v) {
                free(p);
                free(v);
                return -ENOMEM;
        }
        free(s->proc_root);
        free(s->vfio_dir);
        s->proc_root = p;
        s->vfio_dir = v;
        return 0;
}

const char *vfpt_sysfs_proc_root(const VfptSysfs *s) {
        return s->proc_root;
}

const char *vfpt_sysfs_vfio_dir(const VfptSysfs *s) {
        return s->vfio_dir;
}

const char *vfpt_sysfs_root(const VfptSysfs *s) {
        return s->root;
}

int vfpt_sysfs_root_fd(const VfptSysfs *s) {
        return s->root_fd;
}

void vfpt_sysfs_set_kernel_hook(VfptSysfs *s, VfptKernelHook hook, void *userdata) {
        s->hook = hook;
        s->hook_userdata = userdata;
}

int vfpt_sysfs_open_device(VfptSysfs *s, const char *address, int *ret_fd) {
        _cleanup_free_ char *p = strdup_printf(VFPT_SYSFS_PCI_DEVICES "/%s", address);
        int fd;

        if (!p)
                return -ENOMEM;
        fd = openat(s->root_fd, p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        *ret_fd = fd;
        return 0;
}

int vfpt_sysfs_write(VfptSysfs *s, int dirfd, const char *dir, const char *attr, const char *value) {
        int r;

        r = write_attr(dirfd, attr, value);
        if (r < 0)
                return r;
        if (s->hook) {
                _cleanup_free_ char *path = *dir ? strdup_printf("%s/%s", dir, attr) : strdup(attr);
                if (!path)
                        return -ENOMEM;
                r = s->hook(s->hook_userdata, path, value);
                if (r < 0)
                        return r;
        }
        return 0;
}

int vfpt_sysfs_read_driver(int devfd, char **ret) {
        int r = read_link_basename(devfd, VFPT_ATTR_DRIVER, ret);

        if (r == -ENOENT) {
                *ret = NULL;
                return 0;
        }
        return r;
}

int vfpt_sysfs_read_override(int devfd, char **ret) {
        char *v = NULL;
        int r;

        r = read_attr(devfd, VFPT_ATTR_DRIVER_OVERRIDE, &v);
        if (r == -ENOENT) { /* kernels before 3.16 */
                *ret = NULL;
                return 0;
        }
        if (r < 0)
                return r;
        if (!*v || streq(v, "(null)")) {
                free(v);
                v = NULL;
        }
        *ret = v;
        return 0;
}

bool vfpt_device_is_vfio_driver(const char *driver) {
        size_t n;

        if (!driver)
                return false;
        n = strlen(driver);
        return streq(driver, VFPT_DRIVER_VFIO_PCI) ||
               (n >= 8 && (streq(driver + n - 8, "vfio_pci") || streq(driver + n - 8, "vfio-pci")));
}

static void device_done(VfptDevice *d) {
        free(d->unreadable);
        free(d->recorded_driver);
        free(d->driver);
        free(d->driver_override);
        free(d->in_use);
        free(d->unchecked);
        free(d->reset_method);
        free(d->reset_method_offered);
        free(d->node_owner);
}

VfptSnapshot *vfpt_snapshot_free(VfptSnapshot *snap) {
        if (!snap)
                return NULL;
        for (size_t i = 0; i < snap->n_devices; i++)
                device_done(&snap->devices[i]);
        free(snap->devices);
        strv_free(snap->errors);
        free(snap);
        return NULL;
}

static int snapshot_error(VfptSnapshot *snap, const char *address, const char *what, int error) {
        return strv_push(&snap->errors, strdup_printf("%s: cannot read %s: %s", address, what, strerror(-error)));
}

static int read_u16(int fd, const char *attr, uint16_t *ret) {
        unsigned long v;
        int r = read_attr_hex(fd, attr, &v);

        if (r < 0)
                return r;
        if (v > 0xffff)
                return -ERANGE;
        *ret = (uint16_t) v;
        return 0;
}

/* Header type 1 (PCI-PCI bridge) or 2 (CardBus bridge). When config space
 * cannot be read, fall back on the class code. */
static bool device_is_bridge(int fd, uint32_t class) {
        _cleanup_close_ int cfd = openat(fd, VFPT_ATTR_CONFIG, O_RDONLY | O_CLOEXEC);
        uint8_t type;

        if (cfd >= 0 && pread(cfd, &type, 1, VFPT_PCI_HEADER_TYPE_OFFSET) == 1)
                return (type & 0x7f) == 1 || (type & 0x7f) == 2;
        return (class >> 8) == 0x0604 || (class >> 8) == 0x0607;
}

static int read_group(int fd, int *ret) {
        _cleanup_free_ char *group = NULL;
        char *end;
        long g;
        int r;

        r = read_link_basename(fd, VFPT_ATTR_IOMMU_GROUP, &group);
        if (r == -ENOENT) {
                *ret = -1;
                return 0;
        }
        if (r < 0)
                return r;
        g = strtol(group, &end, 10);
        if (*end || g < 0 || g > INT32_MAX)
                return -EINVAL;
        *ret = (int) g;
        return 0;
}

static unsigned read_unsigned(int fd, const char *attr) {
        _cleanup_free_ char *v = NULL;
        unsigned long n;
        char *end;

        if (read_attr(fd, attr, &v) < 0)
                return 0;
        n = strtoul(v, &end, 10);
        return *end || n > 0xffff ? 0 : (unsigned) n;
}

/* SR-IOV attributes exist only on PFs, the physfn link only on VFs; neither
 * is an error when missing. */
static void device_read_sriov(int fd, VfptDevice *d) {
        _cleanup_free_ char *pf = NULL;

        d->sriov_totalvfs = read_unsigned(fd, VFPT_ATTR_SRIOV_TOTALVFS);
        if (d->sriov_totalvfs)
                d->sriov_numvfs = read_unsigned(fd, VFPT_ATTR_SRIOV_NUMVFS);
        if (read_link_basename(fd, VFPT_ATTR_PHYSFN, &pf) >= 0 && vfpt_address_parse(pf, &d->physfn) >= 0)
                d->is_vf = true;
}

/* Reads one device; returns <0 only for -ENOMEM. A device whose attributes
 * cannot be read stays in the snapshot with .unreadable set (and an entry in
 * snap->errors): left out, its group would look smaller than it is and could
 * be claimed by half. */
static int device_read(VfptSnapshot *snap, int devices_fd, const char *name, VfptDevice *d, bool *ret_ok) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *vga = NULL;
        const char *what = NULL;
        unsigned long class = 0;
        int r, error = 0;

        *ret_ok = false;
        *d = (VfptDevice) { .group = -1 };
        if (vfpt_address_parse(name, &d->address) < 0)
                return 0; /* not a PCI address: not ours to judge */
        vfpt_address_format(&d->address, d->name);

        fd = openat(devices_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : snapshot_error(snap, name, "device directory", -errno);

#define TRY(expr, attr)                                 \
        if (!what && (r = (expr)) < 0) {                \
                if (r == -ENOMEM)                       \
                        goto oom;                       \
                what = (attr);                          \
                error = r;                              \
        }
        TRY(read_group(fd, &d->group), VFPT_ATTR_IOMMU_GROUP);
        TRY(read_u16(fd, VFPT_ATTR_VENDOR, &d->vendor), VFPT_ATTR_VENDOR);
        TRY(read_u16(fd, VFPT_ATTR_DEVICE, &d->device), VFPT_ATTR_DEVICE);
        TRY(read_attr_hex(fd, VFPT_ATTR_CLASS, &class), VFPT_ATTR_CLASS);
        TRY(vfpt_sysfs_read_driver(fd, &d->driver), VFPT_ATTR_DRIVER);
        TRY(vfpt_sysfs_read_override(fd, &d->driver_override), VFPT_ATTR_DRIVER_OVERRIDE);
#undef TRY
        /* Subsystem IDs are informative; a bridge may lack them. */
        (void) read_u16(fd, VFPT_ATTR_SUBSYSTEM_VENDOR, &d->subsystem_vendor);
        (void) read_u16(fd, VFPT_ATTR_SUBSYSTEM_DEVICE, &d->subsystem_device);
        d->class = (uint32_t) class;
        d->bridge = device_is_bridge(fd, d->class);
        if (read_attr(fd, VFPT_ATTR_BOOT_VGA, &vga) >= 0)
                d->boot_vga = streq(vga, "1");
        device_read_sriov(fd, d);
        /* Absent when the kernel offers no reset for the device. */
        if (read_attr(fd, VFPT_ATTR_RESET_METHOD, &d->reset_method) == -ENOMEM)
                goto oom;

        if (what) {
                d->unreadable = strdup_printf("cannot read %s: %s", what, strerror(-error));
                if (!d->unreadable || snapshot_error(snap, name, what, error) < 0)
                        goto oom;
        }
        *ret_ok = true;
        return 0;

oom:
        device_done(d);
        return -ENOMEM;
}

static int cmp_device(const void *a, const void *b) {
        return vfpt_address_compare(&((const VfptDevice *) a)->address, &((const VfptDevice *) b)->address);
}

static bool dir_has_entries(int root_fd, const char *path) {
        _cleanup_close_ int fd = openat(root_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;

        if (fd < 0)
                return false;
        d = fdopendir(fd);
        if (!d)
                return false;
        fd = -1;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        return true;
        return false;
}

int vfpt_snapshot_read(VfptSnapshot **ret, VfptSysfs *s) {
        _cleanup_close_ int fd = -1;
        _cleanup_closedir_ DIR *dir = NULL;
        VfptSnapshot *snap;
        struct dirent *de;
        size_t allocated = 0;
        int r;

        snap = calloc(1, sizeof(*snap));
        if (!snap)
                return -ENOMEM;
        /* The kernel creates kernel/iommu_groups only when an IOMMU driver
         * registered; a group per device is what makes passthrough safe. */
        snap->iommu_active = dir_has_entries(s->root_fd, VFPT_SYSFS_IOMMU_GROUPS);

        fd = openat(s->root_fd, VFPT_SYSFS_PCI_DEVICES, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
                r = -errno;
                if (r == -ENOENT) { /* no PCI bus at all */
                        *ret = snap;
                        return 0;
                }
                vfpt_snapshot_free(snap);
                return r;
        }
        dir = fdopendir(fd);
        if (!dir) {
                r = -errno;
                vfpt_snapshot_free(snap);
                return r;
        }
        fd = dirfd(dir);

        while ((de = readdir(dir))) {
                bool ok;

                if (de->d_name[0] == '.')
                        continue;
                if (snap->n_devices == allocated) {
                        size_t n = allocated ? allocated * 2 : 32;
                        VfptDevice *m = realloc(snap->devices, n * sizeof(*m));
                        if (!m)
                                goto oom;
                        snap->devices = m;
                        allocated = n;
                }
                r = device_read(snap, fd, de->d_name, &snap->devices[snap->n_devices], &ok);
                if (r < 0)
                        goto oom;
                if (ok)
                        snap->n_devices++;
        }
        fd = -1; /* owned by dir */
        if (snap->n_devices > 0)
                qsort(snap->devices, snap->n_devices, sizeof(VfptDevice), cmp_device);
        *ret = snap;
        return 0;

oom:
        fd = -1;
        vfpt_snapshot_free(snap);
        return -ENOMEM;
}

VfptDevice *vfpt_snapshot_find(const VfptSnapshot *snap, const VfptAddress *a) {
        VfptDevice key = { .address = *a };

        if (!snap->n_devices)
                return NULL;
        return bsearch(&key, snap->devices, snap->n_devices, sizeof(VfptDevice), cmp_device);
}
