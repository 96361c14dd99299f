/* Tests for meeting_cache: what a later webhook of the same meeting reads
 * back must be exactly what was stored, until it expires or is forgotten,
 * and must survive a restart (it lives in the store file). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "meeting_cache.h"
#include "queue.h"
#include "store.h"

#define T0 1764061200 /* 2026-11-25T09:00:00Z: any fixed clock */

static char dir[64], path[128];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/test_meeting_cache.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/store.db", dir);
}

static void teardown(void)
{
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        char p[160];
        snprintf(p, sizeof(p), "%s%s", path, suffixes[i]);
        unlink(p);
    }
    rmdir(dir);
}

TestSuite(meeting_cache, .init = setup, .fini = teardown);

/* The store under the cache open_cache opened (one at a time). */
static store *cache_store;

static meeting_cache *open_cache(void)
{
    char err[256];
    cache_store = store_open(path, err, sizeof(err));
    cr_assert_not_null(cache_store, "%s", err);
    meeting_cache *mc = meeting_cache_open(cache_store, err, sizeof(err));
    cr_assert_not_null(mc, "%s", err);
    return mc;
}

static void close_cache(meeting_cache *mc)
{
    meeting_cache_close(mc);
    store_close(cache_store);
    cache_store = NULL;
}

static void assert_cached(meeting_cache *mc, const char *key, time_t now, const char *expected)
{
    char *id = meeting_cache_get(mc, key, now);
    if (expected == NULL) {
        cr_assert_null(id, "%s: expected a miss, got %s", key, id);
    } else {
        cr_assert_not_null(id, "%s: expected %s, got a miss", key, expected);
        cr_assert_str_eq(id, expected);
    }
    free(id);
}

Test(meeting_cache, put_then_get)
{
    meeting_cache *mc = open_cache();
    cr_assert_eq(meeting_cache_put(mc, "sales/zoom:85746392011@1764061203", "acti_a", T0, 600), 0);
    assert_cached(mc, "sales/zoom:85746392011@1764061203", T0, "acti_a");
    assert_cached(mc, "sales/zoom:85746392011@1764061204", T0, NULL); /* another occurrence */
    assert_cached(mc, "other/zoom:85746392011@1764061203", T0, NULL); /* another credential */
    assert_cached(mc, "sales/zoom:8574639201@1764061203", T0, NULL);  /* a prefix */
    close_cache(mc);
}

Test(meeting_cache, expiry)
{
    meeting_cache *mc = open_cache();
    cr_assert_eq(meeting_cache_put(mc, "k", "acti_a", T0, 600), 0);
    assert_cached(mc, "k", T0 + 599, "acti_a");
    assert_cached(mc, "k", T0 + 600, NULL); /* expires_at itself is past */
    cr_assert_eq(meeting_cache_prune(mc, T0 + 599), 0);
    cr_assert_eq(meeting_cache_prune(mc, T0 + 600), 1);
    cr_assert_eq(meeting_cache_prune(mc, T0 + 600), 0);
    close_cache(mc);
}

Test(meeting_cache, put_replaces_and_extends)
{
    meeting_cache *mc = open_cache();
    cr_assert_eq(meeting_cache_put(mc, "k", "acti_a", T0, 60), 0);
    cr_assert_eq(meeting_cache_put(mc, "k", "acti_b", T0 + 50, 60), 0);
    assert_cached(mc, "k", T0 + 100, "acti_b");
    close_cache(mc);
}

Test(meeting_cache, forget_only_the_stale_mapping)
{
    meeting_cache *mc = open_cache();
    cr_assert_eq(meeting_cache_put(mc, "k", "acti_new", T0, 600), 0);
    /* a worker that saw acti_old 404 must not erase what another just stored */
    cr_assert_eq(meeting_cache_forget(mc, "k", "acti_old"), 0);
    assert_cached(mc, "k", T0, "acti_new");
    cr_assert_eq(meeting_cache_forget(mc, "k", "acti_new"), 1);
    assert_cached(mc, "k", T0, NULL);
    cr_assert_eq(meeting_cache_put(mc, "k", "acti_x", T0, 600), 0);
    cr_assert_eq(meeting_cache_forget(mc, "k", NULL), 1);
    assert_cached(mc, "k", T0, NULL);
    cr_assert_eq(meeting_cache_forget(mc, "absent", NULL), 0);
    close_cache(mc);
}

Test(meeting_cache, persists_across_reopen)
{
    meeting_cache *mc = open_cache();
    cr_assert_eq(meeting_cache_put(mc, "sales/cal:microsoft:AAMkAGI2TAAA=", "acti_a", T0, 600), 0);
    close_cache(mc);
    mc = open_cache();
    assert_cached(mc, "sales/cal:microsoft:AAMkAGI2TAAA=", T0 + 1, "acti_a");
    close_cache(mc);
}

Test(meeting_cache, shares_the_file_with_the_queue)
{
    char err[256];
    queue *q = queue_open(path, err, sizeof(err));
    cr_assert_not_null(q, "%s", err);
    meeting_cache *mc = meeting_cache_open(queue_store(q), err, sizeof(err));
    cr_assert_not_null(mc, "%s", err);
    cr_assert_eq(meeting_cache_put(mc, "k", "acti_a", T0, 600), 0);
    queue_job job = {.route = "zoom", .credential = "sales", .payload = "{}"};
    cr_assert_eq(queue_submit_wait(q, &job), QUEUE_ACCEPTED, "%s", job.error);
    assert_cached(mc, "k", T0, "acti_a");
    meeting_cache_close(mc);
    queue_close(q);
    /* and the queue still opens the file the cache added its table to */
    q = queue_open(path, err, sizeof(err));
    cr_assert_not_null(q, "%s", err);
    queue_close(q);
}

Test(meeting_cache, null_arguments_are_misses)
{
    meeting_cache *mc = open_cache();
    cr_assert_null(meeting_cache_get(NULL, "k", T0));
    cr_assert_null(meeting_cache_get(mc, NULL, T0));
    cr_assert_eq(meeting_cache_put(NULL, "k", "acti_a", T0, 60), -1);
    cr_assert_eq(meeting_cache_put(mc, "k", NULL, T0, 60), -1);
    cr_assert_eq(meeting_cache_forget(NULL, "k", NULL), -1);
    close_cache(mc);
    meeting_cache_close(NULL);
}

Test(meeting_cache, unopenable_path_is_an_error)
{
    char err[256] = "";
    store *s = store_open("/nonexistent-dir/x/store.db", err, sizeof(err));
    cr_assert_null(s);
    cr_assert_not_null(strstr(err, "/nonexistent-dir/x/store.db"), "%s", err);
}
