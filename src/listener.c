/* listener: socket set-up and loop shutdown checks written once for both of
 * closehook's h2o servers. */
#include "listener.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int listener_open(const config_listener *l, int reuseport, int backlog, const char *what, char *err,
                  size_t errlen)
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
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, 0);
    int on = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0) ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, backlog) != 0) {
        snprintf(err, errlen, "%s %s:%d: %s", what, l->host, l->port, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
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
