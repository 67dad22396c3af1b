/* vfpt-exec.h — the reconciler's other half: carry out one group's steps
 * against sysfs, and if any step fails put every device of the group back on
 * the driver it had. Also the records of original drivers, kept under /run
 * so that a later release can restore them after a daemon restart. */
#pragma once

#include "vfpt-plan.h"
#include "vfpt-sysfs.h"

typedef struct VfptExecResult {
        int error;             /* 0, or -errno of the step that failed */
        size_t device;         /* snapshot index of the device that failed */
        VfptStepKind step;     /* the step that failed */
        char *message;         /* "0000:00:02.0: unbind from e1000e: Device or resource busy" */
        int rollback_error;    /* 0, or -errno when the rollback itself failed */
        char *rollback_message;
        char **taken;          /* "ADDRESS DRIVER": a driver that bound a device while
                                * the steps ran, and that the claim took it from */
} VfptExecResult;

void vfpt_exec_result_clear(VfptExecResult *r);

/* records_dir: where original drivers are remembered (VFPT_RECORDS_DIR), or
 * NULL to keep no records. Returns 0 or the failed step's -errno. */
int vfpt_exec_group(VfptSysfs *s, const VfptSnapshot *snap, const VfptPlanGroup *g,
                    const char *records_dir, VfptExecResult *ret);

/* A record is one file per device address holding the driver's name, or an
 * empty line for "no driver". An existing record is kept: it holds the
 * driver the device had before vfpt first claimed it. */
int vfpt_record_write(const char *records_dir, const char *address, const char *driver);
/* *ret = NULL when the device had no driver; -ENOENT when no record. */
int vfpt_record_read(const char *records_dir, const char *address, char **ret);
int vfpt_record_remove(const char *records_dir, const char *address);
/* Marks the devices of a snapshot that have a record (VfptDevice.recorded):
 * those are the ones vfpt claimed, and the only ones it will release. */
int vfpt_snapshot_read_records(VfptSnapshot *snap, const char *records_dir);
/* Forgets the records of devices that left the machine: whatever comes back
 * in that slot is a new device, with its own driver to remember. The removed
 * addresses go to *ret_removed when not NULL. */
int vfpt_records_prune(const char *records_dir, const VfptSnapshot *snap, char ***ret_removed);
