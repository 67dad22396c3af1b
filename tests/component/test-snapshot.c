/* test-snapshot.c — reading PCI devices and IOMMU groups from a sysfs tree
 * laid out as the kernel lays it out, and the one write path with its kernel
 * hook. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake-sysfs.h"
#include "vfpt-sysfs.h"
#include "vfpt-util.h"

/* Proves that a reader set its result to NULL rather than leaving it. */
static char sentinel[] = "sentinel";

static VfptSysfs *open_tree(FakeSysfs *f) {
        VfptSysfs *s = NULL;

        ck_assert_int_eq(vfpt_sysfs_open(&s, fake_sysfs_root(f)), 0);
        vfpt_sysfs_set_kernel_hook(s, fake_kernel_hook, f);
        return s;
}

static const VfptDevice *find(const VfptSnapshot *snap, const char *address) {
        VfptAddress a;

        ck_assert_int_eq(vfpt_address_parse(address, &a), 0);
        return vfpt_snapshot_find(snap, &a);
}

static bool errors_mention(const VfptSnapshot *snap, const char *a, const char *b) {
        for (char **e = snap->errors; e && *e; e++)
                if (strstr(*e, a) && (!b || strstr(*e, b)))
                        return true;
        return false;
}

/* Added out of order, in two domains, nested behind a bridge. */
static void add_mixed_devices(FakeSysfs *f) {
        fake_sysfs_add_driver(f, "vfio-pci");
        fake_sysfs_add_device(f, &(FakeDevice) {
                .address = "0001:00:00.0", .vendor = 0x10de, .device = 0x1eb8, .class = 0x030200,
                .group = 40, .driver = "nouveau" });
        fake_sysfs_add_device(f, &(FakeDevice) {
                .address = "0000:00:1c.0", .vendor = 0x8086, .device = 0xa110, .bridge = true,
                .group = 7, .driver = "pcieport" });
        fake_sysfs_add_device(f, &(FakeDevice) {
                .address = "0000:0a:00.0", .parent = "0000:00:1c.0", .vendor = 0x1b21, .device = 0x1242,
                .subsystem_vendor = 0x1043, .subsystem_device = 0x8675,
                .class = 0x0c0330, .group = 7, .host_driver = "xhci_hcd" });
        fake_sysfs_add_device(f, &(FakeDevice) {
                .address = "0000:03:00.0", .parent = "0000:00:1c.0", .vendor = 0x8086, .device = 0x10d3,
                .subsystem_vendor = 0x8086, .subsystem_device = 0xa01f,
                .class = 0x020000, .group = 7, .driver = "vfio-pci", .host_driver = "e1000e",
                .driver_override = "vfio-pci" });
        fake_sysfs_add_device(f, &(FakeDevice) {
                .address = "0000:00:02.0", .vendor = 0x1234, .device = 0x1111, .class = 0x030000,
                .group = 1, .driver = "bochs-drm", .boot_vga = true });
}

