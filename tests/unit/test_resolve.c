/* Tests for resolve: each matching rule with its near misses (where a miss
 * would put notes on the wrong meeting), time parsing, and the steps in order
 * against a loopback fake Close: Meeting Search, the iCalUID, the Zoom id and
 * the attendees in one window, ambiguity, and the cache in front of them all. */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake_http.h"
#include "json.h"
#include "meeting_cache.h"
#include "resolve.h"
#include "store.h"

#define ZOOM_ID "85746392011"

Test(resolve, zoom_url_exact_and_with_suffixes)
{
    cr_assert(resolve_zoom_url_matches("https://zoom.us/j/" ZOOM_ID, ZOOM_ID));
    cr_assert(resolve_zoom_url_matches("https://zoom.us/j/" ZOOM_ID "?pwd=abc123", ZOOM_ID));
    cr_assert(resolve_zoom_url_matches("https://zoom.us/j/" ZOOM_ID "/", ZOOM_ID));
    cr_assert(resolve_zoom_url_matches("https://zoom.us/j/" ZOOM_ID "#success", ZOOM_ID));
    cr_assert(resolve_zoom_url_matches("https://example.zoom.us/j/" ZOOM_ID "?pwd=x", ZOOM_ID));
    cr_assert(resolve_zoom_url_matches("http://us02web.zoom.us/j/" ZOOM_ID, ZOOM_ID));
}

Test(resolve, zoom_url_near_misses)
{
    /* one digit more or less must never match: ids are prefixes of each other */
    cr_assert_not(resolve_zoom_url_matches("https://zoom.us/j/857463920111", ZOOM_ID));
    cr_assert_not(resolve_zoom_url_matches("https://zoom.us/j/" ZOOM_ID, "857463920111"));
    cr_assert_not(resolve_zoom_url_matches("https://zoom.us/j/8574639201", ZOOM_ID));
    cr_assert_not(resolve_zoom_url_matches("https://zoom.us/j/" ZOOM_ID, "8574639201"));
    cr_assert_not(resolve_zoom_url_matches("https://zoom.us/" ZOOM_ID, ZOOM_ID));
    cr_assert_not(resolve_zoom_url_matches("https://zoom.us/s/" ZOOM_ID, ZOOM_ID));
    cr_assert_not(resolve_zoom_url_matches("https://zoom.us/x/j/" ZOOM_ID, ZOOM_ID));
    cr_assert_not(resolve_zoom_url_matches("https://zoom.us/j/" ZOOM_ID "abc", ZOOM_ID));
    cr_assert_not(resolve_zoom_url_matches("https://zoom.us/wc/join?id=" ZOOM_ID, ZOOM_ID));
    cr_assert_not(resolve_zoom_url_matches("https://zoom.us/j/1?next=/j/" ZOOM_ID, ZOOM_ID));
    cr_assert_not(resolve_zoom_url_matches("ftp://zoom.us/j/" ZOOM_ID, ZOOM_ID));
    cr_assert_not(resolve_zoom_url_matches("zoom.us/j/" ZOOM_ID, ZOOM_ID));
    cr_assert_not(resolve_zoom_url_matches("https://zoom.us/j/857 4639 2011", "857 4639 2011"));
}

Test(resolve, zoom_url_null_and_empty)
{
    cr_assert_not(resolve_zoom_url_matches(NULL, ZOOM_ID));
    cr_assert_not(resolve_zoom_url_matches("", ZOOM_ID));
    cr_assert_not(resolve_zoom_url_matches("https://zoom.us/j/" ZOOM_ID, NULL));
    cr_assert_not(resolve_zoom_url_matches("https://zoom.us/j/" ZOOM_ID, ""));
    cr_assert_not(resolve_zoom_url_matches("https://zoom.us/j/", ""));
}

/* 2026-11-25T09:00:03Z, computed independently of the parser. */
static time_t zoom_start(void)
{
    struct tm tm = {.tm_year = 126, .tm_mon = 10, .tm_mday = 25, .tm_hour = 9, .tm_sec = 3};
    return timegm(&tm);
}

Test(resolve, parse_time_forms)
{
    time_t t = zoom_start();
    cr_assert_eq(resolve_parse_time("2026-11-25T09:00:03Z"), t);
    cr_assert_eq(resolve_parse_time("2026-11-25T09:00:03+00:00"), t);
    cr_assert_eq(resolve_parse_time("2026-11-25T11:00:03+02:00"), t);
    cr_assert_eq(resolve_parse_time("2026-11-25T04:30:03-04:30"), t);
    cr_assert_eq(resolve_parse_time("2026-11-25T09:00:03.000000+00:00"), t);
    cr_assert_eq(resolve_parse_time("2026-11-25T09:00:03.987Z"), t);
}

Test(resolve, parse_time_garbage)
{
    cr_assert_eq(resolve_parse_time(NULL), -1);
    cr_assert_eq(resolve_parse_time(""), -1);
    cr_assert_eq(resolve_parse_time("yesterday"), -1);
    cr_assert_eq(resolve_parse_time("2026-11-25"), -1);
    cr_assert_eq(resolve_parse_time("2026-11-25T09:00:03"), -1); /* no zone */
    cr_assert_eq(resolve_parse_time("2026-11-25T09:00:03Zjunk"), -1);
    cr_assert_eq(resolve_parse_time("2026-13-25T09:00:03Z"), -1);
    cr_assert_eq(resolve_parse_time("2026-02-31T09:00:03Z"), -1);
    cr_assert_eq(resolve_parse_time("2026-11-25T09:00:03.Z"), -1);
    cr_assert_eq(resolve_parse_time("2026-11-25T09:00:03+0200"), -1);
}

