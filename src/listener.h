/* listener: what closehook's two HTTP servers (the webhook server and the
 * admin API) share about listen sockets and h2o loops. Called from the main
 * thread (opening) and from each loop's own thread (the busy check). */
#ifndef CLOSEHOOK_LISTENER_H
#define CLOSEHOOK_LISTENER_H

#include <stddef.h>

#include <h2o.h>

#include "config.h"

/* A bound, listening TCP socket for l (close-on-exec). reuseport: several
 * loops (or processes) share the port, each with its own socket; without it a
 * second bind to the port fails at start. Returns the fd, or -1 with err
 * naming what ("listen", "admin listen"), the address and the reason. */
int listener_open(const config_listener *l, int reuseport, int backlog, const char *what, char *err,
                  size_t errlen);

/* 1 while h2o still holds connections or linked timers in ctx: h2o 2.2 asserts
 * when such a context is disposed, so a stopping loop runs until this is 0. */
int listener_context_busy(h2o_context_t *ctx);

#endif
