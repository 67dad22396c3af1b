/* fuzz-config.c — libFuzzer target: any bytes as a vfpt.d(5) drop-in. The
 * parser must return rules or errors, never crash, leak or read out of
 * bounds; and every rule it accepts must be self-consistent. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vfpt-config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        VfptConfig *c = NULL;
        char *text = malloc(size + 1);

        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = '\0';
        if (vfpt_config_load_string(&c, "fuzz.conf", text) == 0) {
                /* A file with errors gives no rules; accepted rules say what they match. */
                assert(c->n_errors == 0 || c->n_rules == 0);
                for (size_t i = 0; i < c->n_rules; i++) {
                        assert(c->rules[i].n_ids + c->rules[i].n_addresses > 0);
                        assert(vfpt_driver_name_valid(c->rules[i].driver));
                }
                for (size_t i = 0; i < c->n_errors; i++)
                        assert(c->errors[i].message && strncmp(c->errors[i].message, "fuzz.conf", 9) == 0);
                vfpt_config_free(c);
        }
        free(text);
        return 0;
}
