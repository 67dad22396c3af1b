/* devprep.h — the daemon's side of vfpt-devprep.h: run the device
 * preparation pass after each reconcile's claims and releases, and listen
 * for udev's events about /dev/vfio nodes so that a node that appears gets
 * its owner and mode after udev is done with it. */
#pragma once

#include "manager.h"

/* Worker thread, after execute(): applies reset_method, owner and mode, logs
 * what changed, and each error once (until it changes or goes away). */
void manager_devprep_apply(Manager *m, State *st);
/* A udev monitor on the "vfio" subsystem; each event asks for a reconcile. */
int manager_devprep_monitor_start(Manager *m);
/* Frees what the two above keep. */
void manager_devprep_done(Manager *m);
