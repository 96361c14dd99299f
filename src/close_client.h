/* close_client: builds Close API requests and classifies the answers.
 *
 * One close_client per delivery worker thread (it owns a libcurl easy handle,
 * so connections are kept alive and reused); never shared between threads.
 * Auth: an API key is sent as HTTP Basic with the key as user and an empty
 * password; a bearer token as "Authorization: Bearer". An OAuth credential's
 * token comes from the oauth registry (close_client_set_oauth): refreshed
 * first when it is about to expire, and once more on a 401, after which the
 * request is sent again, once. A failed refresh is answered with status 0
 * and err "oauth refresh failed: …" (CLOSE_PERMANENT when the grant was
 * refused, CLOSE_TRANSIENT when the token endpoint was unreachable). Every
 * request carries "User-Agent: closehook/<version>". Secrets never reach an
 * error message, nor an error answer's body (see close_response.body).
 * Bodies: a 2xx to a PUT is done, so at most a 4 KiB prefix of its body is
 * read; an error answer keeps a 64 KiB prefix; a 2xx to a GET or POST over
 * 8 MiB is not read and is answered status 0, err "<method> answer larger
 * than … bytes: not read" (CLOSE_TRANSIENT).
 * Pacing: with a shared rate_limit (close_client_set_rate_limit), every
 * request made for a credential first waits its slot (short waits are slept
 * here, on the calling thread) and every answer reports Close's RateLimit
 * headers back to it. A credential that must wait longer than
 * RATE_LIMIT_SLEEP_MAX_S is not asked at all: the call answers status 0,
 * paced = 1 and retry_after_s = the wait (CLOSE_TRANSIENT), and the caller
 * should try again after that, without counting it as Close's failure.
 * Each request's duration is recorded in
 * closehook_close_request_duration_seconds{kind}. */
#ifndef CLOSEHOOK_CLOSE_CLIENT_H
#define CLOSEHOOK_CLOSE_CLIENT_H

#include <stddef.h>

#include "config.h"
#include "oauth.h"
#include "rate_limit.h"

typedef struct close_client close_client;

typedef enum {
    CLOSE_OK,        /* 2xx */
    CLOSE_TRANSIENT, /* 429, 5xx, timeout, connection/DNS error: retry later */
    CLOSE_PERMANENT  /* other 4xx: dead letter with Close's body */
} close_class;

typedef struct close_response {
    long status; /* HTTP status; 0 when no answer came (err says why) */
    char *body;  /* malloc'ed, NUL-terminated; may be NULL. A non-2xx answer's
                    body has every spelling of the secret sent replaced by
                    REDACT_MARK (redact.h), so it is safe to keep and log. */
    size_t body_len;
    int body_cut;              /* 1: only a prefix was read (a 2xx to a PUT keeps 4 KiB, an
                                  error answer 64 KiB); the answer still stands */
    double retry_after_s;      /* from a 429's body rate_reset or Retry-After; 0 if none;
                                  when paced, how long the credential must wait */
    rate_limit_info ratelimit; /* the answer's RateLimit headers (present = 0 if none) */
    int paced;                 /* 1: not sent, the credential's rate limit says wait */
    char err[256];             /* transport error text when status == 0 */
} close_response;

close_client *close_client_new(const char *base_url, long timeout_ms);
void close_client_free(close_client *c);

/* The registry OAuth credentials take their tokens from (borrowed; shared by
 * every worker's client). Without one, OAuth requests fail permanently. */
void close_client_set_oauth(close_client *c, oauth *o);

/* The shaper every worker's client shares (borrowed). Without one, requests
 * go out unpaced (tools, tests). */
void close_client_set_rate_limit(close_client *c, rate_limit *rl);

/* Sends X-Request-Id: request_id on every request until changed (NULL or ""
 * stops it). The id comes from answer_request_id, so it is printable ASCII
 * with no CR/LF. */
void close_client_set_request_id(close_client *c, const char *request_id);

/* PUT {base}/api/v1/activity/meeting/{id}/ with body_json. slot is the
 * request's pacing ticket (rate_limit.h): RATE_LIMIT_BOOKED redeems the slot
 * the caller booked for it, RATE_LIMIT_QUEUE waits for the next one. Reads
 * always queue. Returns the class. */
close_class close_client_put_meeting(close_client *c, const credential *cred, const char *activity_id,
                                     const char *body_json, rate_limit_slot slot, close_response *res);

/* GET {base}/api/v1/activity/meeting/?{query}; query already URL-encoded. */
close_class close_client_list_meetings(close_client *c, const credential *cred, const char *query,
                                       close_response *res);

/* GET {base}/api/v1/activity/meeting/{id}/ */
close_class close_client_get_meeting(close_client *c, const credential *cred, const char *activity_id,
                                     close_response *res);

/* POST url (absolute: the OAuth token endpoint) with a form-encoded body and
 * no auth. The form holds secrets: it never reaches res->err. */
close_class close_client_post_form(close_client *c, const char *url, const char *form, close_response *res);

/* Class of an HTTP status (0 = no answer). */
close_class close_classify(long status);

void close_response_clear(close_response *res);

/* URL-encodes s for a query value; malloc'ed. */
char *close_client_escape(close_client *c, const char *s);

#endif