static yajl_val load_json(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    char buf[8192];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    char err[256];
    yajl_val v = json_parse(buf, n, err, sizeof(err));
    cr_assert_not_null(v, "%s: %s", path, err);
    return v;
}

Test(resolve, sample_meeting_matches_zoom_start)
{
    yajl_val meeting = load_json(SAMPLES_DIR "/close/meeting.json");
    yajl_val zoom = load_json(SAMPLES_DIR "/zoom/meeting_ended.json");
    const char *zoom_id = json_scalar(json_get(zoom, "payload.object.id"));
    time_t start = resolve_parse_time(json_scalar(json_get(zoom, "payload.object.start_time")));
    cr_assert_str_eq(zoom_id, ZOOM_ID);
    cr_assert_eq(start, zoom_start());

    cr_assert(resolve_meeting_matches_zoom(meeting, zoom_id, start, 7200));
    cr_assert(resolve_meeting_matches_zoom(meeting, zoom_id, start, 3)); /* 09:00:00 vs :03 */
    cr_assert_not(resolve_meeting_matches_zoom(meeting, zoom_id, start, 2));
    cr_assert(resolve_meeting_matches_zoom(meeting, zoom_id, 0, 0)); /* start 0: any time */
    /* the same Zoom id recurring an hour and more later is another occurrence */
    cr_assert_not(resolve_meeting_matches_zoom(meeting, zoom_id, start + 3 * 3600, 7200));
    cr_assert_not(resolve_meeting_matches_zoom(meeting, zoom_id, start - 3604, 3600)); /* 3601 s off */
    cr_assert(resolve_meeting_matches_zoom(meeting, zoom_id, start - 3603, 3600));     /* 3600 s off */
    /* a different Zoom meeting */
    cr_assert_not(resolve_meeting_matches_zoom(meeting, "85746392012", start, 7200));
    cr_assert_not(resolve_meeting_matches_zoom(meeting, "857463920111", start, 7200));
    yajl_tree_free(zoom);
    yajl_tree_free(meeting);
}

Test(resolve, meeting_without_links_or_start)
{
    char err[256];
    const char *no_links = "{\"id\":\"acti_a\",\"starts_at\":\"2026-11-25T09:00:00+00:00\"}";
    const char *no_start =
        "{\"id\":\"acti_b\",\"conference_links\":[{\"type\":\"ZOOM\",\"url\":\"https://zoom.us/j/" ZOOM_ID
        "\"}]}";
    yajl_val a = json_parse(no_links, strlen(no_links), err, sizeof(err));
    yajl_val b = json_parse(no_start, strlen(no_start), err, sizeof(err));
    cr_assert_not_null(a);
    cr_assert_not_null(b);
    cr_assert_not(resolve_meeting_matches_zoom(a, ZOOM_ID, zoom_start(), 7200));
    /* with a start to check, a meeting without starts_at cannot be proven to match */
    cr_assert_not(resolve_meeting_matches_zoom(b, ZOOM_ID, zoom_start(), 7200));
    cr_assert(resolve_meeting_matches_zoom(b, ZOOM_ID, 0, 7200));
    yajl_tree_free(a);
    yajl_tree_free(b);
}

/* ---- step c: iCalUID ---- */

static yajl_val parse_text(const char *text)
{
    char err[256];
    yajl_val v = json_parse(text, strlen(text), err, sizeof(err));
    cr_assert_not_null(v, "%s", err);
    return v;
}

/* the sample meeting's UID, an Outlook-style hex string */
#define SAMPLE_UID "040000008200E00074C5B7101A82E008000000001"

Test(resolve, ical_uid_exact_on_the_sample_meeting)
{
    yajl_val meeting = load_json(SAMPLES_DIR "/close/meeting.json");
    time_t at = zoom_start() - 3; /* 09:00:00, the meeting's start */
    cr_assert(resolve_meeting_matches_ical(meeting, SAMPLE_UID, at, 900));
    cr_assert(resolve_meeting_matches_ical(meeting, SAMPLE_UID, at + 900, 900)); /* the window's edge */
    cr_assert(resolve_meeting_matches_ical(meeting, SAMPLE_UID, 0, 0));          /* start 0: any time */
    yajl_tree_free(meeting);
}

Test(resolve, ical_uid_near_misses)
{
    yajl_val meeting = load_json(SAMPLES_DIR "/close/meeting.json");
    time_t at = zoom_start() - 3;
    /* Outlook UIDs differ only in their tail: a prefix either way is another event */
    cr_assert_not(resolve_meeting_matches_ical(meeting, "040000008200E00074C5B7101A82E00800000000", at, 900));
    cr_assert_not(
        resolve_meeting_matches_ical(meeting, "040000008200E00074C5B7101A82E0080000000011", at, 900));
    /* opaque: no case folding */
    cr_assert_not(
        resolve_meeting_matches_ical(meeting, "040000008200e00074c5b7101a82e008000000001", at, 900));
    cr_assert_not(resolve_meeting_matches_ical(meeting, "", at, 900));
    cr_assert_not(resolve_meeting_matches_ical(meeting, NULL, at, 900));
    /* the same UID an hour off is another occurrence of a recurring event */
    cr_assert_not(resolve_meeting_matches_ical(meeting, SAMPLE_UID, at + 3600, 900));
    cr_assert_not(resolve_meeting_matches_ical(meeting, SAMPLE_UID, at - 901, 900));
    yajl_tree_free(meeting);
}

