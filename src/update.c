/* update: close_update to and from the JSON text the queue stores, so an update
 * accepted on a request thread survives a restart and reaches a delivery
 * worker unchanged. The PUT body is embedded as a JSON object (not a string)
 * so a queue row reads naturally in `dlq list`. */
#include "update.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "signature.h"

/* Hex digits of the section digest in an appended note's marker: 64 bits, so
 * two different sections on one meeting never share a marker by chance. */
#define UPDATE_SECTION_DIGEST_HEX 16
/* Keys the digest; any fixed text would do. It is a content fingerprint, not
 * a secret: the digest only has to be stable across versions and restarts. */
#define UPDATE_SECTION_DIGEST_KEY "closehook note section"

/* The lookup keys in their serialized order, shared by both directions so a
 * new key cannot be written but not read. */
typedef struct serialized_key {
    const char *name;
    size_t offset; /* of the char * member in lookup_keys */
} serialized_key;

static const serialized_key serialized_keys[] = {
    {"zoom_meeting_id", offsetof(lookup_keys, zoom_meeting_id)},
    {"join_url", offsetof(lookup_keys, join_url)},
    {"calendar_event_id", offsetof(lookup_keys, calendar_event_id)},
    {"ical_uid", offsetof(lookup_keys, ical_uid)},
    {"start_time", offsetof(lookup_keys, start_time)},
    {"calendar_type", offsetof(lookup_keys, calendar_type)},
};

#define NLOOKUP_KEYS (sizeof(serialized_keys) / sizeof(serialized_keys[0]))

static char **member_at(lookup_keys *k, size_t offset)
{
    return (char **)((char *)k + offset);
}

static const char *member_of(const lookup_keys *k, size_t offset)
{
    return *(char *const *)((const char *)k + offset);
}

/* Writes the body text as a sub-document; NULL (never built) becomes null. */
static int gen_body(yajl_gen g, const char *body_json)
{
    if (body_json == NULL) {
        yajl_gen_null(g);
        return 0;
    }
    char perr[128];
    yajl_val body = json_parse(body_json, strlen(body_json), perr, sizeof(perr));
    if (body == NULL)
        return -1;
    json_gen_value(g, body);
    yajl_tree_free(body);
    return 0;
}

char *update_serialize(const close_update *u)
{
    yajl_gen g = json_gen_new();
    if (g == NULL)
        return NULL;
    yajl_gen_map_open(g);
    json_gen_kv_str(g, "activity_id", u->activity_id);
    json_gen_str(g, "body");
    if (gen_body(g, u->body_json) != 0) {
        yajl_gen_free(g);
        return NULL;
    }
    json_gen_kv_str(g, "note_mode", u->note_mode == NOTE_APPEND ? "append" : "replace");
    json_gen_str(g, "lookup");
    yajl_gen_map_open(g);
    for (size_t i = 0; i < NLOOKUP_KEYS; i++)
        json_gen_kv_str(g, serialized_keys[i].name, member_of(&u->keys, serialized_keys[i].offset));
    json_gen_str(g, "attendee_emails");
    yajl_gen_array_open(g);
    for (size_t i = 0; i < u->keys.nattendee_emails; i++)
        json_gen_str(g, u->keys.attendee_emails[i]);
    yajl_gen_array_close(g);
    yajl_gen_map_close(g);
    json_gen_kv_str(g, "request_id", u->request_id);
    json_gen_kv_str(g, "sender", u->sender);
    json_gen_kv_str(g, "event_type", u->event_type);
    json_gen_kv_int(g, "rule", u->rule_index);
    yajl_gen_map_close(g);
    char *text = json_gen_take(g, NULL);
    yajl_gen_free(g);
    return text;
}

