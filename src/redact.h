/* redact: takes a credential's secrets out of text that came from outside.
 *
 * An upstream (Close, a proxy, an OAuth token endpoint) may echo what we sent
 * it: the Authorization header (the Basic base64 of "key:", a bearer token),
 * the raw key in a JSON error, the form of a token refresh. Its answers become
 * dead-letter errors and log lines, so before they are kept or shown every
 * spelling of every secret involved is replaced by REDACT_MARK.
 *
 * A redactor holds the spellings of the secrets added to it, computed once
 * per secret: as is; JSON-escaped (with and without "\/"); URL-encoded (also
 * with '+' for a space); base64 of the secret and of "secret:" (the Basic
 * header's form), standard and URL-safe, padded or not, also as the part that
 * stays the same when the secret sits 1 or 2 bytes into a longer base64 text.
 * Spellings shorter than REDACT_MIN_SPELLING are left out: they would match
 * by chance.
 *
 * Ownership: the caller creates and frees a redactor; nothing is shared, so a
 * redactor is used by one thread at a time (no locks). Secrets are copied in
 * their spellings; redact_free wipes them. Out of memory while adding makes
 * the redactor "failed": redaction then blanks the whole text rather than
 * risk passing a secret through. */
#ifndef CLOSEHOOK_REDACT_H
#define CLOSEHOOK_REDACT_H

#include <stddef.h>

#include "config.h"

#define REDACT_MARK "[redacted]"
/* Secrets shorter than this are not redacted (as in log.h: they would redact
 * ordinary words); derived spellings shorter than REDACT_MIN_SPELLING either. */
#define REDACT_MIN_SECRET 4
#define REDACT_MIN_SPELLING 8

typedef struct redactor redactor;

/* NULL only when out of memory (redact_* treat a NULL redactor as failed). */
redactor *redact_new(void);
void redact_free(redactor *r);

/* Adds every spelling of secret (NULL or too short: nothing). 0, or -1 when
 * out of memory (the redactor is failed from then on). */
int redact_add(redactor *r, const char *secret);
/* Adds each secret cred holds: its key, token or access token, and for OAuth
 * the refresh token and client secret. cred may be NULL. */
int redact_add_credential(redactor *r, const credential *cred);

/* How many spellings r holds (tests). */
size_t redact_count(const redactor *r);

/* A malloc'ed, NUL-terminated copy of the len bytes at text with every
 * spelling replaced. cut = 1 says the text was cut short by the caller, so its
 * last bytes may be the start of a spelling: that tail is replaced too. NULL
 * when out of memory; a failed redactor gives REDACT_MARK alone. */
char *redact_text(const redactor *r, const char *text, size_t len, int cut);

/* redact_text on a NUL-terminated string in a buffer of cap bytes, written
 * back (cut short at cap if the marks made it longer). Never fails open: out
 * of memory leaves REDACT_MARK alone in buf. */
void redact_buf(const redactor *r, char *buf, size_t cap);

#endif