Test(resolve, ical_uid_among_several_and_malformed_lists)
{
    yajl_val several = parse_text("{\"id\":\"acti_s\",\"starts_at\":\"2026-11-25T09:00:00Z\","
                                  "\"calendar_event_uids\":[7,null,\"a@google.com\",\"b@google.com\"]}");
    yajl_val not_a_list = parse_text("{\"id\":\"acti_n\",\"starts_at\":\"2026-11-25T09:00:00Z\","
                                     "\"calendar_event_uids\":\"b@google.com\"}");
    yajl_val no_start = parse_text("{\"id\":\"acti_x\",\"calendar_event_uids\":[\"b@google.com\"]}");
    time_t at = zoom_start() - 3;
    cr_assert(resolve_meeting_matches_ical(several, "b@google.com", at, 900));
    cr_assert(resolve_meeting_matches_ical(several, "a@google.com", at, 900));
    cr_assert_not(resolve_meeting_matches_ical(several, "7", at, 900)); /* not a string in the list */
    cr_assert_not(resolve_meeting_matches_ical(not_a_list, "b@google.com", at, 900));
    cr_assert_not(resolve_meeting_matches_ical(no_start, "b@google.com", at, 900));
    cr_assert(resolve_meeting_matches_ical(no_start, "b@google.com", 0, 900));
    yajl_tree_free(several);
    yajl_tree_free(not_a_list);
    yajl_tree_free(no_start);
}

/* ---- step e: attendee emails ---- */

/* A meeting at 09:00 with the buyer dana (external) and the seller's host. */
#define MEETING_0900                                                                                         \
    "{\"id\":\"acti_m\",\"starts_at\":\"2026-11-25T09:00:00+00:00\",\"attendees\":["                         \
    "{\"email\":\"dana@acme.example\",\"is_organizer\":false},"                                              \
    "{\"email\":\"Host@Seller.example\",\"is_organizer\":true},"                                             \
    "{\"email\":\"lee@acme.example\"}]}"

Test(resolve, attendees_every_external_present)
{
    yajl_val m = parse_text(MEETING_0900);
    time_t at = zoom_start() - 3; /* 09:00:00 */
    char *dana[] = {"dana@acme.example"};
    char *both[] = {"dana@acme.example", "lee@acme.example"};
    char *with_host[] = {"host@seller.example", "dana@acme.example"};
    char *shouting[] = {"DANA@ACME.EXAMPLE", "host@SELLER.example"};
    cr_assert(resolve_meeting_matches_attendees(m, dana, 1, at, 900));
    cr_assert(resolve_meeting_matches_attendees(m, both, 2, at, 900));
    cr_assert(
        resolve_meeting_matches_attendees(m, with_host, 2, at, 900)); /* the seller side is not required */
    cr_assert(resolve_meeting_matches_attendees(m, shouting, 2, at, 900));   /* case-insensitive */
    cr_assert(resolve_meeting_matches_attendees(m, dana, 1, at + 900, 900)); /* the window's edge */
    yajl_tree_free(m);
}

Test(resolve, attendees_near_misses)
{
    yajl_val m = parse_text(MEETING_0900);
    time_t at = zoom_start() - 3;
    char *missing[] = {"sam@acme.example"};
    char *extra[] = {"dana@acme.example", "sam@acme.example"}; /* one more external than the meeting has */
    char *host_only[] = {"host@seller.example"};               /* nothing says which meeting */
    char *lookalike[] = {"dana@acme.example.evil"};
    char *dana[] = {"dana@acme.example"};
    cr_assert_not(resolve_meeting_matches_attendees(m, missing, 1, at, 900));
    cr_assert_not(resolve_meeting_matches_attendees(m, extra, 2, at, 900));
    cr_assert_not(resolve_meeting_matches_attendees(m, host_only, 1, at, 900));
    cr_assert_not(resolve_meeting_matches_attendees(m, lookalike, 1, at, 900));
    cr_assert_not(resolve_meeting_matches_attendees(m, dana, 0, at, 900));        /* no emails */
    cr_assert_not(resolve_meeting_matches_attendees(m, dana, 1, at + 3600, 900)); /* an hour off */
    cr_assert_not(resolve_meeting_matches_attendees(m, dana, 1, at - 901, 900));  /* just outside */
    cr_assert_not(resolve_meeting_matches_attendees(m, dana, 1, 0, 900));         /* no start */
    yajl_tree_free(m);
}

Test(resolve, attendees_on_the_sample_meeting)
{
    yajl_val meeting = load_json(SAMPLES_DIR "/close/meeting.json");
    char *calendly[] = {"dana@acme.example", "host@seller.example"}; /* invitee + event membership */
    cr_assert(resolve_meeting_matches_attendees(meeting, calendly, 2, zoom_start(), 900));
    cr_assert_not(resolve_meeting_matches_attendees(meeting, calendly, 2, zoom_start() + 3600, 900));
    yajl_tree_free(meeting);
}

/* ---- resolve_find against a fake Close ---- */

#define GRAPH_EVENT_ID "AAMkAGI2TAAA="

static const credential cred = {.name = "sales", .kind = CREDENTIAL_API_KEY, .secret = "api_key_123"};