static int parse_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int parse_fail(char *err, size_t errlen, const char *fmt, ...)
{
    int n = snprintf(err, errlen, "update: ");
    if (n >= 0 && (size_t)n < errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* An optional string member: absent and null both mean NULL. */
static int take_string(yajl_val obj, const char *key, char **dst, char *err, size_t errlen)
{
    yajl_val v = json_member(obj, key);
    if (v == NULL || YAJL_IS_NULL(v))
        return 0;
    if (!YAJL_IS_STRING(v))
        return parse_fail(err, errlen, "%s: must be a string or null", key);
    *dst = strdup(v->u.string);
    return *dst ? 0 : parse_fail(err, errlen, "out of memory");
}

static int take_body(yajl_val root, close_update *out, char *err, size_t errlen)
{
    yajl_val body = json_member(root, "body");
    if (body == NULL || YAJL_IS_NULL(body))
        return 0;
    if (!YAJL_IS_OBJECT(body))
        return parse_fail(err, errlen, "body: must be an object");
    yajl_gen g = json_gen_new();
    if (g == NULL)
        return parse_fail(err, errlen, "out of memory");
    json_gen_value(g, body);
    out->body_json = json_gen_take(g, NULL);
    yajl_gen_free(g);
    return out->body_json ? 0 : parse_fail(err, errlen, "out of memory");
}

static int take_note_mode(yajl_val root, close_update *out, char *err, size_t errlen)
{
    yajl_val v = json_member(root, "note_mode");
    const char *mode = YAJL_IS_STRING(v) ? v->u.string : NULL;
    if (v == NULL || (mode != NULL && strcmp(mode, "replace") == 0))
        out->note_mode = NOTE_REPLACE;
    else if (mode != NULL && strcmp(mode, "append") == 0)
        out->note_mode = NOTE_APPEND;
    else
        return parse_fail(err, errlen, "note_mode: must be \"replace\" or \"append\"");
    return 0;
}

/* Rows written before attendee emails existed have none: absent is empty. */
static int take_emails(yajl_val lookup, close_update *out, char *err, size_t errlen)
{
    yajl_val v = json_member(lookup, "attendee_emails");
    if (v == NULL || YAJL_IS_NULL(v))
        return 0;
    if (!YAJL_IS_ARRAY(v))
        return parse_fail(err, errlen, "lookup.attendee_emails: must be an array");
    for (size_t i = 0; i < v->u.array.len; i++) {
        yajl_val e = v->u.array.values[i];
        if (!YAJL_IS_STRING(e))
            return parse_fail(err, errlen, "lookup.attendee_emails: must hold strings");
        if (lookup_keys_add_email(&out->keys, e->u.string) != 0)
            return parse_fail(err, errlen, "out of memory");
    }
    return 0;
}

static int take_lookup(yajl_val root, close_update *out, char *err, size_t errlen)
{
    yajl_val lookup = json_member(root, "lookup");
    if (lookup == NULL || YAJL_IS_NULL(lookup))
        return 0;
    if (!YAJL_IS_OBJECT(lookup))
        return parse_fail(err, errlen, "lookup: must be an object");
    for (size_t i = 0; i < NLOOKUP_KEYS; i++)
        if (take_string(lookup, serialized_keys[i].name, member_at(&out->keys, serialized_keys[i].offset),
                        err, errlen) != 0)
            return -1;
    return take_emails(lookup, out, err, errlen);
}

static int take_rule(yajl_val root, close_update *out, char *err, size_t errlen)
{
    yajl_val v = json_member(root, "rule");
    if (v == NULL)
        return 0;
    if (!YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < 0 || YAJL_GET_INTEGER(v) > 0x7fffffff)
        return parse_fail(err, errlen, "rule: must be a non-negative integer");
    out->rule_index = (int)YAJL_GET_INTEGER(v);
    return 0;
}

/* Unknown members are ignored: a row written by a newer version must still be
 * deliverable by an older one during a rolling upgrade. */
int update_parse(const char *text, size_t len, close_update *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    char perr[256];
    yajl_val root = json_parse(text, len, perr, sizeof(perr));
    if (root == NULL)
        return parse_fail(err, errlen, "%s", perr);
    int rc = -1;
    if (!YAJL_IS_OBJECT(root))
        parse_fail(err, errlen, "not a JSON object");
    else if (take_string(root, "activity_id", &out->activity_id, err, errlen) == 0 &&
             take_body(root, out, err, errlen) == 0 && take_note_mode(root, out, err, errlen) == 0 &&
             take_lookup(root, out, err, errlen) == 0 &&
             take_string(root, "request_id", &out->request_id, err, errlen) == 0 &&
             take_string(root, "sender", &out->sender, err, errlen) == 0 &&
             take_string(root, "event_type", &out->event_type, err, errlen) == 0 &&
             take_rule(root, out, err, errlen) == 0)
        rc = 0;
    yajl_tree_free(root);
    if (rc != 0)
        update_clear(out);
    return rc;
}

void update_clear(close_update *u)
{
    free(u->activity_id);
    free(u->body_json);
    lookup_keys_clear(&u->keys);
    free(u->request_id);
    free(u->sender);
    free(u->event_type);
    memset(u, 0, sizeof(*u));
}

char *update_order_key(const close_update *u)
{
    const char *prefix = NULL, *value = NULL;
    if (u->activity_id != NULL)
        prefix = "acti:", value = u->activity_id;
    else if (u->keys.zoom_meeting_id != NULL)
        prefix = "zoom:", value = u->keys.zoom_meeting_id;
    else if (u->keys.calendar_event_id != NULL)
        prefix = "cal:", value = u->keys.calendar_event_id;
    else if (u->keys.ical_uid != NULL)
        prefix = "ical:", value = u->keys.ical_uid;
    else if (u->keys.join_url != NULL)
        prefix = "join:", value = u->keys.join_url;
    else
        return NULL;
    char *key = NULL;
    return asprintf(&key, "%s%s", prefix, value) < 0 ? NULL : key;
}

/* ---- note_mode append ---- */

/* The section's fingerprint as hex: the same rendered section always gets the
 * same marker, so a sender's retry (a new delivery id, the same note) and our
 * own retry (a PUT whose answer was lost) both find it already there. */
static int section_digest(const char *section, char hex[UPDATE_SECTION_DIGEST_HEX + 1])
{
    unsigned char mac[SIGNATURE_SHA256_LEN];
    char full[2 * SIGNATURE_SHA256_LEN + 1];
    signature_part part = {section, strlen(section)};
    if (signature_hmac_sha256(UPDATE_SECTION_DIGEST_KEY, strlen(UPDATE_SECTION_DIGEST_KEY), &part, 1, mac) !=
        0)
        return -1;
    signature_hex(mac, sizeof(mac), full);
    memcpy(hex, full, UPDATE_SECTION_DIGEST_HEX);
    hex[UPDATE_SECTION_DIGEST_HEX] = '\0';
    return 0;
}

/* The new note, or NULL with *present = 1 when the section is already in
 * current. Close may normalize the HTML it stores (attribute quoting,
 * whitespace, entity spelling), so a verbatim search alone could miss our own
 * earlier section and a retry would double it. The marker's digest is plain
 * hex, which survives any re-quoting or re-serialization of the attribute, so
 * it is what we look for first; the verbatim check covers sections written
 * before markers existed. Only a sanitizer that drops data-* attributes AND
 * rewrites the section's own markup could still defeat both. */
static char *appended_note(const char *current, const char *section, int *present, int *oom)
{
    char digest[UPDATE_SECTION_DIGEST_HEX + 1];
    *present = 0;
    if (section_digest(section, digest) != 0) {
        *oom = 1;
        return NULL;
    }
    if (current != NULL && (strstr(current, digest) != NULL || strstr(current, section) != NULL)) {
        *present = 1;
        return NULL;
    }
    char *note = NULL;
    if (asprintf(&note, "%s<div data-closehook=\"%s\">%s</div>", current ? current : "", digest, section) <
        0) {
        *oom = 1;
        return NULL;
    }
    return note;
}

/* Copies body's members, the note replaced by the appended one or left out. */
static int gen_append_members(yajl_gen g, yajl_val body, const char *current, size_t *written)
{
    int oom = 0;
    for (size_t i = 0; i < body->u.object.len; i++) {
        const char *key = body->u.object.keys[i];
        yajl_val v = body->u.object.values[i];
        if (strcmp(key, "user_note_html") != 0) {
            json_gen_str(g, key);
            json_gen_value(g, v);
            (*written)++;
            continue;
        }
        /* null or an empty note appends nothing; it must never erase the note */
        if (!YAJL_IS_STRING(v) || v->u.string[0] == '\0')
            continue;
        int present;
        char *note = appended_note(current, v->u.string, &present, &oom);
        if (note != NULL) {
            json_gen_kv_str(g, key, note);
            (*written)++;
            free(note);
        }
    }
    return oom ? -1 : 0;
}

int update_append_body(const char *body_json, const char *current_note, char **out, char *err, size_t errlen)
{
    *out = NULL;
    char perr[128];
    yajl_val body = body_json ? json_parse(body_json, strlen(body_json), perr, sizeof(perr)) : NULL;
    if (!YAJL_IS_OBJECT(body)) {
        yajl_tree_free(body);
        return parse_fail(err, errlen, "append: the PUT body is not a JSON object");
    }
    yajl_gen g = json_gen_new();
    size_t written = 0;
    int rc = -1;
    if (g != NULL) {
        yajl_gen_map_open(g);
        rc = gen_append_members(g, body, current_note, &written);
        yajl_gen_map_close(g);
    }
    if (rc == 0 && written > 0 && (*out = json_gen_take(g, NULL)) == NULL)
        rc = -1;
    if (rc != 0)
        parse_fail(err, errlen, "out of memory");
    if (g != NULL)
        yajl_gen_free(g);
    yajl_tree_free(body);
    return rc;
}
