/* reload: SIGHUP's configuration reload. The new file is loaded and checked
 * completely before anything changes; a broken file is refused and logged
 * while the old config keeps serving; a good one is swapped into the server and
 * delivery at once (new requests and rows use it). Retired configs stay
 * allocated until exit, since requests and deliveries that began under them may
 * still point into them (a few KiB per reload).
 * Listeners and the store cannot change without a restart: such a file is
 * refused. Thread counts, body_limit and delivery workers keep their start-up
 * values (logged). Called from main's signal thread only. */
#ifndef CLOSEHOOK_RELOAD_H
#define CLOSEHOOK_RELOAD_H

#include "config.h"
#include "delivery.h"
#include "server.h"

typedef struct reloader reloader;

/* Takes ownership of active (the config serve started with); every reload
 * loads path with flags (CONFIG_LOAD_*): serve passes the flags it started
 * with (placeholders allowed, absent secrets allowed under --dry-run), so a
 * reload accepts exactly what the start did. */
reloader *reloader_new(const char *path, unsigned flags, config *active, server *srv, delivery *d);
/* Returns 0 when the new config is in force, -1 when it was refused. */
int reloader_reload(reloader *r);
/* Frees every config, active and retired: after the server and delivery stop. */
void reloader_free(reloader *r);

#endif
