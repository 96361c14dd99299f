/* config_internal: what config.c shares with config_print.c and nothing else:
 * the table of numeric settings, so loading, defaults and printing cannot
 * drift apart. */
#ifndef CLOSEHOOK_CONFIG_INTERNAL_H
#define CLOSEHOOK_CONFIG_INTERNAL_H

#include <stddef.h>

#include "config.h"

/* Every numeric setting with its place, range and default: one table, so
 * loading, defaults and config_print cannot drift apart. */
typedef enum { NUM_INT, NUM_LONG, NUM_SIZE } number_type;

typedef struct number_setting {
    const char *section; /* NULL: top level */
    const char *key;
    number_type type;
    size_t offset; /* of the field in config */
    long min, max, dflt;
} number_setting;

extern const number_setting config_numbers[];
extern const size_t config_nnumbers;

/* The value of one numeric setting in cfg. */
long config_number_fetch(const config *cfg, const number_setting *n);

#endif