START_TEST(test_snapshot_reads_ids_class_bridge_driver_group_and_override) {
        FakeSysfs *f = fake_sysfs_new(true);
        VfptSysfs *s;
        VfptSnapshot *snap = NULL;
        const VfptDevice *d;

        add_mixed_devices(f);
        s = open_tree(f);
        ck_assert_int_eq(vfpt_snapshot_read(&snap, s), 0);
        ck_assert_ptr_null(snap->errors);
        ck_assert(snap->iommu_active);
        ck_assert_uint_eq(snap->n_devices, 5);

        d = find(snap, "0000:03:00.0");
        ck_assert_ptr_nonnull(d);
        ck_assert_str_eq(d->name, "0000:03:00.0");
        ck_assert_uint_eq(d->vendor, 0x8086);
        ck_assert_uint_eq(d->device, 0x10d3);
        ck_assert_uint_eq(d->subsystem_vendor, 0x8086);
        ck_assert_uint_eq(d->subsystem_device, 0xa01f);
        ck_assert_uint_eq(d->class, 0x020000);
        ck_assert(!d->bridge);
        ck_assert(!d->boot_vga);
        ck_assert_pstr_eq(d->driver, "vfio-pci");
        ck_assert_pstr_eq(d->driver_override, "vfio-pci");
        ck_assert_int_eq(d->group, 7);
        ck_assert_ptr_null(d->in_use);
        ck_assert_ptr_null(d->unchecked);

        d = find(snap, "0000:0a:00.0");
        ck_assert_ptr_nonnull(d);
        ck_assert_uint_eq(d->vendor, 0x1b21);
        ck_assert_uint_eq(d->device, 0x1242);
        ck_assert_uint_eq(d->subsystem_vendor, 0x1043);
        ck_assert_uint_eq(d->subsystem_device, 0x8675);
        ck_assert_uint_eq(d->class, 0x0c0330);
        ck_assert_ptr_null(d->driver);
        ck_assert_ptr_null(d->driver_override); /* "(null)" */
        ck_assert_int_eq(d->group, 7);

        d = find(snap, "0000:00:1c.0");
        ck_assert_ptr_nonnull(d);
        ck_assert(d->bridge);
        ck_assert_uint_eq(d->class, 0x060400);
        ck_assert_pstr_eq(d->driver, "pcieport");
        ck_assert_int_eq(d->group, 7);

        d = find(snap, "0000:00:02.0");
        ck_assert_ptr_nonnull(d);
        ck_assert(d->boot_vga);
        ck_assert_pstr_eq(d->driver, "bochs-drm");
        ck_assert_int_eq(d->group, 1);

        d = find(snap, "0001:00:00.0");
        ck_assert_ptr_nonnull(d);
        ck_assert_uint_eq(d->address.domain, 1);
        ck_assert(!d->boot_vga); /* boot_vga reads "0" */
        ck_assert_int_eq(d->group, 40);

        ck_assert_ptr_null(find(snap, "0000:00:1f.0"));

        vfpt_snapshot_free(snap);
        vfpt_sysfs_free(s);
        fake_sysfs_free(f);
}
END_TEST

START_TEST(test_snapshot_is_sorted_by_address) {
        static const char *const expected[] = {
                "0000:00:02.0", "0000:00:1c.0", "0000:03:00.0", "0000:0a:00.0", "0001:00:00.0",
        };
        FakeSysfs *f = fake_sysfs_new(true);
        VfptSysfs *s;
        VfptSnapshot *snap = NULL;

        add_mixed_devices(f);
        s = open_tree(f);
        ck_assert_int_eq(vfpt_snapshot_read(&snap, s), 0);
        ck_assert_uint_eq(snap->n_devices, ELEMENTSOF(expected));
        for (size_t i = 0; i < ELEMENTSOF(expected); i++)
                ck_assert_str_eq(snap->devices[i].name, expected[i]);
        for (size_t i = 1; i < snap->n_devices; i++)
                ck_assert_int_lt(vfpt_address_compare(&snap->devices[i - 1].address, &snap->devices[i].address), 0);
        vfpt_snapshot_free(snap);
        vfpt_sysfs_free(s);
        fake_sysfs_free(f);
}
END_TEST

START_TEST(test_snapshot_without_iommu_groups_is_not_iommu_active) {
        FakeSysfs *f = fake_sysfs_new(false);
        VfptSysfs *s;
        VfptSnapshot *snap = NULL;
        _cleanup_free_ char *groups = fake_sysfs_path(f, "kernel/iommu_groups");

        add_mixed_devices(f);
        /* The directory exists (as on a kernel without an IOMMU), empty. */
        ck_assert_int_eq(access(groups, F_OK), 0);
        s = open_tree(f);
        ck_assert_int_eq(vfpt_snapshot_read(&snap, s), 0);
        ck_assert(!snap->iommu_active);
        ck_assert_uint_eq(snap->n_devices, 5);
        for (size_t i = 0; i < snap->n_devices; i++)
                ck_assert_int_eq(snap->devices[i].group, -1);
        vfpt_snapshot_free(snap);
        vfpt_sysfs_free(s);
        fake_sysfs_free(f);
}
END_TEST

