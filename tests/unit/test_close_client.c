/* Tests for close_client: the status classes, and real requests against a
 * tiny loopback HTTP server (a test fixture, not product code) that records
 * what closehook sent and answers canned responses. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "close_client.h"
#include "resolve.h"
#include "signature.h"

/* CMake defines it for the library and the tests alike; by hand both fall back. */
#ifndef CLOSEHOOK_VERSION
#define CLOSEHOOK_VERSION "dev"
#endif

#define ZOOM_ID "85746392011"
#define FAKE_MAX_REQUESTS 4
#define FAKE_REQ_MAX 16384
/* Long enough for a loaded CI machine, short enough that a broken test fails
 * instead of hanging. */
#define FAKE_IO_TIMEOUT_MS 5000

typedef struct fake_server {
    int listen_fd;
    int port;
    pthread_t thread;
    const char *responses[FAKE_MAX_REQUESTS]; /* full raw HTTP answers */
    int nresponses;
    char requests[FAKE_MAX_REQUESTS][FAKE_REQ_MAX]; /* raw head + body as received */
    int nrequests;
    int connections; /* accepted TCP connections */
} fake_server;

static int wait_readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, FAKE_IO_TIMEOUT_MS) == 1;
}

/* Reads one request (head and Content-Length body) into out. 0 when the
 * client closed or went quiet. */
