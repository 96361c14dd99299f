/* store_sqlite_guard: the SQLite backend's checks that keep the store from losing or stranding what
 * it acknowledged, apart from the code that writes it. Intake stops (the
 * writer fails its batch, senders get 503 and retry) while:
 *   - the store's filesystem is under a reserve, kept for the delivery side's
 *     claims and settles, so a full disk never strands a delivered row;
 *   - the store file was removed or replaced under the running daemon: SQLite
 *     would go on writing to the unlinked inode, and every 202 from then on
 *     would be lost at the next start.
 * At open, SQLite's quick_check refuses a damaged file with a clear message
 * (otherwise the only sign is a warning a second, and rows may be lost). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "log.h"
#include "store_sqlite_internal.h"

/* Intake stops while the store's filesystem has less than this free. A
 * mebibyte is some 250 pages: hundreds of settles and a checkpoint's worth. */
#define QUEUE_DISK_RESERVE_BYTES (1024 * 1024)

/* Free bytes (for unprivileged use) on the filesystem of the store, or -1. */
static long long store_free_bytes(const sq_store *q)
{
    char dir[4096];
    const char *slash = strrchr(q->path, '/');
    if (slash == NULL)
        snprintf(dir, sizeof(dir), ".");
    else
        snprintf(dir, sizeof(dir), "%.*s", slash == q->path ? 1 : (int)(slash - q->path), q->path);
    struct statvfs vfs;
    if (statvfs(dir, &vfs) != 0)
        return -1;
    return (long long)vfs.f_bavail * (long long)vfs.f_frsize;
}

/* 1 while the disk is under the reserve, logged once per episode. */
static int disk_low(sq_store *q)
{
    long long free_bytes = store_free_bytes(q);
    int low = free_bytes >= 0 && free_bytes < QUEUE_DISK_RESERVE_BYTES;
    if (low != q->disk_low) {
        if (low)
            log_write(LOG_ERROR, "queue: disk almost full; refusing new webhooks, delivery goes on", "path",
                      q->path, LOG_INT("free_bytes", free_bytes), NULL);
        else
            log_write(LOG_INFO, "queue: disk space is back; accepting webhooks again", "path", q->path,
                      LOG_INT("free_bytes", free_bytes), NULL);
        q->disk_low = low;
    }
    return low;
}

/* 1 once the path no longer names the file we opened (removed, or replaced by
 * another file); sticky, since our connections keep the old inode. */
static int file_lost(sq_store *q)
{
    if (atomic_load(&q->store_lost))
        return 1;
    struct stat st;
    if (stat(q->path, &st) == 0 && st.st_dev == q->store_dev && st.st_ino == q->store_ino)
        return 0;
    log_write(LOG_ERROR,
              "queue: the store file was removed or replaced while serving; refusing webhooks "
              "until closehook is restarted on a good store",
              "path", q->path, "error", errno == ENOENT ? "no such file" : "a different file", NULL);
    atomic_store(&q->store_lost, 1);
    return 1;
}

const char *sq_intake_refusal(store *s)
{
    sq_store *q = sq_of(s);
    if (file_lost(q))
        return "the store file was removed or replaced; restart closehook";
    if (disk_low(q))
        return "store's disk is almost full (reserve kept for delivery)";
    return NULL;
}

int sq_lost(const store *s)
{
    return atomic_load(&((const sq_store *)s)->store_lost);
}

/* SQLite's quick_check: "ok", or the first problem it found. */
static int integrity_ok(sq_store *q, char *err, size_t errlen)
{
    char result[256] = "";
    if (sq_pragma_step(q->wdb, "PRAGMA quick_check", result, sizeof(result), NULL) < 0) {
        snprintf(err, errlen,
                 "%s: damaged store (quick_check could not run: %s); restore it from a backup "
                 "or move it away",
                 q->path, sqlite3_errmsg(q->wdb));
        return 0;
    }
    if (strcmp(result, "ok") != 0) {
        snprintf(err, errlen, "%s: damaged store (quick_check: %s); restore it from a backup or move it away",
                 q->path, result);
        return 0;
    }
    return 1;
}

int sq_guard_open(sq_store *q, char *err, size_t errlen)
{
    struct stat st;
    if (stat(q->path, &st) != 0) {
        snprintf(err, errlen, "%s: cannot stat the store: %s", q->path, strerror(errno));
        return -1;
    }
    q->store_dev = st.st_dev;
    q->store_ino = st.st_ino;
    return integrity_ok(q, err, errlen) ? 0 : -1;
}
