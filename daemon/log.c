/* log.c — see log.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"

static bool prefix;
static int max_level = LOG_INFO;

void log_setup(void) {
        prefix = getenv("JOURNAL_STREAM") != NULL;
}

void log_set_max_level(int level) {
        max_level = level;
}

int log_full(int level, int error, const char *fmt, ...) {
        int saved = errno;
        va_list ap;

        if (error > 0)
                error = -error;
        if (level > max_level) {
                errno = saved;
                return error;
        }
        flockfile(stderr);
        if (prefix)
                fprintf(stderr, "<%d>", level);
        else
                fputs("vfptd: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        funlockfile(stderr);
        errno = saved;
        return error;
}
