/* vfpt-modload — loads kernel modules for vfptd, in a process of its own.
 *
 * vfptd needs modules loaded once, at start-up or when a rule names a new
 * driver. Doing it in-process maps libkmod and everything libkmod links
 * (libcrypto alone is 1.4 MiB resident) for the daemon's whole life; a
 * short-lived helper keeps those out of the daemon. Usage:
 *
 *   vfpt-modload NAME...
 *
 * NAME is a module name or alias. The administrator's blacklist applies and
 * a built-in module counts as loaded. Exit status 0 when every NAME is
 * loaded; otherwise 1 and one line on stderr naming the module and why. */
#include <stdio.h>
#include <string.h>

#include "vfpt-modules.h"

int main(int argc, char **argv) {
        char *error = NULL;
        int r;

        if (argc < 2) {
                fprintf(stderr, "usage: %s MODULE...\n", argv[0]);
                return 2;
        }
        r = vfpt_modules_load((const char *const *) argv + 1, &error);
        if (r < 0) {
                fprintf(stderr, "%s\n", error ? error : strerror(-r));
                return 1;
        }
        return 0;
}
