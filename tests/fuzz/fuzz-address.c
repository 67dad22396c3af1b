/* fuzz-address.c — libFuzzer target for PCI address and ID parsing: no
 * crash, and whatever parses formats back to something that parses to the
 * same value. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vfpt-address.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *s = malloc(size + 1), buf[VFPT_ADDRESS_MAX];
        VfptAddress a, b;
        VfptAddressPattern p, q;
        VfptIdPattern id;

        if (!s)
                return 0;
        memcpy(s, data, size);
        s[size] = '\0';

        if (vfpt_address_parse(s, &a) == 0) {
                vfpt_address_format(&a, buf);
                assert(vfpt_address_parse(buf, &b) == 0 && vfpt_address_compare(&a, &b) == 0);
                assert(a.slot < 32 && a.function < 8);
        }
        if (vfpt_address_pattern_parse(s, &p) == 0) {
                vfpt_address_pattern_format(&p, buf);
                assert(vfpt_address_pattern_parse(buf, &q) == 0);
                assert(q.any_function == p.any_function && vfpt_address_compare(&p.address, &q.address) == 0);
        }
        if (vfpt_id_pattern_parse(s, &id) == 0)
                assert(id.vendor != 0xffff && vfpt_id_pattern_match(&id, id.vendor, id.device));
        free(s);
        return 0;
}