START_TEST(test_snapshot_of_a_tree_without_pci_is_empty) {
        FakeSysfs *f = fake_sysfs_new(true);
        VfptSysfs *s = open_tree(f);
        VfptSnapshot *snap = NULL;

        ck_assert_int_eq(vfpt_snapshot_read(&snap, s), 0);
        ck_assert_uint_eq(snap->n_devices, 0);
        ck_assert(!snap->iommu_active);
        ck_assert_ptr_null(snap->errors);
        vfpt_snapshot_free(snap);
        vfpt_sysfs_free(s);
        fake_sysfs_free(f);
}
END_TEST

/* Garbage where a hex ID should be: the device is reported, the rest read. */
static const char *const garbage[][2] = {
        { "vendor", "garbage\n" },
        { "vendor", "0x123456\n" },   /* does not fit 16 bits */
        { "vendor", "" },
        { "device", "0x10d3 junk\n" },
        { "class", "\n" },
};

START_TEST(test_snapshot_reports_unreadable_attribute_and_reads_the_rest) {
        FakeSysfs *f = fake_sysfs_new(true);
        VfptSysfs *s;
        VfptSnapshot *snap = NULL;
        const VfptDevice *d;

        add_mixed_devices(f);
        fake_sysfs_set_attr(f, "0000:03:00.0", garbage[_i][0], garbage[_i][1]);
        s = open_tree(f);
        ck_assert_int_eq(vfpt_snapshot_read(&snap, s), 0);
        ck_assert_ptr_nonnull(snap->errors);
        ck_assert_msg(errors_mention(snap, "0000:03:00.0", garbage[_i][0]),
                      "no error names 0000:03:00.0 and %s (first: %s)", garbage[_i][0], snap->errors[0]);
        ck_assert_uint_eq(strv_length(snap->errors), 1);
        /* The broken device stays, so its group is known to be incomplete,
         * but marked unreadable, naming the attribute: its IDs mean nothing. */
        d = find(snap, "0000:03:00.0");
        ck_assert_ptr_nonnull(d);
        ck_assert_ptr_nonnull(d->unreadable);
        ck_assert_ptr_nonnull(strstr(d->unreadable, garbage[_i][0]));
        /* ...and every other device is still there, read correctly. */
        ck_assert_uint_ge(snap->n_devices, 4);
        d = find(snap, "0000:0a:00.0");
        ck_assert_ptr_nonnull(d);
        ck_assert_uint_eq(d->vendor, 0x1b21);
        ck_assert_ptr_nonnull(find(snap, "0000:00:1c.0"));
        ck_assert_ptr_nonnull(find(snap, "0000:00:02.0"));
        ck_assert_ptr_nonnull(find(snap, "0001:00:00.0"));
        vfpt_snapshot_free(snap);
        vfpt_sysfs_free(s);
        fake_sysfs_free(f);
}
END_TEST

/* Hostile sysfs, live: while snapshots are taken, another thread keeps
 * pulling the ground away — the IOMMU group directory disappears and comes
 * back, a device's iommu_group link goes, then dangles into a group that
 * does not exist, and a whole device is unplugged and plugged again. Every
 * snapshot must succeed, each device must be either read as it is at some
 * moment (group 7 or the dangling 999), shown without a group, absent, or
 * marked unreadable with an error naming it; the devices nobody touches must
 * be read exactly. Racy by nature: the counts printed show what it hit. */
typedef struct Racer {
        FakeSysfs *f;
        atomic_bool stop;
        atomic_ulong rounds;
} Racer;

