/* vfpt-holders.h — which process holds a VFIO group open. Unbinding a
 * device from vfio-pci while its group is open blocks in the kernel with the
 * device lock held, so a release must ask first. */
#pragma once

#include <sys/types.h>

/* Looks through proc_root/PID/fd for a descriptor open on path. Returns 1
 * and the first holder's pid and command name, 0 when none, -errno. */
int vfpt_holders_find(const char *proc_root, const char *path, pid_t *ret_pid, char **ret_comm);

/* The kernel's own answer: a VFIO group node can be open in one process at a
 * time, so opening it fails with EBUSY while a VM holds it. Returns 1 when
 * busy, 0 when free (or path is no character device, as in tests), -errno.
 * Unlike the /proc scan it needs no privilege, so a holder that vfptd may not
 * inspect (another user's process without CAP_SYS_PTRACE) is still seen. */
int vfpt_vfio_group_busy(const char *path);
