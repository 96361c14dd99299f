/* close_client: the only place that speaks HTTP to Close. Keeping the libcurl
 * details (auth forms, headers, rate-limit hints, error text) here lets
 * delivery and resolve reason in terms of "ok / retry / give up". */
#include "close_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "metrics.h"
#include "redact.h"

#ifndef CLOSEHOOK_VERSION
#define CLOSEHOOK_VERSION "dev"
#endif

/* Close's largest answers are meeting lists of 100 items with trimmed fields
 * (well under 1 MiB); anything past 8 MiB is a misbehaving proxy, not Close. */
#define CLOSE_MAX_BODY (8u * 1024u * 1024u)
/* A 2xx to a PUT is done whatever its body says: nothing reads it, so only
 * this much is kept and the rest is not read at all. */
#define CLOSE_PUT_KEEP 4096u
/* An error answer is kept for its message (a dead letter keeps 2 KiB of it);
 * past this the answer stands with its body cut short. */
#define CLOSE_ERROR_KEEP (64u * 1024u)

/* How long a request may wait for a connection before the whole request
 * timeout applies; Close answers within a few hundred ms from anywhere. */
#define CLOSE_CONNECT_TIMEOUT_MS 5000L

#define CLOSE_MEETING_PATH "/api/v1/activity/meeting/"
/* A list query with this filter is Meeting Search (close-api.md). */
#define CLOSE_SEARCH_PARAM "provider_calendar_event_id="
/* Header values we copy out of libcurl (which keeps each only until the next
 * lookup); Close's rate-limit values are a few dozen bytes. */
#define CLOSE_HEADER_MAX 256

struct close_client {
    CURL *curl;
    char *base_url;
    long timeout_ms;
    oauth *oauth;         /* borrowed */
    rate_limit *rl;       /* borrowed; NULL: unpaced */
    char request_id[160]; /* X-Request-Id for the row being delivered; "" = none */
};

/* What goes on the wire as auth: the form and the secret text. */
typedef struct auth {
    credential_kind kind;
    const char *secret; /* NULL: no auth */
} auth;

/* One request: GET when body is NULL. */
typedef struct http_request {
    const char *url;
    const char *method;
    const char *content_type;
    const char *body;
    const char *kind;       /* the duration histogram's label */
    const char *cred;       /* the credential paced; NULL: not paced */
    rate_limit_group group; /* Close's endpoint group, roughly: reads or writes */
    rate_limit_slot slot;   /* the ticket: queue for a slot, or redeem a booked one */
} http_request;

typedef struct body_buf {
    char *data;
    size_t len, cap;
    CURL *curl;   /* for the status, known before the first body byte */
    int put;      /* the request is a PUT */
    int overflow; /* a 2xx answer to a read past CLOSE_MAX_BODY: an error */
    int cut;      /* a prefix was kept and reading stopped: the answer stands */
} body_buf;

close_client *close_client_new(const char *base_url, long timeout_ms)
{
    close_client *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->curl = curl_easy_init();
    c->base_url = strdup(base_url);
    c->timeout_ms = timeout_ms;
    if (c->curl == NULL || c->base_url == NULL) {
        close_client_free(c);
        return NULL;
    }
    return c;
}

void close_client_set_oauth(close_client *c, oauth *o)
{
    c->oauth = o;
}

void close_client_set_rate_limit(close_client *c, rate_limit *rl)
{
    c->rl = rl;
}

void close_client_free(close_client *c)
{
    if (c == NULL)
        return;
    if (c->curl != NULL)
        curl_easy_cleanup(c->curl);
    free(c->base_url);
    free(c);
}

close_class close_classify(long status)
{
    if (status >= 200 && status < 300)
        return CLOSE_OK;
    if (status == 0 || status == 408 || status == 429 || (status >= 500 && status < 600))
        return CLOSE_TRANSIENT;
    return CLOSE_PERMANENT;
}

void close_response_clear(close_response *res)
{
    if (res == NULL)
        return;
    free(res->body);
    memset(res, 0, sizeof(*res));
}

char *close_client_escape(close_client *c, const char *s)
{
    char *esc = curl_easy_escape(c->curl, s, 0);
    if (esc == NULL)
        return NULL;
    char *out = strdup(esc);
    curl_free(esc);
    return out;
}

/* How much of this answer's body to keep; *keep_prefix = 1 when more is
 * simply not read (the answer stands), 0 when more is an error. */
static size_t body_limit(const body_buf *b, int *keep_prefix)
{
    long status = 0;
    curl_easy_getinfo(b->curl, CURLINFO_RESPONSE_CODE, &status);
    if (close_classify(status) != CLOSE_OK) {
        *keep_prefix = 1;
        return CLOSE_ERROR_KEEP;
    }
    *keep_prefix = b->put;
    return b->put ? CLOSE_PUT_KEEP : CLOSE_MAX_BODY;
}

