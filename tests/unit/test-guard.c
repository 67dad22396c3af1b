/* test-guard.c — unit tests for the in-use guards. Each test builds its own
 * small sysfs tree and proc directory under a mkdtemp() directory (the
 * kernel's layout: relative class links into devices/, partitions under
 * their disk, dm slaves/) and a snapshot by hand, and checks exactly which
 * devices come out in use or unchecked, and why. A guard that missed one
 * would let a rule take the host's disk or network away; one that marked
 * too much would refuse a device nobody uses.
 *
 * One smoke test reads this machine's own /sys and /proc (read only: the
 * guards never write) and checks that the disk controller behind / is
 * found. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "vfpt-guard.h"
#include "vfpt-sysfs.h"
#include "vfpt-util.h"

#define PCI "devices/pci0000:00"

#define EARLY_BOOT_MESSAGE \
        "mass storage controller has no driver yet, so its disks " \
        "(and whether /etc/fstab mounts them) cannot be seen"

/* --- building the tree --- */

static char *tmpdir;   /* the mkdtemp() directory */
static char *sysroot;  /* tmpdir/sys */
static char *procroot; /* tmpdir/proc */

static char *format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *format(const char *fmt, ...) {
        va_list ap;
        char *s;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        ck_assert_int_ge(r, 0);
        return s;
}

/* mkdir -p root/path */
static void mkdirs(const char *root, const char *path) {
        char *full = format("%s/%s", root, path);

        for (char *p = full + strlen(root) + 1; ; p++) {
                if (*p != '/' && *p != '\0')
                        continue;
                char c = *p;
                *p = '\0';
                ck_assert_msg(mkdir(full, 0755) == 0 || errno == EEXIST, "mkdir %s: %s", full, strerror(errno));
                *p = c;
                if (!c)
                        break;
        }
        free(full);
}

/* Writes content to root/path, creating the directories above it. */
static void put(const char *root, const char *path, const char *content) {
        char *full = format("%s/%s", root, path);
        char *dir = strdup(path), *slash = strrchr(dir, '/');
        FILE *f;

        if (slash) {
                *slash = '\0';
                mkdirs(root, dir);
        }
        f = fopen(full, "we");
        ck_assert_msg(f, "open %s: %s", full, strerror(errno));
        fputs(content, f);
        ck_assert_int_eq(fclose(f), 0);
        free(dir);
        free(full);
}

/* Symlink root/path -> target (relative, as the kernel makes them). */
static void link_to(const char *root, const char *path, const char *target) {
        char *full = format("%s/%s", root, path);
        char *dir = strdup(path), *slash = strrchr(dir, '/');

        if (slash) {
                *slash = '\0';
                mkdirs(root, dir);
        }
        ck_assert_msg(symlink(target, full) == 0, "symlink %s: %s", full, strerror(errno));
        free(dir);
        free(full);
}

static void sys_put(const char *path, const char *content) { put(sysroot, path, content); }
static void proc_put(const char *path, const char *content) { put(procroot, path, content); }

/* A disk (or partition) at devices-relative dir, with dev and class/block. */
static void add_block(const char *devdir, const char *name, const char *devnum) {
        char *p = format("%s/dev", devdir), *target = format("../../%s", devdir), *cl = format("class/block/%s", name);

        sys_put(p, devnum);
        link_to(sysroot, cl, target);
        free(p);
        free(target);
        free(cl);
}

static void add_net(const char *devdir, const char *name, const char *operstate, const char *flags) {
        char *p = format("%s/operstate", devdir), *q = format("%s/flags", devdir);
        char *target = format("../../%s", devdir), *cl = format("class/net/%s", name);

        sys_put(p, operstate);
        sys_put(q, flags);
        link_to(sysroot, cl, target);
        free(p);
        free(q);
        free(target);
        free(cl);
}

