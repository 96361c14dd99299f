/* resolve: turns "the Zoom meeting 857… that started at 09:00" into Close's
 * meeting activity id. It exists because most senders know nothing of Close's
 * ids; the match must be exact and unambiguous, because a wrong guess would
 * write one customer's notes onto another's meeting. */
#include "resolve.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "json.h"

/* Close pages meeting lists in pages of at most 100 (its documented _limit
 * default and maximum). */
#define RESOLVE_PAGE_SIZE 100
/* 50 pages = 5000 meetings in one window: far more than any organisation
 * holds within a few hours; past that the window is wrong, and paging on
 * would only burn the credential's rate limit. */
#define RESOLVE_MAX_PAGES 50
/* How many candidate ids an ambiguous dead letter lists. */
#define RESOLVE_MAX_LISTED 5
/* How much of Close's error body goes into a detail message. */
#define RESOLVE_BODY_EXCERPT 200

/* ---- times ---- */

/* Reads exactly n digits. */
static int read_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int expect_char(const char **p, const char *allowed)
{
    if (**p == '\0' || strchr(allowed, **p) == NULL)
        return -1;
    (*p)++;
    return 0;
}

/* The zone suffix: Z, or ±hh:mm as seconds east of UTC. */
static int read_offset(const char **p, long *offset)
{
    if (**p == 'Z' || **p == 'z') {
        (*p)++;
        *offset = 0;
        return 0;
    }
    int sign = **p == '+' ? 1 : **p == '-' ? -1 : 0;
    int hh, mm;
    if (sign == 0)
        return -1;
    (*p)++;
    if (read_digits(p, 2, &hh) < 0 || expect_char(p, ":") < 0 || read_digits(p, 2, &mm) < 0 ||
        hh > 23 || mm > 59)
        return -1;
    *offset = sign * (hh * 3600L + mm * 60L);
    return 0;
}

time_t resolve_parse_time(const char *iso)
{
    if (iso == NULL)
        return -1;
    const char *p = iso;
    struct tm tm = {0};
    int year, mon, mday, hour, min, sec;
    long offset;
    if (read_digits(&p, 4, &year) < 0 || expect_char(&p, "-") < 0 || read_digits(&p, 2, &mon) < 0 ||
        expect_char(&p, "-") < 0 || read_digits(&p, 2, &mday) < 0 || expect_char(&p, "Tt ") < 0 ||
        read_digits(&p, 2, &hour) < 0 || expect_char(&p, ":") < 0 || read_digits(&p, 2, &min) < 0 ||
        expect_char(&p, ":") < 0 || read_digits(&p, 2, &sec) < 0)
        return -1;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return -1;
        while (isdigit((unsigned char)*p))
            p++; /* sub-second precision does not matter to a minutes-wide window */
    }
    if (read_offset(&p, &offset) < 0 || *p != '\0')
        return -1;
    if (mon < 1 || mon > 12 || mday < 1 || mday > 31 || hour > 23 || min > 59 || sec > 60)
        return -1;
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = mday;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    /* timegm normalises Feb 31 into March; a date that moved was not a date. */
    if (t == (time_t)-1 || tm.tm_mday != mday || tm.tm_mon != mon - 1)
        return -1;
    return t - offset;
}

static void format_time(time_t t, char *out, size_t len)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- Zoom join URLs ---- */

static int all_digits(const char *s)
{
    if (s == NULL || *s == '\0')
        return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return 0;
    return 1;
}

/* The URL's path, when it is an http(s) URL (libcurl's parser, so query and
 * fragment are split off the way a browser would). malloc'ed or NULL. */
static char *http_url_path(const char *url)
{
    if (url == NULL || *url == '\0')
        return NULL;
    CURLU *u = curl_url();
    char *scheme = NULL, *path = NULL, *out = NULL;
    if (u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        (strcasecmp(scheme, "https") == 0 || strcasecmp(scheme, "http") == 0) &&
        curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK)
        out = strdup(path);
    curl_free(scheme);
    curl_free(path);
    curl_url_cleanup(u);
    return out;
}

/* The digits of a /j/<digits> path, or NULL: the id a join URL carries. */
static char *zoom_id_from_url(const char *url)
{
    char *path = http_url_path(url);
    if (path == NULL || strncmp(path, "/j/", 3) != 0) {
        free(path);
        return NULL;
    }
    size_t n = strspn(path + 3, "0123456789");
    char *id = NULL;
    if (n > 0 && (path[3 + n] == '\0' || path[3 + n] == '/'))
        id = strndup(path + 3, n);
    free(path);
    return id;
}

