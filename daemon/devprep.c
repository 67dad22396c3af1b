/* devprep.c — see devprep.h.
 *
 * Why udev's events and not the kernel's for the nodes: devtmpfs creates
 * /dev/vfio/N as root 0600 before any event, and udev then applies its rules
 * to it (a distribution or an administrator may have one for "vfio"). Had we
 * set the owner on the kernel's event, udev could undo it a moment later;
 * after udev's event, what we set stays. The pass itself runs on the worker
 * like every other change, and it also covers nodes that exist at start-up
 * and nodes made by our own claims, since it looks at every claimed group. */
#include <libudev.h>
#include <stdlib.h>

#include "devprep.h"
#include "log.h"
#include "vfpt-devprep.h"
#include "vfpt-util.h"

void manager_devprep_apply(Manager *m, State *st) {
        _cleanup_strv_free_ char **still = NULL;
        VfptDevprepResult res;
        int r;

        r = vfpt_devprep_apply(m->sysfs, st->snapshot, st->plan, m->records_dir, m->vfio_dir, &res);
        if (r < 0) {
                log_error_errno(r, "Cannot prepare the claimed devices: %s", strerror(-r));
                return;
        }
        for (char **c = res.changes; c && *c; c++)
                log_info("%s", *c);
        for (char **e = res.errors; e && *e; e++) {
                /* Every pass tries again; say it once, not once per uevent. */
                if (!strv_contains(m->devprep_errors, *e))
                        log_error("%s", *e);
                (void) strv_extend(&still, *e);
        }
        strv_free(m->devprep_errors);
        m->devprep_errors = TAKE_PTR(still);
        vfpt_devprep_result_clear(&res);
}

static int on_vfio_event(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;
        bool any = false;

        for (;;) {
                struct udev_device *d = udev_monitor_receive_device(m->vfio_monitor);

                if (!d)
                        break;
                log_debug("udev %s vfio %s", strna(udev_device_get_action(d)), strna(udev_device_get_sysname(d)));
                any = true;
                udev_device_unref(d);
        }
        if (any)
                manager_request(m);
        return 0;
}

int manager_devprep_monitor_start(Manager *m) {
        int r;

        m->vfio_monitor = udev_monitor_new_from_netlink(m->udev, "udev");
        if (!m->vfio_monitor)
                return -errno ? -errno : -EIO;
        r = udev_monitor_filter_add_match_subsystem_devtype(m->vfio_monitor, "vfio", NULL);
        if (r < 0)
                return r;
        r = udev_monitor_enable_receiving(m->vfio_monitor);
        if (r < 0)
                return r;
        return sd_event_add_io(m->event, &m->vfio_source, udev_monitor_get_fd(m->vfio_monitor), EPOLLIN,
                               on_vfio_event, m);
}

void manager_devprep_done(Manager *m) {
        m->vfio_source = sd_event_source_disable_unref(m->vfio_source);
        m->vfio_monitor = udev_monitor_unref(m->vfio_monitor);
        m->devprep_errors = strv_free(m->devprep_errors);
}
