/* claims.h — claims made through D-Bus (`vfptctl claim`) are ordinary rules
 * in one drop-in file that vfptd writes: /run/vfpt.d/90-vfptctl-runtime.conf
 * for runtime claims, /etc/vfpt.d/80-vfptctl.conf for `--persist`. So the
 * configuration files stay the one source of truth a person can read, and a
 * claim takes the same parse/plan/execute path as any rule.
 *
 * Each rule is "[PREFIX ADDRESS]\naddresses = ADDRESS". Files are replaced
 * atomically (write a temporary file, rename); an emptied file is removed. */
#pragma once

#include <stdbool.h>

/* Adds rule [name] with addresses = address to dir/file, creating dir and
 * file as needed. Returns 1 when added, 0 when the rule was there, -errno. */
int claims_file_add(const char *dir, const char *file, const char *name, const char *address);
/* Removes rule [name] from dir/file. Returns 1 when removed, 0 when it was
 * not there (or no file), -errno. */
int claims_file_remove(const char *dir, const char *file, const char *name);
/* dir + "/" + file; NULL on OOM. */
char *claims_file_path(const char *dir, const char *file);
