/* vfpt-modules.h — load the passthrough drivers' modules with libkmod,
 * honouring the administrator's blacklist and treating built-in as loaded. */
#pragma once

/* names: NULL-terminated module names or aliases. On failure *ret_error says
 * which module and why. */
int vfpt_modules_load(const char *const *names, char **ret_error);
