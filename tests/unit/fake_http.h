/* fake_http: a tiny loopback HTTP/1.1 server for unit tests (a fixture, not
 * product code). It answers canned raw responses in order, one per request,
 * over keep-alive connections, and records each request (head and body) as
 * received, so a test can assert on exactly what closehook sent.
 *
 * Use: fill responses/nresponses, fake_http_start, run the code under test
 * against http://127.0.0.1:<port>, then fake_http_stop (which waits until
 * every response was served, or FAKE_HTTP_IO_TIMEOUT_MS of silence). */
#ifndef CLOSEHOOK_TEST_FAKE_HTTP_H
#define CLOSEHOOK_TEST_FAKE_HTTP_H

#include <pthread.h>
#include <stddef.h>

#define FAKE_HTTP_MAX_REQUESTS 8
#define FAKE_HTTP_REQ_MAX 16384
/* Long enough for a loaded CI machine, short enough that a broken test fails
 * instead of hanging. */
#define FAKE_HTTP_IO_TIMEOUT_MS 5000

typedef struct fake_http {
    int listen_fd;
    int port;
    pthread_t thread;
    const char *responses[FAKE_HTTP_MAX_REQUESTS]; /* full raw HTTP answers */
    int nresponses;
    char requests[FAKE_HTTP_MAX_REQUESTS][FAKE_HTTP_REQ_MAX]; /* raw head + body */
    int nrequests;
    int connections; /* accepted TCP connections */
} fake_http;

/* Binds 127.0.0.1 on an ephemeral port and starts serving. 0, or -1. */
int fake_http_start(fake_http *s);
void fake_http_stop(fake_http *s);

/* "HTTP/1.1 <status_line>" with a JSON body and its Content-Length; malloc'ed. */
char *fake_http_json(const char *status_line, const char *body);
/* The body of a recorded request ("" when none). */
const char *fake_http_body(const char *request);
/* The request line's target ("/api/v1/…?…") copied into out. */
const char *fake_http_target(const char *request, char *out, size_t cap);

#endif
