/* vfpt-devprep.c — reset_method, owner and mode: see vfpt-devprep.h.
 *
 * Why a record for reset_method: once vfpt wrote "bus", the attribute reads
 * "bus", and no longer says what else the kernel offers. The list read
 * before the first write is kept under the records directory, so that a
 * reload that asks for another method is checked against what the kernel
 * really offers, and so that only devices vfpt narrowed get "default"
 * written back (an administrator's own setting on another device is left
 * alone). The file is written before the attribute, and removed after
 * "default" went back, so a crash in between errs on the side of restoring.
 *
 * Why owner/mode are looked at on every pass rather than once: the node
 * comes and goes with the group's binding to vfio-pci (claim, hotplug,
 * release, a restart of the daemon finds it there), and udev may apply its
 * own rules to it after we did; the daemon runs a pass after udev's event
 * for the node too, and the pass only writes what differs. */
#include <ctype.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdint.h>
#include <sys/stat.h>

#include "vfpt-devprep.h"
#include "vfpt-names.h"
#include "vfpt-util.h"

static const char *const reset_methods[] = { VFPT_RESET_METHODS };

/* ---- configuration values ---- */

static bool reset_method_known(const char *m) {
        for (size_t i = 0; i < ELEMENTSOF(reset_methods); i++)
                if (streq(m, reset_methods[i]))
                        return true;
        return false;
}

static bool word_in_list(const char *word, const char *list) {
        _cleanup_free_ char *copy = strdup(list ? list : "");
        char *save = NULL;

        if (!copy)
                return false;
        for (char *w = strtok_r(copy, " \t,", &save); w; w = strtok_r(NULL, " \t,", &save))
                if (streq(w, word))
                        return true;
        return false;
}

int vfpt_reset_method_parse(const char *value, char **ret, char **ret_error) {
        _cleanup_free_ char *copy = strdup(value), *out = NULL;
        char *save = NULL;
        size_t n = 0;

        *ret = NULL;
        *ret_error = NULL;
        if (!copy)
                return -ENOMEM;
        for (char *w = strtok_r(copy, " \t,", &save); w; w = strtok_r(NULL, " \t,", &save)) {
                char *more;

                if (streq(w, VFPT_RESET_METHOD_DEFAULT)) {
                        *ret_error = strdup("'default' is what vfptd writes back on release; leave the key out "
                                            "to keep the kernel's methods");
                        return *ret_error ? -EINVAL : -ENOMEM;
                }
                if (!reset_method_known(w)) {
                        *ret_error = strdup_printf("unknown reset method '%s'; expected some of device_specific, "
                                                   "acpi, flr, af_flr, pm, bus, cxl_bus", w);
                        return *ret_error ? -EINVAL : -ENOMEM;
                }
                if (out && word_in_list(w, out)) {
                        *ret_error = strdup_printf("reset method '%s' is given twice", w);
                        return *ret_error ? -EINVAL : -ENOMEM;
                }
                more = out ? strdup_printf("%s %s", out, w) : strdup(w);
                if (!more)
                        return -ENOMEM;
                free(out);
                out = more;
                n++;
        }
        /* The kernel takes an empty write as "never reset this device"; vfio
         * then cannot give a VM a clean device, so that is not offered. */
        if (n == 0) {
                *ret_error = strdup("expected one or more reset methods (e.g. 'pm bus'); an empty list, "
                                    "which would disable reset, is not allowed");
                return *ret_error ? -EINVAL : -ENOMEM;
        }
        *ret = TAKE_PTR(out);
        return 0;
}

/* A number that is a whole id: digits only, below (uid_t) -1. */
static bool parse_id(const char *s, uint32_t *ret) {
        unsigned long long v = 0;

        if (!*s || strlen(s) > 10)
                return false;
        for (const char *p = s; *p; p++) {
                if (!isdigit((unsigned char) *p))
                        return false;
                v = v * 10 + (unsigned) (*p - '0');
        }
        if (v >= UINT32_MAX)
                return false;
        *ret = (uint32_t) v;
        return true;
}

