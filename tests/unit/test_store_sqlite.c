/* Tests for store.h's SQLite backend, through the ops directly: the ops table
 * is complete (a missing op would crash a caller, not fail a build), the spec
 * picks the backend, two handles on one file agree (serve and a dlq tool),
 * and the batch, cache and token ops keep their stated contracts. The queue's
 * behaviour over the ops is in test_queue*.c. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue_fixture.h"
#include "store.h"

TestSuite(store_sqlite, .init = queue_fixture_setup, .fini = queue_fixture_teardown);

static store *open_sqlite(const char *spec)
{
    char err[256] = "";
    store *s = store_open(spec, err, sizeof(err));
    cr_assert_not_null(s, "store_open %s: %s", spec, err);
    return s;
}

static queue_job job_on(const char *route, const char *key, queue_job *next)
{
    queue_job job = make_job(route, key, "{}");
    job.next = next;
    return job;
}

Test(store_sqlite, every_op_is_set)
{
    const store_ops *o = &store_sqlite_ops;
    cr_assert_str_eq(o->name, "sqlite");
    const void *ops[] = {
        (void *)o->open,         (void *)o->close,
        (void *)o->location,     (void *)o->set_max_size,
        (void *)o->insert_batch, (void *)o->depth,
        (void *)o->prune_done,   (void *)o->intake_refusal,
        (void *)o->lost,         (void *)o->recover_inflight,
        (void *)o->claim,        (void *)o->settle,
        (void *)o->counts,       (void *)o->list_dead,
        (void *)o->get,          (void *)o->replay,
        (void *)o->purge_dead,   (void *)o->cache_open,
        (void *)o->cache_get,    (void *)o->cache_put,
        (void *)o->cache_forget, (void *)o->cache_prune,
        (void *)o->tokens_open,  (void *)o->token_load,
        (void *)o->token_save,
    };
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        cr_expect_not_null(ops[i], "op %zu of store_sqlite_ops is NULL", i);
}

Test(store_sqlite, a_bare_path_and_the_sqlite_prefix_open_the_same_file)
{
    char spec[160];
    snprintf(spec, sizeof(spec), "sqlite:%s", queue_fixture_path);
    store *a = open_sqlite(queue_fixture_path);
    store *b = open_sqlite(spec);
    cr_assert_eq(a->ops, &store_sqlite_ops);
    cr_assert_eq(b->ops, &store_sqlite_ops);
    cr_assert_str_eq(b->ops->location(b), queue_fixture_path);
    queue_job job = job_on("zoom", "k1", NULL);
    cr_assert_eq(a->ops->insert_batch(a, &job, now_ms()), 1);
    queue_counts c;
    cr_assert_eq(b->ops->counts(b, &c), 0);
    cr_assert_eq(c.pending, 1);
    store_close(b);
    store_close(a);
}

Test(store_sqlite, two_handles_never_claim_one_row_twice)
{
    store *a = open_sqlite(queue_fixture_path);
    store *b = open_sqlite(queue_fixture_path);
    queue_job second = job_on("zoom", "k2", NULL);
    queue_job first = job_on("zoom", "k1", &second);
    cr_assert_eq(a->ops->insert_batch(a, &first, now_ms()), 2);
    queue_row ra, rb, rc;
    int64_t next_due = 0;
    cr_assert_eq(a->ops->claim(a, now_ms(), NULL, 0, &ra, &next_due), 1);
    cr_assert_eq(b->ops->claim(b, now_ms(), NULL, 0, &rb, &next_due), 1);
    cr_assert_eq(ra.id, first.id, "claims go in id order");
    cr_assert_eq(rb.id, second.id);
    cr_assert_eq(b->ops->claim(b, now_ms(), NULL, 0, &rc, &next_due), 0);
    cr_assert_eq(next_due, -1);
    /* a settle through the other handle sees the row inflight */
    cr_assert_eq(b->ops->settle(b, STORE_SETTLE_DONE, ra.id, 0, NULL), 0);
    cr_assert_eq(a->ops->settle(a, STORE_SETTLE_DONE, ra.id, 0, NULL), -1);
    queue_row_clear(&ra);
    queue_row_clear(&rb);
    store_close(b);
    store_close(a);
}

