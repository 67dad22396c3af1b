/* vfpt-holders.h — which process holds a VFIO group open. Unbinding a
 * device from vfio-pci while its group is open blocks in the kernel with the
 * device lock held, so a release must ask first. */
#pragma once

#include <sys/types.h>

/* Looks through proc_root/PID/fd for a descriptor open on path. Returns 1
 * and the first holder's pid and command name, 0 when none, -errno. */
int vfpt_holders_find(const char *proc_root, const char *path, pid_t *ret_pid, char **ret_comm);
