/* secret: secret references and secret text.
 *
 * A secret is given only by reference: "env:NAME" (an environment variable) or
 * "file:/absolute/path" (the file's contents, one trailing newline stripped).
 * Pure functions, safe from any thread; errors never quote a value (a
 * malformed reference may be a pasted secret). */
#ifndef CLOSEHOOK_SECRET_H
#define CLOSEHOOK_SECRET_H

#include <stddef.h>

/* Resolves ref. Returns malloc'ed text (free with secret_free); NULL with
 * *absent=1 when the variable is unset/empty or the file missing/empty; NULL
 * with *absent=0 and err filled when the reference is malformed. */
char *secret_resolve(const char *ref, int *absent, char *err, size_t errlen);

/* Wipes and frees a secret (NULL is fine). */
void secret_free(char *secret);

/* Reads a whole file of at most max bytes: malloc'ed bytes with a NUL after
 * them, or NULL with errno set (EFBIG when over max, EINVAL when not a regular
 * file: a FIFO is refused without blocking). A failed read is wiped
 * before it is freed, since the file may hold a secret. */
char *secret_read_file(const char *path, size_t max, size_t *len);

#endif