/* The tree (addresses in the snapshot below):
 *   00:01.0 AHCI, sda with sda1 (8:1) and sda2 (8:2), mounted on /, /boot, ...
 *   00:02.0 NIC, eth0 up with a default route
 *   00:03.0 NIC, eth1 down (it still has an address listed: down wins)
 *   00:1c.0 bridge, behind it 01:00.0 NVMe with nvme0n1p1 under dm-0 on /home
 *   00:04.0 boot VGA, fbcon bound
 *   00:05.0 NVMe with a disk nobody mounts
 *   00:06.0 SATA controller with no driver (early boot)
 *   00:07.0 second VGA, not the boot one
 *   00:08.0 virtio-blk, vdb (252:16) is active swap, named only as /dev/vdb
 *   00:09.0 NIC, eth2 up, only link-local IPv6
 *   00:0a.0 NIC, eth3 up without an address, a port of bridge br0 which has one */
static void build_sysfs(void) {
        add_block(PCI "/0000:00:01.0/ata1/host0/target0:0:0/0:0:0:0/block/sda", "sda", "8:0");
        add_block(PCI "/0000:00:01.0/ata1/host0/target0:0:0/0:0:0:0/block/sda/sda1", "sda1", "8:1");
        add_block(PCI "/0000:00:01.0/ata1/host0/target0:0:0/0:0:0:0/block/sda/sda2", "sda2", "8:2");

        add_net(PCI "/0000:00:02.0/virtio0/net/eth0", "eth0", "up", "0x1003");
        add_net(PCI "/0000:00:03.0/net/eth1", "eth1", "down", "0x1002");

        add_block(PCI "/0000:00:1c.0/0000:01:00.0/nvme/nvme0/nvme0n1", "nvme0n1", "259:0");
        add_block(PCI "/0000:00:1c.0/0000:01:00.0/nvme/nvme0/nvme0n1/nvme0n1p1", "nvme0n1p1", "259:1");
        add_block("devices/virtual/block/dm-0", "dm-0", "254:0");
        sys_put("devices/virtual/block/dm-0/dm/name", "vg-home");
        link_to(sysroot, "devices/virtual/block/dm-0/slaves/nvme0n1p1",
                "../../../../pci0000:00/0000:00:1c.0/0000:01:00.0/nvme/nvme0/nvme0n1/nvme0n1p1");

        sys_put(PCI "/0000:00:04.0/boot_vga", "1");
        sys_put("devices/virtual/vtconsole/vtcon0/name", "(S) dummy device");
        sys_put("devices/virtual/vtconsole/vtcon0/bind", "1");
        link_to(sysroot, "class/vtconsole/vtcon0", "../../devices/virtual/vtconsole/vtcon0");
        sys_put("devices/virtual/vtconsole/vtcon1/name", "(M) frame buffer device");
        sys_put("devices/virtual/vtconsole/vtcon1/bind", "1");
        link_to(sysroot, "class/vtconsole/vtcon1", "../../devices/virtual/vtconsole/vtcon1");

        add_block(PCI "/0000:00:05.0/nvme/nvme1/nvme1n1", "nvme1n1", "259:2");
        mkdirs(sysroot, PCI "/0000:00:06.0");
        sys_put(PCI "/0000:00:07.0/boot_vga", "0");
        add_block(PCI "/0000:00:08.0/virtio3/block/vdb", "vdb", "252:16");

        add_net(PCI "/0000:00:09.0/net/eth2", "eth2", "up", "0x1003");
        add_net(PCI "/0000:00:0a.0/net/eth3", "eth3", "up", "0x1003");
        add_net("devices/virtual/net/br0", "br0", "up", "0x1003");
        link_to(sysroot, "devices/virtual/net/br0/lower_eth3", "../../../pci0000:00/0000:00:0a.0/net/eth3");
        add_net("devices/virtual/net/lo", "lo", "unknown", "0x9");
}

