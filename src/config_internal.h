/* config_internal: what config.c shares with config_routes.c,
 * config_print.c and config_placeholders.c and nothing else: the loader that
 * collects every problem of one load, its typed accessors, and the table of
 * numeric settings, so loading, defaults and printing cannot drift apart. */
#ifndef CLOSEHOOK_CONFIG_INTERNAL_H
#define CLOSEHOOK_CONFIG_INTERNAL_H

#include <stddef.h>

#include <yajl/yajl_tree.h>

#include "config.h"

/* A problem line is "FILE: KEY: PROBLEM"; keys and problems are short, the
 * file path gets the rest. */
#define CONFIG_LINE_MAX 1024
#define CONFIG_KEY_MAX 256
/* Route names are URL path segments and credential names land in queue rows
 * and log lines: a short, URL-safe alphabet keeps both unambiguous. */
#define CONFIG_NAME_MAX 64

/* Collects every problem of one load, one line each, into the caller's buffer. */
typedef struct loader {
    const char *file;
    char *err;
    size_t errlen;
    size_t used;
    int nerrors;
    unsigned flags;         /* CONFIG_LOAD_* */
    const char *only_route; /* CONFIG_LOAD_NO_SECRETS: but this route's secret */
} loader;

/* Reporting: every call counts one error; the load fails if any was counted. */
void loader_add_line(loader *ld, const char *line);
/* "FILE: WHERE.KEY: PROBLEM"; where and key may each be NULL or "". */
__attribute__((format(printf, 4, 5))) void loader_fail(loader *ld, const char *where, const char *key,
                                                       const char *fmt, ...);
char *loader_xstrdup(loader *ld, const char *s); /* reports out of memory */

/* Typed access; each reports what is wrong with where.key itself. */
void loader_check_keys(loader *ld, yajl_val obj, const char *where, const char *const *allowed);
const char *loader_get_string(loader *ld, yajl_val obj, const char *where, const char *key, int required);
void loader_set_string(loader *ld, yajl_val obj, const char *where, const char *key, char **out);
void loader_check_url(loader *ld, const char *where, const char *key, const char *url);
int loader_valid_name(const char *s); /* 1..CONFIG_NAME_MAX of A-Z a-z 0-9 _ - */
/* Under CONFIG_LOAD_NO_SECRETS without only_route (dlq)
 * nothing is resolved: NULL with *absent 0 and no error. */
char *loader_resolve_reference(loader *ld, const char *ref, const char *where, const char *key, int *absent,
                               char *why, size_t whylen);

/* config_routes.c: credentials first (routes name them), then routes;
 * config_load_cidrs also reads the top-level trusted_proxies. */
void config_load_credentials(loader *ld, config *cfg, yajl_val root);
void config_load_routes(loader *ld, config *cfg, yajl_val root);
void config_load_cidrs(loader *ld, yajl_val obj, const char *where, const char *key, netaddr_list *out);

/* config_placeholders.c: reports (or, under CONFIG_LOAD_ALLOW_PLACEHOLDERS,
 * counts into cfg) every string value of root holding a placeholder; text and
 * len are the file root was parsed from, for line numbers. */
void config_check_placeholders(loader *ld, config *cfg, yajl_val root, const char *text, size_t len);

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
