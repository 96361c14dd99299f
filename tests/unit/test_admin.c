/* Tests for admin.c and its "admin" config section: the duration syntax the
 * API and `closehook dlq purge` share, that the section is off unless given
 * and refuses to run unguarded, and the listener itself over real HTTP: no
 * token, no answer; with it, list, show, replay and purge act on the store. */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "config.h"
#include "log.h"

#define ERR_LEN 4096
#define ADMIN_TOKEN "unit-admin-token-0123456789"

static char tmpdir[64];
static char path_buf[160];

static void make_dir(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_admin.XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    setenv("ADMINTEST_TOKEN", ADMIN_TOKEN, 1);
    setenv("ADMINTEST_SHORT", "too-short", 1);
    setenv("ADMINTEST_KEY", "api_admin_test_key", 1);
    unsetenv("ADMINTEST_UNSET");
}

static const char *in_dir(const char *name)
{
    snprintf(path_buf, sizeof(path_buf), "%s/%s", tmpdir, name);
    return path_buf;
}

static void remove_dir(void)
{
    static const char *const names[] = {"c.json", "q.db", "q.db-wal", "q.db-shm", "q.db-journal"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        unlink(in_dir(names[i]));
    rmdir(tmpdir);
    log_forget_secrets();
}

TestSuite(admin, .init = make_dir, .fini = remove_dir);

/* ---- durations ---- */

Test(admin, durations_are_a_number_and_one_unit)
{
    static const struct {
        const char *text;
        int64_t ms;
    } good[] = {{"0s", 0},         {"3600s", 3600000},    {"90m", 5400000},
                {"12h", 43200000}, {"30d", 2592000000LL}, {"1d", 86400000}};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        int64_t ms = -1;
        cr_expect_eq(admin_parse_duration(good[i].text, &ms), 0, "%s", good[i].text);
        cr_expect_eq(ms, good[i].ms, "%s: %lld", good[i].text, (long long)ms);
    }
    static const char *const bad[] = {"",
                                      "5",
                                      "5x",
                                      "-1s",
                                      "+1s",
                                      " 1s",
                                      "1.5h",
                                      "s",
                                      "10dd",
                                      "1s ",
                                      "99999999999999999999d",
                                      "9223372036854775807d"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t ms = 42;
        cr_expect_eq(admin_parse_duration(bad[i], &ms), -1, "\"%s\" accepted", bad[i]);
    }
    cr_expect_eq(admin_parse_duration(NULL, NULL), -1);
}

/* ---- the config section ---- */

/* A config with one generic route and the given extra top-level members. */
static config *load_with(const char *extra, char *err)
{
    FILE *f = fopen(in_dir("c.json"), "w");
    cr_assert_not_null(f);
    fprintf(f,
            "{\"listen\": [{\"host\": \"127.0.0.1\", \"port\": 18080}],"
            " \"store\": {\"path\": \"%s/q.db\"}, %s%s"
            " \"credentials\": {\"close\": {\"api_key\": \"env:ADMINTEST_KEY\"}},"
            " \"routes\": [{\"name\": \"notetaker\", \"source\": \"generic\", \"credential\": "
            "\"close\",\"secret\": \"env:ADMINTEST_KEY\","
            "   \"event_type_path\": \"event\", \"activity_id_path\": \"activity\","
            "   \"rules\": [{\"event\": \"done\", \"outcome_id\": \"outcome_1\"}]}]}",
            tmpdir, extra, extra[0] ? "," : "");
    fclose(f);
    return config_load(in_dir("c.json"), err, ERR_LEN);
}

static void expect_refused(const char *extra, const char *needle)
{
    char err[ERR_LEN] = "";
    config *cfg = load_with(extra, err);
    cr_expect_null(cfg, "loaded: %s", extra);
    config_free(cfg);
    cr_expect(strstr(err, needle) != NULL, "expected \"%s\" in: %s", needle, err);
}

Test(admin, off_unless_configured)
{
    char err[ERR_LEN] = "";
    config *cfg = load_with("", err);
    cr_assert_not_null(cfg, "%s", err);
    cr_expect_eq(cfg->admin.listen.port, 0);
    cr_expect_null(cfg->admin.token);
    admin *a = admin_start(cfg, NULL, err, sizeof(err));
    cr_expect_null(a);
    cr_expect_str_eq(err, "", "off is not an error");
    config_free(cfg);
}

