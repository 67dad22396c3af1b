/* vfio-probe — tests/vm helper run inside the QEMU guest: proves that a PCI
 * device's IOMMU group is usable by a VFIO user (what QEMU does with
 * -device vfio-pci,host=...): open the container and the group, check the
 * group is viable (every member bound to a VFIO driver or to none), attach
 * the group to the container and select the type1 IOMMU.  Prints one line
 * saying what it found; exits 0 when the group is usable, 1 when it is not,
 * 2 on usage or environment errors.  With --hold SECONDS it then keeps the
 * group (and the device) open for that long, as a running VM would, so that
 * a test can see what vfptd does with a held group; it prints its pid
 * before it sleeps.  Built static so that it needs nothing from the guest's
 * root filesystem. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/vfio.h>

static int group_of(const char *bdf, int *ret_group) {
        char link[PATH_MAX], target[PATH_MAX];
        ssize_t n;
        const char *slash;

        snprintf(link, sizeof link, "/sys/bus/pci/devices/%s/iommu_group", bdf);
        n = readlink(link, target, sizeof target - 1);
        if (n < 0)
                return -errno;
        target[n] = '\0';
        slash = strrchr(target, '/');
        if (!slash)
                return -EINVAL;
        *ret_group = atoi(slash + 1);
        return 0;
}

int main(int argc, char **argv) {
        struct vfio_group_status status = { .argsz = sizeof status };
        char path[64];
        const char *bdf;
        int group, container, fd, r, api;
        long hold = 0;

        if (argc == 4 && strcmp(argv[1], "--hold") == 0) {
                char *end;

                hold = strtol(argv[2], &end, 10);
                if (*argv[2] == '\0' || *end != '\0' || hold <= 0) {
                        fprintf(stderr, "%s: --hold wants a number of seconds, not '%s'\n", argv[0], argv[2]);
                        return 2;
                }
                argv += 2;
                argc -= 2;
        }
        if (argc != 2) {
                fprintf(stderr, "usage: %s [--hold SECONDS] DOMAIN:BUS:DEV.FN\n", argv[0]);
                return 2;
        }
        bdf = argv[1];

        r = group_of(bdf, &group);
        if (r < 0) {
                printf("vfio-probe: %s: no IOMMU group: %s\n", bdf, strerror(-r));
                return 2;
        }

        container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
        if (container < 0) {
                printf("vfio-probe: %s group %d: cannot open /dev/vfio/vfio: %m\n", bdf, group);
                return 2;
        }
        api = ioctl(container, VFIO_GET_API_VERSION);
        if (api != VFIO_API_VERSION) {
                printf("vfio-probe: %s group %d: VFIO API version %d, expected %d\n",
                       bdf, group, api, VFIO_API_VERSION);
                return 2;
        }
        if (ioctl(container, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) <= 0) {
                printf("vfio-probe: %s group %d: no type1 IOMMU support (is vfio_iommu_type1 loaded?)\n",
                       bdf, group);
                return 2;
        }

        snprintf(path, sizeof path, "/dev/vfio/%d", group);
        fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0) {
                printf("vfio-probe: %s group %d: cannot open %s: %m\n", bdf, group, path);
                return 1;
        }
        if (ioctl(fd, VFIO_GROUP_GET_STATUS, &status) < 0) {
                printf("vfio-probe: %s group %d: VFIO_GROUP_GET_STATUS: %m\n", bdf, group);
                return 1;
        }
        if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
                printf("vfio-probe: %s group %d: NOT viable (a member is bound to a non-VFIO driver)\n",
                       bdf, group);
                return 1;
        }
        if (ioctl(fd, VFIO_GROUP_SET_CONTAINER, &container) < 0) {
                printf("vfio-probe: %s group %d: VFIO_GROUP_SET_CONTAINER: %m\n", bdf, group);
                return 1;
        }
        if (ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU) < 0) {
                printf("vfio-probe: %s group %d: VFIO_SET_IOMMU(TYPE1): %m\n", bdf, group);
                return 1;
        }
        /* Asking for the device itself is the last step QEMU takes. */
        r = ioctl(fd, VFIO_GROUP_GET_DEVICE_FD, bdf);
        if (r < 0) {
                printf("vfio-probe: %s group %d: VFIO_GROUP_GET_DEVICE_FD: %m\n", bdf, group);
                return 1;
        }
        printf("vfio-probe: %s group %d: viable, container set, type1 IOMMU set, device opened\n",
               bdf, group);
        if (hold > 0) {
                /* Everything stays open, as QEMU keeps it while the VM runs. */
                printf("vfio-probe: pid %ld holds /dev/vfio/%d for %ld s\n", (long) getpid(), group, hold);
                fflush(stdout);
                for (unsigned left = (unsigned) hold; left > 0;)
                        left = sleep(left);
        }
        close(r);
        close(fd);
        close(container);
        return 0;
}
