/* vfpt-guard.h — the in-use guards: find what the host itself is using
 * (mounted filesystems, active swap, network interfaces that carry traffic,
 * the boot console), so that no rule can take it away by mistake.
 *
 * The guards only mark devices in a snapshot (VfptDevice.in_use and
 * .unchecked); the planner decides. */
#pragma once

#include "vfpt-sysfs.h"

typedef struct VfptGuardSources {
        const char *proc_root;  /* "/proc", or a test's copy */
        bool use_getifaddrs;    /* ask the kernel for IPv4 addresses too */
} VfptGuardSources;

int vfpt_guard_scan(VfptSnapshot *snap, VfptSysfs *s, const VfptGuardSources *src);
