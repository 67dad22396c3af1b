/* fake-sysfs.h — a sysfs tree under a temporary directory, laid out as the
 * kernel lays out /sys (device directories nested under their bridges,
 * relative symlinks for bus/pci/devices, driver, iommu_group, class/...),
 * and a "fake kernel" that gives writes to driver_override, unbind, bind and
 * drivers_probe their kernel meaning, or fails them on request.
 *
 * Tests never touch this machine's /sys: every tree lives under a mkdtemp()
 * directory (or a directory the caller names, for mkfakesysfs).
 *
 * Builder functions abort() with a message on setup errors: a test whose
 * fixture cannot be built has nothing to prove. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

typedef struct FakeSysfs FakeSysfs;

/* A fresh tree under $TMPDIR (or /tmp). iommu: the kernel made IOMMU
 * groups (devices get iommu_group links; kernel/iommu_groups is populated). */
FakeSysfs *fake_sysfs_new(bool iommu);
/* A tree in dir (created if missing, must be empty); it is kept on free. */
FakeSysfs *fake_sysfs_new_at(const char *dir, bool iommu);
/* Removes the tree (unless made with fake_sysfs_new_at) and frees; NULL-safe. */
FakeSysfs *fake_sysfs_free(FakeSysfs *f);
const char *fake_sysfs_root(const FakeSysfs *f);
/* root + "/" + printf(fmt); the caller frees. */
char *fake_sysfs_path(const FakeSysfs *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A fresh directory "$TMPDIR/vfpt-PREFIX-XXXXXX" (for records, a fake /proc,
 * a config dir), and its removal; fake_rm_rf refuses anything not made by
 * fake_tempdir. The caller frees the name. */
char *fake_tempdir(const char *prefix);
void fake_rm_rf(const char *dir);
/* For a test program's main(): points $TMPDIR at a fresh directory for the
 * whole run, so that a test that fails half-way (check forks each test, and a
 * failed assertion exits at once) leaves nothing behind once fake_run_end()
 * removed it. FAKE_SYSFS_KEEP=1 in the environment keeps every tree. */
void fake_run_begin(void);
void fake_run_end(void);
/* Writes content to dir/name, creating parent directories. */
void fake_write_file(const char *dir, const char *name, const char *content);

/* bus/pci/drivers/NAME with bind, unbind, new_id, remove_id. Idempotent. */
void fake_sysfs_add_driver(FakeSysfs *f, const char *name);
/* Removes a driver directory as rmmod would (its devices become unbound). */
void fake_sysfs_remove_driver(FakeSysfs *f, const char *name);

typedef struct FakeDevice {
        const char *address;     /* "0000:00:02.0" */
        const char *parent;      /* bridge address, or NULL for a root bus device */
        uint16_t vendor, device;
        uint16_t subsystem_vendor, subsystem_device;
        uint32_t class;          /* 0xCCSSPP; 0: 0x060400 for bridges, else 0x020000 */
        bool bridge;             /* header type 1 */
        int group;               /* IOMMU group; ignored without IOMMU; <0: none */
        const char *driver;      /* bound now (its driver dir is created), or NULL */
        const char *host_driver; /* what a probe binds with no override; NULL: driver */
        const char *driver_override; /* NULL: unset */
        bool boot_vga;           /* writes boot_vga "1" (else "0" for class 03xxxx) */
        /* SR-IOV: a physical function that can make this many VFs (0: none).
         * Writing N to its sriov_numvfs makes VFs N at devfn + 1 + k, each in
         * a new IOMMU group, with physfn/virtfnK links, probed on creation
         * unless sriov_drivers_autoprobe is 0; the kernel's errors (ERANGE,
         * ENOENT without a PF driver, EBUSY for N while it has VFs). */
        unsigned sriov_totalvfs;
        uint16_t sriov_vf_device;    /* the VFs' device ID; 0: the PF's own */
        const char *sriov_vf_driver; /* what binds a VF on probe; NULL: nothing matches */
        bool sriov_keep_vfs_on_unbind; /* the PF's driver leaves its VFs on unbind
                                        * (most remove them: the default) */
} FakeDevice;

void fake_sysfs_add_device(FakeSysfs *f, const FakeDevice *d);

/* A disk below a storage controller: devices/.../ADDR/ata1/host0/target0:0:0/
 * 0:0:0:0/block/NAME (or .../nvme/nvme0/NAME for "nvme*" names), with a dev
 * file "MAJOR:MINOR", class/block/NAME and dev/block/MAJOR:MINOR links. */
void fake_sysfs_add_block(FakeSysfs *f, const char *address, const char *name, unsigned major, unsigned minor);
/* A partition of a disk made by fake_sysfs_add_block: .../block/DISK/NAME. */
void fake_sysfs_add_partition(FakeSysfs *f, const char *disk, const char *name, unsigned major, unsigned minor);
/* devices/.../ADDR/net/IFNAME with operstate, carrier, flags, ifindex;
 * class/net/IFNAME link. operstate "up" makes IFF_UP|IFF_RUNNING flags. */
void fake_sysfs_add_net(FakeSysfs *f, const char *address, const char *ifname, const char *operstate);
/* class/vtconsole/vtconN with name and bind; and for a framebuffer console
 * the PCI device's graphics/fbN with class/graphics/fbN. address may be NULL. */
void fake_sysfs_add_vtconsole(FakeSysfs *f, unsigned n, const char *name, bool bound);
void fake_sysfs_add_framebuffer(FakeSysfs *f, const char *address, unsigned n);

/* Overwrite one attribute file of a device (to corrupt it, say). */
void fake_sysfs_set_attr(FakeSysfs *f, const char *address, const char *attr, const char *content);

/* Overwrite one byte of a device's config space (header type at 0x0e, say). */
void fake_sysfs_set_config_byte(FakeSysfs *f, const char *address, unsigned offset, uint8_t value);

/* Gives the device a reset_method attribute: the kernel offers these methods
 * ("pm bus"), and writes to it behave as the kernel's (a subset in order,
 * "default", -EINVAL for a method not offered or given twice). */
void fake_sysfs_set_reset_methods(FakeSysfs *f, const char *address, const char *offered);
/* The reset_method attribute as it reads; NULL when the device has none. */
char *fake_sysfs_reset_method_of(FakeSysfs *f, const char *address);

/* What the tree says now: the driver link's name, NULL when unbound. */
char *fake_sysfs_driver_of(FakeSysfs *f, const char *address);
/* driver_override as the file reads, without "\n"; NULL for "(null)". */
char *fake_sysfs_override_of(FakeSysfs *f, const char *address);
/* A digest of every name, file content and symlink target in the tree; equal
 * digests mean nothing was changed (mtimes are not included). Caller frees. */
char *fake_sysfs_digest(FakeSysfs *f);

/* The fake kernel: install with vfpt_sysfs_set_kernel_hook(s, fake_kernel_hook, f). */
int fake_kernel_hook(void *userdata, const char *path, const char *value);
/* Fail the (after_n + 1)-th write, counted from this call, of what ("driver_override", "unbind",
 * "drivers_probe", "bind", "sriov_numvfs", "sriov_drivers_autoprobe", "reset_method") for address, once,
 * with -error; the tree is left
 * as if the write never happened. */
void fake_kernel_fail(FakeSysfs *f, const char *address, const char *what, int error, unsigned after_n);
/* Drop all failures not yet triggered. */
void fake_kernel_clear_failures(FakeSysfs *f);
/* How many injected failures have triggered so far. */
unsigned fake_kernel_failures_triggered(const FakeSysfs *f);
void fake_kernel_set_host_driver(FakeSysfs *f, const char *address, const char *driver);
/* Writes seen by the hook (failed ones included). */
unsigned fake_kernel_writes(const FakeSysfs *f);
/* Every write seen, "path=value" (value without trailing "\n"), NULL-terminated;
 * owned by f. */
char *const *fake_kernel_log(const FakeSysfs *f);
/* Writes the fake kernel did not understand (paths it has no meaning for). */
unsigned fake_kernel_unknown_writes(const FakeSysfs *f);
void fake_kernel_reset_log(FakeSysfs *f);

/* ---- the fake kernel in another process (tests/common/fake-kernel-preload.c) ----
 *
 * A tree keeps, beside the kernel-shaped files, a small model file with what
 * the tree cannot say (the driver a probe binds with no override, the driver
 * a device was found on). fake_sysfs_save_model() writes it and keeps it up
 * to date from then on; fake_sysfs_load() rebuilds a model from a tree and
 * that file, so that a fake kernel inside another process (vfptd, with the
 * preload shim) and the test can take turns on the same tree. Whoever
 * changes or reads the tree while the other may be at it holds
 * fake_sysfs_lock(). */
#define FAKE_SYSFS_MODEL_FILE ".fake-kernel-model"
#define FAKE_SYSFS_LOCK_FILE ".fake-kernel-lock"

void fake_sysfs_save_model(FakeSysfs *f);
/* A model of the tree at root (not removed on free; block devices below
 * PCI devices are not part of the model). */
FakeSysfs *fake_sysfs_load(const char *root);
/* Rebuilds the devices from the tree; injected failures and the write log stay. */
void fake_sysfs_reload(FakeSysfs *f);
/* An exclusive flock() on root/FAKE_SYSFS_LOCK_FILE; returns the fd. */
int fake_sysfs_lock(const char *root);
void fake_sysfs_unlock(int fd);

/* Hot-unplug: the device's directory, links and IOMMU group membership go
 * (and the group with its last member). Devices below it must go first. */
void fake_sysfs_remove_device(FakeSysfs *f, const char *address);

/* What a person's `echo VALUE > /sys/PATH` does: writes the file, then the
 * fake kernel gives it its meaning. Returns the kernel's 0 or -errno. */
int fake_kernel_store(FakeSysfs *f, const char *path, const char *value);
/* SR-IOV state as the fake kernel has it: the VFs a PF has now, and its
 * sriov_drivers_autoprobe. */
unsigned fake_sysfs_numvfs(FakeSysfs *f, const char *pf);
bool fake_sysfs_autoprobe(FakeSysfs *f, const char *pf);
/* The address of a PF's VF k (0-based), whether it exists or not; caller frees. */
char *fake_sysfs_vf_address(FakeSysfs *f, const char *pf, unsigned k);

/* Whether the model has a device at address. */
bool fake_sysfs_has_device(FakeSysfs *f, const char *address);
