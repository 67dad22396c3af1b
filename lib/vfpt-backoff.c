/* vfpt-backoff.c — see vfpt-backoff.h. A handful of failing groups at most:
 * a plain array is the right map. */
#include <stdlib.h>
#include <string.h>

#include "vfpt-backoff.h"

static VfptBackoffEntry *find(const VfptBackoff *b, int group) {
        for (size_t i = 0; i < b->n_entries; i++)
                if (b->entries[i].group == group)
                        return &b->entries[i];
        return NULL;
}

void vfpt_backoff_clear(VfptBackoff *b) {
        for (size_t i = 0; i < b->n_entries; i++)
                free(b->entries[i].reason);
        free(b->entries);
        *b = (VfptBackoff) {};
}

bool vfpt_backoff_allowed(const VfptBackoff *b, int group, uint64_t now_usec) {
        const VfptBackoffEntry *e = find(b, group);
        return !e || now_usec >= e->retry_usec;
}

const VfptBackoffEntry *vfpt_backoff_get(const VfptBackoff *b, int group) {
        return find(b, group);
}

uint64_t vfpt_backoff_failed(VfptBackoff *b, int group, uint64_t now_usec, const char *reason) {
        VfptBackoffEntry *e = find(b, group);
        uint64_t wait = VFPT_BACKOFF_FIRST_USEC;

        if (!e) {
                VfptBackoffEntry *m = realloc(b->entries, (b->n_entries + 1) * sizeof(*m));
                if (!m)
                        return 0;
                b->entries = m;
                e = &b->entries[b->n_entries++];
                *e = (VfptBackoffEntry) { .group = group };
        }
        for (unsigned i = 0; i < e->failures && wait < VFPT_BACKOFF_MAX_USEC; i++)
                wait *= 2;
        if (wait > VFPT_BACKOFF_MAX_USEC)
                wait = VFPT_BACKOFF_MAX_USEC;
        free(e->reason);
        e->reason = reason ? strdup(reason) : NULL;
        e->failures++;
        e->retry_usec = now_usec + wait;
        return e->retry_usec;
}

void vfpt_backoff_succeeded(VfptBackoff *b, int group) {
        VfptBackoffEntry *e = find(b, group);

        if (!e)
                return;
        free(e->reason);
        *e = b->entries[--b->n_entries];
}

uint64_t vfpt_backoff_next(const VfptBackoff *b) {
        uint64_t next = 0;

        for (size_t i = 0; i < b->n_entries; i++)
                if (!next || b->entries[i].retry_usec < next)
                        next = b->entries[i].retry_usec;
        return next;
}