static void build_proc(void) {
        proc_put("self/mountinfo",
                 "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
                 "23 22 8:2 / /boot rw,relatime shared:2 - ext4 /dev/sda2 rw\n"
                 "24 22 8:1 /var /var rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
                 "25 22 8:1 /srv /srv rw,relatime - ext4 /dev/sda1 rw\n"
                 "26 22 8:1 /x /mnt/my\\040dir rw,relatime - ext4 /dev/sda1 rw\n"
                 "27 22 254:0 / /home rw,relatime shared:5 - xfs /dev/mapper/vg-home rw\n"
                 "28 22 0:22 / /sys rw,nosuid - sysfs sysfs rw\n"
                 "29 22 0:23 / /proc rw,nosuid - proc proc rw\n");
        proc_put("swaps",
                 "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
                 "/dev/vdb                                partition\t1048572\t\t0\t\t-2\n");
        proc_put("net/route",
                 "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
                 "eth0\t00000000\t0102A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
                 "eth0\t0002A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
                 "br0\t000A000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n");
        proc_put("net/ipv6_route",
                 "fe800000000000000000000000000000 40 00000000000000000000000000000000 00 "
                 "00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth2\n"
                 "ff000000000000000000000000000000 08 00000000000000000000000000000000 00 "
                 "00000000000000000000000000000000 00000100 00000003 00000000 00000001     eth2\n"
                 "00000000000000000000000000000001 80 00000000000000000000000000000000 00 "
                 "00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo\n");
        proc_put("net/if_inet6",
                 "fe8000000000000000fc00fffe000002 05 40 20 80     eth2\n"
                 "fd000000000000000000000000000003 03 40 00 80     eth1\n"
                 "00000000000000000000000000000001 01 80 10 80       lo\n");
}

/* --- the snapshot --- */

typedef struct DevSpec {
        const char *name;
        uint32_t class;
        const char *driver;
        bool bridge;
        bool boot_vga;
} DevSpec;

static const DevSpec specs[] = {
        { "0000:00:01.0", 0x010601, "ahci", false, false },
        { "0000:00:02.0", 0x020000, "virtio-pci", false, false },
        { "0000:00:03.0", 0x020000, "e1000e", false, false },
        { "0000:00:04.0", 0x030000, "bochs-drm", false, true },
        { "0000:00:05.0", 0x010802, "nvme", false, false },
        { "0000:00:06.0", 0x010601, NULL, false, false },
        { "0000:00:07.0", 0x030000, "bochs-drm", false, false },
        { "0000:00:08.0", 0x010000, "virtio-pci", false, false },
        { "0000:00:09.0", 0x020000, "e1000e", false, false },
        { "0000:00:0a.0", 0x020000, "e1000e", false, false },
        { "0000:00:1c.0", 0x060400, "pcieport", true, false },
        { "0000:01:00.0", 0x010802, "nvme", false, false },
};

static VfptSnapshot *snapshot_new(const DevSpec *spec, size_t n) {
        VfptSnapshot *snap = calloc(1, sizeof(*snap));

        ck_assert_ptr_nonnull(snap);
        snap->devices = calloc(n, sizeof(VfptDevice));
        ck_assert_ptr_nonnull(snap->devices);
        snap->n_devices = n;
        snap->iommu_active = true;
        for (size_t i = 0; i < n; i++) {
                VfptDevice *d = &snap->devices[i];

                ck_assert_int_eq(vfpt_address_parse(spec[i].name, &d->address), 0);
                vfpt_address_format(&d->address, d->name);
                d->class = spec[i].class;
                d->bridge = spec[i].bridge;
                d->boot_vga = spec[i].boot_vga;
                d->driver = spec[i].driver ? strdup(spec[i].driver) : NULL;
                d->group = (int) i;
        }
        return snap;
}

static void snapshot_done(VfptSnapshot *snap) {
        if (!snap)
                return;
        for (size_t i = 0; i < snap->n_devices; i++) {
                free(snap->devices[i].driver);
                free(snap->devices[i].in_use);
                free(snap->devices[i].unchecked);
        }
        free(snap->devices);
        free(snap);
}

static VfptDevice *dev(VfptSnapshot *snap, const char *name) {
        for (size_t i = 0; i < snap->n_devices; i++)
                if (streq(snap->devices[i].name, name))
                        return &snap->devices[i];
        ck_abort_msg("no device %s in the snapshot", name);
        return NULL;
}

