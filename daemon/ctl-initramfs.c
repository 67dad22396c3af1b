/* ctl-initramfs.c — see ctl-initramfs.h. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl-initramfs.h"
#include "vfpt-config.h"
#include "bus-names.h"
#include "vfpt-names.h"
#include "vfpt-util.h"

#define INITRD_PREFIX "initrd.img-"

static bool has_suffix(const char *s, const char *suffix) {
        size_t a = strlen(s), b = strlen(suffix);
        return a >= b && streq(s + a - b, suffix);
}

/* The whole file, or NULL (errno set) when it cannot be read. */
static char *read_all(const char *path, size_t *ret_len) {
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        char *buf = NULL;
        size_t len = 0;
        FILE *mem;

        if (!f)
                return NULL;
        mem = open_memstream(&buf, &len);
        if (!mem)
                return NULL;
        for (;;) {
                char chunk[4096];
                size_t n = fread(chunk, 1, sizeof(chunk), f);

                if (n > 0 && fwrite(chunk, 1, n, mem) != n)
                        break;
                if (n < sizeof(chunk))
                        break;
        }
        if (ferror(f) || fclose(mem) != 0) {
                free(buf);
                errno = EIO;
                return NULL;
        }
        *ret_len = len;
        return buf;
}

static bool value_is_yes(const char *v) {
        return streq(v, "yes") || streq(v, "y") || streq(v, "true") || streq(v, "1");
}

