/* listener: socket set-up, accepting with a back-off, and loop shutdown checks
 * written once for both of closehook's h2o servers. */
#include "listener.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"

int listener_open(const config_listener *l, int backlog, const char *what, char *err, size_t errlen)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", l->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(l->host, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "%s %s:%d: %s", what, l->host, l->port, gai_strerror(rc));
        return -1;
    }
    /* SO_REUSEADDR only lets a restart bind past TIME_WAIT connections; it
     * does not let two sockets listen on one address (SO_REUSEPORT would). */
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, 0);
    int on = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, backlog) != 0) {
        snprintf(err, errlen, "%s %s:%d: %s", what, l->host, l->port, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

int listener_dup(int fd, const char *what, char *err, size_t errlen)
{
    int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (copy < 0)
        snprintf(err, errlen, "%s: dup of the listen socket: %s", what, strerror(errno));
    return copy;
}

/* The metric's label for an accept failure worth backing off from, or NULL. */
static const char *backoff_reason(int err)
{
    switch (err) {
    case EMFILE:
        return "emfile";
    case ENFILE:
        return "enfile";
    case ENOBUFS:
        return "enobufs";
    case ENOMEM:
        return "enomem";
    default:
        return NULL;
    }
}

static void on_readable(h2o_socket_t *sock, const char *err);

static void on_retry(h2o_timeout_entry_t *entry)
{
    listener_watch *w = H2O_STRUCT_FROM_MEMBER(listener_watch, retry, entry);
    h2o_socket_read_start(w->sock, on_readable);
}

static void back_off(listener_watch *w, int err, const char *reason)
{
    h2o_socket_read_stop(w->sock);
    h2o_timeout_link(w->ctx->loop, &w->ctx->hundred_ms_timeout, &w->retry);
    metrics_inc("closehook_accept_backoffs_total", METRIC_LABELS(w->name, reason));
    if (w->backoffs++ == 0)
        log_write(LOG_WARN, "accept failed: not accepting connections for a moment", "listener", w->name,
                  "error", strerror(err), LOG_INT("retry_ms", LISTENER_BACKOFF_MS), NULL);
}

static void on_readable(h2o_socket_t *sock, const char *err)
{
    if (err != NULL)
        return;
    listener_watch *w = sock->data;
    h2o_socket_t *conn = h2o_evloop_socket_accept(sock);
    if (conn == NULL) {
        int e = errno; /* accept(2)'s: h2o returns as soon as it fails */
        const char *reason = backoff_reason(e);
        if (reason != NULL)
            back_off(w, e, reason);
        return;
    }
    if (w->backoffs > 0) {
        log_write(LOG_INFO, "accepting connections again", "listener", w->name,
                  LOG_INT("failed_accepts", w->backoffs), NULL);
        w->backoffs = 0;
    }
    w->on_accept(w, conn);
}

void listener_watch_start(listener_watch *w, h2o_context_t *ctx, int fd, const char *name,
                          listener_accept_cb on_accept, void *data)
{
    w->data = data;
    w->ctx = ctx;
    w->name = name;
    w->on_accept = on_accept;
    w->backoffs = 0;
    memset(&w->retry, 0, sizeof(w->retry));
    w->retry.cb = on_retry;
    w->sock = h2o_evloop_socket_create(ctx->loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    w->sock->data = w;
    h2o_socket_read_start(w->sock, on_readable);
}

void listener_watch_close(listener_watch *w)
{
    if (w->sock == NULL)
        return;
    if (h2o_timeout_is_linked(&w->retry))
        h2o_timeout_unlink(&w->retry);
    if (h2o_socket_is_reading(w->sock))
        h2o_socket_read_stop(w->sock);
    h2o_socket_close(w->sock);
    w->sock = NULL;
}

int listener_context_busy(h2o_context_t *ctx)
{
    h2o_timeout_t *timers[] = {&ctx->zero_timeout,      &ctx->one_sec_timeout,   &ctx->hundred_ms_timeout,
                               &ctx->handshake_timeout, &ctx->http1.req_timeout, &ctx->http2.idle_timeout,
                               &ctx->proxy.io_timeout};
    for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++)
        if (!h2o_linklist_is_empty(&timers[i]->_entries))
            return 1;
    return !h2o_linklist_is_empty(&ctx->http1._conns) || !h2o_linklist_is_empty(&ctx->http2._conns);
}
