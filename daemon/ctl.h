/* ctl.h — what the parts of vfptctl share: its options, exit codes, and the
 * small JSON and table writers. The commands live in ctl-offline.c (groups,
 * check, plan: read sysfs, need neither the daemon nor root) and ctl-bus.c
 * (status, claim, release, reload, qemu-args: ask vfptd over D-Bus). */
#pragma once

#include <stdbool.h>
#include <stdio.h>

/* Exit codes, as --help and the README document them. */
enum {
        CTL_EXIT_OK = 0,
        CTL_EXIT_FAILURE = 1,   /* the operation failed or was refused */
        CTL_EXIT_USAGE = 2,     /* bad command line */
        CTL_EXIT_NOT_READY = 3, /* check: the host is not ready for passthrough */
        CTL_EXIT_NO_DAEMON = 4, /* no system bus, or vfptd is not on it */
};

typedef struct CtlOptions {
        bool json;
        bool quiet;             /* addresses only, one per line (status, groups) */
        bool persist;
        bool libvirt;
        const char *sysfs_root;
        const char *proc_root;
        const char *records_dir;
        const char *runtime_dir;
        char **config_dirs;     /* NULL: the defaults */
        char **args;            /* the command's positional arguments */
        int n_args;
} CtlOptions;

int ctl_groups(const CtlOptions *o);
int ctl_check(const CtlOptions *o);
int ctl_plan(const CtlOptions *o);
int ctl_status(const CtlOptions *o);
int ctl_claim(const CtlOptions *o);
int ctl_release(const CtlOptions *o);
int ctl_reload(const CtlOptions *o);
int ctl_qemu_args(const CtlOptions *o);

/* JSON: a string (NULL prints null), with everything RFC 8259 requires escaped. */
void json_string(FILE *f, const char *s);
/* "key": (with a leading comma unless first) */
void json_key(FILE *f, bool *first, const char *key);

/* A table printed with columns padded to the widest cell; the last column
 * is never padded (it holds free text). */
typedef struct Table Table;
Table *table_new(size_t n_columns, ...);  /* the headers */
int table_add(Table *t, ...);             /* n_columns strings (NULL: "-") */
void table_print(Table *t, FILE *f);
Table *table_free(Table *t);
