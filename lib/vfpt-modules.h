/* vfpt-modules.h — load the passthrough drivers' modules with libkmod,
 * honouring the administrator's blacklist and treating built-in as loaded. */
#pragma once

/* names: NULL-terminated module names or aliases. On failure *ret_error says
 * which module and why. */
int vfpt_modules_load(const char *const *names, char **ret_error);
/* The same against another module directory and modprobe.d list (tests). */
int vfpt_modules_load_at(const char *dirname, const char *const *config_paths,
                         const char *const *names, char **ret_error);

/* Runs helper (the vfpt-modload program) with names as its arguments and
 * waits for it, so that the caller never maps libkmod. On failure *ret_error
 * holds what the helper printed, or why it could not run. */
int vfpt_modules_load_helper(const char *helper, const char *const *names, char **ret_error);