typedef struct env {
    fake_http fake;
    char *answers[FAKE_HTTP_MAX_REQUESTS];
    char dir[64];
    meeting_cache *cache;
    store *store;
    resolve_options o;
    char detail[1024];
} env;

/* Queues a 200 answer {"data": [data], "has_more": false}. */
static void answer(env *e, const char *data)
{
    char *body = NULL;
    cr_assert_geq(asprintf(&body, "{\"data\":[%s],\"has_more\":false}", data), 0);
    int i = e->fake.nresponses++;
    e->answers[i] = fake_http_json("200 OK", body);
    e->fake.responses[i] = e->answers[i];
    free(body);
}

static void env_init(env *e, int with_cache)
{
    memset(e, 0, sizeof(*e));
    e->o = (resolve_options){.window_s = 7200, .attendee_window_s = 900, .cache_ttl_s = 3600};
    if (with_cache) {
        char err[256], path[128];
        snprintf(e->dir, sizeof(e->dir), "/tmp/test_resolve.XXXXXX");
        cr_assert_not_null(mkdtemp(e->dir));
        snprintf(path, sizeof(path), "%s/store.db", e->dir);
        e->store = store_open(path, err, sizeof(err));
        cr_assert_not_null(e->store, "%s", err);
        e->o.cache = e->cache = meeting_cache_open(e->store, err, sizeof(err));
        cr_assert_not_null(e->cache, "%s", err);
    }
}

static void env_free(env *e)
{
    for (int i = 0; i < e->fake.nresponses; i++)
        free(e->answers[i]);
    meeting_cache_close(e->cache);
    store_close(e->store);
    if (e->dir[0]) {
        char path[128];
        snprintf(path, sizeof(path), "%s/store.db", e->dir);
        unlink(path);
        strcat(path, "-wal");
        unlink(path);
        snprintf(path, sizeof(path), "%s/store.db-shm", e->dir);
        unlink(path);
        rmdir(e->dir);
    }
}

/* Runs resolve_find against whatever answers were queued (none: a client
 * pointing at a port where nothing listens, so any request fails). */
static resolve_result run(env *e, const close_update *u, char **id, int *from_cache)
{
    char base[64];
    int serving = e->fake.nresponses > 0;
    if (serving)
        cr_assert_eq(fake_http_start(&e->fake), 0);
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", serving ? e->fake.port : 1);
    close_client *c = close_client_new(base, 5000);
    cr_assert_not_null(c);
    resolve_result r = resolve_find(c, &cred, u, &e->o, id, from_cache, e->detail, sizeof(e->detail));
    if (serving)
        fake_http_stop(&e->fake);
    close_client_free(c);
    return r;
}

static const char *target_of(env *e, int i)
{
    static char out[1024];
    cr_assert_lt(i, e->fake.nrequests, "only %d requests", e->fake.nrequests);
    return fake_http_target(e->fake.requests[i], out, sizeof(out));
}