int resolve_zoom_url_matches(const char *url, const char *zoom_id)
{
    if (!all_digits(zoom_id))
        return 0;
    char *id = zoom_id_from_url(url);
    int match = id != NULL && strcmp(id, zoom_id) == 0;
    free(id);
    return match;
}

int resolve_meeting_matches_zoom(yajl_val meeting, const char *zoom_id, time_t start, long window_s)
{
    yajl_val links = json_member(meeting, "conference_links");
    if (!YAJL_IS_ARRAY(links))
        return 0;
    int linked = 0;
    for (size_t i = 0; i < links->u.array.len && !linked; i++) {
        yajl_val url = json_member(links->u.array.values[i], "url");
        linked = YAJL_IS_STRING(url) && resolve_zoom_url_matches(url->u.string, zoom_id);
    }
    if (!linked || start == 0)
        return linked;
    yajl_val starts = json_member(meeting, "starts_at");
    time_t at = YAJL_IS_STRING(starts) ? resolve_parse_time(starts->u.string) : (time_t)-1;
    if (at == (time_t)-1)
        return 0; /* no start to check against: not provably this occurrence */
    time_t diff = at > start ? at - start : start - at;
    return diff <= window_s;
}

/* ---- the lookup ---- */

typedef struct search {
    const char *zoom_id;
    time_t start;
    long window_s;
    char from[32], to[32]; /* the window, as sent */
    size_t checked;        /* meetings Close returned */
    size_t nmatches;
    char listed[RESOLVE_MAX_LISTED][128];
} search;

static void detail_printf(char *detail, size_t len, const char *fmt, ...)
{
    if (detail == NULL || len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, len, fmt, ap);
    va_end(ap);
}

/* Close's answer for a failed call, as a detail line: status and a body
 * excerpt, or the transport error. */
static resolve_result close_failure(close_class cls, const close_response *res, char *detail,
                                    size_t len)
{
    if (res->status == 0)
        detail_printf(detail, len, "Close meeting list failed: %s", res->err);
    else
        detail_printf(detail, len, "Close meeting list: HTTP %ld: %.*s", res->status,
                      RESOLVE_BODY_EXCERPT, res->body ? res->body : "");
    return cls == CLOSE_TRANSIENT ? RESOLVE_TRANSIENT : RESOLVE_PERMANENT;
}

/* Records the matching meetings of one page. Returns has_more, or -1 when
 * the page is not Close's list shape. */
static int scan_page(search *s, const close_response *res, size_t *page_len)
{
    char err[128];
    yajl_val root = res->body ? json_parse(res->body, res->body_len, err, sizeof(err)) : NULL;
    yajl_val data = json_member(root, "data");
    if (!YAJL_IS_ARRAY(data)) {
        yajl_tree_free(root);
        return -1;
    }
    *page_len = data->u.array.len;
    s->checked += data->u.array.len;
    for (size_t i = 0; i < data->u.array.len; i++) {
        yajl_val m = data->u.array.values[i];
        if (!resolve_meeting_matches_zoom(m, s->zoom_id, s->start, s->window_s))
            continue;
        const char *id = json_scalar(json_member(m, "id"));
        if (s->nmatches < RESOLVE_MAX_LISTED)
            snprintf(s->listed[s->nmatches], sizeof(s->listed[0]), "%s", id ? id : "?");
        s->nmatches++;
    }
    int more = YAJL_IS_TRUE(json_member(root, "has_more"));
    yajl_tree_free(root);
    return more;
}

static char *page_query(close_client *c, const search *s, size_t skip)
{
    char *from = close_client_escape(c, s->from), *to = close_client_escape(c, s->to);
    char *q = NULL;
    if (from != NULL && to != NULL &&
        asprintf(&q, "activity_at__gte=%s&activity_at__lte=%s&_limit=%d&_skip=%zu"
                     "&_fields=id,starts_at,conference_links",
                 from, to, RESOLVE_PAGE_SIZE, skip) < 0)
        q = NULL;
    free(from);
    free(to);
    return q;
}

/* Pages through the window. Returns RESOLVE_FOUND when the scan completed
 * (the caller judges the matches), or the failure. */