Test(store_sqlite, a_duplicate_within_one_batch_gets_the_first_id)
{
    store *s = open_sqlite(queue_fixture_path);
    queue_job incomplete = job_on("zoom", "k3", NULL);
    incomplete.payload = NULL;
    queue_job dup = job_on("zoom", "k1", &incomplete);
    queue_job other_route = job_on("gcal", "k1", &dup);
    queue_job first = job_on("zoom", "k1", &other_route);
    /* each job's result starts as the queue leaves it: failed until stored */
    for (queue_job *j = &first; j; j = j->next)
        j->result = QUEUE_FAILED;
    cr_assert_eq(s->ops->insert_batch(s, &first, now_ms()), 2);
    cr_assert_eq(first.result, QUEUE_ACCEPTED);
    cr_assert_eq(other_route.result, QUEUE_ACCEPTED, "dedup is per route");
    cr_assert_neq(other_route.id, first.id);
    cr_assert_eq(dup.result, QUEUE_DUPLICATE);
    cr_assert_eq(dup.id, first.id);
    cr_assert_eq(incomplete.result, QUEUE_FAILED);
    cr_assert_str_eq(incomplete.error, "job lacks route, credential or payload");
    store_close(s);
}

Test(store_sqlite, cache_entries_expire_and_forget_only_their_own_id)
{
    store *s = open_sqlite(queue_fixture_path);
    char err[256] = "";
    cr_assert_null(s->ops->cache_get(s, "k", 100), "no cache before cache_open");
    cr_assert_eq(s->ops->cache_open(s, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(s->ops->cache_open(s, err, sizeof(err)), 0, "cache_open is idempotent");
    cr_assert_eq(s->ops->cache_put(s, "k", "acti_a", 200), 0);
    char *id = s->ops->cache_get(s, "k", 199);
    cr_assert_str_eq(id, "acti_a");
    free(id);
    cr_assert_null(s->ops->cache_get(s, "k", 200), "expires_at is exclusive");
    cr_assert_eq(s->ops->cache_forget(s, "k", "acti_b"), 0);
    cr_assert_eq(s->ops->cache_forget(s, "k", "acti_a"), 1);
    cr_assert_eq(s->ops->cache_put(s, "k", "acti_a", 200), 0);
    cr_assert_eq(s->ops->cache_prune(s, 199), 0);
    cr_assert_eq(s->ops->cache_prune(s, 200), 1);
    store_close(s);
}

Test(store_sqlite, a_saved_token_pair_is_loaded_by_another_handle)
{
    store *a = open_sqlite(queue_fixture_path);
    char err[256] = "";
    char *access = NULL, *refresh = NULL;
    int64_t expires_at = -1;
    cr_assert_eq(a->ops->token_save(a, "c", "at", "rt", 5, 1), -1, "no token storage before tokens_open");
    cr_assert_eq(a->ops->tokens_open(a, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(a->ops->token_load(a, "c", &access, &refresh, &expires_at), 0);
    cr_assert_null(access);
    cr_assert_eq(a->ops->token_save(a, "c", "at1", "rt1", 5, 1), 0);
    cr_assert_eq(a->ops->token_save(a, "c", "at2", "rt2", 7, 2), 0, "a save replaces the pair");
    store *b = open_sqlite(queue_fixture_path);
    cr_assert_eq(b->ops->tokens_open(b, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(b->ops->token_load(b, "c", &access, &refresh, &expires_at), 1);
    cr_assert_str_eq(access, "at2");
    cr_assert_str_eq(refresh, "rt2");
    cr_assert_eq(expires_at, 7);
    free(access);
    free(refresh);
    store_close(b);
    store_close(a);
}

Test(store_sqlite, an_unopenable_path_names_itself)
{
    char err[256] = "";
    cr_assert_null(store_open("/nonexistent-dir/x/store.db", err, sizeof(err)));
    cr_assert_not_null(strstr(err, "/nonexistent-dir/x/store.db"), "%s", err);
}
