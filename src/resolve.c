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
/* Close ids are "acti_" and 43 base62 characters; room to spare. */
#define RESOLVE_ID_MAX 128
/* The "tried …" part of a detail: one clause a step (four at most), each
 * under ~250 bytes; delivery keeps 1024 bytes of detail, so more is wasted. */
#define RESOLVE_TRAIL_LEN 1024
/* A step's description ("Zoom id … between … and …", the emails). */
#define RESOLVE_WHAT_LEN 384
/* Cache keys an update can have: its calendar event, its iCalUID and its
 * Zoom meeting. */
#define RESOLVE_MAX_KEYS 3

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
    if (read_digits(p, 2, &hh) < 0 || expect_char(p, ":") < 0 || read_digits(p, 2, &mm) < 0 || hh > 23 ||
        mm > 59)
        return -1;
    *offset = sign * (hh * 3600L + mm * 60L);
    return 0;
}

/* The fields of an ISO 8601 time as written (month 1-12, no zone applied). */
typedef struct iso_fields {
    int year, mon, mday, hour, min, sec;
} iso_fields;

/* "YYYY-MM-DD". */
static int read_date(const char **p, iso_fields *f)
{
    if (read_digits(p, 4, &f->year) < 0 || expect_char(p, "-") < 0 || read_digits(p, 2, &f->mon) < 0 ||
        expect_char(p, "-") < 0 || read_digits(p, 2, &f->mday) < 0)
        return -1;
    return 0;
}

/* "Thh:mm:ss" (T, t or a space before the clock). */
static int read_clock(const char **p, iso_fields *f)
{
    if (expect_char(p, "Tt ") < 0 || read_digits(p, 2, &f->hour) < 0 || expect_char(p, ":") < 0 ||
        read_digits(p, 2, &f->min) < 0 || expect_char(p, ":") < 0 || read_digits(p, 2, &f->sec) < 0)
        return -1;
    return 0;
}

/* An optional ".digits"; sub-second precision does not matter to a
 * minutes-wide window, so the digits are skipped. */
static int skip_fraction(const char **p)
{
    if (**p != '.')
        return 0;
    (*p)++;
    if (!isdigit((unsigned char)**p))
        return -1;
    while (isdigit((unsigned char)**p))
        (*p)++;
    return 0;
}

static int fields_in_range(const iso_fields *f)
{
    return f->mon >= 1 && f->mon <= 12 && f->mday >= 1 && f->mday <= 31 && f->hour <= 23 && f->min <= 59 &&
           f->sec <= 60;
}

