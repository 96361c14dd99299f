/* log: one JSON object per line on stderr, never a secret.
 *
 * Every line carries "time" (RFC 3339 UTC, ms), "level" and "msg", then the
 * caller's string fields. Secrets registered with log_register_secret are
 * replaced by "[redacted]" in any field as a last line of defence; callers
 * must still never pass one. Safe from any thread; each line is one write(2).
 * Warnings are flood-controlled: one message (the same msg literal) writes at
 * most LOG_WARN_BURST (log.c) lines a second, and the first line of a later
 * second carries "suppressed": N for the lines it dropped. Errors and info
 * lines are never dropped; metrics count every event regardless. */
#ifndef CLOSEHOOK_LOG_H
#define CLOSEHOOK_LOG_H

typedef enum { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

void log_set_level(log_level min);

/* Remembers a secret's text (copied) so no log line can ever contain it.
 * Values shorter than 4 bytes are ignored (they would redact ordinary words). */
void log_register_secret(const char *secret);
void log_forget_secrets(void);
/* Forgets one secret (every copy of it): for rotating credentials, whose old
 * values are dead and would otherwise fill the registry. */
void log_forget_secret(const char *secret);

/* Writes one line: msg then key/value string pairs, terminated by a NULL key.
 * A NULL value is written as JSON null. Example:
 *     log_write(LOG_INFO, "queued", "route", "zoom", "id", "42", NULL); */
/* Fields after msg are key/value pairs ending with NULL. A value is a string
 * (NULL writes null) unless its key is wrapped in a typed helper, which keeps
 * the value's JSON type:
 *     log_write(LOG_INFO, "queued", "route", name, LOG_INT("id", id), LOG_BOOL("dry_run", dry), NULL);
 * LOG_INT takes any integer (converted to long long), LOG_BOOL an int,
 * LOG_DOUBLE a double. */
#define LOG_INT(key, value) "\x01" key, (long long)(value)
#define LOG_BOOL(key, value) "\x02" key, (int)(value)
/* A number with three decimals (a duration in ms); NaN and infinities write null. */
#define LOG_DOUBLE(key, value) "\x03" key, (double)(value)
void log_write(log_level level, const char *msg, ...) __attribute__((sentinel));

#endif
