/* secret: resolves secret references ("env:NAME", "file:/path") and wipes
 * secrets when done, so no other module handles secret text by hand. Secrets
 * are never written inline in a config file: a reference can be printed and
 * committed, a value cannot. */
#include "secret.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* API keys, tokens and HMAC keys are tens of bytes; anything near this size is
 * the wrong file, not a secret. */
#define CONFIG_MAX_SECRET_BYTES (64 * 1024)
#define BAD_REFERENCE "must be a reference \"env:NAME\" or \"file:/path\" (inline secrets are not accepted)"

/* Reads a whole file of at most max bytes. Returns malloc'ed bytes with a NUL
 * after them, or NULL with errno set (EFBIG when over max). */
char *secret_read_file(const char *path, size_t max, size_t *len)
{
    /* O_NONBLOCK: a FIFO (or device) must not hang the load; only regular
     * files are read. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        errno = EINVAL;
        return NULL;
    }
    FILE *f = fdopen(fd, "rb");
    if (f == NULL) {
        close(fd);
        return NULL;
    }
    /* Sized from the file, not from max: a config load must not cost a
     * max-sized allocation. One byte more than expected shows a file that
     * grew (or lies about its size); then it is read on up to max. */
    size_t cap = (size_t)st.st_size < max ? (size_t)st.st_size : max;
    char *buf = malloc(cap + 2);
    size_t n = buf ? fread(buf, 1, cap + 1, f) : 0;
    if (buf != NULL && n > cap && cap < max) {
        char *bigger = malloc(max + 2);
        if (bigger != NULL) {
            memcpy(bigger, buf, n);
            n += fread(bigger + n, 1, max + 1 - n, f);
        }
        explicit_bzero(buf, cap + 1);
        free(buf);
        buf = bigger;
    }
    int e = buf == NULL ? ENOMEM : ferror(f) ? (errno ? errno : EIO) : n > max ? EFBIG : 0;
    fclose(f);
    if (e != 0) {
        if (buf != NULL)
            explicit_bzero(buf, n); /* it may have been a secret */
        free(buf);
        errno = e;
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static char *resolve_env(const char *name, int *absent, char *err, size_t errlen)
{
    int ok = name[0] != '\0' && !isdigit((unsigned char)name[0]);
    for (const char *p = name; ok && *p; p++)
        ok = isalnum((unsigned char)*p) || *p == '_';
    if (!ok) {
        /* The name is not echoed: a malformed reference may be a pasted secret. */
        snprintf(err, errlen, "\"env:\" needs a variable name of letters, digits and _");
        return NULL;
    }
    const char *value = getenv(name);
    if (value == NULL || value[0] == '\0') {
        *absent = 1;
        snprintf(err, errlen, "environment variable %s is %s", name, value ? "empty" : "not set");
        return NULL;
    }
    char *copy = strdup(value);
    if (copy == NULL)
        snprintf(err, errlen, "out of memory");
    return copy;
}

static char *resolve_file(const char *path, int *absent, char *err, size_t errlen)
{
    if (path[0] != '/') {
        snprintf(err, errlen, "\"file:\" needs an absolute path");
        return NULL;
    }
    size_t len = 0;
    char *text = secret_read_file(path, CONFIG_MAX_SECRET_BYTES, &len);
    if (text == NULL) {
        *absent = errno == ENOENT || errno == ENOTDIR;
        if (*absent)
            snprintf(err, errlen, "file %s does not exist", path);
        else
            snprintf(err, errlen, "file %s cannot be read: %s", path,
                     errno == EINVAL ? "not a regular file" : strerror(errno));
        return NULL;
    }
    /* Editors and `echo` add a final newline that is not part of the secret. */
    if (len > 0 && text[len - 1] == '\n')
        text[--len] = '\0';
    if (len > 0 && text[len - 1] == '\r')
        text[--len] = '\0';
    const char *problem = memchr(text, '\0', len) != NULL ? "contains a NUL byte"
                          : len == 0                      ? "is empty"
                                                          : NULL;
    if (problem != NULL) {
        *absent = len == 0;
        snprintf(err, errlen, "file %s %s", path, problem);
        explicit_bzero(text, len);
        free(text);
        return NULL;
    }
    return text;
}

char *secret_resolve(const char *ref, int *absent, char *err, size_t errlen)
{
    *absent = 0;
    if (ref != NULL && strncmp(ref, "env:", 4) == 0)
        return resolve_env(ref + 4, absent, err, errlen);
    if (ref != NULL && strncmp(ref, "file:", 5) == 0)
        return resolve_file(ref + 5, absent, err, errlen);
    snprintf(err, errlen, BAD_REFERENCE);
    return NULL;
}

void secret_free(char *secret)
{
    if (secret != NULL) {
        explicit_bzero(secret, strlen(secret));
        free(secret);
    }
}