time_t resolve_parse_time(const char *iso)
{
    if (iso == NULL)
        return -1;
    const char *p = iso;
    iso_fields f;
    long offset;
    if (read_date(&p, &f) < 0 || read_clock(&p, &f) < 0 || skip_fraction(&p) < 0 ||
        read_offset(&p, &offset) < 0 || *p != '\0' || !fields_in_range(&f))
        return -1;
    struct tm tm = {.tm_year = f.year - 1900,
                    .tm_mon = f.mon - 1,
                    .tm_mday = f.mday,
                    .tm_hour = f.hour,
                    .tm_min = f.min,
                    .tm_sec = f.sec};
    time_t t = timegm(&tm);
    /* timegm normalises Feb 31 into March; a date that moved was not a date. */
    if (t == (time_t)-1 || tm.tm_mday != f.mday || tm.tm_mon != f.mon - 1)
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

/* 1 when the meeting's starts_at is within window_s of start. A meeting
 * without a readable start is not provably this occurrence: 0. */
static int starts_within(yajl_val meeting, time_t start, long window_s)
{
    yajl_val starts = json_member(meeting, "starts_at");
    time_t at = YAJL_IS_STRING(starts) ? resolve_parse_time(starts->u.string) : (time_t)-1;
    if (at == (time_t)-1)
        return 0;
    time_t diff = at > start ? at - start : start - at;
    return diff <= window_s;
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
    return starts_within(meeting, start, window_s);
}

/* ---- iCalUID (step c) ---- */

int resolve_meeting_matches_ical(yajl_val meeting, const char *ical_uid, time_t start, long window_s)
{
    yajl_val uids = json_member(meeting, "calendar_event_uids");
    if (ical_uid == NULL || *ical_uid == '\0' || !YAJL_IS_ARRAY(uids))
        return 0;
    int listed = 0;
    /* UIDs are opaque (RFC 5545 3.8.4.7): byte-exact, no case folding, no
     * prefix; Outlook's are hex strings that are prefixes of each other. */
    for (size_t i = 0; i < uids->u.array.len && !listed; i++) {
        yajl_val uid = uids->u.array.values[i];
        listed = YAJL_IS_STRING(uid) && strcmp(uid->u.string, ical_uid) == 0;
    }
    /* the occurrences of a recurring event may share one UID: the start
     * tells them apart */
    return listed && (start == 0 || starts_within(meeting, start, window_s));
}

/* ---- attendees (step e) ---- */

/* 1 when attendees[] lists email (any case); with organizers_only, only an
 * entry flagged is_organizer counts. */
static int email_listed(yajl_val attendees, const char *email, int organizers_only)
{
    for (size_t i = 0; i < attendees->u.array.len; i++) {
        yajl_val a = attendees->u.array.values[i];
        yajl_val e = json_member(a, "email");
        if (!YAJL_IS_STRING(e) || strcasecmp(e->u.string, email) != 0)
            continue;
        if (!organizers_only || YAJL_IS_TRUE(json_member(a, "is_organizer")))
            return 1;
    }
    return 0;
}

int resolve_meeting_matches_attendees(yajl_val meeting, char *const *emails, size_t n, time_t start,
                                      long window_s)
{
    yajl_val attendees = json_member(meeting, "attendees");
    if (start == 0 || start == (time_t)-1 || !YAJL_IS_ARRAY(attendees) ||
        !starts_within(meeting, start, window_s))
        return 0;
    size_t external = 0;
    for (size_t i = 0; i < n; i++) {
        /* The seller's own people are on every one of their meetings: they
         * tell nothing about which meeting this is, so they are not required
         * and do not count towards a match. */
        if (email_listed(attendees, emails[i], 1))
            continue;
        if (!email_listed(attendees, emails[i], 0))
            return 0;
        external++;
    }
    return external > 0;
}

/* ---- bookkeeping ---- */

typedef struct candidates {
    size_t n;
    char listed[RESOLVE_MAX_LISTED][RESOLVE_ID_MAX];
} candidates;

/* Counts a matching meeting. One without a usable id cannot be updated, so it
 * is not a candidate at all. */
static void candidates_add(candidates *c, yajl_val meeting)
{
    yajl_val id = json_member(meeting, "id");
    if (!YAJL_IS_STRING(id) || id->u.string[0] == '\0' || strlen(id->u.string) >= RESOLVE_ID_MAX)
        return;
    if (c->n < RESOLVE_MAX_LISTED)
        snprintf(c->listed[c->n], sizeof(c->listed[0]), "%s", id->u.string);
    c->n++;
}

/* "acti_a, acti_b, …" */
static void candidates_format(const candidates *c, int more, char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < c->n && i < RESOLVE_MAX_LISTED && used < len; i++)
        used += (size_t)snprintf(out + used, len - used, "%s%s", i ? ", " : "", c->listed[i]);
    if ((more || c->n > RESOLVE_MAX_LISTED) && used < len)
        snprintf(out + used, len - used, ", …");
}

/* What was tried, for the detail of a row that is not found (yet). */
typedef struct trail {
    char text[RESOLVE_TRAIL_LEN];
    size_t len;
} trail;

