/* vfpt-sriov.h — SR-IOV rules (sriov_numvfs = N). Such a rule matches
 * physical functions; vfpt makes N virtual functions on each and claims the
 * VFs, never the PF. Here: matching that never takes a VF for its PF (a VF
 * may carry the PF's vendor:device), the pure decision of what each PF
 * needs, and the sysfs writes that carry it out in the kernel's order. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "vfpt-config.h"
#include "vfpt-sysfs.h"

/* Whether rule r claims device d. An SR-IOV rule claims the VFs of the PFs
 * it matches (by the PF's ids and address); any other rule matches as
 * vfpt_rule_match() does. */
bool vfpt_rule_match_device(const VfptRule *r, const VfptSnapshot *snap, const VfptDevice *d);
/* Whether d is a physical function that SR-IOV rule r makes VFs on: r's ids
 * and addresses match it, it can make VFs, and it is no VF itself. */
bool vfpt_sriov_rule_matches_pf(const VfptRule *r, const VfptDevice *d);

typedef enum VfptSriovAction {
        VFPT_SRIOV_NONE,   /* it has the VFs the rule wants */
        VFPT_SRIOV_CREATE, /* it has none: autoprobe off, then write N */
        VFPT_SRIOV_CHANGE, /* it has M != N: no VF may be held; autoprobe off, 0, N
                            * (and M again when N fails) */
        VFPT_SRIOV_REFUSE, /* reason says why */
} VfptSriovAction;

typedef struct VfptSriovPf {
        size_t device;          /* snapshot index of the PF */
        const VfptRule *rule;
        VfptSriovAction action;
        unsigned current;       /* VFs it has */
        unsigned wanted;        /* VFs the rule asks for */
        char *reason;           /* for REFUSE */
} VfptSriovPf;

typedef struct VfptSriovPlan {
        VfptSriovPf *pfs;       /* in snapshot order */
        size_t n_pfs;
} VfptSriovPlan;

/* Pure: what every PF that an SR-IOV rule matches needs. Devices an SR-IOV
 * rule matches that cannot make VFs are not PFs and are left out. */
int vfpt_sriov_plan_build(VfptSriovPlan **ret, const VfptConfig *c, const VfptSnapshot *snap);
VfptSriovPlan *vfpt_sriov_plan_free(VfptSriovPlan *p);
const VfptSriovPf *vfpt_sriov_plan_find(const VfptSriovPlan *p, size_t device);
const char *vfpt_sriov_action_to_string(VfptSriovAction a);

/* The VFs of the PF at snapshot index pf, in address order: their snapshot
 * indexes go to ret (which has room for max); returns how many there are
 * (which may be more than max). */
size_t vfpt_sriov_vfs(const VfptSnapshot *snap, size_t pf, size_t *ret, size_t max);

/* Carries out a CREATE or CHANGE. Returns 0, or -errno with *ret_message
 * saying what failed and what the PF was left with; -EBUSY when a process
 * holds a VF's group open (the message names it). On failure the PF keeps at
 * least the VFs it had. */
int vfpt_sriov_apply(VfptSysfs *s, const VfptSnapshot *snap, const VfptSriovPf *pf, char **ret_message);
