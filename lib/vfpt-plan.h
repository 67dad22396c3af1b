/* vfpt-plan.h — the reconciler's pure half: from rules and a snapshot, decide
 * for each IOMMU group either the ordered steps that put it on its
 * passthrough drivers, or a refusal with a reason a person can act on.
 * No I/O here, so every decision is testable with plain data. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "vfpt-config.h"
#include "vfpt-sysfs.h"

typedef enum VfptStepKind {
        VFPT_STEP_OVERRIDE, /* write target to driver_override */
        VFPT_STEP_RECORD,   /* remember the original driver under /run */
        VFPT_STEP_UNBIND,   /* write address to driver/unbind */
        VFPT_STEP_PROBE,    /* write address to bus/pci/drivers_probe */
        VFPT_STEP_VERIFY,   /* the driver link names the target */
        VFPT_STEP_HOLDERS,  /* release: refuse while a process holds the group open */
        VFPT_STEP_BIND,     /* release: write address to drivers/DRIVER/bind */
        VFPT_STEP_FORGET,   /* release: remove the record */
        _VFPT_STEP_MAX,
} VfptStepKind;

typedef struct VfptStep {
        VfptStepKind kind;
        size_t device;      /* index into the snapshot */
        const char *driver; /* OVERRIDE/VERIFY: target (NULL: clear, any);
                             * UNBIND/RECORD: current; BIND: the recorded driver */
} VfptStep;

typedef enum VfptDeviceState {
        VFPT_STATE_CLAIMED, /* already on its target driver */
        VFPT_STATE_CLAIM,   /* will be (or was just) claimed */
        VFPT_STATE_REFUSED,
        VFPT_STATE_ABSENT,  /* a rule names an address that is not there */
        VFPT_STATE_FAILED,  /* set by the caller after execution */
        VFPT_STATE_RELEASE, /* no rule wants it any more: goes back to its driver */
        VFPT_STATE_RELEASED, /* set by the caller after a release */
        VFPT_STATE_PF,      /* a physical function an SR-IOV rule makes VFs on: it
                             * stays with the host, its VFs are claimed */
        _VFPT_STATE_MAX,
} VfptDeviceState;

typedef struct VfptPlanDevice {
        size_t device;         /* index into the snapshot; SIZE_MAX when absent */
        char absent[VFPT_ADDRESS_MAX]; /* the missing address when absent */
        const VfptRule *rule;  /* NULL: pulled in because its group is claimed */
        const VfptRule *via;   /* the rule, or for a pulled-in device the rule that
                                * claims its group */
        const char *target;    /* the driver it should end on */
        int group;
        VfptDeviceState state;
        char *reason;          /* for REFUSED and FAILED */
} VfptPlanDevice;

typedef struct VfptPlanGroup {
        int group;             /* -1 for a device without a group */
        bool refused;
        bool release;          /* the steps give the group back to the host */
        char *reason;
        size_t *members;       /* snapshot indexes of the group's endpoints and bridges */
        size_t n_members;
        VfptStep *steps;       /* empty when refused or nothing to do */
        size_t n_steps;
} VfptPlanGroup;

typedef struct VfptPlan {
        VfptPlanGroup *groups; /* only groups some rule touches, by number */
        size_t n_groups;
        VfptPlanDevice *devices; /* matched or pulled-in devices, then absent ones */
        size_t n_devices;
} VfptPlan;

int vfpt_plan_build(VfptPlan **ret, const VfptConfig *config, const VfptSnapshot *snap);
VfptPlan *vfpt_plan_free(VfptPlan *p);
VfptPlanDevice *vfpt_plan_find_device(const VfptPlan *p, size_t snapshot_index);
/* Counts devices in each state; counts[_VFPT_STATE_MAX]. */
void vfpt_plan_count(const VfptPlan *p, size_t counts[static _VFPT_STATE_MAX]);
/* "3 devices in 2 groups bound to vfio-pci; 1 absent; 0 refused; 0 failed" */
char *vfpt_plan_summary(const VfptPlan *p);

const char *vfpt_step_kind_to_string(VfptStepKind k);
const char *vfpt_device_state_to_string(VfptDeviceState s);