/* --- fixture --- */

static VfptSnapshot *snap;
static VfptSysfs *sysfs;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

static void setup(void) {
        char tmpl[] = "/tmp/test-guard-XXXXXX";

        ck_assert_ptr_nonnull(mkdtemp(tmpl));
        tmpdir = strdup(tmpl);
        sysroot = format("%s/sys", tmpdir);
        procroot = format("%s/proc", tmpdir);
        mkdirs(tmpdir, "sys");
        mkdirs(tmpdir, "proc");
        build_sysfs();
        build_proc();
        ck_assert_int_eq(vfpt_sysfs_open(&sysfs, sysroot), 0);
        snap = snapshot_new(specs, ELEMENTSOF(specs));
}

static void teardown(void) {
        snapshot_done(snap);
        snap = NULL;
        sysfs = vfpt_sysfs_free(sysfs);
        /* FTW_PHYS: never follow a link out of the temporary tree. */
        if (tmpdir && strncmp(tmpdir, "/tmp/test-guard-", 16) == 0)
                nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        free(tmpdir);
        free(sysroot);
        free(procroot);
        tmpdir = sysroot = procroot = NULL;
}

static int scan(void) {
        VfptGuardSources src = { .proc_root = procroot, .use_getifaddrs = false };

        return vfpt_guard_scan(snap, sysfs, &src);
}

static void assert_in_use_contains(const char *name, const char *text) {
        const VfptDevice *d = dev(snap, name);

        ck_assert_msg(d->in_use, "%s is not marked in use", name);
        ck_assert_msg(strstr(d->in_use, text), "%s: \"%s\" does not say \"%s\"", name, d->in_use, text);
}

static void assert_untouched(const char *name) {
        const VfptDevice *d = dev(snap, name);

        ck_assert_msg(!d->in_use, "%s is marked in use: %s", name, d->in_use);
        ck_assert_msg(!d->unchecked, "%s is marked unchecked: %s", name, d->unchecked);
}

/* --- tests --- */

START_TEST(test_guard_marks_disk_controller_behind_mounts_with_mount_points)
{
        const VfptDevice *d;

        ck_assert_int_eq(scan(), 0);
        d = dev(snap, "0000:00:01.0");
        /* Five mount points from two partitions; the first three are named. */
        ck_assert_str_eq(d->in_use, "backs mounted filesystems /, /boot, /var (+2 more) (sda1, sda2)");
        ck_assert_ptr_null(d->unchecked);
}
END_TEST

START_TEST(test_guard_unescapes_mount_points)
{
        /* Only the mount with a space in its name, so that it is listed. */
        proc_put("self/mountinfo", "26 22 8:1 /x /mnt/my\\040dir rw,relatime - ext4 /dev/sda1 rw\n");
        ck_assert_int_eq(scan(), 0);
        ck_assert_str_eq(dev(snap, "0000:00:01.0")->in_use, "backs mounted filesystem /mnt/my dir (sda1)");
}
END_TEST

START_TEST(test_guard_follows_dm_slaves_to_the_endpoint_not_the_bridge)
{
        ck_assert_int_eq(scan(), 0);
        ck_assert_str_eq(dev(snap, "0000:01:00.0")->in_use, "backs mounted filesystem /home (nvme0n1p1 via dm-0)");
        assert_untouched("0000:00:1c.0");
}
END_TEST

START_TEST(test_guard_finds_dm_by_mapper_name_when_mountinfo_has_no_number)
{
        /* btrfs reports an anonymous 0:N; the source still names the device. */
        proc_put("self/mountinfo", "27 22 0:44 / /home rw,relatime - btrfs /dev/mapper/vg-home rw\n");
        ck_assert_int_eq(scan(), 0);
        assert_in_use_contains("0000:01:00.0", "/home");
        assert_untouched("0000:00:01.0");
}
END_TEST

START_TEST(test_guard_marks_active_swap_partition_by_name)
{
        ck_assert_int_eq(scan(), 0);
        ck_assert_str_eq(dev(snap, "0000:00:08.0")->in_use, "backs active swap (vdb)");
}
END_TEST

