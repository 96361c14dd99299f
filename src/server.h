/* server: the inbound HTTP side on libh2o-evloop.
 *
 * One event loop per thread. Each listener is bound once (no SO_REUSEPORT: a
 * second daemon on the port fails at server_create) and every loop accepts on
 * its own dup() of it (listener.h). POST /hooks/<route> is decided by intake
 * (intake.h: checks, source, mapping, the jobs); the server submits the jobs
 * and sends the 202 from the loop thread only after the queue's writer has
 * committed the row. GET /healthz (process alive), GET /readyz (503 once
 * stopping). Every answer has a Content-Length so keep-alive holds.
 * Called from the main thread; server_run blocks until server_stop. */
#ifndef CLOSEHOOK_SERVER_H
#define CLOSEHOOK_SERVER_H

#include "config.h"
#include "queue.h"

typedef struct server server;

/* Binds the listeners. NULL with err filled (address in use, bad host), e.g.
 * "listen 127.0.0.1:8080: Address already in use". */
server *server_create(const config *cfg, queue *q, char *err, size_t errlen);
/* Runs the event loops until server_stop; returns 0 on a clean stop. */
int server_run(server *s);
/* Makes cfg the config new requests use (SIGHUP reload), with its TLS
 * certificates loaded afresh. Returns 0, or -1 with err when a certificate or
 * key does not load (nothing changes then). The caller keeps the old config
 * allocated until after server_free: requests may still use it. Listeners and
 * the body limit stay as they were at server_create. */
int server_set_config(server *s, const config *cfg, char *err, size_t errlen);
/* Async-signal-safe: asks the loops to finish. */
void server_stop(server *s);
void server_free(server *s);

#endif
