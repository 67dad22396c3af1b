/* vfpt-util.h — small helpers shared by the library, daemon and tests:
 * cleanup attributes, string lists and whole-file reads relative to a
 * directory fd. */
#pragma once

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

static inline void freep(void *p) { free(*(void **)p); }
static inline void closep(int *fd) { if (*fd >= 0) { int e = errno; close(*fd); errno = e; } }
static inline void fclosep(FILE **f) { if (*f) fclose(*f); }
static inline void closedirp(DIR **d) { if (*d) closedir(*d); }
void strv_freep(char ***l);

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)
#define _cleanup_closedir_ _cleanup_(closedirp)
#define _cleanup_strv_free_ _cleanup_(strv_freep)

static inline bool streq(const char *a, const char *b) { return strcmp(a, b) == 0; }
static inline bool streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return streq(a, b);
}
static inline const char *strna(const char *s) { return s ? s : "n/a"; }
static inline int take_fd(int *fd) { int r = *fd; *fd = -1; return r; }
static inline void *take_ptr_(void **p) { void *r = *p; *p = NULL; return r; }
#define TAKE_PTR(p) take_ptr_((void **)&(p))

/* NULL-terminated string lists. */
char **strv_free(char **l);
size_t strv_length(char *const *l);
int strv_push(char ***l, char *s);      /* takes s, even on failure */
int strv_extend(char ***l, const char *s);
bool strv_contains(char *const *l, const char *s);

/* Reads a small attribute relative to dirfd, with trailing newlines removed. */
int read_attr(int dirfd, const char *path, char **ret);
/* Reads a hex number attribute ("0x8086\n"). */
int read_attr_hex(int dirfd, const char *path, unsigned long *ret);
/* Basename of the symlink target at dirfd/path, or -ENOENT. */
int read_link_basename(int dirfd, const char *path, char **ret);
/* Writes value to dirfd/path in one write() with O_WRONLY|O_CLOEXEC. */
int write_attr(int dirfd, const char *path, const char *value);

/* asprintf that returns NULL on failure. */
char *strdup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