static void trail_add(trail *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void trail_add(trail *t, const char *fmt, ...)
{
    if (t->len + 2 >= sizeof(t->text))
        return;
    if (t->len > 0) {
        memcpy(t->text + t->len, "; ", 3);
        t->len += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->text + t->len, sizeof(t->text) - t->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        t->len = t->len + (size_t)n < sizeof(t->text) ? t->len + (size_t)n : sizeof(t->text) - 1;
}

/* One resolution's state: who asks, what it knows, what it tried. */
typedef struct lookup {
    close_client *c;
    const credential *cred;
    const lookup_keys *k; /* the update's keys (its activity_id is NULL) */
    const resolve_options *o;
    time_t start;         /* -1: unknown */
    const char *zoom_id;  /* given, or from the join URL; NULL: none */
    const char *ical_uid; /* NULL when absent or empty */
    trail tried;
    char *detail;
    size_t detail_len;
} lookup;

static void detail_printf(char *detail, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void detail_printf(char *detail, size_t len, const char *fmt, ...)
{
    if (detail == NULL || len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, len, fmt, ap);
    va_end(ap);
}

/* ---- one Close list call ---- */

/* GETs one page; 0 with *root (its parsed body, "data" an array), or -1 with
 * *fail and the detail set. */
static int fetch_page(lookup *l, const char *what, const char *query, yajl_val *root, resolve_result *fail)
{
    close_response res;
    close_class cls = close_client_list_meetings(l->c, l->cred, query, &res);
    *root = NULL;
    if (cls != CLOSE_OK) {
        if (res.status == 0)
            detail_printf(l->detail, l->detail_len, "Close %s failed: %s", what, res.err);
        else
            detail_printf(l->detail, l->detail_len, "Close %s: HTTP %ld: %.*s", what, res.status,
                          RESOLVE_BODY_EXCERPT, res.body ? res.body : "");
        *fail = cls == CLOSE_TRANSIENT ? RESOLVE_TRANSIENT : RESOLVE_PERMANENT;
        close_response_clear(&res);
        return -1;
    }
    char err[128];
    *root = res.body ? json_parse(res.body, res.body_len, err, sizeof(err)) : NULL;
    close_response_clear(&res);
    if (!YAJL_IS_ARRAY(json_member(*root, "data"))) {
        yajl_tree_free(*root);
        *root = NULL;
        detail_printf(l->detail, l->detail_len, "Close %s: answer is not {\"data\": [...]}", what);
        *fail = RESOLVE_TRANSIENT;
        return -1;
    }
    return 0;
}

/* One candidate: found; several: ambiguous (detail lists them); none: 0 with
 * nothing set, the caller goes on. */
static resolve_result judge(lookup *l, const candidates *c, int more, const char *what, char **activity_id)
{
    if (c->n == 1 && !more) {
        *activity_id = strdup(c->listed[0]);
        detail_printf(l->detail, l->detail_len, "%s matched %s", what, c->listed[0]);
        return *activity_id ? RESOLVE_FOUND : RESOLVE_TRANSIENT;
    }
    if (c->n == 0)
        return RESOLVE_NOT_FOUND;
    char ids[RESOLVE_MAX_LISTED * (RESOLVE_ID_MAX + 2) + 8];
    candidates_format(c, more, ids, sizeof(ids));
    detail_printf(l->detail, l->detail_len, "%zu%s Close meetings for %s: %s", c->n, more ? "+" : "", what,
                  ids);
    return RESOLVE_AMBIGUOUS;
}

/* ---- step b: Meeting Search ---- */

/* "k1=v1&k2=v2" then tail, both values URL-escaped; NULL when out of memory. */
static char *pair_query(close_client *c, const char *k1, const char *v1, const char *k2, const char *v2,
                        const char *tail)
{
    char *e1 = close_client_escape(c, v1), *e2 = close_client_escape(c, v2), *q = NULL;
    if (e1 != NULL && e2 != NULL && asprintf(&q, "%s=%s&%s=%s%s", k1, e1, k2, e2, tail) < 0)
        q = NULL;
    free(e1);
    free(e2);
    return q;
}

static char *search_query(lookup *l)
{
    const lookup_keys *k = l->k;
    char range[128] = "", from[32], to[32], tail[256];
    if (l->start != (time_t)-1) {
        /* RFC 3339 "Z" times need no escaping */
        format_time(l->start - l->o->window_s, from, sizeof(from));
        format_time(l->start + l->o->window_s, to, sizeof(to));
        snprintf(range, sizeof(range), "&starts_at__gte=%s&starts_at__lt=%s", from, to);
    }
    snprintf(tail, sizeof(tail), "%s&_limit=%d&_fields=id,starts_at,provider_calendar_event_id", range,
             RESOLVE_MAX_LISTED);
    return pair_query(l->c, "provider_calendar_event_id", k->calendar_event_id, "provider_calendar_type",
                      k->calendar_type, tail);
}

/* Close filters on the event id; we check again, so a server (or a future
 * filter spelling) that ignores the filter cannot make us match everything. */
static int search_hit(const lookup *l, yajl_val m)
{
    yajl_val event_id = json_member(m, "provider_calendar_event_id");
    if (event_id != NULL &&
        (!YAJL_IS_STRING(event_id) || strcmp(event_id->u.string, l->k->calendar_event_id) != 0))
        return 0;
    return l->start == (time_t)-1 || starts_within(m, l->start, l->o->window_s);
}

static resolve_result step_search(lookup *l, char **activity_id)
{
    char *q = search_query(l);
    if (q == NULL) {
        detail_printf(l->detail, l->detail_len, "out of memory");
        return RESOLVE_TRANSIENT;
    }
    yajl_val root;
    resolve_result fail;
    int rc = fetch_page(l, "meeting search", q, &root, &fail);
    free(q);
    if (rc != 0)
        return fail;
    yajl_val data = json_member(root, "data");
    candidates c = {0};
    for (size_t i = 0; i < data->u.array.len; i++)
        if (search_hit(l, data->u.array.values[i]))
            candidates_add(&c, data->u.array.values[i]);
    int more = YAJL_IS_TRUE(json_member(root, "has_more"));
    yajl_tree_free(root);
    char what[RESOLVE_WHAT_LEN];
    snprintf(what, sizeof(what), "provider_calendar_event_id %s (%s)", l->k->calendar_event_id,
             l->k->calendar_type);
    resolve_result r = judge(l, &c, more, what, activity_id);
    if (r == RESOLVE_NOT_FOUND)
        trail_add(&l->tried, "meeting search for %s: none", what);
    return r;
}

/* ---- steps c, d and e: the meetings around the start ---- */

/* The three steps read the same list, so it is fetched once. */
typedef struct window_scan {
    char from[32], to[32]; /* the window, as sent */
    size_t checked;        /* meetings Close returned */
    candidates by_ical, by_zoom, by_attendees;
} window_scan;

static char *page_query(close_client *c, const window_scan *s, size_t skip)
{
    char tail[160];
    snprintf(tail, sizeof(tail),
             "&_limit=%d&_skip=%zu&_fields=id,starts_at,calendar_event_uids,conference_links,attendees",
             RESOLVE_PAGE_SIZE, skip);
    return pair_query(c, "activity_at__gte", s->from, "activity_at__lte", s->to, tail);
}

static void scan_meeting(lookup *l, window_scan *s, yajl_val m)
{
    const lookup_keys *k = l->k;
    long attendee_window =
        l->o->attendee_window_s < l->o->window_s ? l->o->attendee_window_s : l->o->window_s;
    if (l->ical_uid != NULL && resolve_meeting_matches_ical(m, l->ical_uid, l->start, l->o->window_s))
        candidates_add(&s->by_ical, m);
    if (l->zoom_id != NULL && resolve_meeting_matches_zoom(m, l->zoom_id, l->start, l->o->window_s))
        candidates_add(&s->by_zoom, m);
    if (k->nattendee_emails > 0 && resolve_meeting_matches_attendees(
                                       m, k->attendee_emails, k->nattendee_emails, l->start, attendee_window))
        candidates_add(&s->by_attendees, m);
}

/* Pages through the window: 0 when the scan completed, else -1 with *fail. */
static int scan_window(lookup *l, window_scan *s, resolve_result *fail)
{
    size_t skip = 0;
    for (int page = 0; page < RESOLVE_MAX_PAGES; page++) {
        char *q = page_query(l->c, s, skip);
        yajl_val root = NULL;
        if (q == NULL) {
            detail_printf(l->detail, l->detail_len, "out of memory");
            *fail = RESOLVE_TRANSIENT;
            return -1;
        }
        int rc = fetch_page(l, "meeting list", q, &root, fail);
        free(q);
        if (rc != 0)
            return -1;
        yajl_val data = json_member(root, "data");
        size_t n = data->u.array.len;
        s->checked += n;
        for (size_t i = 0; i < n; i++)
            scan_meeting(l, s, data->u.array.values[i]);
        int more = YAJL_IS_TRUE(json_member(root, "has_more"));
        yajl_tree_free(root);
        if (!more || n == 0)
            return 0;
        skip += n;
    }
    detail_printf(l->detail, l->detail_len,
                  "more than %d meetings between %s and %s; resolve.window_s is too wide to match exactly",
                  RESOLVE_MAX_PAGES * RESOLVE_PAGE_SIZE, s->from, s->to);
    *fail = RESOLVE_AMBIGUOUS;
    return -1;
}

static void join_emails(const lookup_keys *k, char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < k->nattendee_emails && used < len; i++)
        used += (size_t)snprintf(out + used, len - used, "%s%s", i ? ", " : "", k->attendee_emails[i]);
}

static resolve_result step_window(lookup *l, char **activity_id)
{
    window_scan s = {0};
    resolve_result r;
    format_time(l->start - l->o->window_s, s.from, sizeof(s.from));
    format_time(l->start + l->o->window_s, s.to, sizeof(s.to));
    if (scan_window(l, &s, &r) != 0)
        return r;
    char what[RESOLVE_WHAT_LEN];
    if (l->ical_uid != NULL) {
        snprintf(what, sizeof(what), "iCalUID %s between %s and %s", l->ical_uid, s.from, s.to);
        if ((r = judge(l, &s.by_ical, 0, what, activity_id)) != RESOLVE_NOT_FOUND)
            return r;
        trail_add(&l->tried,
                  "no Close meeting with iCalUID %s in calendar_event_uids between %s and %s (%zu meetings "
                  "checked)",
                  l->ical_uid, s.from, s.to, s.checked);
    }
    if (l->zoom_id != NULL) {
        snprintf(what, sizeof(what), "Zoom id %s between %s and %s", l->zoom_id, s.from, s.to);
        if ((r = judge(l, &s.by_zoom, 0, what, activity_id)) != RESOLVE_NOT_FOUND)
            return r;
        trail_add(
            &l->tried,
            "no Close meeting with Zoom id %s in conference_links between %s and %s (%zu meetings checked)",
            l->zoom_id, s.from, s.to, s.checked);
    }
    if (l->k->nattendee_emails > 0) {
        char emails[RESOLVE_WHAT_LEN / 2];
        join_emails(l->k, emails, sizeof(emails));
        snprintf(what, sizeof(what), "every external attendee of [%s] within %ld s of the start", emails,
                 l->o->attendee_window_s);
        if ((r = judge(l, &s.by_attendees, 0, what, activity_id)) != RESOLVE_NOT_FOUND)
            return r;
        trail_add(&l->tried, "no Close meeting with %s (%zu meetings checked)", what, s.checked);
    }
    return RESOLVE_NOT_FOUND;
}

/* ---- cache (step a) ---- */

/* The update's cache keys, scoped by credential (an activity id means nothing
 * to another Close organisation). The start time is part of a key wherever
 * the sender gives one: a recurring meeting keeps its Zoom id (and calendar
 * series id) for every occurrence, and each occurrence is its own Close
 * meeting. A bare Zoom id or iCalUID is no key: without a start it cannot be
 * looked up either (and a recurring event's occurrences may share the UID). */
static size_t cache_keys(const lookup *l, char *keys[RESOLVE_MAX_KEYS])
{
    const lookup_keys *k = l->k;
    long long at = (long long)l->start;
    size_t n = 0;
    int rc;
    if (k->calendar_event_id != NULL && k->calendar_type != NULL) {
        rc = l->start == (time_t)-1
                 ? asprintf(&keys[n], "%s/cal:%s:%s", l->cred->name, k->calendar_type, k->calendar_event_id)
                 : asprintf(&keys[n], "%s/cal:%s:%s@%lld", l->cred->name, k->calendar_type,
                            k->calendar_event_id, at);
        n += rc >= 0;
    }
    if (l->ical_uid != NULL && l->start != (time_t)-1)
        n += asprintf(&keys[n], "%s/ical:%s@%lld", l->cred->name, l->ical_uid, at) >= 0;
    if (l->zoom_id != NULL && l->start != (time_t)-1)
        n += asprintf(&keys[n], "%s/zoom:%s@%lld", l->cred->name, l->zoom_id, at) >= 0;
    return n;
}

static void free_keys(char **keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
}

static int cache_hit(lookup *l, char *const *keys, size_t n, char **activity_id)
{
    if (l->o->cache == NULL || l->o->skip_cache)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if ((*activity_id = meeting_cache_get(l->o->cache, keys[i], time(NULL))) != NULL) {
            detail_printf(l->detail, l->detail_len, "cached %s -> %s", keys[i], *activity_id);
            return 1;
        }
    }
    return 0;
}

static void cache_store(const lookup *l, char *const *keys, size_t n, const char *activity_id)
{
    for (size_t i = 0; l->o->cache != NULL && i < n; i++)
        meeting_cache_put(l->o->cache, keys[i], activity_id, time(NULL), l->o->cache_ttl_s);
}

/* ---- the resolution ---- */

/* Fills the start, the iCalUID and the Zoom id (given, or the join URL's
 * /j/<id>); returns what was derived, for the caller to free. */
static char *lookup_prepare(lookup *l)
{
    char *derived = NULL;
    l->start = resolve_parse_time(l->k->start_time);
    l->zoom_id = all_digits(l->k->zoom_meeting_id) ? l->k->zoom_meeting_id
                                                   : (derived = zoom_id_from_url(l->k->join_url));
    l->ical_uid = l->k->ical_uid != NULL && l->k->ical_uid[0] != '\0' ? l->k->ical_uid : NULL;
    return derived;
}

/* "iCalUID X, Zoom id Y, attendee emails": the keys that need the window. */
static void window_keys(const lookup *l, char *out, size_t len)
{
    char ical[RESOLVE_WHAT_LEN / 2] = "", zoom[RESOLVE_WHAT_LEN / 4] = "";
    if (l->ical_uid != NULL)
        snprintf(ical, sizeof(ical), "iCalUID %s", l->ical_uid);
    if (l->zoom_id != NULL)
        snprintf(zoom, sizeof(zoom), "Zoom id %s", l->zoom_id);
    const char *parts[] = {ical, zoom, l->k->nattendee_emails > 0 ? "attendee emails" : ""};
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]) && used < len; i++)
        if (parts[i][0] != '\0')
            used += (size_t)snprintf(out + used, len - used, "%s%s", used ? ", " : "", parts[i]);
}