int ctl_initramfs_enabled(const char *conf) {
        _cleanup_fclose_ FILE *f = fopen(conf, "re");
        char line[512];
        bool on = false;

        if (!f)
                return 0;
        /* The hook sources the file; the last assignment wins, as in sh. */
        while (fgets(line, sizeof(line), f)) {
                char *p = line, *v, *end;

                p += strspn(p, " \t");
                if (strncmp(p, "VFPT_INITRAMFS=", strlen("VFPT_INITRAMFS=")) != 0)
                        continue;
                v = p + strlen("VFPT_INITRAMFS=");
                v[strcspn(v, "\n#")] = '\0';
                end = v + strlen(v);
                while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
                        *--end = '\0';
                if (end - v >= 2 && (*v == '"' || *v == '\'') && end[-1] == *v) {
                        end[-1] = '\0';
                        v++;
                }
                on = value_is_yes(v);
        }
        return on;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The kernels that have an initramfs in boot_dir, sorted. */
static int list_kernels(const char *boot_dir, char ***ret) {
        _cleanup_closedir_ DIR *d = opendir(boot_dir);
        _cleanup_strv_free_ char **l = NULL;
        struct dirent *de;
        int r;

        if (d)
                while ((de = readdir(d)))
                        if (strncmp(de->d_name, INITRD_PREFIX, strlen(INITRD_PREFIX)) == 0 &&
                            de->d_name[strlen(INITRD_PREFIX)] &&
                            (r = strv_extend(&l, de->d_name + strlen(INITRD_PREFIX))) < 0)
                                return r;
        if (l)
                qsort(l, strv_length(l), sizeof(char *), cmp_str);
        *ret = TAKE_PTR(l);
        return 0;
}

/* Appends ", NAME what" to *s. */
static int note(char **s, const char *name, const char *what) {
        char *n = strdup_printf("%s%s%s %s", *s ? *s : "", *s ? ", " : "", name, what);

        if (!n)
                return -ENOMEM;
        free(*s);
        *s = n;
        return 0;
}

/* What differs between the drop-ins in force (paths) and the hook's copy in
 * dir: NULL in *ret when nothing. */
static int compare(char *const *paths, const char *dir, char **ret) {
        _cleanup_closedir_ DIR *d = opendir(dir);
        _cleanup_free_ char *diff = NULL;
        _cleanup_strv_free_ char **names = NULL;
        struct dirent *de;
        int r;

        for (char *const *p = paths; p && *p; p++) {
                const char *name = strrchr(*p, '/') ? strrchr(*p, '/') + 1 : *p;
                _cleanup_free_ char *copy = strdup_printf("%s/%s", dir, name), *a = NULL, *b = NULL;
                size_t la = 0, lb = 0;

                if (!copy || (r = strv_extend(&names, name)) < 0)
                        return -ENOMEM;
                a = read_all(*p, &la);
                b = read_all(copy, &lb);
                if (!b)
                        r = note(&diff, name, "was added since");
                else if (!a || la != lb || memcmp(a, b, la) != 0)
                        r = note(&diff, name, "changed since");
                else
                        r = 0;
                if (r < 0)
                        return r;
        }
        while (d && (de = readdir(d))) {
                if (de->d_name[0] == '.' || !has_suffix(de->d_name, ".conf") || strv_contains(names, de->d_name))
                        continue;
                if ((r = note(&diff, de->d_name, "was removed or masked since")) < 0)
                        return r;
        }
        *ret = TAKE_PTR(diff);
        return 0;
}

/* What to run to make every initramfs again (create: some kernel has none). */
static const char *regenerate(const CtlInitramfsPaths *p, bool create) {
        bool have_dracut = p->dracut && access(p->dracut, X_OK) == 0;
        bool have_update = p->update_initramfs && access(p->update_initramfs, X_OK) == 0;

        if (have_dracut && !have_update)
                return "run dracut --regenerate-all --force";
        return create ? "run update-initramfs -c -k all" : "run update-initramfs -u -k all";
}

int ctl_initramfs_state(const CtlInitramfsPaths *p, CtlInitramfsState *ret, char **ret_detail, char **ret_fix) {
        _cleanup_strv_free_ char **kernels = NULL, **stale = NULL;
        VfptConfig *c = NULL;
        bool enabled = ctl_initramfs_enabled(p->conf) > 0;
        size_t n_files;
        int r;

        *ret_detail = *ret_fix = NULL;
        r = list_kernels(p->boot_dir, &kernels);
        if (r < 0)
                return r;
        r = vfpt_config_load(&c, (const char *const *) p->config_dirs);
        if (r < 0)
                return r;
        n_files = strv_length(c->files);

        for (char **k = kernels; k && *k; k++) {
                _cleanup_free_ char *dir = strdup_printf("%s/%s", p->state_dir, *k), *diff = NULL;
                struct stat st;
                bool stamped;
                char *line = NULL;

                if (!dir) {
                        r = -ENOMEM;
                        goto finish;
                }
                stamped = stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
                if (enabled && !stamped)
                        line = strdup_printf("the initramfs of %s was made without the claim", *k);
                else if (!enabled && stamped)
                        line = strdup_printf("the initramfs of %s still claims early, but VFPT_INITRAMFS is not yes in %s",
                                             *k, p->conf);
                else if (enabled) {
                        r = compare(c->files, dir, &diff);
                        if (r < 0)
                                goto finish;
                        if (diff)
                                line = strdup_printf("the initramfs of %s is out of date: %s it was made", *k, diff);
                } else
                        continue;
                if (!line)
                        continue;
                if ((r = strv_push(&stale, line)) < 0)
                        goto finish;
        }

        if (stale) {
                _cleanup_free_ char *joined = NULL;

                for (char **s = stale; *s; s++) {
                        char *n = strdup_printf("%s%s%s", joined ? joined : "", joined ? "; " : "", *s);
                        if (!n) {
                                r = -ENOMEM;
                                goto finish;
                        }
                        free(joined);
                        joined = n;
                }
                *ret = CTL_INITRAMFS_STALE;
                *ret_detail = TAKE_PTR(joined);
                *ret_fix = strdup(regenerate(p, false));
        } else if (enabled && !kernels) {
                *ret = CTL_INITRAMFS_STALE;
                *ret_detail = strdup_printf("VFPT_INITRAMFS=yes in %s, but %s has no " INITRD_PREFIX "*", p->conf, p->boot_dir);
                *ret_fix = strdup(regenerate(p, true));
        } else if (enabled) {
                *ret = CTL_INITRAMFS_CURRENT;
                *ret_detail = strdup_printf("claims early; the initramfs of %zu kernel%s holds the %zu drop-in%s in force",
                                            strv_length(kernels), strv_length(kernels) == 1 ? "" : "s",
                                            n_files, n_files == 1 ? "" : "s");
        } else {
                *ret = CTL_INITRAMFS_UNUSED;
                *ret_detail = strdup_printf("not used (VFPT_INITRAMFS=yes in %s turns it on)", p->conf);
        }
        r = *ret_detail ? 0 : -ENOMEM;
finish:
        vfpt_config_free(c);
        return r;
}

int ctl_initramfs_system_state(CtlInitramfsState *ret, char **ret_detail, char **ret_fix) {
        static const char *const all[] = { VFPT_CONFIG_DIRS, NULL };
        const char *dirs[ELEMENTSOF(all)] = {};
        size_t n = 0;

        /* Runtime claims (/run/vfpt.d) end with the boot: never packed. */
        for (const char *const *d = all; *d; d++)
                if (!streq(*d, VFPT_RUNTIME_CONFIG_DIR))
                        dirs[n++] = *d;
        return ctl_initramfs_state(&(CtlInitramfsPaths) {
                        .conf = CTL_INITRAMFS_CONF,
                        .state_dir = CTL_INITRAMFS_STATE_DIR,
                        .boot_dir = CTL_INITRAMFS_BOOT_DIR,
                        .config_dirs = (char **) dirs,
                        .update_initramfs = CTL_INITRAMFS_UPDATE_INITRAMFS,
                        .dracut = CTL_INITRAMFS_DRACUT,
                }, ret, ret_detail, ret_fix);
}
