/* Tests for listener.c's socket set-up: one bind per address, no sharing
 * with another socket (the second daemon's case), and dup()s that keep the
 * one socket listening. The accept back-off is covered end to end by
 * tests/e2e/test_fd_exhaustion.py. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "listener.h"

static int bound_port(int fd)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    return ntohs(a.sin_port);
}

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
    if (rc != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Opens 127.0.0.1 on an ephemeral port; returns the fd and sets *port. */
static int open_any(int *port)
{
    config_listener l = {.host = "127.0.0.1", .port = 0};
    char err[256] = "";
    int fd = listener_open(&l, 16, "listen", err, sizeof(err));
    cr_assert_geq(fd, 0, "%s", err);
    *port = bound_port(fd);
    return fd;
}

Test(listener, a_second_socket_on_the_port_is_refused_naming_the_address)
{
    int port;
    int fd = open_any(&port);
    config_listener again = {.host = "127.0.0.1", .port = port};
    char err[256] = "", want[64];
    cr_assert_eq(listener_open(&again, 16, "listen", err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "listen 127.0.0.1:%d: ", port);
    cr_expect(strncmp(err, want, strlen(want)) == 0, "%s", err);
    cr_expect_not_null(strstr(err, "in use"), "%s", err);
    close(fd);
}

Test(listener, the_socket_is_close_on_exec_and_not_reuseport)
{
    int port;
    int fd = open_any(&port);
    cr_expect(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    int on = -1;
    socklen_t len = sizeof(on);
    cr_assert_eq(getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, &len), 0);
    cr_expect_eq(on, 0, "SO_REUSEPORT would let another process share the port");
    close(fd);
}

Test(listener, a_dup_keeps_the_socket_listening_after_the_original_closes)
{
    int port;
    int fd = open_any(&port);
    char err[256] = "";
    int copy = listener_dup(fd, "listen", err, sizeof(err));
    cr_assert_geq(copy, 0, "%s", err);
    cr_expect(fcntl(copy, F_GETFD) & FD_CLOEXEC);
    close(fd);
    int c = connect_to(port);
    cr_expect_geq(c, 0, "the dup still listens");
    if (c >= 0)
        close(c);
    close(copy);
    cr_expect_eq(connect_to(port), -1, "with its last descriptor closed the port is free");
}