static resolve_result run_steps(lookup *l, char **activity_id)
{
    const lookup_keys *k = l->k;
    int tried_any = 0;
    resolve_result r;
    if (k->calendar_event_id != NULL && k->calendar_type != NULL) {
        tried_any = 1;
        if ((r = step_search(l, activity_id)) != RESOLVE_NOT_FOUND)
            return r;
    }
    if (l->ical_uid != NULL || l->zoom_id != NULL || k->nattendee_emails > 0) {
        /* Without a start time the only exact search is paging every meeting the
         * organisation ever had, which costs unbounded requests against the rate
         * limit and still cannot tell a recurring meeting's occurrences apart. */
        if (l->start == (time_t)-1) {
            char keys[RESOLVE_WHAT_LEN];
            window_keys(l, keys, sizeof(keys));
            trail_add(&l->tried, "%s but no usable start time (%s)", keys,
                      k->start_time ? k->start_time : "absent");
        } else {
            tried_any = 1;
            if ((r = step_window(l, activity_id)) != RESOLVE_NOT_FOUND)
                return r;
        }
    }
    if (!tried_any) {
        detail_printf(l->detail, l->detail_len, "no lookup key: %s",
                      l->tried.len ? l->tried.text
                                   : "no calendar event id with a calendar type, no iCalUID, no numeric Zoom "
                                     "meeting id or /j/<id> join URL, no attendee emails");
        return RESOLVE_NO_KEYS;
    }
    detail_printf(l->detail, l->detail_len, "tried %s", l->tried.text);
    return RESOLVE_NOT_FOUND;
}

