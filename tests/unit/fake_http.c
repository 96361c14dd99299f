/* fake_http: see fake_http.h. Plain sockets and poll, one thread, so a test
 * controls exactly what Close "answers" without any server library. */
#include "fake_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

static int wait_readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, FAKE_HTTP_IO_TIMEOUT_MS) == 1;
}

/* Reads one request (head and Content-Length body) into out. 0 when the
 * client closed or went quiet. */
static int read_request(int fd, char *out, size_t cap)
{
    size_t len = 0;
    for (;;) {
        out[len] = '\0';
        const char *head_end = strstr(out, "\r\n\r\n");
        if (head_end != NULL) {
            const char *cl = strcasestr(out, "\r\nContent-Length:");
            size_t body = cl && cl < head_end ? strtoul(cl + 17, NULL, 10) : 0;
            if (len >= (size_t)(head_end + 4 - out) + body)
                return 1;
        }
        if (len + 1 >= cap || !wait_readable(fd))
            return 0;
        ssize_t n = read(fd, out + len, cap - 1 - len);
        if (n <= 0)
            return 0;
        len += (size_t)n;
    }
}

static void *serve(void *arg)
{
    fake_http *s = arg;
    while (s->nrequests < s->nresponses && wait_readable(s->listen_fd)) {
        int fd = accept(s->listen_fd, NULL, NULL);
        if (fd < 0)
            break;
        s->connections++;
        while (s->nrequests < s->nresponses &&
               read_request(fd, s->requests[s->nrequests], FAKE_HTTP_REQ_MAX)) {
            const char *r = s->responses[s->nrequests++];
            if (write(fd, r, strlen(r)) < 0)
                break;
        }
        close(fd);
    }
    return NULL;
}

int fake_http_start(fake_http *s)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    s->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (s->listen_fd < 0 || bind(s->listen_fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(s->listen_fd, (struct sockaddr *)&a, &alen) != 0 || listen(s->listen_fd, 8) != 0 ||
        pthread_create(&s->thread, NULL, serve, s) != 0) {
        if (s->listen_fd >= 0)
            close(s->listen_fd);
        return -1;
    }
    s->port = ntohs(a.sin_port);
    return 0;
}

void fake_http_stop(fake_http *s)
{
    pthread_join(s->thread, NULL);
    close(s->listen_fd);
}

char *fake_http_json(const char *status_line, const char *body)
{
    char *out = NULL;
    if (asprintf(&out, "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                 status_line, strlen(body), body) < 0)
        return NULL;
    return out;
}

const char *fake_http_body(const char *request)
{
    const char *end = strstr(request, "\r\n\r\n");
    return end ? end + 4 : "";
}

const char *fake_http_target(const char *request, char *out, size_t cap)
{
    const char *sp = strchr(request, ' ');
    size_t n = sp ? strcspn(sp + 1, " \r\n") : 0;
    snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), sp ? sp + 1 : "");
    return out;
}