static void *racer_main(void *userdata) {
        Racer *r = userdata;
        const char *root = fake_sysfs_root(r->f);
        _cleanup_free_ char *group = strdup_printf("%s/kernel/iommu_groups/7", root);
        _cleanup_free_ char *moved = strdup_printf("%s/kernel/iommu_groups/.7-away", root);
        _cleanup_free_ char *link = strdup_printf("%s/bus/pci/devices/0000:0a:00.0/iommu_group", root);
        char target[256];
        ssize_t n = readlink(link, target, sizeof(target) - 1);
        const FakeDevice nic = {
                .address = "0000:03:00.0", .parent = "0000:00:1c.0", .vendor = 0x8086, .device = 0x10d3,
                .class = 0x020000, .group = 7, .driver = "vfio-pci", .host_driver = "e1000e",
                .driver_override = "vfio-pci" };

        ck_assert_int_gt(n, 0);
        target[n] = '\0';
        while (!atomic_load(&r->stop)) {
                /* The link games are cheap, the replug is not: many of the
                 * first for one of the second. */
                for (int i = 0; i < 100 && !atomic_load(&r->stop); i++) {
                        ck_assert_int_eq(rename(group, moved), 0);
                        ck_assert_int_eq(rename(moved, group), 0);
                        ck_assert_int_eq(unlink(link), 0);
                        ck_assert_int_eq(symlink("../../../../kernel/iommu_groups/999", link), 0);
                        ck_assert_int_eq(unlink(link), 0);
                        ck_assert_int_eq(symlink(target, link), 0);
                }
                fake_sysfs_remove_device(r->f, "0000:03:00.0");
                fake_sysfs_add_device(r->f, &nic);
                atomic_fetch_add(&r->rounds, 1);
        }
        return NULL;
}

START_TEST(test_snapshot_survives_groups_and_devices_vanishing_during_the_scan) {
        FakeSysfs *f = fake_sysfs_new(true);
        Racer racer = { .f = f };
        unsigned long snaps = 0, nic_absent = 0, nic_unreadable = 0, nic_no_group = 0, usb_no_group = 0, usb_dangling = 0;
        VfptSysfs *s;
        pthread_t t;

        add_mixed_devices(f);
        s = open_tree(f);
        ck_assert_int_eq(pthread_create(&t, NULL, racer_main, &racer), 0);
        /* At least 400 snapshots and 3 whole rounds of the racer, however
         * the two threads are scheduled. */
        for (snaps = 0; snaps < 400 || atomic_load(&racer.rounds) < 3; snaps++) {
                VfptSnapshot *snap = NULL;
                const VfptDevice *d;

                ck_assert_uint_lt(snaps, 1000000);

                ck_assert_int_eq(vfpt_snapshot_read(&snap, s), 0);
                /* Untouched devices: read exactly, every time. */
                d = find(snap, "0001:00:00.0");
                ck_assert_msg(d && !d->unreadable && d->group == 40, "snapshot %lu: 0001:00:00.0 misread", snaps);
                d = find(snap, "0000:00:1c.0");
                ck_assert_msg(d && !d->unreadable && d->group == 7 && d->bridge, "snapshot %lu: the bridge misread", snaps);
                d = find(snap, "0000:00:02.0");
                ck_assert_msg(d && !d->unreadable && d->group == 1, "snapshot %lu: 0000:00:02.0 misread", snaps);
                /* The link that goes and dangles. */
                d = find(snap, "0000:0a:00.0");
                ck_assert_msg(d, "snapshot %lu: 0000:0a:00.0 is missing (only its link moves)", snaps);
                ck_assert_msg(d->unreadable || d->group == 7 || d->group == 999 || d->group == -1,
                              "snapshot %lu: 0000:0a:00.0 in group %d", snaps, d->group);
                ck_assert_msg(!d->unreadable || errors_mention(snap, "0000:0a:00.0", NULL),
                              "snapshot %lu: 0000:0a:00.0 unreadable with no error naming it", snaps);
                usb_no_group += d->group == -1;
                usb_dangling += d->group == 999;
                ck_assert_uint_eq(d->vendor, d->unreadable ? d->vendor : 0x1b21);
                /* The device that is unplugged and plugged again. */
                d = find(snap, "0000:03:00.0");
                if (!d)
                        nic_absent++;
                else if (d->unreadable) {
                        nic_unreadable++;
                        ck_assert_msg(errors_mention(snap, "0000:03:00.0", NULL),
                                      "snapshot %lu: 0000:03:00.0 unreadable with no error naming it", snaps);
                } else {
                        /* Caught half plugged in: the directory is there and
                         * the group link not yet (the kernel, too, adds the
                         * link after the directory, before the uevent). */
                        ck_assert_msg((d->group == 7 || d->group == -1) && d->vendor == 0x8086 && d->device == 0x10d3,
                                      "snapshot %lu: 0000:03:00.0 read as %04x:%04x group %d", snaps,
                                      d->vendor, d->device, d->group);
                        nic_no_group += d->group == -1;
                }
                vfpt_snapshot_free(snap);
        }
        atomic_store(&racer.stop, true);
        ck_assert_int_eq(pthread_join(t, NULL), 0);
        fprintf(stderr, "# vanishing sysfs: %lu snapshots during %lu rounds of removal; 0000:03:00.0 absent in %lu, "
                "unreadable in %lu, without group in %lu; 0000:0a:00.0 without group in %lu, in the vanished group 999 in %lu\n",
                snaps, atomic_load(&racer.rounds), nic_absent, nic_unreadable, nic_no_group, usb_no_group, usb_dangling);
        ck_assert_uint_ge(atomic_load(&racer.rounds), 3);

        /* Once the ground is still, the snapshot is exactly right again. */
        {
                VfptSnapshot *snap = NULL;
                const VfptDevice *d;

                ck_assert_int_eq(vfpt_snapshot_read(&snap, s), 0);
                ck_assert_ptr_null(snap->errors);
                d = find(snap, "0000:03:00.0");
                ck_assert_msg(d && !d->unreadable && d->group == 7, "0000:03:00.0 after the race");
                d = find(snap, "0000:0a:00.0");
                ck_assert_msg(d && !d->unreadable && d->group == 7, "0000:0a:00.0 after the race");
                vfpt_snapshot_free(snap);
        }
        vfpt_sysfs_free(s);
        fake_sysfs_free(f);
}
END_TEST