resolve_result resolve_find(close_client *c, const credential *cred, const close_update *u,
                            const resolve_options *o, char **activity_id, int *from_cache, char *detail,
                            size_t detail_len)
{
    *activity_id = NULL;
    if (from_cache != NULL)
        *from_cache = 0;
    if (u->activity_id != NULL) {
        *activity_id = strdup(u->activity_id);
        detail_printf(detail, detail_len, "explicit activity id");
        return *activity_id ? RESOLVE_FOUND : RESOLVE_TRANSIENT;
    }
    lookup l = {.c = c, .cred = cred, .k = &u->keys, .o = o, .detail = detail, .detail_len = detail_len};
    char *derived = lookup_prepare(&l);
    char *keys[RESOLVE_MAX_KEYS];
    size_t nkeys = cache_keys(&l, keys);
    resolve_result r;
    if (cache_hit(&l, keys, nkeys, activity_id)) {
        r = RESOLVE_FOUND;
        if (from_cache != NULL)
            *from_cache = 1;
    } else if ((r = run_steps(&l, activity_id)) == RESOLVE_FOUND) {
        cache_store(&l, keys, nkeys, *activity_id);
    }
    free_keys(keys, nkeys);
    free(derived);
    return r;
}

void resolve_forget(const resolve_options *o, const credential *cred, const close_update *u,
                    const char *activity_id)
{
    if (o->cache == NULL || u->activity_id != NULL)
        return;
    lookup l = {.cred = cred, .k = &u->keys, .o = o};
    char *derived = lookup_prepare(&l);
    char *keys[RESOLVE_MAX_KEYS];
    size_t nkeys = cache_keys(&l, keys);
    for (size_t i = 0; i < nkeys; i++)
        meeting_cache_forget(o->cache, keys[i], activity_id);
    free_keys(keys, nkeys);
    free(derived);
}

resolve_result resolve_activity(close_client *c, const credential *cred, const close_update *u, long window_s,
                                char **activity_id, char *detail, size_t detail_len)
{
    resolve_options o = {.window_s = window_s, .attendee_window_s = window_s};
    return resolve_find(c, cred, u, &o, activity_id, NULL, detail, detail_len);
}
