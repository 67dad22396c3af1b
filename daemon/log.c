/* log.c — see log.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

static bool prefix;
static int max_level = LOG_INFO;

/* Prefixes only when stderr itself is the journal stream systemd gave us,
 * not when a command run from a service inherits JOURNAL_STREAM with its
 * stderr sent elsewhere (a terminal, a pipe). */
void log_setup(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        prefix = e && sscanf(e, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
                 (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
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