static void setup(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void teardown(void)
{
    curl_global_cleanup();
}

TestSuite(resolve_find, .init = setup, .fini = teardown);

#define SAMPLE_MEETING(id, starts)                                                                           \
    "{\"id\":\"" id "\",\"starts_at\":\"" starts "\",\"provider_calendar_event_id\":\"" GRAPH_EVENT_ID "\"}"

Test(resolve_find, graph_event_by_meeting_search)
{
    env e;
    env_init(&e, 0);
    answer(&e, SAMPLE_MEETING("acti_graph", "2026-11-25T09:00:00+00:00"));
    close_update u = {.keys.calendar_event_id = GRAPH_EVENT_ID, .keys.calendar_type = "microsoft"};
    char *id = NULL;
    cr_assert_eq(run(&e, &u, &id, NULL), RESOLVE_FOUND, "%s", e.detail);
    cr_assert_str_eq(id, "acti_graph");
    cr_assert_eq(e.fake.nrequests, 1);
    /* no start time: no starts_at range; the event id escaped ('=' is %3D) */
    cr_assert_str_eq(target_of(&e, 0), "/api/v1/activity/meeting/?provider_calendar_event_id=AAMkAGI2TAAA%3D"
                                       "&provider_calendar_type=microsoft&_limit=5"
                                       "&_fields=id,starts_at,provider_calendar_event_id");
    free(id);
    env_free(&e);
}

Test(resolve_find, meeting_search_with_start_narrows_to_the_occurrence)
{
    env e;
    env_init(&e, 0);
    answer(&e, SAMPLE_MEETING("acti_occ", "2026-11-25T09:00:00Z"));
    close_update u = {.keys.calendar_event_id = GRAPH_EVENT_ID,
                      .keys.calendar_type = "google",
                      .keys.start_time = "2026-11-25T09:00:00Z"};
    char *id = NULL;
    cr_assert_eq(run(&e, &u, &id, NULL), RESOLVE_FOUND, "%s", e.detail);
    const char *t = target_of(&e, 0);
    cr_assert_not_null(strstr(t, "&provider_calendar_type=google&starts_at__gte=2026-11-25T07:00:00Z"
                                 "&starts_at__lt=2026-11-25T11:00:00Z&"),
                       "%s", t);
    free(id);
    env_free(&e);
}

Test(resolve_find, meeting_search_two_results_is_ambiguous)
{
    env e;
    env_init(&e, 0);
    answer(&e, SAMPLE_MEETING("acti_one", "2026-11-25T09:00:00Z") "," SAMPLE_MEETING("acti_two",
                                                                                     "2026-11-26T09:00:00Z"));
    close_update u = {.keys.calendar_event_id = GRAPH_EVENT_ID,
                      .keys.calendar_type = "microsoft",
                      .keys.zoom_meeting_id = ZOOM_ID}; /* no start: the Zoom step cannot run anyway */
    char *id = NULL;
    cr_assert_eq(run(&e, &u, &id, NULL), RESOLVE_AMBIGUOUS, "%s", e.detail);
    cr_assert_null(id);
    cr_assert_not_null(strstr(e.detail, "acti_one"), "%s", e.detail);
    cr_assert_not_null(strstr(e.detail, "acti_two"), "%s", e.detail);
    env_free(&e);
}

Test(resolve_find, meeting_search_ignores_another_event_a_lenient_server_returns)
{
    env e;
    env_init(&e, 0);
    answer(&e, "{\"id\":\"acti_other\",\"starts_at\":\"2026-11-25T09:00:00Z\","
               "\"provider_calendar_event_id\":\"AAMkAGI2TAAA=x\"}");
    close_update u = {.keys.calendar_event_id = GRAPH_EVENT_ID, .keys.calendar_type = "microsoft"};
    char *id = NULL;
    cr_assert_eq(run(&e, &u, &id, NULL), RESOLVE_NOT_FOUND, "%s", e.detail);
    cr_assert_not_null(strstr(e.detail, "meeting search"), "%s", e.detail);
    cr_assert_not_null(strstr(e.detail, GRAPH_EVENT_ID), "%s", e.detail);
    env_free(&e);
}

#define ZOOM_MEETING(id, starts, url)                                                                        \
    "{\"id\":\"" id "\",\"starts_at\":\"" starts                                                             \
    "\",\"conference_links\":[{\"type\":\"ZOOM\",\"url\":\"" url                                             \
    "\"}],\"attendees\":[{\"email\":\"dana@acme.example\"},{\"email\":\"host@seller.example\","              \
    "\"is_organizer\":true}]}"

Test(resolve_find, search_miss_falls_through_to_the_zoom_window)
{
    env e;
    env_init(&e, 0);
    answer(&e, "");
    answer(&e, ZOOM_MEETING("acti_prefix", "2026-11-25T09:00:00Z",
                            "https://zoom.us/j/" ZOOM_ID
                            "1") "," ZOOM_MEETING("acti_zoom", "2026-11-25T09:00:00Z",
                                                  "https://zoom.us/j/" ZOOM_ID "?pwd=x"));
    close_update u = {.keys.calendar_event_id = GRAPH_EVENT_ID,
                      .keys.calendar_type = "microsoft",
                      .keys.join_url = "https://example.zoom.us/j/" ZOOM_ID,
                      .keys.start_time = "2026-11-25T09:00:03Z"};
    char *id = NULL;
    cr_assert_eq(run(&e, &u, &id, NULL), RESOLVE_FOUND, "%s", e.detail);
    cr_assert_str_eq(id, "acti_zoom");
    cr_assert_eq(e.fake.nrequests, 2);
    cr_assert_not_null(strstr(target_of(&e, 0), "provider_calendar_event_id="));
    cr_assert_not_null(strstr(target_of(&e, 1), "activity_at__gte="));
    free(id);
    env_free(&e);
}

Test(resolve_find, zoom_match_wins_over_ambiguous_attendees)
{
    env e;
    env_init(&e, 0);
    /* dana is on both meetings; only one carries the Zoom link */
    answer(&e,
           ZOOM_MEETING("acti_zoom", "2026-11-25T09:00:00Z", "https://zoom.us/j/" ZOOM_ID) "," ZOOM_MEETING(
               "acti_teams", "2026-11-25T09:00:00Z", "https://teams.example/x"));
    char *emails[] = {"dana@acme.example"};
    close_update u = {.keys.zoom_meeting_id = ZOOM_ID,
                      .keys.start_time = "2026-11-25T09:00:03Z",
                      .keys.attendee_emails = emails,
                      .keys.nattendee_emails = 1};
    char *id = NULL;
    cr_assert_eq(run(&e, &u, &id, NULL), RESOLVE_FOUND, "%s", e.detail);
    cr_assert_str_eq(id, "acti_zoom");
    free(id);
    env_free(&e);
}

Test(resolve_find, attendees_when_no_link_matches)
{
    env e;
    env_init(&e, 0);
    answer(&e, ZOOM_MEETING("acti_hour_later", "2026-11-25T10:00:00Z",
                            "https://teams.example/y") "," ZOOM_MEETING("acti_teams", "2026-11-25T09:00:00Z",
                                                                        "https://teams.example/x"));
    char *emails[] = {"Dana@Acme.example", "host@seller.example"};
    close_update u = {.keys.zoom_meeting_id = ZOOM_ID,
                      .keys.start_time = "2026-11-25T09:00:03Z",
                      .keys.attendee_emails = emails,
                      .keys.nattendee_emails = 2};
    char *id = NULL;
    cr_assert_eq(run(&e, &u, &id, NULL), RESOLVE_FOUND, "%s", e.detail);
    cr_assert_str_eq(id, "acti_teams"); /* the one an hour later is outside the attendee window */
    cr_assert_not_null(strstr(target_of(&e, 0), "attendees"), "fields must include attendees");
    free(id);
    env_free(&e);
}

Test(resolve_find, attendees_on_two_meetings_is_ambiguous)
{
    env e;
    env_init(&e, 0);
    answer(&e, ZOOM_MEETING("acti_a", "2026-11-25T09:00:00Z", "https://teams.example/a") "," ZOOM_MEETING(
                   "acti_b", "2026-11-25T09:10:00Z", "https://teams.example/b"));
    char *emails[] = {"dana@acme.example"};
    close_update u = {.keys.start_time = "2026-11-25T09:00:03Z",
                      .keys.attendee_emails = emails,
                      .keys.nattendee_emails = 1};
    char *id = NULL;
    cr_assert_eq(run(&e, &u, &id, NULL), RESOLVE_AMBIGUOUS, "%s", e.detail);
    cr_assert_not_null(strstr(e.detail, "acti_a, acti_b"), "%s", e.detail);
    env_free(&e);
}

#define ICAL_MEETING(id, starts, uids)                                                                       \
    "{\"id\":\"" id "\",\"starts_at\":\"" starts "\",\"calendar_event_uids\":[" uids "],"                    \
    "\"attendees\":[{\"email\":\"dana@acme.example\"},{\"email\":\"host@seller.example\","                   \
    "\"is_organizer\":true}]}"
#define GOOGLE_UID "7kukuqrfedlm2f9t0v6ns5mhq8@google.com"

Test(resolve_find, ical_uid_found_in_the_window_and_cached)
{
    env e;
    env_init(&e, 1);
    answer(&e, ICAL_MEETING("acti_other", "2026-11-25T09:00:00Z", "\"x" GOOGLE_UID "\"") "," ICAL_MEETING(
                   "acti_ical", "2026-11-25T09:00:00Z", "\"a@google.com\",\"" GOOGLE_UID "\""));
    close_update u = {.keys.ical_uid = GOOGLE_UID, .keys.start_time = "2026-11-25T09:00:03Z"};
    char *id = NULL;
    int cached = -1;
    cr_assert_eq(run(&e, &u, &id, &cached), RESOLVE_FOUND, "%s", e.detail);
    cr_assert_str_eq(id, "acti_ical");
    cr_assert_eq(cached, 0);
    cr_assert_eq(e.fake.nrequests, 1);
    const char *t = target_of(&e, 0);
    cr_assert_not_null(strstr(t, "activity_at__gte=2026-11-25T07%3A00%3A03Z"), "%s", t);
    cr_assert_not_null(strstr(t, "calendar_event_uids"), "fields must include calendar_event_uids: %s", t);
    cr_assert_not_null(strstr(e.detail, "iCalUID " GOOGLE_UID), "%s", e.detail);
    free(id);

    /* cached per credential, UID and occurrence start */
    char key[256];
    snprintf(key, sizeof(key), "sales/ical:" GOOGLE_UID "@%lld", (long long)zoom_start());
    char *hit = meeting_cache_get(e.cache, key, time(NULL));
    cr_assert_not_null(hit, "nothing cached under %s", key);
    cr_assert_str_eq(hit, "acti_ical");
    free(hit);
    env again = e; /* nothing answers now: only the cache can */
    again.fake = (fake_http){0};
    cr_assert_eq(run(&again, &u, &id, &cached), RESOLVE_FOUND, "%s", again.detail);
    cr_assert_str_eq(id, "acti_ical");
    cr_assert_eq(cached, 1);
    free(id);
    resolve_forget(&again.o, &cred, &u, "acti_ical");
    hit = meeting_cache_get(e.cache, key, time(NULL));
    cr_assert_null(hit, "resolve_forget kept %s", key);
    env_free(&e);
}

Test(resolve_find, ical_uid_prefix_of_another_is_no_match)
{
    env e;
    env_init(&e, 0);
    /* each meeting's UID extends or shortens the one asked for by a character */
    answer(&e, ICAL_MEETING("acti_longer", "2026-11-25T09:00:00Z", "\"" SAMPLE_UID "1\"") "," ICAL_MEETING(
                   "acti_shorter", "2026-11-25T09:00:00Z", "\"040000008200E00074C5B7101A82E00800000000\""));
    close_update u = {.keys.ical_uid = SAMPLE_UID, .keys.start_time = "2026-11-25T09:00:03Z"};
    char *id = NULL;
    cr_assert_eq(run(&e, &u, &id, NULL), RESOLVE_NOT_FOUND, "%s", e.detail);
    cr_assert_null(id);
    cr_assert(strncmp(e.detail, "tried ", 6) == 0, "%s", e.detail);
    cr_assert_not_null(strstr(e.detail, "iCalUID " SAMPLE_UID " in calendar_event_uids"), "%s", e.detail);
    cr_assert_not_null(strstr(e.detail, "2 meetings checked"), "%s", e.detail);
    env_free(&e);
}

Test(resolve_find, ical_uid_on_two_meetings_is_ambiguous)
{
    env e;
    env_init(&e, 1);
    answer(&e, ICAL_MEETING("acti_one", "2026-11-25T09:00:00Z", "\"" GOOGLE_UID "\"") "," ICAL_MEETING(
                   "acti_two", "2026-11-25T09:30:00Z", "\"" GOOGLE_UID "\""));
    close_update u = {.keys.ical_uid = GOOGLE_UID, .keys.start_time = "2026-11-25T09:00:03Z"};
    char *id = NULL;
    cr_assert_eq(run(&e, &u, &id, NULL), RESOLVE_AMBIGUOUS, "%s", e.detail);
    cr_assert_null(id);
    cr_assert_not_null(strstr(e.detail, "acti_one, acti_two"), "%s", e.detail);
    cr_assert_not_null(strstr(e.detail, "iCalUID"), "%s", e.detail);
    char key[256];
    snprintf(key, sizeof(key), "sales/ical:" GOOGLE_UID "@%lld", (long long)zoom_start());
    cr_assert_null(meeting_cache_get(e.cache, key, time(NULL)), "an ambiguous answer must not be cached");
    env_free(&e);
}

Test(resolve_find, ical_uid_wins_over_zoom_and_attendees_in_one_fetch)
{
    env e;
    env_init(&e, 0);
    /* dana is on both; only acti_zoom carries the Zoom link, only acti_ical the
     * UID: the UID is the exact key, so it decides */
    answer(&e,
           ZOOM_MEETING("acti_zoom", "2026-11-25T09:00:00Z", "https://zoom.us/j/" ZOOM_ID) "," ICAL_MEETING(
               "acti_ical", "2026-11-25T09:00:00Z", "\"" GOOGLE_UID "\""));
    char *emails[] = {"dana@acme.example"};
    close_update u = {.keys.ical_uid = GOOGLE_UID,
                      .keys.zoom_meeting_id = ZOOM_ID,
                      .keys.start_time = "2026-11-25T09:00:03Z",
                      .keys.attendee_emails = emails,
                      .keys.nattendee_emails = 1};
    char *id = NULL;
    cr_assert_eq(run(&e, &u, &id, NULL), RESOLVE_FOUND, "%s", e.detail);
    cr_assert_str_eq(id, "acti_ical");
    cr_assert_eq(e.fake.nrequests, 1);
    free(id);

    /* without the Zoom id, the UID still beats the attendees (matching both) */
    env e2;
    env_init(&e2, 0);
    answer(&e2, ICAL_MEETING("acti_dana", "2026-11-25T09:00:00Z", "\"x@google.com\"") "," ICAL_MEETING(
                    "acti_ical", "2026-11-25T09:05:00Z", "\"" GOOGLE_UID "\""));
    close_update by_attendees = {.keys.ical_uid = GOOGLE_UID,
                                 .keys.start_time = "2026-11-25T09:00:03Z",
                                 .keys.attendee_emails = emails,
                                 .keys.nattendee_emails = 1};
    cr_assert_eq(run(&e2, &by_attendees, &id, NULL), RESOLVE_FOUND, "%s", e2.detail);
    cr_assert_str_eq(id, "acti_ical");
    free(id);
    env_free(&e2);
    env_free(&e);
}

Test(resolve_find, ical_uid_miss_falls_through_to_the_zoom_id)
{
    env e;
    env_init(&e, 0);
    answer(&e, ZOOM_MEETING("acti_zoom", "2026-11-25T09:00:00Z", "https://zoom.us/j/" ZOOM_ID));
    close_update u = {.keys.ical_uid = GOOGLE_UID,
                      .keys.zoom_meeting_id = ZOOM_ID,
                      .keys.start_time = "2026-11-25T09:00:03Z"};
    char *id = NULL;
    cr_assert_eq(run(&e, &u, &id, NULL), RESOLVE_FOUND, "%s", e.detail);
    cr_assert_str_eq(id, "acti_zoom");
    cr_assert_eq(e.fake.nrequests, 1, "the Zoom step must reuse the iCalUID step's fetch");
    free(id);
    env_free(&e);
}

Test(resolve_find, ical_uid_without_a_start_is_no_key)
{
    env e;
    env_init(&e, 0);
    close_update u = {.keys.ical_uid = GOOGLE_UID};
    char *id = NULL;
    cr_assert_eq(run(&e, &u, &id, NULL), RESOLVE_NO_KEYS, "%s", e.detail);
    cr_assert_not_null(strstr(e.detail, "iCalUID " GOOGLE_UID " but no usable start time"), "%s", e.detail);
    close_update empty = {.keys.ical_uid = "", .keys.start_time = "2026-11-25T09:00:03Z"};
    cr_assert_eq(run(&e, &empty, &id, NULL), RESOLVE_NO_KEYS, "%s", e.detail);
    cr_assert_not_null(strstr(e.detail, "no iCalUID"), "%s", e.detail);
    cr_assert_null(id);
    env_free(&e);
}

Test(resolve_find, nothing_found_says_every_step_tried)
{
    env e;
    env_init(&e, 0);
    answer(&e, "");
    answer(&e, ZOOM_MEETING("acti_a", "2026-11-25T09:00:00Z", "https://teams.example/a"));
    char *emails[] = {"sam@acme.example"};
    close_update u = {.keys.calendar_event_id = GRAPH_EVENT_ID,
                      .keys.calendar_type = "microsoft",
                      .keys.ical_uid = GOOGLE_UID,
                      .keys.zoom_meeting_id = ZOOM_ID,
                      .keys.start_time = "2026-11-25T09:00:03Z",
                      .keys.attendee_emails = emails,
                      .keys.nattendee_emails = 1};
    char *id = NULL;
    cr_assert_eq(run(&e, &u, &id, NULL), RESOLVE_NOT_FOUND, "%s", e.detail);
    cr_assert_not_null(strstr(e.detail, "meeting search"), "%s", e.detail);
    cr_assert_not_null(strstr(e.detail, "iCalUID " GOOGLE_UID), "%s", e.detail);
    cr_assert_not_null(strstr(e.detail, "Zoom id " ZOOM_ID), "%s", e.detail);
    cr_assert_not_null(strstr(e.detail, "sam@acme.example"), "%s", e.detail);
    env_free(&e);
}

Test(resolve_find, no_keys_sends_nothing)
{
    env e;
    env_init(&e, 0);
    char *id = NULL;
    close_update calendly = {.keys.calendar_event_id = "https://api.calendly.com/scheduled_events/C",
                             .keys.start_time = "2026-11-25T09:00:00Z"}; /* no calendar type: not Close's */
    cr_assert_eq(run(&e, &calendly, &id, NULL), RESOLVE_NO_KEYS, "%s", e.detail);
    char *emails[] = {"dana@acme.example"};
    close_update no_start = {.keys.attendee_emails = emails, .keys.nattendee_emails = 1};
    cr_assert_eq(run(&e, &no_start, &id, NULL), RESOLVE_NO_KEYS, "%s", e.detail);
    cr_assert_not_null(strstr(e.detail, "start time"), "%s", e.detail);
    cr_assert_null(id);
    env_free(&e);
}

Test(resolve_find, explicit_id_needs_no_lookup)
{
    env e;
    env_init(&e, 1);
    close_update u = {.activity_id = "acti_explicit",
                      .keys.zoom_meeting_id = ZOOM_ID,
                      .keys.start_time = "2026-11-25T09:00:03Z"};
    char *id = NULL;
    int cached = -1;
    cr_assert_eq(run(&e, &u, &id, &cached), RESOLVE_FOUND);
    cr_assert_str_eq(id, "acti_explicit");
    cr_assert_eq(cached, 0);
    free(id);
    env_free(&e);
}

/* ---- step a: the cache ---- */

Test(resolve_find, second_lookup_comes_from_the_cache)
{
    env e;
    env_init(&e, 1);
    answer(&e, ZOOM_MEETING("acti_zoom", "2026-11-25T09:00:00Z", "https://zoom.us/j/" ZOOM_ID));
    close_update u = {.keys.zoom_meeting_id = ZOOM_ID, .keys.start_time = "2026-11-25T09:00:03Z"};
    char *id = NULL;
    int cached = -1;
    cr_assert_eq(run(&e, &u, &id, &cached), RESOLVE_FOUND, "%s", e.detail);
    cr_assert_eq(cached, 0);
    free(id);

    env again = e; /* same cache, but now nothing answers: a Close call would fail */
    again.fake = (fake_http){0};
    cr_assert_eq(run(&again, &u, &id, &cached), RESOLVE_FOUND, "%s", again.detail);
    cr_assert_str_eq(id, "acti_zoom");
    cr_assert_eq(cached, 1);
    free(id);

    /* the same Zoom id a week later is another occurrence: not from the cache */
    close_update next_week = {.keys.zoom_meeting_id = ZOOM_ID, .keys.start_time = "2026-12-02T09:00:03Z"};
    cr_assert_eq(run(&again, &next_week, &id, &cached), RESOLVE_TRANSIENT, "%s", again.detail);
    /* skip_cache asks Close even when cached */
    again.o.skip_cache = 1;
    cr_assert_eq(run(&again, &u, &id, &cached), RESOLVE_TRANSIENT, "%s", again.detail);
    again.o.skip_cache = 0;
    /* forgetting with another id keeps the entry; with its own id drops it */
    resolve_forget(&again.o, &cred, &u, "acti_other");
    cr_assert_eq(run(&again, &u, &id, &cached), RESOLVE_FOUND, "%s", again.detail);
    free(id);
    resolve_forget(&again.o, &cred, &u, "acti_zoom");
    cr_assert_eq(run(&again, &u, &id, &cached), RESOLVE_TRANSIENT, "%s", again.detail);
    cr_assert_null(id);
    env_free(&e);
}

Test(resolve_find, cache_is_per_credential_and_not_filled_by_failures)
{
    env e;
    env_init(&e, 1);
    answer(&e, SAMPLE_MEETING("acti_one", "2026-11-25T09:00:00Z") "," SAMPLE_MEETING("acti_two",
                                                                                     "2026-11-25T09:00:00Z"));
    close_update u = {.keys.calendar_event_id = GRAPH_EVENT_ID, .keys.calendar_type = "microsoft"};
    char *id = NULL;
    cr_assert_eq(run(&e, &u, &id, NULL), RESOLVE_AMBIGUOUS, "%s", e.detail);
    char *hit = meeting_cache_get(e.cache, "sales/cal:microsoft:" GRAPH_EVENT_ID, time(NULL));
    cr_assert_null(hit, "an ambiguous answer must not be cached");
    /* an entry for another credential is never used for this one */
    cr_assert_eq(
        meeting_cache_put(e.cache, "other/cal:microsoft:" GRAPH_EVENT_ID, "acti_theirs", time(NULL), 60), 0);
    env again = e;
    again.fake = (fake_http){0};
    cr_assert_eq(run(&again, &u, &id, NULL), RESOLVE_TRANSIENT, "%s", again.detail);
    /* and this credential's own entry is */
    cr_assert_eq(
        meeting_cache_put(e.cache, "sales/cal:microsoft:" GRAPH_EVENT_ID, "acti_ours", time(NULL), 60), 0);
    cr_assert_eq(run(&again, &u, &id, NULL), RESOLVE_FOUND, "%s", again.detail);
    cr_assert_str_eq(id, "acti_ours");
    free(id);
    env_free(&e);
}
