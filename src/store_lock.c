/* store_lock: an flock on "<store>.lock", so a second daemon on the same store
 * refuses to start instead of recovering the first one's inflight rows. */
#include "store_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

int store_lock_take(const char *store_path, char *err, size_t errlen)
{
    char path[4096];
    if (snprintf(path, sizeof(path), "%s.lock", store_path) >= (int)sizeof(path)) {
        snprintf(err, errlen, "store path too long for its lock file");
        return -1;
    }
    /* The lock file outlives every serve, so it also remembers that a store
     * existed here: a store gone missing (a wrong volume mounted, a file
     * deleted) would otherwise start empty without a word. */
    struct stat st;
    if (stat(path, &st) == 0 && stat(store_path, &st) != 0 && errno == ENOENT)
        log_write(LOG_WARN,
                  "store missing where one existed before (its lock file remains); starting with an "
                  "empty store",
                  "path", store_path, "lock", path, NULL);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open lock file %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK)
            snprintf(err, errlen, "store %s is in use by another closehook serve (lock %s is held)",
                     store_path, path);
        else
            snprintf(err, errlen, "cannot lock %s: %s", path, strerror(e));
        return -1;
    }
    return 0; /* fd stays open: the lock lasts as long as the process */
}
