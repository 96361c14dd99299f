/* admin: the operator's HTTP API on the dead letters, on a listener of its own
 * (config "admin"; off when the section is absent).
 *
 *   GET    /admin/dlq[?route=R]                dead rows, oldest first
 *   GET    /admin/dlq/<id>                     one row (any state) and its update
 *   POST   /admin/dlq/<id>/replay              that dead row back into the queue
 *   POST   /admin/dlq/replay[?route=R]         every dead row (of route R)
 *   DELETE /admin/dlq?older_than=D[&route=R]   delete dead rows older than D
 *
 * Every request must carry "Authorization: Bearer <admin.token>" (compared in
 * constant time), else 401. The listener speaks plain HTTP: it is meant for
 * loopback, or a private interface behind a TLS-terminating proxy, never the
 * internet. One thread with its own h2o loop serves it, so a long listing never
 * delays a webhook; a replayed row goes out on delivery's next poll (within a
 * second). admin_start and admin_stop are called by `serve` on the main thread;
 * the listener and token are those of the config at start (a reload does not
 * change them).
 *
 * The row JSON and the duration syntax are shared with `closehook dlq`, so the
 * command and the API answer alike. */
#ifndef CLOSEHOOK_ADMIN_H
#define CLOSEHOOK_ADMIN_H

#include <stddef.h>
#include <stdint.h>
#include <yajl/yajl_gen.h>

#include "config.h"
#include "queue.h"

typedef struct admin admin;

/* Binds cfg->admin.listen and starts the admin thread. NULL with err empty
 * when the admin API is off; NULL with err filled when it cannot start. cfg
 * and q must outlive admin_stop. */
admin *admin_start(const config *cfg, queue *q, char *err, size_t errlen);
/* Closes the listener, lets answers in progress finish, joins the thread and
 * frees a (NULL is fine). */
void admin_stop(admin *a);

/* "30d", "12h", "90m", "3600s": a whole number and one unit. 0 with *ms set,
 * or -1 when text is not such a duration. */
int admin_parse_duration(const char *text, int64_t *ms);

/* One dead-letter list entry as a JSON object: id, route, credential,
 * attempts, created_at (RFC 3339), created_at_ms, age_s, error (Close's answer
 * or the reason) and payload (the stored update, as text). */
void admin_gen_dead_row(yajl_gen g, const queue_row *row, const char *last_error, int64_t now_ms);
/* One row in full (`dlq show`, GET /admin/dlq/<id>): the list entry's fields
 * plus state, dedup_key and "update", the stored update as an object (the
 * activity id or lookup keys, and the PUT body). */
void admin_gen_row_detail(yajl_gen g, const queue_row *row, const char *state, const char *last_error,
                          int64_t now_ms);

#endif
