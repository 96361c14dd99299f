/* try: a dry run of one sample through a route's source and rules, so a user
 * can see which rule matches and the exact PUT before pointing a sender at us.
 * It runs the very same source and mapping code the server runs. */
#include "try.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "json.h"
#include "mapping.h"
#include "update.h"

/* Samples are webhook bodies; the server's own default body limit is plenty. */
#define TRY_MAX_SAMPLE (64u << 20)

typedef struct try_headers {
    const try_header *items;
    size_t count;
} try_headers;

static const char *lookup_header(void *ctx, const char *name, size_t *len)
{
    const try_headers *h = ctx;
    for (size_t i = 0; i < h->count; i++) {
        if (strcasecmp(h->items[i].name, name) == 0) {
            *len = strlen(h->items[i].value);
            return h->items[i].value;
        }
    }
    return NULL;
}

static char *read_sample(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = malloc(TRY_MAX_SAMPLE);
    size_t n = buf ? fread(buf, 1, TRY_MAX_SAMPLE, f) : 0;
    int failed = buf == NULL || ferror(f) || !feof(f);
    fclose(f);
    if (failed) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

static void print_update(const config *cfg, const close_update *u, FILE *out)
{
    if (u->activity_id != NULL) {
        fprintf(out, "  PUT %s/api/v1/activity/meeting/%s/\n", cfg->close_base_url, u->activity_id);
    } else {
        fprintf(out, "  resolve would look the meeting up with:");
        const char *names[] = {"zoom_meeting_id", "join_url", "calendar_event_id", "ical_uid", "start_time"};
        const char *values[] = {u->zoom_meeting_id, u->join_url, u->calendar_event_id, u->ical_uid,
                                u->start_time};
        int any = 0;
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            if (values[i] != NULL) {
                fprintf(out, " %s=%s", names[i], values[i]);
                any = 1;
            }
        }
        fprintf(out, "%s\n  PUT %s/api/v1/activity/meeting/<resolved id>/\n",
                any ? "" : " (nothing: unresolvable)", cfg->close_base_url);
    }
    fprintf(out, "  Content-Type: application/json\n  %s\n", u->body_json);
    if (u->note_mode == NOTE_APPEND)
        fprintf(out, "  (note_mode append: the note is appended to the meeting's current note)\n");
}

/* Mapping for each event: the rule that matches and the update it builds. */
static int report_events(const config *cfg, const route *rt, const event_list *events, FILE *out)
{
    int rc = 0;
    for (size_t i = 0; i < events->count; i++) {
        const meeting_event *ev = &events->items[i];
        fprintf(out, "event %zu: %s (dedup key: %s)\n", i + 1, ev->event_type,
                ev->dedup_key ? ev->dedup_key : "none");
        int rule = mapping_match(&rt->rules, ev);
        if (rule < 0) {
            fprintf(out, "  no rule matches: the webhook would be answered 200 ignored\n");
            continue;
        }
        fprintf(out, "  matched rules[%d] (event \"%s\")\n", rule, rt->rules.items[rule].event);
        close_update u;
        char err[512] = "";
        if (mapping_build(&rt->rules, rule, ev, &u, err, sizeof(err)) != 0) {
            fprintf(out, "  the rule cannot build an update: %s (answered 400)\n", err);
            rc = 1;
            continue;
        }
        print_update(cfg, &u, out);
        update_clear(&u);
    }
    return rc;
}

int try_sample(const config *cfg, const char *route_name, const char *sample_path, const try_header *headers,
               size_t nheaders, const char *query, time_t now, FILE *out)
{
    const route *rt = config_find_route(cfg, route_name, strlen(route_name));
    if (rt == NULL) {
        fprintf(out, "no route named \"%s\" in %s\n", route_name, cfg->path);
        return 2;
    }
    size_t len = 0;
    char *body = read_sample(sample_path, &len);
    if (body == NULL) {
        fprintf(out, "%s: cannot read the sample\n", sample_path);
        return 2;
    }
    const source *src = rt->source;
    char detail[512] = "";
    yajl_val tree = NULL;
    int rc = 0;
    if (len > 0 && src->body_is_json && (tree = json_parse(body, len, detail, sizeof(detail))) == NULL) {
        fprintf(out, "refused: 400 bad_request: %s\n", detail);
        free(body);
        return 1;
    }
    try_headers h = {headers, nheaders};
    source_request req = {.body = body,
                          .body_len = len,
                          .query = query,
                          .query_len = query ? strlen(query) : 0,
                          .header = lookup_header,
                          .header_ctx = &h,
                          .now = now};
    source_answer ans = {0};
    event_list events = {0};
    fprintf(out, "route %s (source %s)\n", rt->name, src->name);
    if (src->handshake(src, &req, tree, &ans)) {
        fprintf(out, "handshake: answered %d %s\n%.*s\n", ans.status, ans.content_type, (int)ans.body_len,
                ans.body ? ans.body : "");
        rc = ans.status < 400 ? 0 : 1;
        free(ans.body);
    } else {
        /* A failed verification is reported, then the rules still run: users
         * debug rules with samples they did not sign. */
        if (src->verify(src, &req, tree, detail, sizeof(detail)) != 0) {
            fprintf(out, "verification: FAILED: %s (answered 401); mapping shown as if verified\n", detail);
            rc = 1;
        } else {
            fprintf(out, "verification: ok\n");
        }
        if (src->parse(src, &req, tree, &events, detail, sizeof(detail)) != 0) {
            fprintf(out, "parse: FAILED: %s (answered 400)\n", detail);
            rc = 1;
        } else if (report_events(cfg, rt, &events, out) != 0) {
            rc = 1;
        }
    }
    event_list_free(&events);
    yajl_tree_free(tree);
    free(body);
    return rc;
}