START_TEST(test_guard_leaves_unused_disk_controller_alone)
{
        ck_assert_int_eq(scan(), 0);
        assert_untouched("0000:00:05.0");
}
END_TEST

START_TEST(test_guard_marks_nic_that_is_up_with_a_route)
{
        ck_assert_int_eq(scan(), 0);
        ck_assert_str_eq(dev(snap, "0000:00:02.0")->in_use, "network interface eth0 is up with an address or route");
}
END_TEST

START_TEST(test_guard_leaves_down_nic_alone_even_with_an_address)
{
        ck_assert_int_eq(scan(), 0);
        assert_untouched("0000:00:03.0");
}
END_TEST

START_TEST(test_guard_ignores_link_local_ipv6)
{
        ck_assert_int_eq(scan(), 0);
        assert_untouched("0000:00:09.0");
}
END_TEST

START_TEST(test_guard_counts_a_global_ipv6_address)
{
        proc_put("net/if_inet6", "20010db8000000000000000000000009 05 40 00 80     eth2\n");
        ck_assert_int_eq(scan(), 0);
        assert_in_use_contains("0000:00:09.0", "network interface eth2 is up");
}
END_TEST

START_TEST(test_guard_marks_bridge_port_of_configured_bridge)
{
        ck_assert_int_eq(scan(), 0);
        ck_assert_str_eq(dev(snap, "0000:00:0a.0")->in_use,
                         "network interface eth3 carries br0, which is up with an address or route");
}
END_TEST

START_TEST(test_guard_marks_boot_vga_with_console)
{
        ck_assert_int_eq(scan(), 0);
        ck_assert_str_eq(dev(snap, "0000:00:04.0")->in_use, "boot VGA device with the console on it");
        assert_untouched("0000:00:07.0");
}
END_TEST

START_TEST(test_guard_dummy_console_is_no_console)
{
        sys_put("devices/virtual/vtconsole/vtcon1/bind", "0");
        ck_assert_int_eq(scan(), 0);
        assert_untouched("0000:00:04.0");
}
END_TEST

START_TEST(test_guard_framebuffer_under_boot_vga_is_a_console)
{
        sys_put("devices/virtual/vtconsole/vtcon1/bind", "0");
        mkdirs(sysroot, PCI "/0000:00:04.0/graphics/fb0");
        link_to(sysroot, "class/graphics/fb0", "../../" PCI "/0000:00:04.0/graphics/fb0");
        ck_assert_int_eq(scan(), 0);
        assert_in_use_contains("0000:00:04.0", "boot VGA device");
}
END_TEST

START_TEST(test_guard_storage_without_driver_is_unchecked)
{
        const VfptDevice *d;

        ck_assert_int_eq(scan(), 0);
        d = dev(snap, "0000:00:06.0");
        ck_assert_ptr_null(d->in_use);
        ck_assert_str_eq(d->unchecked, EARLY_BOOT_MESSAGE);
        /* Bound storage with no disks was checked, and is simply unused. */
        ck_assert_ptr_null(dev(snap, "0000:00:05.0")->unchecked);
}
END_TEST

START_TEST(test_guard_storage_without_driver_but_overridden_to_vfio_is_checked)
{
        /* The host driver cannot bind it any more: no disk of it can be mounted. */
        dev(snap, "0000:00:06.0")->driver_override = (char *) "vfio-pci";
        ck_assert_int_eq(scan(), 0);
        dev(snap, "0000:00:06.0")->driver_override = NULL;
        assert_untouched("0000:00:06.0");
}
END_TEST

