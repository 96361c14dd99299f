/* redact: exists because an upstream that echoes our Authorization header
 * would otherwise put the credential into dead letters, `dlq show`, the admin
 * API and the log, in spellings (base64, escaped) that a plain search for the
 * secret does not find. Spellings are computed once per secret with the
 * libraries that make them (OpenSSL's base64, yajl's JSON escaping, libcurl's
 * URL encoding), then each text is a few memmem passes. */
#include "redact.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "json.h"

struct redactor {
    char **spellings; /* longest first, so a longer form is replaced before a part of it */
    size_t n, cap;
    int failed;
};

redactor *redact_new(void)
{
    return calloc(1, sizeof(redactor));
}

void redact_free(redactor *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++) {
        explicit_bzero(r->spellings[i], strlen(r->spellings[i]));
        free(r->spellings[i]);
    }
    free(r->spellings);
    free(r);
}

size_t redact_count(const redactor *r)
{
    return r ? r->n : 0;
}

static int fail(redactor *r)
{
    r->failed = 1;
    return -1;
}

/* Adds one spelling (copied) in length order, unless it is too short or known. */
static int push(redactor *r, const char *s, size_t len, size_t min)
{
    if (len < min)
        return 0;
    for (size_t i = 0; i < r->n; i++)
        if (strlen(r->spellings[i]) == len && memcmp(r->spellings[i], s, len) == 0)
            return 0;
    char **grown = grow_for_one_more(r->spellings, &r->cap, r->n, sizeof(*grown), 16);
    if (grown == NULL)
        return fail(r);
    r->spellings = grown;
    char *copy = strndup(s, len);
    if (copy == NULL)
        return fail(r);
    size_t at = r->n;
    while (at > 0 && strlen(r->spellings[at - 1]) < len)
        at--;
    memmove(r->spellings + at + 1, r->spellings + at, (r->n - at) * sizeof(*r->spellings));
    r->spellings[at] = copy;
    r->n++;
    return 0;
}

/* s with every '/' written "\/" (how some JSON encoders write it) as well. */
static int push_with_solidus(redactor *r, const char *s, size_t len)
{
    if (push(r, s, len, REDACT_MIN_SPELLING) < 0)
        return -1;
    if (memchr(s, '/', len) == NULL)
        return 0;
    char *esc = malloc(2 * len + 1), *w = esc;
    if (esc == NULL)
        return fail(r);
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '/')
            *w++ = '\\';
        *w++ = s[i];
    }
    int rc = push(r, esc, (size_t)(w - esc), REDACT_MIN_SPELLING);
    free(esc);
    return rc;
}

/* The base64 of `shift` zero bytes then in (standard or URL-safe): at shift
 * 0 the whole padded text, unpadded, and its full groups (the secret at the
 * start of a longer text); at 1 and 2 the groups that hold only the secret's
 * bytes (the secret inside a longer text at that alignment). */
static int push_base64(redactor *r, const unsigned char *in, size_t n, int shift, int urlsafe)
{
    size_t total = n + (size_t)shift;
    unsigned char *raw = calloc(1, total + 1);
    char *enc = malloc(4 * ((total + 2) / 3) + 1);
    if (raw == NULL || enc == NULL) {
        free(raw);
        free(enc);
        return fail(r);
    }
    memcpy(raw + shift, in, n);
    size_t len = (size_t)EVP_EncodeBlock((unsigned char *)enc, raw, (int)total);
    for (size_t i = 0; urlsafe && i < len; i++)
        enc[i] = enc[i] == '+' ? '-' : enc[i] == '/' ? '_' : enc[i];
    size_t full = 4 * (total / 3);
    int rc = 0;
    if (shift == 0) {
        size_t unpadded = len;
        while (unpadded > 0 && enc[unpadded - 1] == '=')
            unpadded--;
        rc = push_with_solidus(r, enc, len);
        rc = rc < 0 ? rc : push_with_solidus(r, enc, unpadded);
        rc = rc < 0 ? rc : push_with_solidus(r, enc, full);
    } else if (full > 4) {
        rc = push_with_solidus(r, enc + 4, full - 4);
    }
    explicit_bzero(raw, total);
    explicit_bzero(enc, len);
    free(raw);
    free(enc);
    return rc;
}

static int push_all_base64(redactor *r, const char *s, size_t len)
{
    for (int shift = 0; shift < 3; shift++)
        for (int urlsafe = 0; urlsafe < 2; urlsafe++)
            if (push_base64(r, (const unsigned char *)s, len, shift, urlsafe) < 0)
                return -1;
    return 0;
}

/* As a JSON string's content, with and without "\/" (yajl escapes the rest). */
static int push_json(redactor *r, const char *secret, int solidus)
{
    yajl_gen g = json_gen_new();
    if (g == NULL)
        return fail(r);
    yajl_gen_config(g, yajl_gen_escape_solidus, solidus);
    json_gen_str(g, secret);
    size_t len = 0;
    char *text = json_gen_take(g, &len);
    yajl_gen_free(g);
    /* NULL: not UTF-8, so no JSON encoder writes it as a string as is */
    int rc = text != NULL && len >= 2 ? push(r, text + 1, len - 2, REDACT_MIN_SECRET) : 0;
    free(text);
    return rc;
}