Test(admin, section_loads_listener_and_resolved_token)
{
    char err[ERR_LEN] = "";
    config *cfg =
        load_with("\"admin\": {\"listen\": {\"port\": 18081}, \"token\": \"env:ADMINTEST_TOKEN\"}", err);
    cr_assert_not_null(cfg, "%s", err);
    cr_expect_str_eq(cfg->admin.listen.host, "127.0.0.1", "loopback by default");
    cr_expect_eq(cfg->admin.listen.port, 18081);
    cr_expect_str_eq(cfg->admin.token_ref, "env:ADMINTEST_TOKEN");
    cr_expect_str_eq(cfg->admin.token, ADMIN_TOKEN);
    config_free(cfg);
}

Test(admin, section_refuses_to_run_unguarded_or_clashing)
{
    expect_refused("\"admin\": {\"listen\": {\"port\": 18081}}", "admin.token: required");
    expect_refused("\"admin\": {\"listen\": {\"port\": 18081}, \"token\": \"env:ADMINTEST_UNSET\"}",
                   "admin.token: ");
    expect_refused("\"admin\": {\"listen\": {\"port\": 18081}, \"token\": \"env:ADMINTEST_SHORT\"}",
                   "admin.token: must be at least 16 characters");
    expect_refused("\"admin\": {\"listen\": {\"port\": 18081}, \"token\": \"" ADMIN_TOKEN "\"}",
                   "admin.token: ");
    expect_refused("\"admin\": {\"token\": \"env:ADMINTEST_TOKEN\"}", "admin.listen: required");
    expect_refused("\"admin\": {\"listen\": {\"port\": 18080}, \"token\": \"env:ADMINTEST_TOKEN\"}",
                   "admin.listen.port: 18080 is a webhook listener's port too");
    expect_refused(
        "\"admin\": {\"listen\": {\"port\": 18081}, \"token\": \"env:ADMINTEST_TOKEN\", \"tls\": 1}",
        "admin.tls: unknown key");
}

/* ---- the listener ---- */

static int unused_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

typedef struct http_answer {
    long status;
    char body[8192];
    size_t len;
} http_answer;

static size_t collect(char *data, size_t size, size_t n, void *arg)
{
    http_answer *a = arg;
    size_t room = sizeof(a->body) - 1 - a->len, take = size * n < room ? size * n : room;
    memcpy(a->body + a->len, data, take);
    a->len += take;
    a->body[a->len] = '\0';
    return size * n;
}

static http_answer call(int port, const char *method, const char *path, const char *token)
{
    http_answer a = {0};
    char url[256], auth[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    CURL *h = curl_easy_init();
    struct curl_slist *headers = NULL;
    if (token != NULL) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        headers = curl_slist_append(headers, auth);
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &a);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
    cr_assert_eq(curl_easy_perform(h), CURLE_OK, "%s %s", method, path);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &a.status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(h);
    return a;
}

/* Stores a row and walks it to dead, as delivery would on a 404. */
static int64_t make_dead(queue *q, const char *key)
{
    queue_job job = {.route = "notetaker",
                     .credential = "close",
                     .dedup_key = key,
                     .payload = "{\"activity_id\":\"acti_1\",\"body\":{\"outcome_id\":\"outcome_1\"}}"};
    cr_assert_eq(queue_submit_wait(q, &job), QUEUE_ACCEPTED);
    queue_row row;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    cr_assert_eq(queue_claim(q, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 1, &row, NULL), 1);
    cr_assert_eq(row.id, job.id);
    queue_row_clear(&row);
    cr_assert_eq(queue_mark_dead(q, job.id, "HTTP 404: {\"error\": \"Not found.\"}"), 0);
    return job.id;
}

static void expect_body_has(const http_answer *a, const char *needle)
{
    cr_expect(strstr(a->body, needle) != NULL, "expected %s in %s", needle, a->body);
}

