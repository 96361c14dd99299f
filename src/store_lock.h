/* store_lock: one `serve` per store. cmd_serve takes the lock before it opens
 * the store (and so before queue_recover_inflight puts inflight rows back),
 * and holds it for the process's life: the kernel drops it when the process
 * exits, however it exits. Operator commands (dlq) do not take it.
 * Returns 0, or -1 with a message naming the lock file in err (another
 * daemon holds it, or the file cannot be created). Logs a warning naming the
 * path when the lock file exists but the store does not (a store existed
 * here before and is gone). Main thread only. */
#ifndef CLOSEHOOK_STORE_LOCK_H
#define CLOSEHOOK_STORE_LOCK_H

#include <stddef.h>

int store_lock_take(const char *store_path, char *err, size_t errlen);

#endif
