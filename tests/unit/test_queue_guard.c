/* Tests for the store guard (store_sqlite_guard.c, through the queue): a
 * store file removed or replaced under a running process stops intake
 * (nothing acknowledged into an unlinked inode), and a damaged file is
 * refused at open with a clear message. The disk reserve is tested on a real
 * small filesystem in tests/e2e/test_full_disk.py. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "queue.h"
#include "queue_fixture.h"

TestSuite(queue_guard, .init = queue_fixture_setup, .fini = queue_fixture_teardown);

static queue_result submit_once(queue *q, const char *key)
{
    queue_job job = make_job("zoom", key, "{\"outcome_id\":\"outcome_1\"}");
    return queue_submit_wait(q, &job);
}

Test(queue_guard, a_removed_store_file_stops_intake)
{
    queue *q = open_store();
    submit(q, "zoom", "evt-1", QUEUE_ACCEPTED);
    cr_expect_eq(queue_store_lost(q), 0);
    cr_assert_eq(unlink(queue_fixture_path), 0);
    cr_expect_eq(submit_once(q, "evt-2"), QUEUE_FAILED, "a 202 now would be lost at the next start");
    cr_expect_eq(queue_store_lost(q), 1);
    queue_close(q);
}

Test(queue_guard, a_replaced_store_file_stops_intake)
{
    queue *q = open_store();
    submit(q, "zoom", "evt-1", QUEUE_ACCEPTED);
    char other[192];
    snprintf(other, sizeof(other), "%s.other", queue_fixture_path);
    int fd = open(other, O_CREAT | O_WRONLY, 0600);
    cr_assert(fd >= 0);
    close(fd);
    cr_assert_eq(rename(other, queue_fixture_path), 0);
    cr_expect_eq(submit_once(q, "evt-2"), QUEUE_FAILED);
    cr_expect_eq(queue_store_lost(q), 1);
    queue_close(q);
}

Test(queue_guard, a_damaged_store_is_refused_at_open)
{
    queue *q = open_store();
    char key[32];
    for (int i = 0; i < 400; i++) {
        snprintf(key, sizeof(key), "evt-%d", i);
        submit(q, "zoom", key, QUEUE_ACCEPTED);
    }
    queue_close(q);
    /* Scribble over pages past the header, as a bad disk or a stray write would. */
    int fd = open(queue_fixture_path, O_WRONLY);
    cr_assert(fd >= 0);
    char junk[4096];
    memset(junk, 0xA5, sizeof(junk));
    for (off_t page = 2; page < 6; page++)
        cr_assert_eq(pwrite(fd, junk, sizeof(junk), page * 4096), (ssize_t)sizeof(junk));
    close(fd);
    char err[512] = "";
    cr_expect_null(queue_open(queue_fixture_path, err, sizeof(err)));
    cr_expect(strstr(err, "damaged store") != NULL || strstr(err, "malformed") != NULL, "%s", err);
    cr_expect(strstr(err, queue_fixture_path) != NULL, "names the path: %s", err);
}