START_TEST(test_bridge_is_decided_by_header_type) {
        FakeSysfs *f = fake_sysfs_new(true);
        VfptSysfs *s;
        VfptSnapshot *snap = NULL;

        fake_sysfs_add_device(f, &(FakeDevice) { .address = "0000:00:01.0", .vendor = 0x8086, .device = 1, .group = 1 });
        fake_sysfs_add_device(f, &(FakeDevice) { .address = "0000:00:01.1", .vendor = 0x8086, .device = 2, .group = 1 });
        fake_sysfs_add_device(f, &(FakeDevice) { .address = "0000:00:01.2", .vendor = 0x8086, .device = 3, .group = 1 });
        fake_sysfs_add_device(f, &(FakeDevice) { .address = "0000:00:01.3", .vendor = 0x8086, .device = 4, .group = 1,
                                                 .class = 0x060400 });
        /* Multi-function endpoint (bit 7 set), multi-function PCI bridge,
         * CardBus bridge, and a class that says bridge on an endpoint header. */
        fake_sysfs_set_config_byte(f, "0000:00:01.0", 0x0e, 0x80);
        fake_sysfs_set_config_byte(f, "0000:00:01.1", 0x0e, 0x81);
        fake_sysfs_set_config_byte(f, "0000:00:01.2", 0x0e, 0x02);
        s = open_tree(f);
        ck_assert_int_eq(vfpt_snapshot_read(&snap, s), 0);
        ck_assert_uint_eq(snap->n_devices, 4);
        ck_assert(!find(snap, "0000:00:01.0")->bridge);
        ck_assert(find(snap, "0000:00:01.1")->bridge);
        ck_assert(find(snap, "0000:00:01.2")->bridge);
        ck_assert(!find(snap, "0000:00:01.3")->bridge);
        vfpt_snapshot_free(snap);
        vfpt_sysfs_free(s);
        fake_sysfs_free(f);
}
END_TEST

