/* vfpt-exec.c — carries out a group's steps against sysfs, all or nothing:
 * when a step fails, every device of the group goes back to the driver and
 * driver_override it had, and the caller learns which device and step failed.
 * Also the records of original drivers under /run. */
#include <fcntl.h>
#include <sys/stat.h>

#include "vfpt-devprep.h"
#include "vfpt-exec.h"
#include "vfpt-holders.h"
#include "vfpt-names.h"
#include "vfpt-util.h"

/* What has been done to one device, so that it can be undone. */
typedef struct Touched {
        int fd;               /* the device directory, -1 until opened */
        bool override_written;
        bool record_created;
        bool changed_binding; /* unbound or probed */
        char *raced;          /* a driver that bound after the snapshot was taken */
        char *taken;          /* a driver the probe step had to unbind first */
} Touched;

void vfpt_exec_result_clear(VfptExecResult *r) {
        strv_free(r->taken);
        free(r->message);
        free(r->rollback_message);
        *r = (VfptExecResult) {};
}

static int mkdir_p(const char *path, mode_t mode) {
        _cleanup_free_ char *p = strdup(path);

        if (!p)
                return -ENOMEM;
        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = '\0';
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        if (mkdir(p, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

/* Returns 1 when written, 0 when a record already existed. The record appears
 * whole or not at all: written to a temporary name, then linked into place,
 * which also refuses to replace an older record. */
static int record_write(const char *dir, const char *address, const char *driver) {
        _cleanup_free_ char *tmp = NULL, *path = NULL;
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *content = strdup_printf("%s\n", driver ? driver : "");
        int r;

        if (!content)
                return -ENOMEM;
        r = mkdir_p(dir, 0755);
        if (r < 0)
                return r;
        path = strdup_printf("%s/%s", dir, address);
        tmp = strdup_printf("%s/.%s.tmp", dir, address);
        if (!path || !tmp)
                return -ENOMEM;
        if (access(path, F_OK) == 0)
                return 0;
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        ssize_t n = write(fd, content, strlen(content));
        if (n != (ssize_t) strlen(content) || fsync(fd) < 0) {
                r = n < 0 || n == (ssize_t) strlen(content) ? -errno : -EIO;
                unlink(tmp);
                return r;
        }
        if (link(tmp, path) < 0) {
                r = -errno;
                unlink(tmp);
                return r == -EEXIST ? 0 : r;
        }
        unlink(tmp);
        return 1;
}

int vfpt_record_write(const char *records_dir, const char *address, const char *driver) {
        int r = record_write(records_dir, address, driver);
        return r < 0 ? r : 0;
}

int vfpt_record_read(const char *records_dir, const char *address, char **ret) {
        _cleanup_close_ int fd = open(records_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        char *v;
        int r;

        if (fd < 0)
                return -errno;
        r = read_attr(fd, address, &v);
        if (r < 0)
                return r;
        if (!*v) {
                free(v);
                v = NULL;
        }
        *ret = v;
        return 0;
}

int vfpt_record_remove(const char *records_dir, const char *address) {
        _cleanup_free_ char *path = strdup_printf("%s/%s", records_dir, address);

        if (!path)
                return -ENOMEM;
        if (unlink(path) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

int vfpt_records_prune(const char *records_dir, const VfptSnapshot *snap, char ***ret_removed) {
        _cleanup_closedir_ DIR *d = opendir(records_dir);
        struct dirent *de;
        int r;

        if (!d)
                return errno == ENOENT ? 0 : -errno;
        while ((de = readdir(d))) {
                VfptAddress a;

                if (de->d_name[0] == '.' || vfpt_address_parse(de->d_name, &a) < 0)
                        continue;
                if (vfpt_snapshot_find(snap, &a))
                        continue;
                if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT)
                        return -errno;
                if (ret_removed && (r = strv_extend(ret_removed, de->d_name)) < 0)
                        return r;
        }
        return vfpt_devprep_prune_records(records_dir, snap);
}

int vfpt_snapshot_read_records(VfptSnapshot *snap, const char *records_dir) {
        _cleanup_close_ int fd = open(records_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        for (size_t i = 0; i < snap->n_devices; i++) {
                VfptDevice *d = &snap->devices[i];
                char *v = NULL;
                int r;

                free(d->recorded_driver);
                d->recorded_driver = NULL;
                d->recorded = false;
                if (fd < 0)
                        continue; /* no records yet */
                r = read_attr(fd, d->name, &v);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        continue;
                d->recorded = true;
                if (*v)
                        d->recorded_driver = v;
                else
                        free(v);
        }
        /* And what vfpt-devprep.c keeps beside them. */
        return vfpt_devprep_read_records(snap, records_dir);
}

static int device_dir(const char *address, char **ret) {
        *ret = strdup_printf(VFPT_SYSFS_PCI_DEVICES "/%s", address);
        return *ret ? 0 : -ENOMEM;
}

static int write_device(VfptSysfs *s, int fd, const char *address, const char *attr, const char *value) {
        _cleanup_free_ char *dir = NULL;
        int r = device_dir(address, &dir);

        if (r < 0)
                return r;
        r = vfpt_sysfs_write(s, fd, dir, attr, value);
        /* The attribute of a device directory that was removed under us. */
        if (r == -ENOENT && faccessat(fd, VFPT_ATTR_VENDOR, F_OK, 0) < 0)
                return -ENODEV;
        return r;
}

static int write_root(VfptSysfs *s, const char *dir, const char *attr, const char *value) {
        _cleanup_close_ int fd = openat(vfpt_sysfs_root_fd(s), dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0)
                return -errno;
        return vfpt_sysfs_write(s, fd, dir, attr, value);
}

static int touched_open(VfptSysfs *s, Touched *t, const char *address) {
        int r;

        if (t->fd >= 0)
                return 0;
        r = vfpt_sysfs_open_device(s, address, &t->fd);
        return r == -ENOENT ? -ENODEV : r;
}

static int run_step(VfptSysfs *s, const VfptDevice *d, const VfptStep *step, Touched *t,
                    const char *records_dir, char **ret_what) {
        _cleanup_free_ char *cur = NULL;
        int r;

        *ret_what = NULL;
        r = touched_open(s, t, d->name);
        if (r < 0)
                return r;

        switch (step->kind) {
        case VFPT_STEP_OVERRIDE:
                *ret_what = step->driver ? strdup_printf("set driver_override to %s", step->driver)
                                         : strdup("clear driver_override");
                t->override_written = true; /* a failed write may still have landed */
                return write_device(s, t->fd, d->name, VFPT_ATTR_DRIVER_OVERRIDE,
                                    step->driver ? step->driver : "\n");

        case VFPT_STEP_HOLDERS: {
                _cleanup_free_ char *node = NULL, *comm = NULL;
                pid_t pid;
                int busy;

                if (d->group < 0)
                        return 0;
                node = strdup_printf("%s/%d", vfpt_sysfs_vfio_dir(s), d->group);
                if (!node)
                        return -ENOMEM;
                busy = vfpt_vfio_group_busy(node);
                r = vfpt_holders_find(vfpt_sysfs_proc_root(s), node, &pid, &comm);
                if (r < 0) {
                        *ret_what = strdup_printf("check who holds %s", node);
                        return r;
                }
                if (r > 0) {
                        *ret_what = strdup_printf("release: %s is open by pid %d (%s); stop it first",
                                                  node, (int) pid, strna(comm));
                        return -EBUSY;
                }
                if (busy != 0) {
                        *ret_what = strdup_printf("release: %s is %s by a process vfptd cannot see; stop the VM first",
                                                  node, busy > 0 ? "open" : "perhaps open");
                        return -EBUSY;
                }
                return 0;
        }

        case VFPT_STEP_BIND: {
                _cleanup_free_ char *dir = strdup_printf(VFPT_SYSFS_PCI_DRIVERS "/%s", step->driver);

                if (!dir)
                        return -ENOMEM;
                *ret_what = strdup_printf("bind to %s", step->driver);
                t->changed_binding = true;
                r = write_root(s, dir, VFPT_ATTR_BIND, d->name);
                /* The recorded driver is gone (its module was removed): let
                 * the kernel find whatever driver matches instead. */
                if (r == -ENOENT)
                        r = write_root(s, "bus/pci", "drivers_probe", d->name);
                return r;
        }

        case VFPT_STEP_FORGET:
                *ret_what = strdup("remove the record");
                return records_dir ? vfpt_record_remove(records_dir, d->name) : 0;

        case VFPT_STEP_RECORD:
                *ret_what = strdup_printf("record original driver in %s", strna(records_dir));
                /* A hotplugged device's host driver may have bound since the
                 * snapshot: that one is what the device goes back to. */
                r = vfpt_sysfs_read_driver(t->fd, &cur);
                if (r < 0)
                        return r;
                if (cur && !d->driver && !vfpt_device_is_vfio_driver(cur) && !streq(cur, VFPT_DRIVER_PCI_STUB)) {
                        free(t->raced);
                        t->raced = TAKE_PTR(cur);
                }
                if (!records_dir)
                        return 0;
                r = record_write(records_dir, d->name, t->raced ? t->raced : step->driver);
                if (r > 0)
                        t->record_created = true;
                return r < 0 ? r : 0;

        case VFPT_STEP_UNBIND:
                r = vfpt_sysfs_read_driver(t->fd, &cur);
                if (r < 0)
                        return r;
                *ret_what = strdup_printf("unbind from %s", strna(cur ? cur : step->driver));
                if (!cur)
                        return 0; /* someone unbound it already */
                t->changed_binding = true;
                return write_device(s, t->fd, d->name, VFPT_ATTR_DRIVER_UNBIND, d->name);

        case VFPT_STEP_PROBE:
                /* Lost a race with a host driver that bound after the
                 * snapshot: take the device from it first. */
                if (step->driver) {
                        r = vfpt_sysfs_read_driver(t->fd, &cur);
                        if (r < 0)
                                return r;
                        if (cur && !streq(cur, step->driver)) {
                                *ret_what = strdup_printf("unbind from %s", cur);
                                free(t->taken);
                                t->taken = strdup(cur);
                                t->changed_binding = true;
                                r = write_device(s, t->fd, d->name, VFPT_ATTR_DRIVER_UNBIND, d->name);
                                if (r < 0)
                                        return r;
                                free(*ret_what);
                        }
                }
                *ret_what = strdup_printf("probe for %s", strna(step->driver));
                t->changed_binding = true;
                return write_root(s, "bus/pci", "drivers_probe", d->name);

        case VFPT_STEP_VERIFY:
                r = vfpt_sysfs_read_driver(t->fd, &cur);
                if (r < 0)
                        return r;
                if (streq_ptr(cur, step->driver))
                        return 0;
                if (!step->driver && !vfpt_device_is_vfio_driver(cur) && !streq_ptr(cur, VFPT_DRIVER_PCI_STUB))
                        return 0; /* released with no driver recorded: any host driver, or none */
                *ret_what = cur ? strdup_printf("verify: bound to %s, not %s", cur, step->driver)
                                : strdup_printf("verify: no driver took it, expected %s (is the module loaded?)",
                                                step->driver);
                return -ENXIO;

        default:
                return -EINVAL;
        }
}

/* Puts one device back as the snapshot saw it. Returns 0 or -errno, and
 * describes a failure in *ret_what. */
static int rollback_device(VfptSysfs *s, const VfptDevice *d, Touched *t, const char *records_dir,
                           char **ret_what) {
        _cleanup_free_ char *cur = NULL;
        const char *original = t->raced ? t->raced : d->driver;
        int r;

        *ret_what = NULL;
        if (t->fd < 0)
                return 0;
        /* The override first: with it still naming vfio-pci the original
         * driver could not bind. */
        if (t->override_written) {
                r = write_device(s, t->fd, d->name, VFPT_ATTR_DRIVER_OVERRIDE,
                                 d->driver_override ? d->driver_override : "\n");
                if (r < 0) {
                        *ret_what = strdup("restore driver_override");
                        return r;
                }
        }
        if (t->record_created)
                (void) vfpt_record_remove(records_dir, d->name);
        if (!t->changed_binding)
                return 0;

        r = vfpt_sysfs_read_driver(t->fd, &cur);
        if (r < 0) {
                *ret_what = strdup("read driver");
                return r;
        }
        if (streq_ptr(cur, original))
                return 0;
        if (cur) {
                r = write_device(s, t->fd, d->name, VFPT_ATTR_DRIVER_UNBIND, d->name);
                if (r < 0) {
                        *ret_what = strdup_printf("unbind from %s", cur);
                        return r;
                }
        }
        if (!original)
                return 0;

        _cleanup_free_ char *dir = strdup_printf(VFPT_SYSFS_PCI_DRIVERS "/%s", original);
        if (!dir)
                return -ENOMEM;
        r = write_root(s, dir, VFPT_ATTR_BIND, d->name);
        free(cur);
        cur = NULL;
        if (vfpt_sysfs_read_driver(t->fd, &cur) >= 0 && streq_ptr(cur, original))
                return 0;
        *ret_what = strdup_printf("bind to %s again", original);
        return r < 0 ? r : -ENXIO;
}

int vfpt_exec_group(VfptSysfs *s, const VfptSnapshot *snap, const VfptPlanGroup *g,
                    const char *records_dir, VfptExecResult *ret) {
        _cleanup_free_ Touched *touched = NULL;
        int r = 0;

        *ret = (VfptExecResult) {};
        if (g->refused || g->n_steps == 0)
                return 0;
        touched = calloc(snap->n_devices, sizeof(Touched));
        if (!touched)
                return -ENOMEM;
        for (size_t i = 0; i < snap->n_devices; i++)
                touched[i].fd = -1;

        for (size_t k = 0; k < g->n_steps; k++) {
                const VfptStep *step = &g->steps[k];
                const VfptDevice *d = &snap->devices[step->device];
                _cleanup_free_ char *what = NULL;

                r = run_step(s, d, step, &touched[step->device], records_dir, &what);
                if (r >= 0)
                        continue;
                ret->error = r;
                ret->device = step->device;
                ret->step = step->kind;
                ret->message = strdup_printf("%s: %s: %s", d->name,
                                             what ? what : vfpt_step_kind_to_string(step->kind),
                                             r == -ENODEV ? "device is gone" : strerror(-r));
                break;
        }

        if (r < 0)
                /* Undo in reverse order of members, so the group is whole
                 * again before anything probes. */
                for (size_t m = g->n_members; m-- > 0;) {
                        size_t i = g->members[m];
                        _cleanup_free_ char *what = NULL;
                        int q = rollback_device(s, &snap->devices[i], &touched[i], records_dir, &what);

                        if (q < 0 && !ret->rollback_error) {
                                ret->rollback_error = q;
                                ret->rollback_message = strdup_printf("%s: rollback: %s: %s", snap->devices[i].name,
                                                                      what ? what : "?", strerror(-q));
                        }
                }

        for (size_t i = 0; i < snap->n_devices; i++) {
                if (touched[i].fd >= 0)
                        close(touched[i].fd);
                if (r >= 0 && touched[i].taken)
                        (void) strv_push(&ret->taken, strdup_printf("%s %s", snap->devices[i].name, touched[i].taken));
                free(touched[i].taken);
                free(touched[i].raced);
        }
        return r;
}
