/* vfpt-address.h — PCI addresses (domain:bus:slot.function) and
 * vendor:device IDs, and the patterns that rules use to match them. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define VFPT_ADDRESS_MAX sizeof("0000:00:00.0")

typedef struct VfptAddress {
        uint32_t domain;
        uint8_t bus;
        uint8_t slot;     /* 0..31 */
        uint8_t function; /* 0..7 */
} VfptAddress;

/* "0000:03:00.0" or "03:00.0" (domain 0). Returns -EINVAL on anything else. */
int vfpt_address_parse(const char *s, VfptAddress *ret);
/* Always "%04x:%02x:%02x.%x", the form sysfs uses. */
void vfpt_address_format(const VfptAddress *a, char buf[static VFPT_ADDRESS_MAX]);
int vfpt_address_compare(const VfptAddress *a, const VfptAddress *b);

typedef struct VfptAddressPattern {
        VfptAddress address;
        bool any_function; /* "03:00.*" */
} VfptAddressPattern;

int vfpt_address_pattern_parse(const char *s, VfptAddressPattern *ret);
bool vfpt_address_pattern_match(const VfptAddressPattern *p, const VfptAddress *a);
/* Formats the pattern back ("0000:03:00.*"), buf of VFPT_ADDRESS_MAX. */
void vfpt_address_pattern_format(const VfptAddressPattern *p, char buf[static VFPT_ADDRESS_MAX]);

typedef struct VfptIdPattern {
        uint16_t vendor;
        uint16_t device;
        bool any_device; /* "10de:*" */
} VfptIdPattern;

/* "8086:1533" or "10de:*", hex, case-insensitive. */
int vfpt_id_pattern_parse(const char *s, VfptIdPattern *ret);
bool vfpt_id_pattern_match(const VfptIdPattern *p, uint16_t vendor, uint16_t device);