/* What useradd and systemd accept as a user or group name. */
static bool name_valid(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > 32 || !(isalpha((unsigned char) s[0]) || s[0] == '_'))
                return false;
        for (size_t i = 1; i < n; i++)
                if (!isalnum((unsigned char) s[i]) && s[i] != '_' && s[i] != '-' && s[i] != '.' &&
                    !(s[i] == '$' && i == n - 1))
                        return false;
        return true;
}

static int lookup_user(const char *name, uid_t *ret) {
        struct passwd pw, *res = NULL;
        char buf[4096];
        int r = getpwnam_r(name, &pw, buf, sizeof(buf), &res);

        if (r == ENOMEM)
                return -ENOMEM;
        if (r != 0 || !res)
                return -ENOENT;
        *ret = res->pw_uid;
        return 0;
}

static int lookup_group(const char *name, gid_t *ret) {
        struct group gr, *res = NULL;
        char buf[4096];
        int r = getgrnam_r(name, &gr, buf, sizeof(buf), &res);

        if (r == ENOMEM)
                return -ENOMEM;
        if (r != 0 || !res)
                return -ENOENT;
        *ret = res->gr_gid;
        return 0;
}

int vfpt_owner_parse(const char *value, uid_t *ret_uid, gid_t *ret_gid, char **ret_error) {
        _cleanup_free_ char *user = strdup(value);
        char *group;
        uint32_t id;
        uid_t uid;
        gid_t gid = (gid_t) -1;
        int r;

        *ret_error = NULL;
        if (!user)
                return -ENOMEM;
        group = strchr(user, ':');
        if (group)
                *group++ = '\0';

        if (parse_id(user, &id))
                uid = (uid_t) id;
        else if (!name_valid(user)) {
                *ret_error = strdup_printf("expected USER or USER:GROUP (names or numeric ids), got '%s'", value);
                return *ret_error ? -EINVAL : -ENOMEM;
        } else if ((r = lookup_user(user, &uid)) < 0) {
                if (r == -ENOMEM)
                        return r;
                *ret_error = strdup_printf("no user '%s' on this system (a numeric id is taken as it is)", user);
                return *ret_error ? -EINVAL : -ENOMEM;
        }

        if (group) {
                if (parse_id(group, &id))
                        gid = (gid_t) id;
                else if (!name_valid(group)) {
                        *ret_error = strdup_printf("expected USER or USER:GROUP (names or numeric ids), got '%s'", value);
                        return *ret_error ? -EINVAL : -ENOMEM;
                } else if ((r = lookup_group(group, &gid)) < 0) {
                        if (r == -ENOMEM)
                                return r;
                        *ret_error = strdup_printf("no group '%s' on this system (a numeric id is taken as it is)", group);
                        return *ret_error ? -EINVAL : -ENOMEM;
                }
        }
        *ret_uid = uid;
        *ret_gid = gid;
        return 0;
}

int vfpt_mode_parse(const char *value, mode_t *ret, char **ret_error) {
        size_t n = strlen(value);
        unsigned v = 0;

        *ret_error = NULL;
        if (n < 3 || n > 4)
                goto bad;
        for (size_t i = 0; i < n; i++) {
                if (value[i] < '0' || value[i] > '7')
                        goto bad;
                v = v * 8 + (unsigned) (value[i] - '0');
        }
        if (v & ~0777u) {
                *ret_error = strdup_printf("'%s' has setuid, setgid or sticky bits; a device node takes permission bits only (0000-0777)", value);
                return *ret_error ? -EINVAL : -ENOMEM;
        }
        *ret = (mode_t) v;
        return 0;
bad:
        *ret_error = strdup_printf("expected an octal mode like 0660 or 660, got '%s'", value);
        return *ret_error ? -EINVAL : -ENOMEM;
}

/* ---- the planner's checks ---- */

static char *owner_text(const VfptRule *r) {
        if (!r->owner)
                return strdup("");
        return strdup_printf("owner %s", r->owner);
}

