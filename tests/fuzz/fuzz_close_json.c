/* fuzz_close_json: libFuzzer drives arbitrary bytes through what closehook
 * reads that a webhook sender does not write: Close's answers (a meeting list
 * page checked by every resolve rule, a meeting's current note for note_mode
 * append, the rate-limit headers), queue payloads read back from the store,
 * and rule templates, rendered against the input as data and checked as
 * template text. A crash or sanitizer report here is a bug.
 *
 * Input: the whole input is each of these in turn (as JSON, as text). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "rate_limit.h"
#include "resolve.h"
#include "template.h"
#include "update.h"

/* A meeting's lookup keys as a Zoom summary and a calendar event give them. */
#define FUZZ_START ((time_t)1795597203) /* 2026-11-25T09:00:03Z, the Zoom samples' start */
static char *const fuzz_emails[] = {"dana@acme.example", "sam@seller.example"};

/* The example config's richest templates. */
static const char *const fuzz_templates[] = {
    "<h3>{{payload.object.summary_title}}</h3><p>{{payload.object.summary_overview}}</p>"
    "{{#payload.object.summary_details}}<p><b>{{label}}</b>: "
    "{{summary}}</p>{{/payload.object.summary_details}}"
    "<p><b>Next steps</b></p>{{payload.object.next_steps}}",
    "<p>{{data.0.id}} {{#data}}{{id}} {{starts_at}} {{#attendees}}{{email}}{{/attendees}}{{/data}}</p>",
    "{{a.b.c.d}}{{#x}}{{#y}}{{z}}{{/y}}{{/x}}",
};

static void check_meetings(yajl_val root)
{
    yajl_val data = json_member(root, "data");
    if (!YAJL_IS_ARRAY(data))
        return;
    for (size_t i = 0; i < data->u.array.len; i++) {
        yajl_val m = data->u.array.values[i];
        resolve_meeting_matches_zoom(m, "85746392011", FUZZ_START, 7200);
        resolve_meeting_matches_zoom(m, "85746392011", 0, 7200);
        resolve_meeting_matches_ical(m, "040000008200E00074C5B7101A82E008", FUZZ_START, 7200);
        resolve_meeting_matches_attendees(m, fuzz_emails, 2, FUZZ_START, 900);
        const char *starts = json_scalar(json_member(m, "starts_at"));
        if (starts != NULL)
            resolve_parse_time(starts);
    }
}

static void render_all(yajl_val root)
{
    for (size_t i = 0; i < sizeof(fuzz_templates) / sizeof(fuzz_templates[0]); i++) {
        char err[256];
        free(template_render(fuzz_templates[i], root, err, sizeof(err)));
    }
}

static void read_as_update(const char *text, size_t len)
{
    close_update u;
    char err[256];
    if (update_parse(text, len, &u, err, sizeof(err)) != 0)
        return;
    free(update_serialize(&u));
    free(update_order_key(&u));
    update_clear(&u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    char err[256];
    yajl_val root = json_parse(text, size, err, sizeof(err));
    if (root != NULL) {
        check_meetings(root);
        render_all(root);
        yajl_tree_free(root);
    }
    read_as_update(text, size);

    /* The input as a meeting's current note, and as a template. */
    char *body = NULL;
    if (update_append_body("{\"user_note_html\":\"<p>Zoom meeting ended after 42 min.</p>\"}", text, &body,
                           err, sizeof(err)) == 0)
        free(body);
    if (template_check(text, err, sizeof(err)) == 0)
        free(template_render(text, NULL, err, sizeof(err)));

    /* The input as each rate-limit header. */
    rate_limit_info info;
    rate_limit_parse(text, NULL, NULL, NULL, &info);
    rate_limit_parse(NULL, text, text, text, &info);

    free(text);
    return 0;
}
