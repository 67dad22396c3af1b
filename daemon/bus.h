/* bus.h — vfptd's D-Bus service, org.vfpt1 on the system bus: the Manager
 * object (/org/vfpt1) with the daemon's state, counts and the Claim, Release
 * and Reload methods, and one Device object per device some rule matches
 * (/org/vfpt1/device/<sd_bus_path_encode(address)>), under an ObjectManager.
 *
 * vfptd starts before the D-Bus daemon exists, so the connection is made
 * with sd_bus_set_watch_bind(): it attaches whenever the socket appears, and
 * again after dbus restarts. Nothing about claiming devices waits for it. */
#pragma once

#include <systemd/sd-event.h>

#include "manager.h"

typedef struct Bus Bus;

/* Hooks itself into m (Manager.changed); bus_free() unhooks. */
int bus_new(Bus **ret, Manager *m);
/* Connects (or starts waiting for the socket) and serves on e. */
int bus_start(Bus *b, sd_event *e);
Bus *bus_free(Bus *b);
