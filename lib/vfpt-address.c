/* vfpt-address.c — parsing and matching of PCI addresses and IDs. Strict on
 * purpose: a rule that silently matched something else could take a host
 * device away. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vfpt-address.h"

/* Parses exactly n hex digits (n_min..n_max) at *p and advances it. */
static int parse_hex(const char **p, unsigned n_min, unsigned n_max, unsigned long *ret) {
        unsigned long v = 0;
        unsigned n = 0;

        while (n < n_max && isxdigit((unsigned char) (*p)[n])) {
                char c = (char) tolower((unsigned char) (*p)[n]);
                v = v * 16 + (unsigned long) (isdigit((unsigned char) c) ? c - '0' : c - 'a' + 10);
                n++;
        }
        if (n < n_min || isxdigit((unsigned char) (*p)[n]))
                return -EINVAL;
        *p += n;
        *ret = v;
        return 0;
}

/* Shared by addresses and patterns: function may be '*' when allowed. */
static int parse_address(const char *s, bool allow_any_function, VfptAddress *ret, bool *ret_any) {
        const char *p = s, *colon1, *colon2;
        unsigned long domain = 0, bus, slot, function = 0;
        bool any = false;

        if (!s)
                return -EINVAL;
        colon1 = strchr(s, ':');
        if (!colon1)
                return -EINVAL;
        colon2 = strchr(colon1 + 1, ':');
        if (colon2) {
                if (parse_hex(&p, 4, 4, &domain) < 0 || *p++ != ':')
                        return -EINVAL;
        }
        if (parse_hex(&p, 2, 2, &bus) < 0 || *p++ != ':')
                return -EINVAL;
        if (parse_hex(&p, 2, 2, &slot) < 0 || slot > 0x1f || *p++ != '.')
                return -EINVAL;
        if (*p == '*' && allow_any_function) {
                any = true;
                p++;
        } else if (parse_hex(&p, 1, 1, &function) < 0 || function > 7)
                return -EINVAL;
        if (*p)
                return -EINVAL;

        *ret = (VfptAddress) {
                .domain = (uint32_t) domain,
                .bus = (uint8_t) bus,
                .slot = (uint8_t) slot,
                .function = (uint8_t) function,
        };
        if (ret_any)
                *ret_any = any;
        return 0;
}

int vfpt_address_parse(const char *s, VfptAddress *ret) {
        return parse_address(s, false, ret, NULL);
}

void vfpt_address_format(const VfptAddress *a, char buf[static VFPT_ADDRESS_MAX]) {
        snprintf(buf, VFPT_ADDRESS_MAX, "%04x:%02x:%02x.%x",
                 (unsigned) a->domain & 0xffffu, a->bus, a->slot, a->function & 7u);
}

int vfpt_address_compare(const VfptAddress *a, const VfptAddress *b) {
#define CMP(f) if (a->f != b->f) return a->f < b->f ? -1 : 1
        CMP(domain);
        CMP(bus);
        CMP(slot);
        CMP(function);
#undef CMP
        return 0;
}

int vfpt_address_pattern_parse(const char *s, VfptAddressPattern *ret) {
        VfptAddressPattern p = {};
        int r;

        r = parse_address(s, true, &p.address, &p.any_function);
        if (r < 0)
                return r;
        *ret = p;
        return 0;
}

bool vfpt_address_pattern_match(const VfptAddressPattern *p, const VfptAddress *a) {
        return p->address.domain == a->domain &&
               p->address.bus == a->bus &&
               p->address.slot == a->slot &&
               (p->any_function || p->address.function == a->function);
}

void vfpt_address_pattern_format(const VfptAddressPattern *p, char buf[static VFPT_ADDRESS_MAX]) {
        vfpt_address_format(&p->address, buf);
        if (p->any_function)
                buf[VFPT_ADDRESS_MAX - 2] = '*';
}

int vfpt_id_pattern_parse(const char *s, VfptIdPattern *ret) {
        const char *p = s;
        unsigned long vendor, device = 0;
        bool any = false;

        if (!s || parse_hex(&p, 4, 4, &vendor) < 0 || *p++ != ':')
                return -EINVAL;
        if (*p == '*') {
                any = true;
                p++;
        } else if (parse_hex(&p, 4, 4, &device) < 0)
                return -EINVAL;
        if (*p)
                return -EINVAL;
        /* 0xffff is what config space reads as when no device answers. */
        if (vendor == 0xffff)
                return -EINVAL;
        *ret = (VfptIdPattern) { .vendor = (uint16_t) vendor, .device = (uint16_t) device, .any_device = any };
        return 0;
}

bool vfpt_id_pattern_match(const VfptIdPattern *p, uint16_t vendor, uint16_t device) {
        return p->vendor == vendor && (p->any_device || p->device == device);
}