START_TEST(test_override_empty_or_null_reads_as_none) {
        FakeSysfs *f = fake_sysfs_new(true);
        VfptSysfs *s;
        _cleanup_close_ int fd = -1;
        char *v = NULL;

        fake_sysfs_add_device(f, &(FakeDevice) { .address = "0000:00:01.0", .vendor = 0x8086, .device = 1,
                                                 .group = 1, .driver = "e1000e" });
        s = open_tree(f);
        ck_assert_int_eq(vfpt_sysfs_open_device(s, "0000:00:01.0", &fd), 0);
        v = sentinel; /* overwritten, never freed */
        ck_assert_int_eq(vfpt_sysfs_read_override(fd, &v), 0);
        ck_assert_ptr_null(v);
        fake_sysfs_set_attr(f, "0000:00:01.0", "driver_override", "\n");
        v = sentinel; /* overwritten, never freed */
        ck_assert_int_eq(vfpt_sysfs_read_override(fd, &v), 0);
        ck_assert_ptr_null(v);
        fake_sysfs_set_attr(f, "0000:00:01.0", "driver_override", "vfio-pci\n");
        ck_assert_int_eq(vfpt_sysfs_read_override(fd, &v), 0);
        ck_assert_pstr_eq(v, "vfio-pci");
        free(v);
        ck_assert_int_eq(vfpt_sysfs_read_driver(fd, &v), 0);
        ck_assert_pstr_eq(v, "e1000e");
        free(v);
        ck_assert_int_eq(vfpt_sysfs_open_device(s, "0000:00:09.0", &fd), -ENOENT);
        vfpt_sysfs_free(s);
        fake_sysfs_free(f);
}
END_TEST

START_TEST(test_write_reaches_the_hook_with_the_root_relative_path) {
        FakeSysfs *f = fake_sysfs_new(true);
        VfptSysfs *s;
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *o = NULL, *d = NULL;
        char *const *log;

        fake_sysfs_add_driver(f, "vfio-pci");
        fake_sysfs_add_device(f, &(FakeDevice) { .address = "0000:00:01.0", .vendor = 0x8086, .device = 1,
                                                 .group = 1, .driver = "e1000e" });
        s = open_tree(f);
        ck_assert_int_eq(vfpt_sysfs_open_device(s, "0000:00:01.0", &fd), 0);
        ck_assert_int_eq(vfpt_sysfs_write(s, fd, "bus/pci/devices/0000:00:01.0", "driver_override", "vfio-pci"), 0);
        log = fake_kernel_log(f);
        ck_assert_pstr_eq(log[0], "bus/pci/devices/0000:00:01.0/driver_override=vfio-pci");
        o = fake_sysfs_override_of(f, "0000:00:01.0");
        ck_assert_pstr_eq(o, "vfio-pci");

        /* A failing kernel write fails the call and leaves the file as it was. */
        fake_kernel_fail(f, "0000:00:01.0", "driver_override", EBUSY, 0);
        ck_assert_int_eq(vfpt_sysfs_write(s, fd, "bus/pci/devices/0000:00:01.0", "driver_override", "\n"), -EBUSY);
        free(o);
        o = fake_sysfs_override_of(f, "0000:00:01.0");
        ck_assert_pstr_eq(o, "vfio-pci");

        /* The write goes through the driver link to the bound driver's unbind. */
        ck_assert_int_eq(vfpt_sysfs_write(s, fd, "bus/pci/devices/0000:00:01.0", "driver/unbind", "0000:00:01.0"), 0);
        ck_assert_uint_eq(fake_kernel_writes(f), 3);
        d = fake_sysfs_driver_of(f, "0000:00:01.0");
        ck_assert_ptr_null(d);
        ck_assert_uint_eq(fake_kernel_unknown_writes(f), 0);
        vfpt_sysfs_free(s);
        fake_sysfs_free(f);
}
END_TEST