int vfpt_devprep_group_conflict(const VfptRule *const *matched, const VfptSnapshot *snap,
                                const size_t *members, size_t n_members, char **ret) {
        const VfptRule *owner = NULL, *mode = NULL;

        *ret = NULL;
        for (size_t k = 0; k < n_members; k++) {
                const VfptRule *r = matched[members[k]];

                if (!r || snap->devices[members[k]].bridge)
                        continue;
                if (r->owner) {
                        if (!owner)
                                owner = r;
                        else if (owner->owner_uid != r->owner_uid || owner->owner_gid != r->owner_gid) {
                                _cleanup_free_ char *a = owner_text(owner), *b = owner_text(r);
                                if (!a || !b)
                                        return -ENOMEM;
                                *ret = strdup_printf("rules '%s' (%s) and '%s' (%s) claim devices of group %d with "
                                                     "different owners for its /dev/vfio node",
                                                     owner->name, a, r->name, b, snap->devices[members[k]].group);
                                return *ret ? 0 : -ENOMEM;
                        }
                }
                if (r->has_mode) {
                        if (!mode)
                                mode = r;
                        else if (mode->mode != r->mode) {
                                *ret = strdup_printf("rules '%s' (mode %04o) and '%s' (mode %04o) claim devices of group %d "
                                                     "with different modes for its /dev/vfio node",
                                                     mode->name, (unsigned) mode->mode, r->name, (unsigned) r->mode,
                                                     snap->devices[members[k]].group);
                                return *ret ? 0 : -ENOMEM;
                        }
                }
        }
        return 0;
}

int vfpt_devprep_reset_refusal(const VfptRule *const *matched, const VfptSnapshot *snap,
                               const size_t *members, size_t n_members, char **ret) {
        *ret = NULL;
        for (size_t k = 0; k < n_members; k++) {
                const VfptDevice *d = &snap->devices[members[k]];
                const VfptRule *r = matched[members[k]];
                const char *offered;
                _cleanup_free_ char *copy = NULL;
                char *save = NULL;

                if (!r || !r->reset_method || d->bridge)
                        continue;
                offered = d->reset_method_offered ? d->reset_method_offered : d->reset_method;
                if (!offered || !*offered) {
                        *ret = strdup_printf("rule '%s' asks for reset_method '%s', but the kernel offers no reset "
                                             "method for %s", r->name, r->reset_method, d->name);
                        return *ret ? 0 : -ENOMEM;
                }
                copy = strdup(r->reset_method);
                if (!copy)
                        return -ENOMEM;
                for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save))
                        if (!word_in_list(w, offered)) {
                                *ret = strdup_printf("rule '%s' asks for reset method '%s', which the kernel does not "
                                                     "offer for %s (it offers: %s)", r->name, w, d->name, offered);
                                return *ret ? 0 : -ENOMEM;
                        }
        }
        return 0;
}

/* ---- records ---- */

static char *reset_records_dir(const char *records_dir) {
        return strdup_printf("%s/%s", records_dir, VFPT_RESET_RECORDS_SUBDIR);
}

int vfpt_devprep_read_records(VfptSnapshot *snap, const char *records_dir) {
        _cleanup_free_ char *dir = NULL;
        _cleanup_close_ int fd = -1;

        if (!records_dir)
                return 0;
        dir = reset_records_dir(records_dir);
        if (!dir)
                return -ENOMEM;
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        for (size_t i = 0; i < snap->n_devices; i++) {
                VfptDevice *d = &snap->devices[i];
                char *v = NULL;
                int r;

                free(d->reset_method_offered);
                d->reset_method_offered = NULL;
                if (fd < 0)
                        continue;
                r = read_attr(fd, d->name, &v);
                if (r == -ENOMEM)
                        return r;
                if (r >= 0)
                        d->reset_method_offered = v;
        }
        return 0;
}

int vfpt_devprep_prune_records(const char *records_dir, const VfptSnapshot *snap) {
        _cleanup_free_ char *dir = reset_records_dir(records_dir);
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;

        if (!dir)
                return -ENOMEM;
        d = opendir(dir);
        if (!d)
                return errno == ENOENT ? 0 : -errno;
        while ((de = readdir(d))) {
                VfptAddress a;

                if (de->d_name[0] == '.' || vfpt_address_parse(de->d_name, &a) < 0 || vfpt_snapshot_find(snap, &a))
                        continue;
                if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT)
                        return -errno;
        }
        return 0;
}

