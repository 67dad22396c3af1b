/* vfpt-backoff.h — when to try a failed group again. A claim that fails is
 * rolled back, the rollback's bind/unbind uevents wake the daemon, and a
 * naive daemon would fail again at once, forever. Each failure doubles the
 * wait (1 s, 2 s, 4 s ... up to a minute); a success or a reload forgets it.
 * Pure bookkeeping: the caller passes the time. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define VFPT_BACKOFF_FIRST_USEC (1000000ULL)
#define VFPT_BACKOFF_MAX_USEC (60ULL * 1000000ULL)

typedef struct VfptBackoffEntry {
        int group;              /* IOMMU group, or -1 - index for a device without one */
        unsigned failures;
        uint64_t retry_usec;    /* not before this time (CLOCK_MONOTONIC) */
        char *reason;           /* what the last failure said */
} VfptBackoffEntry;

typedef struct VfptBackoff {
        VfptBackoffEntry *entries;
        size_t n_entries;
} VfptBackoff;

void vfpt_backoff_clear(VfptBackoff *b);
/* True when the group may be tried at now_usec. */
bool vfpt_backoff_allowed(const VfptBackoff *b, int group, uint64_t now_usec);
/* Records a failure and why (copied; may be NULL); returns the time of the
 * next try, or 0 on ENOMEM. */
uint64_t vfpt_backoff_failed(VfptBackoff *b, int group, uint64_t now_usec, const char *reason);
/* The entry of a group that is waiting, or NULL. */
const VfptBackoffEntry *vfpt_backoff_get(const VfptBackoff *b, int group);
void vfpt_backoff_succeeded(VfptBackoff *b, int group);
/* Earliest retry time of all entries, 0 when none. */
uint64_t vfpt_backoff_next(const VfptBackoff *b);
