/* listener: what closehook's two HTTP servers (the webhook server and the
 * admin API) share about listen sockets and h2o loops: opening a socket once,
 * accepting on it from a loop (with a back-off when the process runs out of
 * descriptors), and the loop's shutdown check. */
#ifndef CLOSEHOOK_LISTENER_H
#define CLOSEHOOK_LISTENER_H

#include <stddef.h>

#include <h2o.h>

#include "config.h"

/* How long a listener stops accepting after accept failed for want of file
 * descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM). */
#define LISTENER_BACKOFF_MS 100

/* Main thread, at start. A bound, listening TCP socket for l (close-on-exec,
 * SO_REUSEADDR, never SO_REUSEPORT): while another process listens on the
 * address, the bind fails, so a second daemon on the port refuses to start
 * instead of sharing the traffic. Several loops accept on one socket through
 * dup()s of the fd (listener_dup). Returns the fd (the caller's to close), or
 * -1 with err naming what ("listen", "admin listen"), the address and the
 * reason, e.g. "listen 127.0.0.1:8080: Address already in use". */
int listener_open(const config_listener *l, int backlog, const char *what, char *err, size_t errlen);

/* Another descriptor (close-on-exec) for the same listen socket, for another
 * loop; the socket keeps listening until its last descriptor is closed.
 * Returns the fd (the caller's), or -1 with err naming what and the reason. */
int listener_dup(int fd, const char *what, char *err, size_t errlen);

typedef struct listener_watch listener_watch;
/* Loop thread: one accepted connection (never NULL), for the callback to pass
 * to h2o_accept. */
typedef void (*listener_accept_cb)(listener_watch *w, h2o_socket_t *conn);

/* One listen socket accepted on by one h2o loop. The caller owns the struct
 * (zeroed before listener_watch_start, kept in place until closed); data is
 * the caller's. The other fields are this module's. */
struct listener_watch {
    void *data;
    h2o_socket_t *sock; /* NULL until started and once closed */
    h2o_context_t *ctx;
    h2o_timeout_entry_t retry; /* linked to ctx->hundred_ms_timeout while backing off */
    listener_accept_cb on_accept;
    const char *name; /* "webhook", "admin": the metric's and the log's label */
    long backoffs;    /* failed accepts in the current back-off episode */
};

/* Loop thread. Starts accepting on fd (ownership passes to the watch: the fd
 * is closed by listener_watch_close) and calls on_accept with each connection.
 * When accept fails with EMFILE, ENFILE, ENOBUFS or ENOMEM the socket is not
 * read for LISTENER_BACKOFF_MS (the loop would otherwise spin on the readable
 * socket): each such failure counts in closehook_accept_backoffs_total; one
 * warning is logged when an episode begins and one info line when accepting
 * works again. Other accept failures (EAGAIN: another loop took the
 * connection; ECONNABORTED) are ignored as before. name must outlive w. */
void listener_watch_start(listener_watch *w, h2o_context_t *ctx, int fd, const char *name,
                          listener_accept_cb on_accept, void *data);

/* Loop thread. Stops accepting, cancels a pending back-off and closes the
 * socket (its descriptor; other loops' dup()s keep the socket listening).
 * A no-op when not started or already closed. */
void listener_watch_close(listener_watch *w);

/* 1 while h2o still holds connections or linked timers in ctx: h2o 2.2 asserts
 * when such a context is disposed, so a stopping loop runs until this is 0. */
int listener_context_busy(h2o_context_t *ctx);

#endif