/* libcurl's write callback: grows the buffer up to body_limit. Returning
 * short makes curl stop the transfer (CURLE_WRITE_ERROR), which exchange
 * takes as the answer when b->cut says a prefix was all we wanted. */
static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    body_buf *b = arg;
    size_t n = size * nmemb;
    int keep_prefix;
    size_t limit = body_limit(b, &keep_prefix);
    if (b->len + n > limit) {
        if (!keep_prefix) {
            b->overflow = 1;
            return 0;
        }
        b->cut = 1;
        n = limit - b->len;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *grown = realloc(b->data, cap);
        if (grown == NULL)
            return 0;
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return b->cut ? 0 : size * nmemb;
}

/* An error answer may echo what we sent (the Authorization header, the key
 * in a JSON error): every spelling of the secret sent goes before anyone
 * keeps or logs the body. A cut body may end in part of one: that goes too. */
static void redact_body(const auth *a, close_response *res)
{
    if (res->body == NULL)
        return;
    redactor *r = redact_new();
    redact_add(r, a ? a->secret : NULL);
    char *clean = redact_text(r, res->body, res->body_len, res->body_cut);
    redact_free(r);
    explicit_bzero(res->body, res->body_len);
    free(res->body);
    res->body = clean;
    res->body_len = clean ? strlen(clean) : 0;
}

/* Copies the answer's first `name` header into out (libcurl's copy lives
 * only until the next lookup); NULL when there is none. */
static const char *header_copy(CURL *curl, const char *name, char *out, size_t len)
{
    struct curl_header *h = NULL;
    if (curl_easy_header(curl, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK || h == NULL)
        return NULL;
    snprintf(out, len, "%s", h->value);
    return out;
}

/* Retry-After in seconds, or as an HTTP date (RFC 9110 allows both). */
static double retry_after_header(CURL *curl)
{
    char buf[CLOSE_HEADER_MAX];
    const char *value = header_copy(curl, "Retry-After", buf, sizeof(buf));
    if (value == NULL)
        return 0;
    char *end = NULL;
    double v = strtod(value, &end);
    if (end != value && v > 0)
        return v;
    time_t when = curl_getdate(value, NULL);
    time_t now = time(NULL);
    return when > now ? (double)(when - now) : 0;
}

/* Close's budget for this answer's endpoint group, in either header form. */
static void rate_limit_headers(CURL *curl, rate_limit_info *out)
{
    char combined[CLOSE_HEADER_MAX], limit[CLOSE_HEADER_MAX], remaining[CLOSE_HEADER_MAX],
        reset[CLOSE_HEADER_MAX];
    rate_limit_parse(header_copy(curl, "RateLimit", combined, sizeof(combined)),
                     header_copy(curl, "RateLimit-Limit", limit, sizeof(limit)),
                     header_copy(curl, "RateLimit-Remaining", remaining, sizeof(remaining)),
                     header_copy(curl, "RateLimit-Reset", reset, sizeof(reset)), out);
}

/* A 429's JSON body says how long the rate window has left: error.rate_reset. */
static double rate_reset_body(const close_response *res)
{
    if (res->body == NULL)
        return 0;
    char err[128];
    yajl_val root = json_parse(res->body, res->body_len, err, sizeof(err));
    if (root == NULL)
        return 0;
    const char *s = json_scalar(json_get(root, "error.rate_reset"));
    double v = s ? strtod(s, NULL) : 0;
    yajl_tree_free(root);
    return v > 0 ? v : 0;
}

/* Sets the auth on the handle; libcurl builds the header (and does the
 * base64), so the secret never passes through our own buffers. */
static void set_auth(CURL *curl, const auth *a)
{
    if (a == NULL || a->secret == NULL)
        return;
    if (a->kind == CREDENTIAL_API_KEY) {
        curl_easy_setopt(curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(curl, CURLOPT_USERNAME, a->secret);
        curl_easy_setopt(curl, CURLOPT_PASSWORD, "");
    } else {
        curl_easy_setopt(curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
        curl_easy_setopt(curl, CURLOPT_XOAUTH2_BEARER, a->secret);
    }
}

/* Options every request needs. curl_easy_reset first so nothing of the last
 * request (method, body, auth) leaks into this one; the reset keeps the
 * connection cache, so keep-alive still holds. */
static void set_common(close_client *c, const char *url, const auth *a, body_buf *buf, char *errbuf)
{
    CURL *curl = c->curl;
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "closehook/" CLOSEHOOK_VERSION);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, CLOSE_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, buf);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    set_auth(curl, a);
}

/* Runs one request and fills res. */
static close_class exchange(close_client *c, const auth *a, const http_request *rq, close_response *res)
{
    body_buf buf = {.curl = c->curl, .put = rq->body != NULL && strcmp(rq->method, "PUT") == 0};
    char errbuf[CURL_ERROR_SIZE] = "";
    set_common(c, rq->url, a, &buf, errbuf);

    struct curl_slist *headers = curl_slist_append(NULL, "Accept: application/json");
    /* An empty Expect stops curl waiting for "100 Continue" on larger bodies. */
    headers = curl_slist_append(headers, "Expect:");
    if (c->request_id[0] != '\0') {
        /* One id from the load balancer through to Close's logs. */
        char line[sizeof(c->request_id) + 16];
        snprintf(line, sizeof(line), "X-Request-Id: %s", c->request_id);
        headers = curl_slist_append(headers, line);
    }
    if (rq->body != NULL) {
        char type[64];
        snprintf(type, sizeof(type), "Content-Type: %s", rq->content_type);
        headers = curl_slist_append(headers, type);
        /* A body makes curl POST; any other method is named explicitly. */
        if (strcmp(rq->method, "POST") != 0)
            curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, rq->method);
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(rq->body));
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, rq->body);
    }
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers);

    CURLcode rc = headers ? curl_easy_perform(c->curl) : CURLE_OUT_OF_MEMORY;
    curl_slist_free_all(headers);

    if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && buf.cut)) {
        if (buf.overflow)
            snprintf(res->err, sizeof(res->err), "%s answer larger than %u bytes: not read", rq->method,
                     CLOSE_MAX_BODY);
        else if (errbuf[0] != '\0')
            snprintf(res->err, sizeof(res->err), "%.60s: %.190s", curl_easy_strerror(rc), errbuf);
        else
            snprintf(res->err, sizeof(res->err), "%s", curl_easy_strerror(rc));
        free(buf.data);
        res->status = 0;
        return CLOSE_TRANSIENT;
    }

    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &res->status);
    res->body = buf.data;
    res->body_len = buf.len;
    res->body_cut = buf.cut;
    if (close_classify(res->status) != CLOSE_OK)
        redact_body(a, res);
    res->retry_after_s = retry_after_header(c->curl);
    rate_limit_headers(c->curl, &res->ratelimit);
    if (res->status == 429) {
        double reset = rate_reset_body(res);
        if (reset > res->retry_after_s)
            res->retry_after_s = reset;
    }
    return close_classify(res->status);
}