/* Written whole under a temporary name and renamed, so a record is never half there. */
static int reset_record_write(const char *records_dir, const char *address, const char *offered) {
        _cleanup_free_ char *dir = reset_records_dir(records_dir), *tmp = NULL;
        _cleanup_close_ int dfd = -1;
        int r;

        if (!dir)
                return -ENOMEM;
        if (mkdir(records_dir, 0755) < 0 && errno != EEXIST)
                return -errno;
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return -errno;
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        tmp = strdup_printf(".%s.tmp", address);
        if (!tmp)
                return -ENOMEM;
        {
                _cleanup_close_ int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
                _cleanup_free_ char *text = strdup_printf("%s\n", offered);
                size_t n;

                if (fd < 0)
                        return -errno;
                if (!text)
                        return -ENOMEM;
                n = strlen(text);
                if (write(fd, text, n) != (ssize_t) n) {
                        r = errno ? -errno : -EIO;
                        (void) unlinkat(dfd, tmp, 0);
                        return r;
                }
        }
        if (renameat(dfd, tmp, dfd, address) < 0) {
                r = -errno;
                (void) unlinkat(dfd, tmp, 0);
                return r;
        }
        return 0;
}

static int reset_record_remove(const char *records_dir, const char *address) {
        _cleanup_free_ char *path = strdup_printf("%s/%s/%s", records_dir, VFPT_RESET_RECORDS_SUBDIR, address);

        if (!path)
                return -ENOMEM;
        if (unlink(path) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

/* ---- applying ---- */

void vfpt_devprep_result_clear(VfptDevprepResult *r) {
        if (!r)
                return;
        r->changes = strv_free(r->changes);
        r->errors = strv_free(r->errors);
}

static int result_add(char ***l, char *s) {
        return strv_push(l, s); /* takes s; NULL (no memory) fails */
}

static int reset_write(VfptSysfs *s, VfptDevice *d, const char *value) {
        _cleanup_close_ int fd = -1;
        char dir[64];
        char *now = NULL;
        int r;

        r = vfpt_sysfs_open_device(s, d->name, &fd);
        if (r < 0)
                return r;
        snprintf(dir, sizeof(dir), VFPT_SYSFS_PCI_DEVICES "/%s", d->name);
        r = vfpt_sysfs_write(s, fd, dir, VFPT_ATTR_RESET_METHOD, value);
        if (r < 0)
                return r;
        if (read_attr(fd, VFPT_ATTR_RESET_METHOD, &now) >= 0) {
                free(d->reset_method);
                d->reset_method = now;
        }
        return 0;
}

static int reset_apply(VfptSysfs *s, VfptDevice *d, const VfptRule *rule, const char *records_dir,
                       VfptDevprepResult *res) {
        const char *want = rule ? rule->reset_method : NULL;
        int r;

        if (want) {
                if (streq_ptr(d->reset_method, want))
                        return 0;
                /* Checked by the planner against the same snapshot: a
                 * refused device never gets here. Remember what the kernel
                 * offered before the first narrowing. */
                if (!d->reset_method_offered) {
                        if (!d->reset_method)
                                return 0;
                        r = reset_record_write(records_dir, d->name, d->reset_method);
                        if (r < 0)
                                return result_add(&res->errors,
                                                  strdup_printf("%s: cannot record its reset methods in %s/%s: %s; "
                                                                "reset_method '%s' not set (rule '%s')",
                                                                d->name, records_dir, VFPT_RESET_RECORDS_SUBDIR,
                                                                strerror(-r), want, rule->name));
                        d->reset_method_offered = strdup(d->reset_method);
                        if (!d->reset_method_offered)
                                return -ENOMEM;
                }
                r = reset_write(s, d, want);
                if (r < 0)
                        return result_add(&res->errors,
                                          strdup_printf("%s: cannot set reset_method to '%s' (rule '%s'; offered: %s): %s",
                                                        d->name, want, rule->name, d->reset_method_offered,
                                                        strerror(-r)));
                return result_add(&res->changes, strdup_printf("%s: reset_method set to '%s' (rule '%s'; the kernel offers '%s')",
                                                               d->name, want, rule->name, d->reset_method_offered));
        }

        /* Narrowed by vfpt earlier, and nothing asks for it now. */
        if (!d->reset_method_offered)
                return 0;
        r = reset_write(s, d, VFPT_RESET_METHOD_DEFAULT);
        if (r < 0)
                return result_add(&res->errors, strdup_printf("%s: cannot write 'default' to reset_method: %s",
                                                              d->name, strerror(-r)));
        r = reset_record_remove(records_dir, d->name);
        if (r < 0)
                return result_add(&res->errors, strdup_printf("%s: reset_method is back to default, but its record "
                                                              "cannot be removed: %s", d->name, strerror(-r)));
        free(d->reset_method_offered);
        d->reset_method_offered = NULL;
        return result_add(&res->changes, strdup_printf("%s: reset_method back to default (%s)", d->name,
                                                       strna(d->reset_method)));
}

char *vfpt_node_owner_format(uid_t uid, gid_t gid, mode_t mode) {
        struct passwd pw, *pres = NULL;
        struct group gr, *gres = NULL;
        char pbuf[4096], gbuf[4096], u[32], g[32];

        snprintf(u, sizeof(u), "%u", (unsigned) uid);
        snprintf(g, sizeof(g), "%u", (unsigned) gid);
        (void) getpwuid_r(uid, &pw, pbuf, sizeof(pbuf), &pres);
        (void) getgrgid_r(gid, &gr, gbuf, sizeof(gbuf), &gres);
        return strdup_printf("%s:%s %04o", pres ? pres->pw_name : u, gres ? gres->gr_name : g,
                             (unsigned) (mode & 07777));
}

/* The owner and mode the rules of a group ask for (the planner made sure
 * they agree); false when none asks. */
static bool group_wants(const VfptPlan *plan, int group, const VfptRule **ret_owner, const VfptRule **ret_mode) {
        *ret_owner = *ret_mode = NULL;
        for (size_t i = 0; i < plan->n_devices; i++) {
                const VfptPlanDevice *pd = &plan->devices[i];

                if (pd->device == SIZE_MAX || pd->group != group || pd->state != VFPT_STATE_CLAIMED || !pd->rule)
                        continue;
                if (pd->rule->owner && !*ret_owner)
                        *ret_owner = pd->rule;
                if (pd->rule->has_mode && !*ret_mode)
                        *ret_mode = pd->rule;
        }
        return *ret_owner || *ret_mode;
}

/* Sets the node's owner and mode where they differ; *ret_text says what it is
 * now (NULL when there is no node). */
static int node_apply(int vfio_fd, const char *vfio_dir, int group, const VfptRule *owner, const VfptRule *mode,
                      VfptDevprepResult *res, char **ret_text) {
        char name[16];
        struct stat st;
        int r;

        *ret_text = NULL;
        snprintf(name, sizeof(name), "%d", group);
        if (vfio_fd < 0 || fstatat(vfio_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return 0; /* not there (yet): udev's event for it brings another pass */
        /* Only the node itself: never follow a link out of the directory. */
        if (S_ISLNK(st.st_mode) || S_ISDIR(st.st_mode)) {
                if (owner || mode)
                        return result_add(&res->errors, strdup_printf("%s/%s is not a device node; owner and mode left alone",
                                                                      vfio_dir, name));
                return 0;
        }
        /* Mode first, while the node is still root's: then only a node
         * someone changed later needs CAP_FOWNER for its mode. */
        if (mode && (st.st_mode & 07777) != mode->mode) {
                if (fchmodat(vfio_fd, name, mode->mode, 0) < 0) {
                        r = -errno;
                        return result_add(&res->errors, strdup_printf("%s/%s: cannot set mode %04o (rule '%s'): %s",
                                                                      vfio_dir, name, (unsigned) mode->mode,
                                                                      mode->name, strerror(-r)));
                }
                r = result_add(&res->changes, strdup_printf("%s/%s: mode set to %04o (rule '%s')", vfio_dir, name,
                                                            (unsigned) mode->mode, mode->name));
                if (r < 0)
                        return r;
        }
        if (owner && (st.st_uid != owner->owner_uid ||
                      (owner->owner_gid != (gid_t) -1 && st.st_gid != owner->owner_gid))) {
                if (fchownat(vfio_fd, name, owner->owner_uid, owner->owner_gid, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = -errno;
                        return result_add(&res->errors, strdup_printf("%s/%s: cannot set owner %s (rule '%s'): %s",
                                                                      vfio_dir, name, owner->owner, owner->name,
                                                                      strerror(-r)));
                }
                r = result_add(&res->changes, strdup_printf("%s/%s: owner set to %s (rule '%s')", vfio_dir, name,
                                                            owner->owner, owner->name));
                if (r < 0)
                        return r;
        }
        if (fstatat(vfio_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return 0;
        *ret_text = vfpt_node_owner_format(st.st_uid, st.st_gid, st.st_mode);
        return *ret_text ? 0 : -ENOMEM;
}

int vfpt_devprep_apply(VfptSysfs *s, VfptSnapshot *snap, const VfptPlan *plan, const char *records_dir,
                       const char *vfio_dir, VfptDevprepResult *ret) {
        _cleanup_close_ int vfio_fd = -1;
        _cleanup_free_ int *done = NULL;
        size_t n_done = 0;
        int r;

        *ret = (VfptDevprepResult) {};

        /* Reset methods, device by device. */
        for (size_t i = 0; records_dir && i < snap->n_devices; i++) {
                VfptDevice *d = &snap->devices[i];
                const VfptPlanDevice *pd = vfpt_plan_find_device(plan, i);
                const VfptRule *rule = NULL;

                if (pd && pd->state != VFPT_STATE_CLAIMED && pd->state != VFPT_STATE_RELEASED)
                        continue; /* being worked on, refused or failed: left as it is */
                if (pd && pd->state == VFPT_STATE_CLAIMED)
                        rule = pd->rule;
                if (!pd && !d->reset_method_offered)
                        continue;
                if ((r = reset_apply(s, d, rule, records_dir, ret)) < 0)
                        goto fail;
        }

        /* The group nodes, once per group with a claimed device. */
        vfio_fd = open(vfio_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        done = calloc(plan->n_devices + 1, sizeof(int));
        if (!done) {
                r = -ENOMEM;
                goto fail;
        }
        for (size_t i = 0; i < plan->n_devices; i++) {
                const VfptPlanDevice *pd = &plan->devices[i];
                const VfptRule *owner, *mode;
                _cleanup_free_ char *text = NULL;
                bool seen = false;

                if (pd->device == SIZE_MAX || pd->group < 0 || pd->state != VFPT_STATE_CLAIMED ||
                    !vfpt_device_is_vfio_driver(pd->target))
                        continue;
                for (size_t k = 0; k < n_done && !seen; k++)
                        seen = done[k] == pd->group;
                if (seen)
                        continue;
                done[n_done++] = pd->group;
                (void) group_wants(plan, pd->group, &owner, &mode);
                if ((r = node_apply(vfio_fd, vfio_dir, pd->group, owner, mode, ret, &text)) < 0)
                        goto fail;
                /* Every claimed device of the group shows its node. */
                for (size_t j = 0; j < plan->n_devices; j++) {
                        const VfptPlanDevice *o = &plan->devices[j];
                        VfptDevice *d;

                        if (o->device == SIZE_MAX || o->group != pd->group || o->state != VFPT_STATE_CLAIMED)
                                continue;
                        d = &snap->devices[o->device];
                        free(d->node_owner);
                        d->node_owner = text ? strdup(text) : NULL;
                        if (text && !d->node_owner) {
                                r = -ENOMEM;
                                goto fail;
                        }
                }
        }
        return 0;
fail:
        vfpt_devprep_result_clear(ret);
        return r;
}
