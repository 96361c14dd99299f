/* try: a dry run of one sample through a route's source and rules, so a user
 * can see which rule matches and the exact PUT before pointing a sender at us.
 * It runs the very same source and mapping code the server runs. */
#include "try.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "close_client.h"
#include "json.h"
#include "mapping.h"
#include "resolve.h"
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

static const char *const resolve_outcomes[] = {
    [RESOLVE_FOUND] = "found",
    [RESOLVE_NOT_FOUND] = "not found (delivery would retry until max_age_s)",
    [RESOLVE_AMBIGUOUS] = "ambiguous (a dead letter: never a guess)",
    [RESOLVE_NO_KEYS] = "nothing to look up with (a dead letter)",
    [RESOLVE_TRANSIENT] = "Close did not answer usefully (delivery would retry)",
    [RESOLVE_PERMANENT] = "Close refused (a dead letter)",
};

/* Runs resolve as delivery would, without its cache. Returns 0 with
 * *activity_id (malloc'ed) when exactly one meeting was found, else 1; says
 * why either way. */
static int try_resolve(const config *cfg, const route *rt, const close_update *u, char **activity_id,
                       FILE *out)
{
    const credential *cred = rt->credential;
    if (cred->kind == CREDENTIAL_OAUTH) {
        /* A refresh here would rotate the refresh token under a running daemon. */
        fprintf(out, "  resolve: skipped: credential %s is OAuth, whose tokens only `serve` refreshes\n",
                cred->name);
        return 1;
    }
    if (cred->secret == NULL) {
        fprintf(out, "  resolve: skipped: credential %s (%s) is absent: dry-run\n", cred->name,
                cred->secret_ref);
        return 1;
    }
    close_client *c = close_client_new(cfg->close.base_url, cfg->close.timeout_ms);
    if (c == NULL) {
        fprintf(out, "  resolve: out of memory\n");
        return 1;
    }
    resolve_options o = {.window_s = cfg->resolve.window_s,
                         .attendee_window_s = cfg->resolve.attendee_window_s};
    char detail[1024] = "";
    resolve_result r = resolve_find(c, cred, u, &o, activity_id, NULL, detail, sizeof(detail));
    close_client_free(c);
    fprintf(out, "  resolve: %s: %s\n", resolve_outcomes[r], detail);
    return r == RESOLVE_FOUND ? 0 : 1;
}

static int print_update(const config *cfg, const route *rt, const close_update *u, int resolve, FILE *out)
{
    char *found = NULL;
    int rc = 0;
    if (u->activity_id == NULL && resolve)
        rc = try_resolve(cfg, rt, u, &found, out);
    const char *id = u->activity_id != NULL ? u->activity_id : found;
    if (id != NULL) {
        fprintf(out, "  PUT %s/api/v1/activity/meeting/%s/\n", cfg->close.base_url, id);
    } else {
        fprintf(out, "  resolve would look the meeting up with:");
        const char *names[] = {"zoom_meeting_id", "join_url", "calendar_event_id", "ical_uid", "start_time"};
        const char *values[] = {u->keys.zoom_meeting_id, u->keys.join_url, u->keys.calendar_event_id,
                                u->keys.ical_uid, u->keys.start_time};
        int any = 0;
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            if (values[i] != NULL) {
                fprintf(out, " %s=%s", names[i], values[i]);
                any = 1;
            }
        }
        fprintf(out, "%s\n  PUT %s/api/v1/activity/meeting/<resolved id>/\n",
                any ? "" : " (nothing: unresolvable)", cfg->close.base_url);
    }
    free(found);
    fprintf(out, "  Content-Type: application/json\n  %s\n", u->body_json);
    if (u->note_mode == NOTE_APPEND)
        fprintf(out, "  (note_mode append: the note is appended to the meeting's current note)\n");
    return rc;
}

/* Mapping for each event: the rule that matches and the update it builds. */
static int report_events(const config *cfg, const route *rt, const event_list *events, int resolve, FILE *out)
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
        if (print_update(cfg, rt, &u, resolve, out) != 0)
            rc = 1;
        update_clear(&u);
    }
    return rc;
}

int try_sample(const config *cfg, const try_input *in, FILE *out)
{
    const route *rt = config_find_route(cfg, in->route_name, strlen(in->route_name));
    if (rt == NULL) {
        fprintf(out, "no route named \"%s\" in %s\n", in->route_name, cfg->path);
        return 2;
    }
    size_t len = 0;
    char *body = read_sample(in->sample_path, &len);
    if (body == NULL) {
        fprintf(out, "%s: cannot read the sample\n", in->sample_path);
        return 2;
    }
    int rc = try_body(cfg, rt, in, body, len, out);
    free(body);
    return rc;
}

int try_body(const config *cfg, const route *rt, const try_input *in, const char *body, size_t len, FILE *out)
{
    const source *src = rt->source;
    char detail[512] = "";
    yajl_val tree = NULL;
    int rc = 0;
    if (len > 0 && src->body_is_json && (tree = json_parse(body, len, detail, sizeof(detail))) == NULL) {
        fprintf(out, "refused: 400 bad_request: %s\n", detail);
        return 1;
    }
    try_headers h = {in->headers, in->nheaders};
    source_request req = {.body = body,
                          .body_len = len,
                          .query = in->query,
                          .query_len = in->query ? strlen(in->query) : 0,
                          .header = lookup_header,
                          .header_ctx = &h,
                          .now = in->now};
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
        } else if (report_events(cfg, rt, &events, in->resolve, out) != 0) {
            rc = 1;
        }
    }
    event_list_free(&events);
    yajl_tree_free(tree);
    return rc;
}
