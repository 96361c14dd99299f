/* Unit tests for secret.c: how secret references resolve and how files are
 * read (bounded, regular files only, sized from the file). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "secret.h"

static char dir[64];

static void make_dir(void)
{
    snprintf(dir, sizeof(dir), "/tmp/test_secret.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

static const char *write_file(const char *name, const char *text, size_t len)
{
    static char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(text, 1, len, f), len);
    fclose(f);
    return path;
}

TestSuite(secret, .init = make_dir, .fini = remove_dir);

Test(secret, a_file_of_exactly_max_bytes_is_read_whole)
{
    const char *path = write_file("max", "0123456789", 10);
    size_t len = 0;
    char *text = secret_read_file(path, 10, &len);
    cr_assert_not_null(text);
    cr_assert_eq(len, 10);
    cr_assert_str_eq(text, "0123456789");
    free(text);
}

Test(secret, one_byte_over_max_is_efbig)
{
    const char *path = write_file("over", "0123456789X", 11);
    size_t len = 0;
    errno = 0;
    cr_assert_null(secret_read_file(path, 10, &len));
    cr_assert_eq(errno, EFBIG);
}

Test(secret, an_empty_file_is_an_empty_string)
{
    const char *path = write_file("empty", "", 0);
    size_t len = 99;
    char *text = secret_read_file(path, 10, &len);
    cr_assert_not_null(text);
    cr_assert_eq(len, 0);
    cr_assert_str_eq(text, "");
    free(text);
}

Test(secret, a_fifo_is_refused_without_blocking)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/fifo", dir);
    cr_assert_eq(mkfifo(path, 0600), 0);
    size_t len = 0;
    errno = 0;
    cr_assert_null(secret_read_file(path, 10, &len));
    cr_assert_eq(errno, EINVAL);
}

Test(secret, a_file_reference_strips_one_trailing_newline)
{
    const char *path = write_file("key", "s3cret\n\n", 8);
    char ref[160];
    snprintf(ref, sizeof(ref), "file:%s", path);
    int absent = -1;
    char err[128] = "";
    char *text = secret_resolve(ref, &absent, err, sizeof(err));
    cr_assert_not_null(text, "%s", err);
    cr_assert_str_eq(text, "s3cret\n");
    secret_free(text);
}

Test(secret, a_malformed_reference_never_quotes_its_value)
{
    int absent = -1;
    char err[256] = "";
    cr_assert_null(secret_resolve("api_inline_key_1234", &absent, err, sizeof(err)));
    cr_assert_eq(absent, 0);
    cr_assert_not_null(strstr(err, "reference"), "%s", err);
    cr_assert_null(strstr(err, "api_inline_key_1234"), "%s", err);
}