/* URL-encoded (a form or query value), also with '+' for a space. */
static int push_url(redactor *r, const char *secret)
{
    char *esc = curl_easy_escape(NULL, secret, 0);
    if (esc == NULL)
        return fail(r);
    int rc = push(r, esc, strlen(esc), REDACT_MIN_SECRET);
    char *plus = strdup(esc), *w = plus;
    for (const char *p = esc; rc == 0 && plus != NULL && *p; w++) {
        *w = strncmp(p, "%20", 3) == 0 ? '+' : *p;
        p += strncmp(p, "%20", 3) == 0 ? 3 : 1;
    }
    if (plus != NULL && rc == 0) {
        *w = '\0';
        rc = push(r, plus, strlen(plus), REDACT_MIN_SECRET);
    }
    curl_free(esc);
    free(plus);
    return plus == NULL ? fail(r) : rc;
}

int redact_add(redactor *r, const char *secret)
{
    if (r == NULL)
        return -1;
    if (secret == NULL || strlen(secret) < REDACT_MIN_SECRET)
        return 0;
    size_t len = strlen(secret);
    char *basic = malloc(len + 2); /* the Basic header encodes "user:password" */
    if (basic == NULL)
        return fail(r);
    memcpy(basic, secret, len);
    memcpy(basic + len, ":", 2);
    int rc = push(r, secret, len, REDACT_MIN_SECRET);
    rc = rc < 0 ? rc : push_json(r, secret, 0);
    rc = rc < 0 ? rc : push_json(r, secret, 1);
    rc = rc < 0 ? rc : push_url(r, secret);
    rc = rc < 0 ? rc : push_all_base64(r, secret, len);
    rc = rc < 0 ? rc : push_all_base64(r, basic, len + 1);
    explicit_bzero(basic, len + 1);
    free(basic);
    return rc;
}

int redact_add_credential(redactor *r, const credential *cred)
{
    if (cred == NULL)
        return 0;
    int rc = redact_add(r, cred->secret);
    if (rc == 0 && cred->kind == CREDENTIAL_OAUTH) {
        rc = redact_add(r, cred->oauth.refresh_token);
        rc = rc < 0 ? rc : redact_add(r, cred->oauth.client_secret);
    }
    return rc;
}

/* Replaces every occurrence of sp in *text (len bytes); 0, or -1 out of memory. */
static int replace_all(char **text, size_t *len, const char *sp)
{
    size_t slen = strlen(sp), mark = strlen(REDACT_MARK), hits = 0;
    for (const char *p = *text; (p = memmem(p, *len - (size_t)(p - *text), sp, slen)) != NULL; p += slen)
        hits++;
    if (hits == 0)
        return 0;
    size_t out_len = *len - hits * slen + hits * mark;
    char *out = malloc(out_len + 1), *w = out;
    if (out == NULL)
        return -1;
    const char *p = *text, *end = *text + *len;
    for (const char *hit; (hit = memmem(p, (size_t)(end - p), sp, slen)) != NULL; p = hit + slen) {
        memcpy(w, p, (size_t)(hit - p));
        w += hit - p;
        memcpy(w, REDACT_MARK, mark);
        w += mark;
    }
    memcpy(w, p, (size_t)(end - p));
    out[out_len] = '\0';
    explicit_bzero(*text, *len);
    free(*text);
    *text = out;
    *len = out_len;
    return 0;
}

/* A text cut short may end in the first bytes of a spelling: those go too.
 * The buffer has room: a mark replaces at least REDACT_MIN_SECRET bytes, and
 * the caller allocated len + sizeof(REDACT_MARK). */
static void replace_tail(const redactor *r, char *text, size_t *len)
{
    for (size_t i = 0; i < r->n; i++) {
        size_t slen = strlen(r->spellings[i]);
        for (size_t k = slen - 1 < *len ? slen - 1 : *len; k >= REDACT_MIN_SECRET; k--) {
            if (memcmp(text + *len - k, r->spellings[i], k) == 0) {
                memcpy(text + *len - k, REDACT_MARK, sizeof(REDACT_MARK));
                *len = *len - k + strlen(REDACT_MARK);
                return;
            }
        }
    }
}

char *redact_text(const redactor *r, const char *text, size_t len, int cut)
{
    if (r == NULL || r->failed)
        return strdup(REDACT_MARK);
    char *out = malloc(len + sizeof(REDACT_MARK));
    if (out == NULL)
        return NULL;
    memcpy(out, text, len);
    out[len] = '\0';
    for (size_t i = 0; i < r->n; i++) {
        if (replace_all(&out, &len, r->spellings[i]) < 0) {
            free(out);
            return NULL;
        }
    }
    if (cut) {
        char *room = realloc(out, len + sizeof(REDACT_MARK));
        if (room == NULL) {
            free(out);
            return NULL;
        }
        out = room;
        replace_tail(r, out, &len);
    }
    return out;
}

void redact_buf(const redactor *r, char *buf, size_t cap)
{
    if (buf == NULL || cap == 0)
        return;
    char *clean = redact_text(r, buf, strlen(buf), 0);
    snprintf(buf, cap, "%s", clean ? clean : REDACT_MARK);
    free(clean);
}