static int read_request(int fd, char *out, size_t cap)
{
    size_t len = 0;
    char *head_end = NULL;
    for (;;) {
        out[len] = '\0';
        head_end = strstr(out, "\r\n\r\n");
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

static void *fake_serve(void *arg)
{
    fake_server *s = arg;
    while (s->nrequests < s->nresponses && wait_readable(s->listen_fd)) {
        int fd = accept(s->listen_fd, NULL, NULL);
        if (fd < 0)
            break;
        s->connections++;
        while (s->nrequests < s->nresponses && read_request(fd, s->requests[s->nrequests], FAKE_REQ_MAX)) {
            const char *r = s->responses[s->nrequests++];
            if (write(fd, r, strlen(r)) < 0)
                break;
        }
        close(fd);
    }
    return NULL;
}

/* Binds 127.0.0.1 on an ephemeral port; returns the fd and fills *port. */
static int bind_ephemeral(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static void fake_start(fake_server *s)
{
    s->listen_fd = bind_ephemeral(&s->port);
    cr_assert_eq(listen(s->listen_fd, 8), 0);
    cr_assert_eq(pthread_create(&s->thread, NULL, fake_serve, s), 0);
}

static void fake_stop(fake_server *s)
{
    pthread_join(s->thread, NULL);
    close(s->listen_fd);
}

static close_client *client_for(int port)
{
    char base[64];
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", port);
    close_client *c = close_client_new(base, 5000);
    cr_assert_not_null(c);
    return c;
}

/* The value of header name in a recorded request, copied into out. */
static const char *header_of(const char *req, const char *name, char *out, size_t cap)
{
    char key[64];
    snprintf(key, sizeof(key), "\r\n%s:", name);
    const char *h = strcasestr(req, key);
    if (h == NULL)
        return NULL;
    h += strlen(key);
    while (*h == ' ')
        h++;
    size_t n = strcspn(h, "\r\n");
    snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), h);
    return out;
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static const char *request_body(const char *req)
{
    const char *end = strstr(req, "\r\n\r\n");
    return end ? end + 4 : "";
}

static void setup(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void teardown(void)
{
    curl_global_cleanup();
}

TestSuite(close_client, .init = setup, .fini = teardown);

Test(close_client, classify_table)
{
    static const struct {
        long status;
        close_class cls;
    } table[] = {
        {200, CLOSE_OK},        {201, CLOSE_OK},        {204, CLOSE_OK},        {0, CLOSE_TRANSIENT},
        {408, CLOSE_TRANSIENT}, {429, CLOSE_TRANSIENT}, {500, CLOSE_TRANSIENT}, {502, CLOSE_TRANSIENT},
        {503, CLOSE_TRANSIENT}, {599, CLOSE_TRANSIENT}, {301, CLOSE_PERMANENT}, {400, CLOSE_PERMANENT},
        {401, CLOSE_PERMANENT}, {403, CLOSE_PERMANENT}, {404, CLOSE_PERMANENT}, {409, CLOSE_PERMANENT},
        {422, CLOSE_PERMANENT}, {600, CLOSE_PERMANENT},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        cr_expect_eq(close_classify(table[i].status), table[i].cls, "status %ld", table[i].status);
}

static const char ok_answer[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                "Content-Length: 17\r\n\r\n{\"id\":\"acti_x\"}\r\n";

Test(close_client, put_with_api_key)
{
    fake_server s = {.responses = {ok_answer}, .nresponses = 1};
    fake_start(&s);
    close_client *c = client_for(s.port);
    credential cred = {.name = "sales", .kind = CREDENTIAL_API_KEY, .secret = "api_key_123"};
    const char *body = "{\"outcome_id\":\"outcome_1\"}";
    close_response res;
    cr_assert_eq(close_client_put_meeting(c, &cred, "acti_x", body, RATE_LIMIT_QUEUE, &res), CLOSE_OK);
    fake_stop(&s);

    cr_assert_eq(res.status, 200);
    cr_assert_str_eq(res.body, "{\"id\":\"acti_x\"}\r\n");
    const char *req = s.requests[0];
    cr_assert(starts_with(req, "PUT /api/v1/activity/meeting/acti_x/ HTTP/1.1\r\n"), "%s", req);
    char expect[128], got[256];
    char b64[64];
    signature_base64((const unsigned char *)"api_key_123:", 12, b64);
    snprintf(expect, sizeof(expect), "Basic %s", b64);
    cr_assert_str_eq(header_of(req, "Authorization", got, sizeof(got)), expect);
    cr_assert_str_eq(header_of(req, "Content-Type", got, sizeof(got)), "application/json");
    cr_assert_str_eq(header_of(req, "Accept", got, sizeof(got)), "application/json");
    cr_assert_str_eq(header_of(req, "User-Agent", got, sizeof(got)), "closehook/" CLOSEHOOK_VERSION);
    cr_assert_str_eq(request_body(req), body);
    close_response_clear(&res);
    close_client_free(c);
}

Test(close_client, bearer_get_and_keep_alive)
{
    fake_server s = {.responses = {ok_answer, ok_answer}, .nresponses = 2};
    fake_start(&s);
    close_client *c = client_for(s.port);
    credential cred = {.name = "oauth", .kind = CREDENTIAL_BEARER, .secret = "tok"};
    close_response res;
    cr_assert_eq(close_client_get_meeting(c, &cred, "acti_x", &res), CLOSE_OK);
    close_response_clear(&res);
    cr_assert_eq(close_client_list_meetings(c, &cred, "_limit=1", &res), CLOSE_OK);
    close_response_clear(&res);
    fake_stop(&s);

    char got[256];
    cr_assert(starts_with(s.requests[0], "GET /api/v1/activity/meeting/acti_x/ HTTP"));
    cr_assert_str_eq(header_of(s.requests[0], "Authorization", got, sizeof(got)), "Bearer tok");
    cr_assert_null(header_of(s.requests[0], "Content-Type", got, sizeof(got)));
    cr_assert(starts_with(s.requests[1], "GET /api/v1/activity/meeting/?_limit=1 HTTP"));
    /* the per-request reset must keep the connection: both on one TCP stream */
    cr_assert_eq(s.connections, 1);
    close_client_free(c);
}

Test(close_client, activity_id_is_escaped)
{
    fake_server s = {.responses = {ok_answer}, .nresponses = 1};
    fake_start(&s);
    close_client *c = client_for(s.port);
    credential cred = {.name = "sales", .kind = CREDENTIAL_API_KEY, .secret = "api_key_123"};
    close_response res;
    close_client_put_meeting(c, &cred, "../../lead/x", "{}", RATE_LIMIT_QUEUE, &res);
    close_response_clear(&res);
    fake_stop(&s);
    cr_assert(starts_with(s.requests[0], "PUT /api/v1/activity/meeting/..%2F..%2Flead%2Fx/ "), "%s",
              s.requests[0]);
    close_client_free(c);
}

Test(close_client, rate_limited_429)
{
    static const char answer[] =
        "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
        "RateLimit: limit=20, remaining=0, reset=1.75\r\nRetry-After: 2\r\nContent-Length: 30\r\n\r\n"
        "{\"error\":{\"rate_reset\":1.75}}\n";
    fake_server s = {.responses = {answer}, .nresponses = 1};
    fake_start(&s);
    close_client *c = client_for(s.port);
    credential cred = {.name = "sales", .kind = CREDENTIAL_API_KEY, .secret = "api_key_123"};
    close_response res;
    cr_assert_eq(close_client_put_meeting(c, &cred, "acti_x", "{}", RATE_LIMIT_QUEUE, &res), CLOSE_TRANSIENT);
    fake_stop(&s);
    cr_assert_eq(res.status, 429);
    cr_assert_float_eq(res.retry_after_s, 2.0, 1e-9);
    close_response_clear(&res);
    close_client_free(c);
}

Test(close_client, rate_reset_longer_than_retry_after)
{
    static const char answer[] =
        "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
        "Retry-After: 1\r\nContent-Length: 30\r\n\r\n{\"error\":{\"rate_reset\":3.25}}\n";
    fake_server s = {.responses = {answer}, .nresponses = 1};
    fake_start(&s);
    close_client *c = client_for(s.port);
    credential cred = {.name = "sales", .kind = CREDENTIAL_API_KEY, .secret = "api_key_123"};
    close_response res;
    cr_assert_eq(close_client_put_meeting(c, &cred, "acti_x", "{}", RATE_LIMIT_QUEUE, &res), CLOSE_TRANSIENT);
    fake_stop(&s);
    cr_assert_float_eq(res.retry_after_s, 3.25, 1e-9);
    close_response_clear(&res);
    close_client_free(c);
}

Test(close_client, permanent_keeps_body)
{
    static const char answer[] = "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
                                 "Content-Length: 35\r\n\r\n{\"error\":\"Unknown outcome_id.\"}\n\n\n\n";
    fake_server s = {.responses = {answer}, .nresponses = 1};
    fake_start(&s);
    close_client *c = client_for(s.port);
    credential cred = {.name = "sales", .kind = CREDENTIAL_API_KEY, .secret = "api_key_123"};
    close_response res;
    cr_assert_eq(close_client_put_meeting(c, &cred, "acti_x", "{}", RATE_LIMIT_QUEUE, &res), CLOSE_PERMANENT);
    fake_stop(&s);
    cr_assert_eq(res.status, 400);
    cr_assert_not_null(strstr(res.body, "Unknown outcome_id."));
    cr_assert_eq(res.retry_after_s, 0);
    close_response_clear(&res);
    close_client_free(c);
}

/* "HTTP/1.1 <status_line>" with a body of n bytes of JSON padding; malloc'ed. */
static char *huge_answer(const char *status_line, size_t n)
{
    char head[160];
    int h = snprintf(head, sizeof(head),
                     "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                     status_line, n);
    char *out = malloc((size_t)h + n + 1);
    cr_assert_not_null(out);
    memcpy(out, head, (size_t)h);
    memset(out + h, ' ', n);
    static const char start[] = "{\"error\":\"api_key_123\",\"pad\":\"";
    memcpy(out + h, start, strlen(start));
    out[(size_t)h + n] = '\0';
    return out;
}

/* One request against an answer of n bytes; the fake's write fails once the
 * client stops reading, hence SIGPIPE ignored. */
static close_class ask_huge(const char *status_line, size_t n, int put, close_response *res)
{
    signal(SIGPIPE, SIG_IGN);
    char *answer = huge_answer(status_line, n);
    fake_server s = {.responses = {answer}, .nresponses = 1};
    fake_start(&s);
    close_client *c = client_for(s.port);
    credential cred = {.name = "sales", .kind = CREDENTIAL_API_KEY, .secret = "api_key_123"};
    close_class cls = put ? close_client_put_meeting(c, &cred, "acti_x", "{}", RATE_LIMIT_QUEUE, res)
                          : close_client_get_meeting(c, &cred, "acti_x", res);
    fake_stop(&s);
    close_client_free(c);
    free(answer);
    return cls;
}

/* Close applied the PUT: its 200 stands whatever the size of the body, of
 * which only a prefix is read. */
Test(close_client, put_200_with_a_10_mib_body_is_ok)
{
    close_response res;
    cr_assert_eq(ask_huge("200 OK", 10u << 20, 1, &res), CLOSE_OK, "%s", res.err);
    cr_assert_eq(res.status, 200);
    cr_assert(res.body_cut);
    cr_assert_leq(res.body_len, 4096);
    close_response_clear(&res);
}

/* A read's answer is needed whole: past the cap it is an error that says so. */
Test(close_client, get_200_with_a_10_mib_body_is_a_clear_error)
{
    close_response res;
    cr_assert_eq(ask_huge("200 OK", 10u << 20, 0, &res), CLOSE_TRANSIENT);
    cr_assert_eq(res.status, 0);
    cr_assert_not_null(strstr(res.err, "GET answer larger than"), "%s", res.err);
    close_response_clear(&res);
}

/* An error answer keeps a prefix for its message, redacted like any other. */
Test(close_client, huge_error_answer_keeps_a_redacted_prefix)
{
    close_response res;
    cr_assert_eq(ask_huge("400 Bad Request", 1u << 20, 1, &res), CLOSE_PERMANENT, "%s", res.err);
    cr_assert_eq(res.status, 400);
    cr_assert(res.body_cut);
    cr_assert_leq(res.body_len, 64 * 1024);
    cr_assert_null(strstr(res.body, "api_key_123"));
    cr_assert_not_null(strstr(res.body, "[redacted]"));
    close_response_clear(&res);
}

Test(close_client, refused_connection_is_transient)
{
    int port;
    int fd = bind_ephemeral(&port); /* bound but never listening: connect is refused */
    close_client *c = client_for(port);
    credential cred = {.name = "sales", .kind = CREDENTIAL_API_KEY, .secret = "api_key_123"};
    close_response res;
    cr_assert_eq(close_client_put_meeting(c, &cred, "acti_x", "{}", RATE_LIMIT_QUEUE, &res), CLOSE_TRANSIENT);
    close(fd);
    cr_assert_eq(res.status, 0);
    cr_assert_neq(res.err[0], '\0');
    cr_assert_null(strstr(res.err, "api_key_123"));
    close_response_clear(&res);
    close_client_free(c);
}

Test(close_client, escape_query_value)
{
    close_client *c = client_for(1);
    char *e = close_client_escape(c, "2026-11-25T09:00:03Z+1 &x");
    cr_assert_str_eq(e, "2026-11-25T09%3A00%3A03Z%2B1%20%26x");
    free(e);
    close_client_free(c);
}

/* ---- resolve_activity driving close_client_list_meetings ----
 * These live here because they need the fake server above; they check the
 * query resolve sends, paging, and each outcome. */

/* A 200 answer carrying body, with its Content-Length; malloc'ed. */
static char *json_answer(const char *status_line, const char *body)
{
    char *out = NULL;
    cr_assert_geq(asprintf(&out,
                           "HTTP/1.1 %s\r\nContent-Type: application/json\r\n"
                           "Content-Length: %zu\r\n\r\n%s",
                           status_line, strlen(body), body),
                  0);
    return out;
}

static char *meeting_page(const char *id, const char *starts_at, const char *url, int has_more)
{
    char *body = NULL, *answer;
    cr_assert_geq(asprintf(&body,
                           "{\"data\":[{\"id\":\"%s\",\"starts_at\":\"%s\",\"conference_links\":"
                           "[{\"type\":\"ZOOM\",\"url\":\"%s\"}]}],\"has_more\":%s}",
                           id, starts_at, url, has_more ? "true" : "false"),
                  0);
    answer = json_answer("200 OK", body);
    free(body);
    return answer;
}

/* Runs resolve_activity for the sample Zoom meeting against the canned pages. */
static resolve_result resolve_against(fake_server *s, char **id, char *detail, size_t len)
{
    fake_start(s);
    close_client *c = client_for(s->port);
    credential cred = {.name = "sales", .kind = CREDENTIAL_API_KEY, .secret = "api_key_123"};
    close_update u = {.keys.join_url = "https://example.zoom.us/j/" ZOOM_ID "?pwd=abc123",
                      .keys.start_time = "2026-11-25T09:00:03Z"};
    resolve_result r = resolve_activity(c, &cred, &u, 7200, id, detail, len);
    fake_stop(s);
    close_client_free(c);
    return r;
}

Test(close_client, resolve_pages_until_found)
{
    char *p1 = meeting_page("acti_other", "2026-11-25T09:00:00+00:00", "https://zoom.us/j/" ZOOM_ID "1", 1);
    char *p2 = meeting_page("acti_3f", "2026-11-25T09:00:00+00:00",
                            "https://example.zoom.us/j/" ZOOM_ID "?pwd=abc", 0);
    fake_server s = {.responses = {p1, p2}, .nresponses = 2};
    char *id = NULL, detail[512];
    cr_assert_eq(resolve_against(&s, &id, detail, sizeof(detail)), RESOLVE_FOUND, "%s", detail);
    cr_assert_str_eq(id, "acti_3f");
    cr_assert(starts_with(s.requests[0],
                          "GET /api/v1/activity/meeting/?activity_at__gte=2026-11-25T07%3A00%3A03Z"
                          "&activity_at__lte=2026-11-25T11%3A00%3A03Z&_limit=100&_skip=0&"),
              "%s", s.requests[0]);
    cr_assert_not_null(strstr(s.requests[1], "&_skip=1&"), "%s", s.requests[1]);
    free(id);
    free(p1);
    free(p2);
}

Test(close_client, resolve_ambiguous_lists_candidates)
{
    char *body = json_answer("200 OK",
                             "{\"data\":["
                             "{\"id\":\"acti_a\",\"starts_at\":\"2026-11-25T09:00:00Z\",\"conference_links\":"
                             "[{\"url\":\"https://zoom.us/j/" ZOOM_ID "\"}]},"
                             "{\"id\":\"acti_b\",\"starts_at\":\"2026-11-25T09:30:00Z\",\"conference_links\":"
                             "[{\"url\":\"https://zoom.us/j/" ZOOM_ID "#x\"}]}],\"has_more\":false}");
    fake_server s = {.responses = {body}, .nresponses = 1};
    char *id = NULL, detail[512];
    cr_assert_eq(resolve_against(&s, &id, detail, sizeof(detail)), RESOLVE_AMBIGUOUS);
    cr_assert_null(id);
    cr_assert_not_null(strstr(detail, "acti_a"), "%s", detail);
    cr_assert_not_null(strstr(detail, "acti_b"), "%s", detail);
    free(body);
}

Test(close_client, resolve_not_found_says_what_was_tried)
{
    /* the right Zoom id, but a day later: a lenient server filter must not win */
    char *p = meeting_page("acti_late", "2026-11-26T09:00:00Z", "https://zoom.us/j/" ZOOM_ID, 0);
    fake_server s = {.responses = {p}, .nresponses = 1};
    char *id = NULL, detail[512];
    cr_assert_eq(resolve_against(&s, &id, detail, sizeof(detail)), RESOLVE_NOT_FOUND);
    cr_assert_null(id);
    cr_assert_not_null(strstr(detail, ZOOM_ID), "%s", detail);
    cr_assert_not_null(strstr(detail, "2026-11-25T07:00:03Z"), "%s", detail);
    free(p);
}

Test(close_client, resolve_refused_credential_is_permanent)
{
    char *p = json_answer("401 Unauthorized", "{\"error\":\"Invalid API key\"}");
    fake_server s = {.responses = {p}, .nresponses = 1};
    char *id = NULL, detail[512];
    cr_assert_eq(resolve_against(&s, &id, detail, sizeof(detail)), RESOLVE_PERMANENT);
    cr_assert_not_null(strstr(detail, "401"), "%s", detail);
    cr_assert_not_null(strstr(detail, "Invalid API key"), "%s", detail);
    cr_assert_null(strstr(detail, "api_key_123"));
    free(p);
}

Test(close_client, resolve_without_keys_sends_nothing)
{
    close_client *c = client_for(1); /* nothing listens on port 1: any request would fail */
    credential cred = {.name = "sales", .kind = CREDENTIAL_API_KEY, .secret = "api_key_123"};
    char *id = NULL, detail[256];
    close_update no_id = {.keys.join_url = "https://zoom.us/my/room",
                          .keys.start_time = "2026-11-25T09:00:03Z"};
    cr_assert_eq(resolve_activity(c, &cred, &no_id, 7200, &id, detail, sizeof(detail)), RESOLVE_NO_KEYS);
    close_update no_time = {.keys.zoom_meeting_id = ZOOM_ID};
    cr_assert_eq(resolve_activity(c, &cred, &no_time, 7200, &id, detail, sizeof(detail)), RESOLVE_NO_KEYS);
    cr_assert_not_null(strstr(detail, "start time"), "%s", detail);
    cr_assert_null(id);
    close_client_free(c);
}