START_TEST(test_guard_marks_exactly_the_used_devices)
{
        static const char *const used[] = {
                "0000:00:01.0", "0000:00:02.0", "0000:00:04.0", "0000:00:08.0",
                "0000:00:0a.0", "0000:01:00.0",
        };

        ck_assert_int_eq(scan(), 0);
        for (size_t i = 0; i < snap->n_devices; i++) {
                const VfptDevice *d = &snap->devices[i];
                bool want = false;

                for (size_t k = 0; k < ELEMENTSOF(used); k++)
                        want = want || streq(used[k], d->name);
                ck_assert_msg(!!d->in_use == want, "%s: in_use %s", d->name, strna(d->in_use));
                ck_assert_msg(!!d->unchecked == streq(d->name, "0000:00:06.0"), "%s: unchecked %s",
                              d->name, strna(d->unchecked));
        }
}
END_TEST

START_TEST(test_guard_rescan_gives_the_same_result)
{
        char *first;

        ck_assert_int_eq(scan(), 0);
        first = strdup(dev(snap, "0000:00:01.0")->in_use);
        ck_assert_int_eq(scan(), 0);
        ck_assert_str_eq(dev(snap, "0000:00:01.0")->in_use, first);
        free(first);
}
END_TEST

START_TEST(test_guard_survives_missing_proc_and_says_what_it_could_not_check)
{
        VfptGuardSources src = { .proc_root = "/nonexistent/vfpt-test-proc", .use_getifaddrs = false };
        const VfptDevice *d;

        ck_assert_int_eq(vfpt_guard_scan(snap, sysfs, &src), 0);
        /* Disks are there but the mount table is not: not idle, unknown. */
        d = dev(snap, "0000:00:01.0");
        ck_assert_ptr_null(d->in_use);
        ck_assert_ptr_nonnull(d->unchecked);
        ck_assert_ptr_nonnull(strstr(d->unchecked, "mounted filesystems could not be read"));
        ck_assert_ptr_nonnull(dev(snap, "0000:00:05.0")->unchecked);
        /* An up interface whose addresses cannot be read is unknown too. */
        d = dev(snap, "0000:00:02.0");
        ck_assert_ptr_null(d->in_use);
        ck_assert_str_eq(d->unchecked, "network interface eth0 is up, but its addresses and routes could not be read");
        /* What sysfs alone shows is still found. */
        assert_in_use_contains("0000:00:04.0", "boot VGA");
        assert_untouched("0000:00:03.0");
}
END_TEST

START_TEST(test_guard_survives_vanished_sysfs_entries)
{
        char *p = format("%s/class/block/sda2", sysroot);
        const VfptDevice *d;

        /* A dangling class link and a missing dev file, as in a hot-unplug. */
        ck_assert_int_eq(unlink(p), 0);
        link_to(sysroot, "class/block/sda2", "../../devices/gone/sda2");
        free(p);
        p = format("%s/" PCI "/0000:00:01.0/ata1/host0/target0:0:0/0:0:0:0/block/sda/sda1/dev", sysroot);
        ck_assert_int_eq(unlink(p), 0);
        free(p);
        ck_assert_int_eq(scan(), 0);
        /* sda1 is still found by the name in the mount's source; sda2 is gone. */
        d = dev(snap, "0000:00:01.0");
        ck_assert_str_eq(d->in_use, "backs mounted filesystems /, /var, /srv (+1 more) (sda1)");
        assert_in_use_contains("0000:00:02.0", "eth0");
}
END_TEST

/* Read only: the guards read this machine's /sys and /proc and write
 * nothing (vfpt-guard.c has no write path). */
