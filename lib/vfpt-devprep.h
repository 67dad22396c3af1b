/* vfpt-devprep.h — what a rule asks for a device besides its driver:
 * `reset_method` (which resets the kernel may use on it while it is claimed)
 * and `owner`/`mode` of its group's /dev/vfio/N node (so that a VM started
 * by that user can open the group).
 *
 * Three parts: the configuration values' syntax, the planner's checks (both
 * pure: a group is refused when its rules disagree on the node's owner, or
 * when a rule asks for a reset method the kernel does not offer for the
 * device), and the pass that applies them after a reconcile's claims and
 * releases, idempotently: every pass compares and writes only what differs,
 * so it is also how a node that reappears (hotplug, restart) or that
 * someone changed gets its owner back. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "vfpt-config.h"
#include "vfpt-plan.h"
#include "vfpt-sysfs.h"

/* Reset methods the kernel knows (drivers/pci/pci.c, pci_reset_fn_methods). */
#define VFPT_RESET_METHODS "device_specific", "acpi", "flr", "af_flr", "pm", "bus", "cxl_bus"

/* Configuration values. Each returns 0, -EINVAL with *ret_error set to what
 * was wrong (without file:line; the caller adds it), or -ENOMEM. */

/* "pm bus" or "pm, bus": known methods, none twice, at least one; *ret is
 * the list with single spaces, as the kernel prints it. */
int vfpt_reset_method_parse(const char *value, char **ret, char **ret_error);
/* "USER[:GROUP]", names or numeric ids. Names are looked up now (an unknown
 * one is an error); numbers are taken as they are. *ret_gid = (gid_t) -1
 * when no group is given. */
int vfpt_owner_parse(const char *value, uid_t *ret_uid, gid_t *ret_gid, char **ret_error);
/* "0660" or "660": permission bits only (no setuid, setgid or sticky). */
int vfpt_mode_parse(const char *value, mode_t *ret, char **ret_error);

/* The planner's checks for one group (members: snapshot indexes; matched:
 * per snapshot index, the rule that claims the device, or NULL). *ret is a
 * refusal reason, or NULL when there is nothing to refuse. */
/* Two rules that claim devices of the group name different owners or modes. */
int vfpt_devprep_group_conflict(const VfptRule *const *matched, const VfptSnapshot *snap,
                                const size_t *members, size_t n_members, char **ret);
/* A rule asks for a reset method that the kernel does not offer for the
 * device (the methods offered are those the reset_method attribute lists, or
 * those recorded before vfpt narrowed it). */
int vfpt_devprep_reset_refusal(const VfptRule *const *matched, const VfptSnapshot *snap,
                               const size_t *members, size_t n_members, char **ret);

typedef struct VfptDevprepResult {
        char **changes; /* what was written, one sentence each */
        char **errors;  /* what could not be done, one sentence each */
} VfptDevprepResult;

void vfpt_devprep_result_clear(VfptDevprepResult *r);

/* After a pass's claims and releases (plan states CLAIMED and RELEASED set):
 * - a claimed device whose rule has reset_method gets it written (the list
 *   the kernel offered is recorded first under records_dir, once);
 * - a device vfpt narrowed that is released, or whose rule no longer asks,
 *   gets "default" written back and its record removed;
 * - the /dev/vfio/N node of each group with a claimed device gets the owner
 *   and mode its rules give; every claimed device's node_owner is filled in.
 * Updates the snapshot's reset_method, reset_method_offered and node_owner.
 * records_dir NULL: no reset records (and no reset writes); vfio_dir is
 * where the group nodes are (/dev/vfio). Returns -ENOMEM only; everything
 * else is in ret. */
int vfpt_devprep_apply(VfptSysfs *s, VfptSnapshot *snap, const VfptPlan *plan, const char *records_dir,
                       const char *vfio_dir, VfptDevprepResult *ret);

/* Reads the reset records into the snapshot (VfptDevice.reset_method_offered). */
int vfpt_devprep_read_records(VfptSnapshot *snap, const char *records_dir);
/* Forgets the reset records of devices that left the machine. */
int vfpt_devprep_prune_records(const char *records_dir, const VfptSnapshot *snap);

/* "nobody:kvm 0660" for a uid, gid and mode (names when known, else numbers). */
char *vfpt_node_owner_format(uid_t uid, gid_t gid, mode_t mode);