Test(admin, listener_needs_the_token_then_acts_on_the_store)
{
    char err[ERR_LEN] = "", extra[256];
    int port = unused_port();
    snprintf(extra, sizeof(extra),
             "\"log\": {\"access\": false}, \"admin\": {\"listen\": {\"port\": %d}, \"token\": "
             "\"env:ADMINTEST_TOKEN\"}",
             port);
    config *cfg = load_with(extra, err);
    cr_assert_not_null(cfg, "%s", err);
    queue *q = queue_open(cfg->store.path, err, sizeof(err));
    cr_assert_not_null(q, "%s", err);
    int64_t first = make_dead(q, "e1");
    make_dead(q, "e2");
    curl_global_init(CURL_GLOBAL_DEFAULT);
    admin *a = admin_start(cfg, q, err, sizeof(err));
    cr_assert_not_null(a, "%s", err);

    static const char *const wrong[] = {NULL, "", "nope", ADMIN_TOKEN "0", "unit-admin-token-012345678"};
    for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
        http_answer r = call(port, "GET", "/admin/dlq", wrong[i]);
        cr_expect_eq(r.status, 401, "token %s", wrong[i] ? wrong[i] : "(none)");
        expect_body_has(&r, "\"error\":\"unauthorized\"");
    }
    cr_expect_eq(call(port, "POST", "/admin/dlq/replay", NULL).status, 401);

    http_answer r = call(port, "GET", "/admin/dlq", ADMIN_TOKEN);
    cr_expect_eq(r.status, 200);
    expect_body_has(&r, "\"count\":2");
    expect_body_has(&r, "Not found.");
    r = call(port, "GET", "/admin/dlq?route=calendly", ADMIN_TOKEN);
    cr_expect_eq(r.status, 200);
    expect_body_has(&r, "\"count\":0");
    cr_expect_eq(call(port, "GET", "/admin/dlq?route=a%20b", ADMIN_TOKEN).status, 400);

    char path[64];
    snprintf(path, sizeof(path), "/admin/dlq/%lld", (long long)first);
    r = call(port, "GET", path, ADMIN_TOKEN);
    cr_expect_eq(r.status, 200);
    expect_body_has(&r, "\"state\":\"dead\"");
    expect_body_has(&r, "\"update\":{\"activity_id\":\"acti_1\"");
    cr_expect_eq(call(port, "DELETE", path, ADMIN_TOKEN).status, 405);
    cr_expect_eq(call(port, "GET", "/admin/dlq/0", ADMIN_TOKEN).status, 404);
    cr_expect_eq(call(port, "GET", "/admin/dlq/12x", ADMIN_TOKEN).status, 404);
    cr_expect_eq(call(port, "GET", "/admin/dlqx", ADMIN_TOKEN).status, 404);

    snprintf(path, sizeof(path), "/admin/dlq/%lld/replay", (long long)first);
    r = call(port, "POST", path, ADMIN_TOKEN);
    cr_expect_eq(r.status, 200);
    cr_expect_str_eq(r.body, "{\"replayed\":1}");
    cr_expect_eq(call(port, "POST", path, ADMIN_TOKEN).status, 404, "no longer dead");
    queue_counts c;
    cr_assert_eq(queue_counts_get(q, &c), 0);
    cr_expect_eq(c.pending, 1);
    cr_expect_eq(c.dead, 1);

    cr_expect_eq(call(port, "DELETE", "/admin/dlq", ADMIN_TOKEN).status, 400);
    r = call(port, "DELETE", "/admin/dlq?older_than=1d", ADMIN_TOKEN);
    cr_expect_str_eq(r.body, "{\"purged\":0}");
    r = call(port, "DELETE", "/admin/dlq?route=notetaker&older_than=0s", ADMIN_TOKEN);
    cr_expect_str_eq(r.body, "{\"purged\":1}");
    r = call(port, "POST", "/admin/dlq/replay", ADMIN_TOKEN);
    cr_expect_str_eq(r.body, "{\"replayed\":0}");

    admin_stop(a);
    curl_global_cleanup();
    queue_close(q);
    config_free(cfg);
}

Test(admin, start_fails_when_the_port_is_taken)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(listen(fd, 1), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    char err[ERR_LEN] = "", extra[256];
    snprintf(extra, sizeof(extra),
             "\"admin\": {\"listen\": {\"port\": %d}, \"token\": \"env:ADMINTEST_TOKEN\"}",
             ntohs(sa.sin_port));
    config *cfg = load_with(extra, err);
    cr_assert_not_null(cfg, "%s", err);
    cr_expect_null(admin_start(cfg, NULL, err, sizeof(err)));
    cr_expect(strstr(err, "admin listen 127.0.0.1:") != NULL, "%s", err);
    close(fd);
    config_free(cfg);
}