START_TEST(test_guard_finds_this_machines_root_disk_controller)
{
        char link[PATH_MAX], path[64], root_dev[16] = "";
        VfptGuardSources src = { .proc_root = "/proc", .use_getifaddrs = true };
        DevSpec *spec = NULL;
        size_t n = 0;
        struct stat st;
        ssize_t len;
        DIR *d;

        ck_assert_int_eq(stat("/", &st), 0);
        snprintf(path, sizeof(path), "/sys/dev/block/%u:%u", major(st.st_dev), minor(st.st_dev));
        len = readlink(path, link, sizeof(link) - 1);
        if (len < 0)
                return; /* not a block device (overlay, tmpfs, btrfs subvolume): nothing to find */
        link[len] = '\0';
        /* The last PCI address on the path, found here independently. */
        for (char *c = strtok(link, "/"); c; c = strtok(NULL, "/")) {
                VfptAddress a;

                if (strlen(c) == 12 && vfpt_address_parse(c, &a) == 0)
                        snprintf(root_dev, sizeof(root_dev), "%s", c);
        }
        if (!root_dev[0])
                return; /* root is not on PCI here (dm, virtual disk, ...) */

        d = opendir("/sys/bus/pci/devices");
        ck_assert_ptr_nonnull(d);
        for (struct dirent *de; (de = readdir(d)); ) {
                char *cls = format("/sys/bus/pci/devices/%s/class", de->d_name);
                unsigned long c = 0;
                FILE *f;

                if (de->d_name[0] == '.') {
                        free(cls);
                        continue;
                }
                f = fopen(cls, "re");
                if (f) {
                        ck_assert_int_eq(fscanf(f, "%lx", &c), 1);
                        fclose(f);
                }
                free(cls);
                spec = realloc(spec, (n + 1) * sizeof(*spec));
                ck_assert_ptr_nonnull(spec);
                spec[n++] = (DevSpec) { .name = strdup(de->d_name), .class = (uint32_t) c, .driver = "some-driver" };
        }
        closedir(d);

        /* Replace the fixture's tree with the real one. */
        snapshot_done(snap);
        sysfs = vfpt_sysfs_free(sysfs);
        snap = snapshot_new(spec, n);
        ck_assert_int_eq(vfpt_sysfs_open(&sysfs, "/sys"), 0);

        ck_assert_int_eq(vfpt_guard_scan(snap, sysfs, &src), 0);
        assert_in_use_contains(root_dev, "backs mounted filesystem");
        ck_assert_msg(strstr(dev(snap, root_dev)->in_use, "filesystem / (") ||
                      strstr(dev(snap, root_dev)->in_use, "filesystems /, "),
                      "%s: \"%s\" does not name /", root_dev, dev(snap, root_dev)->in_use);

        for (size_t i = 0; i < n; i++)
                free((char *) spec[i].name);
        free(spec);
}
END_TEST

static Suite *guard_suite(void) {
        Suite *s = suite_create("guard");
        TCase *tc = tcase_create("tree");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_guard_marks_disk_controller_behind_mounts_with_mount_points);
        tcase_add_test(tc, test_guard_unescapes_mount_points);
        tcase_add_test(tc, test_guard_follows_dm_slaves_to_the_endpoint_not_the_bridge);
        tcase_add_test(tc, test_guard_finds_dm_by_mapper_name_when_mountinfo_has_no_number);
        tcase_add_test(tc, test_guard_marks_active_swap_partition_by_name);
        tcase_add_test(tc, test_guard_leaves_unused_disk_controller_alone);
        tcase_add_test(tc, test_guard_marks_nic_that_is_up_with_a_route);
        tcase_add_test(tc, test_guard_leaves_down_nic_alone_even_with_an_address);
        tcase_add_test(tc, test_guard_ignores_link_local_ipv6);
        tcase_add_test(tc, test_guard_counts_a_global_ipv6_address);
        tcase_add_test(tc, test_guard_marks_bridge_port_of_configured_bridge);
        tcase_add_test(tc, test_guard_marks_boot_vga_with_console);
        tcase_add_test(tc, test_guard_dummy_console_is_no_console);
        tcase_add_test(tc, test_guard_framebuffer_under_boot_vga_is_a_console);
        tcase_add_test(tc, test_guard_storage_without_driver_is_unchecked);
        tcase_add_test(tc, test_guard_storage_without_driver_but_overridden_to_vfio_is_checked);
        tcase_add_test(tc, test_guard_marks_exactly_the_used_devices);
        tcase_add_test(tc, test_guard_rescan_gives_the_same_result);
        tcase_add_test(tc, test_guard_survives_missing_proc_and_says_what_it_could_not_check);
        tcase_add_test(tc, test_guard_survives_vanished_sysfs_entries);
        tcase_add_test(tc, test_guard_finds_this_machines_root_disk_controller);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(guard_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
