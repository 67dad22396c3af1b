/* vfpt-sysfs.h — access to a sysfs tree (the real /sys, or a copy or fake
 * under a test root) and a snapshot of its PCI devices and IOMMU groups.
 *
 * Every write goes through vfpt_sysfs_write(), relative to an opened
 * directory. A test may install a "kernel hook" that is called after each
 * successful write with the path relative to the sysfs root: the test's fake
 * kernel uses it to give writes their meaning (move driver links), or to make
 * the write fail as the kernel would. Production code never sets it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vfpt-address.h"

typedef struct VfptSysfs VfptSysfs;

/* Called after value was written to path (relative to the sysfs root, e.g.
 * "bus/pci/devices/0000:00:02.0/driver_override"). Return 0, or -errno to
 * make the write fail with that error. */
typedef int (*VfptKernelHook)(void *userdata, const char *path, const char *value);

int vfpt_sysfs_open(VfptSysfs **ret, const char *root);
VfptSysfs *vfpt_sysfs_free(VfptSysfs *s);
const char *vfpt_sysfs_root(const VfptSysfs *s);
int vfpt_sysfs_root_fd(const VfptSysfs *s);
void vfpt_sysfs_set_kernel_hook(VfptSysfs *s, VfptKernelHook hook, void *userdata);
/* Where the holder check looks for processes (/proc) and for the VFIO group
 * nodes (/dev/vfio); tests point them at their own trees. */
int vfpt_sysfs_set_host_paths(VfptSysfs *s, const char *proc_root, const char *vfio_dir);
const char *vfpt_sysfs_proc_root(const VfptSysfs *s);
const char *vfpt_sysfs_vfio_dir(const VfptSysfs *s);

/* Opens bus/pci/devices/ADDR as a directory (O_DIRECTORY|O_CLOEXEC). */
int vfpt_sysfs_open_device(VfptSysfs *s, const char *address, int *ret_fd);
/* Writes value to dirfd/attr. dir is dirfd's path relative to the root ("" for
 * the root), used only to name the write to the hook. */
int vfpt_sysfs_write(VfptSysfs *s, int dirfd, const char *dir, const char *attr, const char *value);
/* Current driver of an opened device directory; *ret = NULL when unbound. */
int vfpt_sysfs_read_driver(int devfd, char **ret);
/* driver_override, NULL when unset ("(null)" or empty). */
int vfpt_sysfs_read_override(int devfd, char **ret);

typedef struct VfptDevice {
        VfptAddress address;
        char name[VFPT_ADDRESS_MAX]; /* the address as text */
        uint16_t vendor, device;
        uint16_t subsystem_vendor, subsystem_device;
        uint32_t class;              /* 0xCCSSPP */
        bool bridge;                 /* header type 1 or 2 */
        bool boot_vga;
        char *driver;                /* NULL: no driver */
        char *driver_override;       /* NULL: none */
        int group;                   /* IOMMU group, -1 when none */
        char *unreadable;      /* why its attributes could not be read; then
                                * only address and group are known */
        bool recorded;         /* vfpt claimed it: a record of its original driver exists */
        char *recorded_driver; /* that driver, NULL for none */
        char *in_use;    /* set by the guards: why the host needs it */
        char *unchecked; /* set by the guards: what they could not see */
        /* SR-IOV. A VF may carry its PF's vendor:device; only these tell them apart. */
        unsigned sriov_totalvfs; /* > 0: a physical function that can make VFs */
        unsigned sriov_numvfs;   /* the VFs it has now */
        bool is_vf;              /* a virtual function: physfn is its PF */
        VfptAddress physfn;
        /* Device preparation (vfpt-devprep.h). */
        char *reset_method;          /* the attribute as read; NULL: absent (no reset offered) */
        char *reset_method_offered;  /* recorded before vfpt narrowed it; NULL: not narrowed */
        char *node_owner;            /* set by vfpt_devprep_apply for a claimed device:
                                      * its /dev/vfio/N as "USER:GROUP MODE" */
} VfptDevice;

typedef struct VfptSnapshot {
        VfptDevice *devices; /* sorted by address */
        size_t n_devices;
        bool iommu_active;   /* the kernel made IOMMU groups */
        char **errors;       /* devices or attributes that could not be read */
} VfptSnapshot;

int vfpt_snapshot_read(VfptSnapshot **ret, VfptSysfs *s);
VfptSnapshot *vfpt_snapshot_free(VfptSnapshot *snap);
VfptDevice *vfpt_snapshot_find(const VfptSnapshot *snap, const VfptAddress *a);
bool vfpt_device_is_vfio_driver(const char *driver);
