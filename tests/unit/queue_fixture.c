/* queue_fixture: see queue_fixture.h. */
#include "queue_fixture.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

char queue_fixture_dir[64];
char queue_fixture_path[128];

void queue_fixture_setup(void)
{
    snprintf(queue_fixture_dir, sizeof(queue_fixture_dir), "/tmp/test_queue.XXXXXX");
    cr_assert_not_null(mkdtemp(queue_fixture_dir));
    snprintf(queue_fixture_path, sizeof(queue_fixture_path), "%s/queue.db", queue_fixture_dir);
}

void queue_fixture_teardown(void)
{
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    char file[160];
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        snprintf(file, sizeof(file), "%s%s", queue_fixture_path, suffixes[i]);
        unlink(file);
    }
    rmdir(queue_fixture_dir);
}

queue *open_store(void)
{
    char err[256] = "";
    queue *q = queue_open(queue_fixture_path, err, sizeof(err));
    cr_assert_not_null(q, "queue_open: %s", err);
    return q;
}

int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

queue_job make_job(const char *route, const char *key, const char *payload)
{
    queue_job job;
    memset(&job, 0, sizeof(job));
    job.route = route;
    job.credential = "cred-main";
    job.dedup_key = key;
    job.payload = payload;
    return job;
}

int64_t submit(queue *q, const char *route, const char *key, queue_result want)
{
    queue_job job = make_job(route, key, "{\"outcome_id\":\"outcome_1\"}");
    queue_result got = queue_submit_wait(q, &job);
    cr_assert_eq(got, want, "submit %s/%s: result %d, error '%s'", route, key ? key : "(null)", got,
                 job.error);
    return job.id;
}

queue_counts counts(queue *q)
{
    queue_counts c;
    cr_assert_eq(queue_counts_get(q, &c), 0);
    return c;
}

void claim_expect(queue *q, int64_t id, queue_row *row)
{
    int64_t next_due = 0;
    cr_assert_eq(queue_claim(q, now_ms(), row, &next_due), 1);
    cr_assert_eq(row->id, id);
}

int64_t make_dead(queue *q, const char *route, const char *key, const char *error)
{
    int64_t id = submit(q, route, key, QUEUE_ACCEPTED);
    queue_row row;
    claim_expect(q, id, &row);
    queue_row_clear(&row);
    cr_assert_eq(queue_mark_dead(q, id, error), 0);
    return id;
}