static void sleep_s(double s)
{
    struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Waits for the credential's slot. 0 to send, or -1 with res filled as a
 * paced non-answer when the wait is too long to sleep through here. */
static int pace(close_client *c, const http_request *rq, close_response *res)
{
    if (c->rl == NULL || rq->cred == NULL)
        return 0;
    double now = rate_limit_now(), wait;
    if (rq->slot == RATE_LIMIT_BOOKED)
        wait = rate_limit_redeem(c->rl, rq->cred, rq->group, now, RATE_LIMIT_SLEEP_MAX_S);
    else
        wait = rate_limit_acquire(c->rl, rq->cred, rq->group, now, RATE_LIMIT_SLEEP_MAX_S);
    if (wait > RATE_LIMIT_SLEEP_MAX_S) {
        res->paced = 1;
        res->retry_after_s = wait;
        snprintf(res->err, sizeof(res->err),
                 "not sent: credential \"%.64s\" waits %.1f s for Close's rate limit", rq->cred, wait);
        return -1;
    }
    if (wait > 0)
        sleep_s(wait);
    return 0;
}

/* One request: its slot, the exchange, then what Close said about the budget
 * (also after no answer at all, which gives the slot back). */
static close_class perform(close_client *c, const auth *a, const http_request *rq, close_response *res)
{
    memset(res, 0, sizeof(*res));
    if (pace(c, rq, res) != 0)
        return CLOSE_TRANSIENT;
    double start = rate_limit_now();
    close_class cls = exchange(c, a, rq, res);
    double end = rate_limit_now();
    metrics_observe("closehook_close_request_duration_seconds", end - start, METRIC_LABELS(rq->kind));
    if (c->rl != NULL && rq->cred != NULL)
        rate_limit_observe(c->rl, rq->cred, rq->group, end, res->status, &res->ratelimit, res->retry_after_s);
    return cls;
}

/* {base}/api/v1/activity/meeting/{escaped id}/{?query}. The id is escaped
 * because it may come from a webhook: "../" must not walk the API's paths. */
static char *meeting_url(close_client *c, const char *activity_id, const char *query)
{
    char *id = activity_id ? close_client_escape(c, activity_id) : strdup("");
    if (id == NULL)
        return NULL;
    char *url = NULL;
    int n = asprintf(&url, "%s" CLOSE_MEETING_PATH "%s%s%s%s", c->base_url, id, activity_id ? "/" : "",
                     query ? "?" : "", query ? query : "");
    free(id);
    return n < 0 ? NULL : url;
}

/* A request that never reached Close because the token could not be had. */
static close_class oauth_failure(close_response *res, oauth_result r, const char *err)
{
    memset(res, 0, sizeof(*res));
    snprintf(res->err, sizeof(res->err), "%s", err);
    return r == OAUTH_TRANSIENT ? CLOSE_TRANSIENT : CLOSE_PERMANENT;
}

/* OAuth: the registry's current token; on a 401 one refresh (unless another
 * worker already did it) and one repeat. A second 401 is Close's answer. */
static close_class perform_oauth(close_client *c, const credential *cred, const http_request *rq,
                                 close_response *res)
{
    char err[sizeof(res->err)];
    char *token = NULL, *fresh = NULL;
    if (c->oauth == NULL)
        return oauth_failure(res, OAUTH_PERMANENT, "oauth: no token registry for this client");
    oauth_result r = oauth_access_token(c->oauth, cred, &token, err, sizeof(err));
    if (r != OAUTH_OK)
        return oauth_failure(res, r, err);
    auth a = {CREDENTIAL_OAUTH, token};
    close_class cls = perform(c, &a, rq, res);
    if (res->status == 401) {
        close_response_clear(res);
        r = oauth_refresh_after_401(c->oauth, cred, token, &fresh, err, sizeof(err));
        a.secret = fresh;
        cls = r == OAUTH_OK ? perform(c, &a, rq, res) : oauth_failure(res, r, err);
    }
    oauth_token_free(token);
    oauth_token_free(fresh);
    return cls;
}

static close_class perform_as(close_client *c, const credential *cred, const http_request *rq,
                              close_response *res)
{
    if (cred != NULL && cred->kind == CREDENTIAL_OAUTH)
        return perform_oauth(c, cred, rq, res);
    auth a = {cred ? cred->kind : CREDENTIAL_API_KEY, cred ? cred->secret : NULL};
    return perform(c, &a, rq, res);
}

/* The duration histogram's kind for a meeting call. */
static const char *request_kind(const char *activity_id, const char *query, const char *body_json)
{
    if (body_json != NULL)
        return "put";
    if (activity_id != NULL)
        return "get";
    return query != NULL && strstr(query, CLOSE_SEARCH_PARAM) != NULL ? "search" : "list";
}

/* Shared by the three meeting calls: build the URL, then perform. */
static close_class request(close_client *c, const credential *cred, const char *activity_id,
                           const char *query, const char *body_json, rate_limit_slot slot,
                           close_response *res)
{
    char *url = meeting_url(c, activity_id, query);
    if (url == NULL) {
        memset(res, 0, sizeof(*res));
        snprintf(res->err, sizeof(res->err), "out of memory");
        return CLOSE_TRANSIENT;
    }
    http_request rq = {.url = url,
                       .method = body_json ? "PUT" : "GET",
                       .content_type = "application/json",
                       .body = body_json,
                       .kind = request_kind(activity_id, query, body_json),
                       .cred = cred ? cred->name : NULL,
                       .group = body_json ? RATE_LIMIT_WRITE : RATE_LIMIT_READ,
                       .slot = slot};
    close_class cls = perform_as(c, cred, &rq, res);
    free(url);
    return cls;
}

close_class close_client_post_form(close_client *c, const char *url, const char *form, close_response *res)
{
    /* The token endpoint is not a meeting endpoint group: no credential pacing. */
    http_request rq = {.url = url,
                       .method = "POST",
                       .content_type = "application/x-www-form-urlencoded",
                       .body = form,
                       .kind = "token"};
    return perform(c, NULL, &rq, res);
}

close_class close_client_put_meeting(close_client *c, const credential *cred, const char *activity_id,
                                     const char *body_json, rate_limit_slot slot, close_response *res)
{
    return request(c, cred, activity_id, NULL, body_json ? body_json : "{}", slot, res);
}

close_class close_client_list_meetings(close_client *c, const credential *cred, const char *query,
                                       close_response *res)
{
    return request(c, cred, NULL, query, NULL, RATE_LIMIT_QUEUE, res);
}

close_class close_client_get_meeting(close_client *c, const credential *cred, const char *activity_id,
                                     close_response *res)
{
    return request(c, cred, activity_id, NULL, NULL, RATE_LIMIT_QUEUE, res);
}

void close_client_set_request_id(close_client *c, const char *request_id)
{
    snprintf(c->request_id, sizeof(c->request_id), "%s", request_id ? request_id : "");
}