static resolve_result scan_window(close_client *c, const credential *cred, search *s, char *detail,
                                  size_t len)
{
    size_t skip = 0;
    for (int page = 0; page < RESOLVE_MAX_PAGES; page++) {
        char *q = page_query(c, s, skip);
        if (q == NULL) {
            detail_printf(detail, len, "out of memory");
            return RESOLVE_TRANSIENT;
        }
        close_response res;
        close_class cls = close_client_list_meetings(c, cred, q, &res);
        free(q);
        if (cls != CLOSE_OK) {
            resolve_result r = close_failure(cls, &res, detail, len);
            close_response_clear(&res);
            return r;
        }
        size_t n = 0;
        int more = scan_page(s, &res, &n);
        close_response_clear(&res);
        if (more < 0) {
            detail_printf(detail, len, "Close meeting list: answer is not {\"data\": [...]}");
            return RESOLVE_TRANSIENT;
        }
        if (!more || n == 0)
            return RESOLVE_FOUND;
        skip += n;
    }
    detail_printf(detail, len,
                  "more than %d meetings between %s and %s; resolve.window_s is too wide to "
                  "match Zoom id %s exactly",
                  RESOLVE_MAX_PAGES * RESOLVE_PAGE_SIZE, s->from, s->to, s->zoom_id);
    return RESOLVE_AMBIGUOUS;
}

/* Judges a completed scan: exactly one match is the answer. */
static resolve_result judge(const search *s, char **activity_id, char *detail, size_t len)
{
    if (s->nmatches == 1) {
        *activity_id = strdup(s->listed[0]);
        detail_printf(detail, len, "Zoom id %s matched %s", s->zoom_id, s->listed[0]);
        return *activity_id ? RESOLVE_FOUND : RESOLVE_TRANSIENT;
    }
    if (s->nmatches == 0) {
        detail_printf(detail, len,
                      "no Close meeting with Zoom id %s in conference_links between %s and %s "
                      "(%zu meetings checked)",
                      s->zoom_id, s->from, s->to, s->checked);
        return RESOLVE_NOT_FOUND;
    }
    char ids[RESOLVE_MAX_LISTED * 130] = "";
    for (size_t i = 0; i < s->nmatches && i < RESOLVE_MAX_LISTED; i++) {
        strcat(ids, i ? ", " : "");
        strcat(ids, s->listed[i]);
    }
    detail_printf(detail, len, "%zu Close meetings with Zoom id %s between %s and %s: %s%s",
                  s->nmatches, s->zoom_id, s->from, s->to, ids,
                  s->nmatches > RESOLVE_MAX_LISTED ? ", …" : "");
    return RESOLVE_AMBIGUOUS;
}

resolve_result resolve_activity(close_client *c, const credential *cred, const close_update *u,
                                long window_s, char **activity_id, char *detail, size_t detail_len)
{
    *activity_id = NULL;
    if (u->activity_id != NULL) {
        *activity_id = strdup(u->activity_id);
        detail_printf(detail, detail_len, "explicit activity id");
        return *activity_id ? RESOLVE_FOUND : RESOLVE_TRANSIENT;
    }
    char *derived = NULL;
    const char *zoom_id = u->zoom_meeting_id;
    if (!all_digits(zoom_id))
        zoom_id = derived = zoom_id_from_url(u->join_url);
    if (zoom_id == NULL) {
        detail_printf(detail, detail_len,
                      "no lookup key: no numeric Zoom meeting id and no /j/<id> join URL");
        return RESOLVE_NO_KEYS;
    }
    /* Without a start time the only exact search is paging every meeting the
     * organisation ever had, which costs unbounded requests against the rate
     * limit and still cannot tell a recurring meeting's occurrences apart. */
    search s = {.zoom_id = zoom_id, .window_s = window_s};
    s.start = resolve_parse_time(u->start_time);
    if (s.start == (time_t)-1) {
        detail_printf(detail, detail_len, "Zoom id %s but no usable start time (%s)", zoom_id,
                      u->start_time ? u->start_time : "absent");
        free(derived);
        return RESOLVE_NO_KEYS;
    }
    format_time(s.start - window_s, s.from, sizeof(s.from));
    format_time(s.start + window_s, s.to, sizeof(s.to));
    resolve_result r = scan_window(c, cred, &s, detail, detail_len);
    if (r == RESOLVE_FOUND)
        r = judge(&s, activity_id, detail, detail_len);
    free(derived);
    return r;
}