START_TEST(test_fake_tree_links_are_relative_like_the_kernels) {
        FakeSysfs *f = fake_sysfs_new(true);
        char buf[4096];
        ssize_t n;
        _cleanup_free_ char *p = NULL;

        fake_sysfs_add_device(f, &(FakeDevice) { .address = "0000:00:1c.0", .vendor = 0x8086, .device = 1,
                                                 .bridge = true, .group = 7, .driver = "pcieport" });
        fake_sysfs_add_device(f, &(FakeDevice) { .address = "0000:01:00.0", .parent = "0000:00:1c.0",
                                                 .vendor = 0x8086, .device = 2, .group = 7, .driver = "e1000e" });
        fake_sysfs_add_net(f, "0000:01:00.0", "eth0", "up");
#define LINK_IS(path, target)                                           \
        do {                                                            \
                p = fake_sysfs_path(f, "%s", path);                     \
                n = readlink(p, buf, sizeof(buf) - 1);                  \
                ck_assert_int_gt(n, 0);                                 \
                buf[n] = '\0';                                          \
                ck_assert_str_eq(buf, target);                          \
                free(p);                                                \
                p = NULL;                                               \
        } while (0)
        LINK_IS("bus/pci/devices/0000:01:00.0", "../../../devices/pci0000:00/0000:00:1c.0/0000:01:00.0");
        LINK_IS("devices/pci0000:00/0000:00:1c.0/0000:01:00.0/driver", "../../../../bus/pci/drivers/e1000e");
        LINK_IS("devices/pci0000:00/0000:00:1c.0/0000:01:00.0/iommu_group", "../../../../kernel/iommu_groups/7");
        LINK_IS("devices/pci0000:00/0000:00:1c.0/driver", "../../../bus/pci/drivers/pcieport");
        LINK_IS("bus/pci/drivers/e1000e/0000:01:00.0", "../../../../devices/pci0000:00/0000:00:1c.0/0000:01:00.0");
        LINK_IS("kernel/iommu_groups/7/devices/0000:01:00.0", "../../../../devices/pci0000:00/0000:00:1c.0/0000:01:00.0");
        LINK_IS("class/net/eth0", "../../devices/pci0000:00/0000:00:1c.0/0000:01:00.0/net/eth0");
        LINK_IS("devices/pci0000:00/0000:00:1c.0/0000:01:00.0/net/eth0/device", "../../../0000:01:00.0");
#undef LINK_IS
        fake_sysfs_free(f);
}
END_TEST

static Suite *snapshot_suite(void) {
        Suite *s = suite_create("snapshot");
        TCase *tc = tcase_create("snapshot");

        tcase_add_test(tc, test_snapshot_reads_ids_class_bridge_driver_group_and_override);
        tcase_add_test(tc, test_snapshot_is_sorted_by_address);
        tcase_add_test(tc, test_snapshot_without_iommu_groups_is_not_iommu_active);
        tcase_add_test(tc, test_snapshot_of_a_tree_without_pci_is_empty);
        tcase_add_loop_test(tc, test_snapshot_reports_unreadable_attribute_and_reads_the_rest, 0, (int) ELEMENTSOF(garbage));
        tcase_add_test(tc, test_bridge_is_decided_by_header_type);
        tcase_add_test(tc, test_snapshot_survives_groups_and_devices_vanishing_during_the_scan);
        tcase_add_test(tc, test_override_empty_or_null_reads_as_none);
        tcase_add_test(tc, test_write_reaches_the_hook_with_the_root_relative_path);
        tcase_add_test(tc, test_fake_tree_links_are_relative_like_the_kernels);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(snapshot_suite());
        int failed;

        fake_run_begin();
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        fake_run_end();
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
