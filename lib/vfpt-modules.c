/* vfpt-modules.c — loads the passthrough drivers' modules through libkmod,
 * as modprobe would: with softdeps and install commands, but never a module
 * the administrator blacklisted. */
#include <errno.h>
#include <libkmod.h>
#include <string.h>

#include "vfpt-modules.h"
#include "vfpt-util.h"

static void kmod_unrefp(struct kmod_ctx **c) {
        if (*c)
                kmod_unref(*c);
}

static void kmod_list_unrefp(struct kmod_list **l) {
        if (*l)
                kmod_module_unref_list(*l);
}

/* Loads one name (module or alias). Built-in counts as loaded. */
static int load_one(struct kmod_ctx *ctx, const char *name, char **ret_error) {
        _cleanup_(kmod_list_unrefp) struct kmod_list *list = NULL;
        struct kmod_list *l;
        int r;

        r = kmod_module_new_from_lookup(ctx, name, &list);
        if (r < 0) {
                *ret_error = strdup_printf("module %s: lookup failed: %s", name, strerror(-r));
                return r;
        }
        if (!list) {
                *ret_error = strdup_printf("module %s: not found for this kernel", name);
                return -ENOENT;
        }
        kmod_list_foreach(l, list) {
                struct kmod_module *mod = kmod_module_get_module(l);
                int state = kmod_module_get_initstate(mod);

                if (state == KMOD_MODULE_BUILTIN || state == KMOD_MODULE_LIVE) {
                        kmod_module_unref(mod);
                        return 0;
                }
                r = kmod_module_probe_insert_module(mod, KMOD_PROBE_APPLY_BLACKLIST, NULL, NULL, NULL, NULL);
                if (r == 0 || r == -EEXIST) {
                        kmod_module_unref(mod);
                        return 0;
                }
                if (r == KMOD_PROBE_APPLY_BLACKLIST)
                        *ret_error = strdup_printf("module %s: blacklisted by the modprobe configuration", kmod_module_get_name(mod));
                else
                        *ret_error = strdup_printf("module %s: %s", kmod_module_get_name(mod), strerror(-r));
                kmod_module_unref(mod);
                return r == KMOD_PROBE_APPLY_BLACKLIST ? -EPERM : r;
        }
        return -ENOENT;
}

int vfpt_modules_load(const char *const *names, char **ret_error) {
        return vfpt_modules_load_at(NULL, NULL, names, ret_error);
}

int vfpt_modules_load_at(const char *dirname, const char *const *config_paths,
                         const char *const *names, char **ret_error) {
        _cleanup_(kmod_unrefp) struct kmod_ctx *ctx = NULL;
        int r;

        *ret_error = NULL;
        ctx = kmod_new(dirname, config_paths);
        if (!ctx) {
                *ret_error = strdup("cannot set up libkmod");
                return -ENOMEM;
        }
        r = kmod_load_resources(ctx);
        if (r < 0) {
                *ret_error = strdup_printf("cannot load the module index: %s", strerror(-r));
                return r;
        }
        for (const char *const *n = names; *n; n++) {
                r = load_one(ctx, *n, ret_error);
                if (r < 0)
                        return r;
        }
        return 0;
}
