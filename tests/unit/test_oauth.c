/* Tests for oauth (and close_client's OAuth path): against a loopback fake of
 * Close's token endpoint that rotates refresh tokens the way Close does (the
 * old one dies with every refresh) and a meeting PUT that accepts only the
 * newest access token. They check when a refresh happens, that it happens
 * once however many workers need it, that the new pair is in the store before
 * use and wins over the config after a restart, how failures are classified,
 * and that no token ever reaches a log line. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "close_client.h"
#include "log.h"
#include "oauth.h"
#include "store.h"

/* Long enough for a loaded CI machine, short enough that a broken test fails
 * instead of hanging. */
#define SERVER_IO_TIMEOUT_MS 5000
#define SERVER_REQ_MAX 8192
#define TOKEN_MAX 96
/* Long enough that all workers pile up on the credential's lock while the
 * first one's refresh is still in flight. */
#define SLOW_TOKEN_MS 300
#define WORKERS 6

#define CONFIG_ACCESS "cfg-access-0c1d2e3f4a5b6c7d"
#define CONFIG_REFRESH "cfg-refresh-9a8b7c6d5e4f3a2b"
#define CLIENT_ID "closehook-test-client"
/* Characters a form body must escape: a bare one would cut the field short. */
#define CLIENT_SECRET "s3cr&t=+ x/9f8e"
#define CLIENT_SECRET_ESCAPED "s3cr%26t%3D%2B%20x%2F9f8e"

/* ---- the fake Close: token endpoint + meeting PUT ----
 * One connection at a time, one request a connection ("Connection: close"),
 * so a kept-alive idle client can never block another one. */

typedef struct fake_close {
    int listen_fd, port;
    pthread_t thread;
    pthread_mutex_t lock;
    int stopping;
    /* script */
    int token_status; /* forced status for the token endpoint; 0 = behave */
    long expires_in;  /* in token answers */
    int token_delay_ms;
    int refuse_puts; /* 401 to every PUT, whatever the token */
    int echo_form;   /* a refusal's error_description is the form it was sent */
    /* state: the only refresh token and access token currently valid */
    char refresh[TOKEN_MAX], access[TOKEN_MAX];
    int generation;
    int token_calls, put_calls;
    char last_form[SERVER_REQ_MAX];
} fake_close;

static fake_close fake;

static int readable(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, timeout_ms) == 1;
}

/* Head and Content-Length body of one request; NULL body when incomplete. */
static const char *receive(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    while (len + 1 < cap && readable(fd, SERVER_IO_TIMEOUT_MS)) {
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        const char *cl = strcasestr(buf, "\r\nContent-Length:");
        size_t want = cl != NULL && end != NULL && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
        if (end != NULL && len >= (size_t)(end + 4 - buf) + want)
            return end + 4;
    }
    return NULL;
}

static void answer(int fd, int status, const char *json)
{
    char out[1024];
    int n = snprintf(out, sizeof(out),
                     "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nConnection: close\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     status, strlen(json), json);
    ssize_t ignored = write(fd, out, (size_t)n);
    (void)ignored;
}

/* The value of name=… in a form body, as sent (still escaped). */
static void form_value(const char *form, const char *name, char *out, size_t cap)
{
    char key[64];
    snprintf(key, sizeof(key), "%s=", name);
    out[0] = '\0';
    for (const char *p = form; p != NULL; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
        if (strncmp(p, key, strlen(key)) == 0) {
            p += strlen(key);
            snprintf(out, cap, "%.*s", (int)strcspn(p, "&"), p);
            return;
        }
    }
}

/* Rotation as Close does it: a good refresh token buys a new pair and dies. */
static void serve_token(int fd, const char *form)
{
    pthread_mutex_lock(&fake.lock);
    fake.token_calls++;
    snprintf(fake.last_form, sizeof(fake.last_form), "%s", form);
    int delay = fake.token_delay_ms;
    pthread_mutex_unlock(&fake.lock);
    if (delay > 0)
        usleep((useconds_t)delay * 1000);

    char rt[TOKEN_MAX], id[64], cs[64], body[512];
    form_value(form, "refresh_token", rt, sizeof(rt));
    form_value(form, "client_id", id, sizeof(id));
    form_value(form, "client_secret", cs, sizeof(cs));
    pthread_mutex_lock(&fake.lock);
    int status = fake.token_status;
    if (status == 0 && (strcmp(id, CLIENT_ID) != 0 || strcmp(cs, CLIENT_SECRET_ESCAPED) != 0))
        status = 401;
    else if (status == 0 && strcmp(rt, fake.refresh) != 0)
        status = 400;
    if (status == 0) {
        fake.generation++;
        snprintf(fake.access, sizeof(fake.access), "new-access-%d-5f1e2d3c4b5a", fake.generation);
        snprintf(fake.refresh, sizeof(fake.refresh), "new-refresh-%d-a5b4c3d2e1f0", fake.generation);
        snprintf(body, sizeof(body),
                 "{\"access_token\":\"%s\",\"refresh_token\":\"%s\",\"expires_in\":%ld,"
                 "\"token_type\":\"Bearer\"}",
                 fake.access, fake.refresh, fake.expires_in);
    } else {
        snprintf(body, sizeof(body), "{\"error\":\"%s\",\"error_description\":\"%s\"}",
                 status == 400   ? "invalid_grant"
                 : status == 401 ? "invalid_client"
                                 : "server_error",
                 fake.echo_form ? form : "refused by the fake");
    }
    pthread_mutex_unlock(&fake.lock);
    answer(fd, status ? status : 200, body);
}

static void serve_put(int fd, const char *head)
{
    char expect[TOKEN_MAX + 32];
    pthread_mutex_lock(&fake.lock);
    fake.put_calls++;
    snprintf(expect, sizeof(expect), "\r\nAuthorization: Bearer %s\r\n", fake.access);
    int ok = !fake.refuse_puts && fake.access[0] != '\0' && strstr(head, expect) != NULL;
    pthread_mutex_unlock(&fake.lock);
    answer(fd, ok ? 200 : 401, ok ? "{\"id\":\"acti_1\"}" : "{\"error\":\"invalid or expired token\"}");
}

static void *fake_main(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&fake.lock);
        int stopping = fake.stopping;
        pthread_mutex_unlock(&fake.lock);
        if (stopping)
            break;
        if (!readable(fake.listen_fd, 50))
            continue;
        int fd = accept(fake.listen_fd, NULL, NULL);
        if (fd < 0)
            continue;
        static char buf[SERVER_REQ_MAX];
        const char *body = receive(fd, buf, sizeof(buf));
        if (body != NULL && strncmp(buf, "POST /oauth2/token/ ", 20) == 0)
            serve_token(fd, body);
        else if (body != NULL && strncmp(buf, "PUT /api/v1/activity/meeting/", 29) == 0)
            serve_put(fd, buf);
        else if (body != NULL)
            answer(fd, 404, "{}");
        close(fd);
    }
    return NULL;
}

static void fake_start(void)
{
    memset(&fake, 0, sizeof(fake));
    pthread_mutex_init(&fake.lock, NULL);
    fake.expires_in = 3600;
    snprintf(fake.refresh, sizeof(fake.refresh), "%s", CONFIG_REFRESH);
    fake.listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    cr_assert_eq(bind(fake.listen_fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(getsockname(fake.listen_fd, (struct sockaddr *)&a, &alen), 0);
    cr_assert_eq(listen(fake.listen_fd, 16), 0);
    fake.port = ntohs(a.sin_port);
    cr_assert_eq(pthread_create(&fake.thread, NULL, fake_main, NULL), 0);
}

static void fake_stop(void)
{
    pthread_mutex_lock(&fake.lock);
    fake.stopping = 1;
    pthread_mutex_unlock(&fake.lock);
    pthread_join(fake.thread, NULL);
    close(fake.listen_fd);
}

static int counter(const int *field)
{
    pthread_mutex_lock(&fake.lock);
    int v = *field;
    pthread_mutex_unlock(&fake.lock);
    return v;
}

/* ---- a config with one OAuth credential, and a scratch store ---- */

typedef struct env {
    char dir[64], db[96], base[64], token_url[96];
    credential cred;
    config cfg;
    store *store; /* open while a registry is */
} env;

static env E;

static void setup(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    fake_start();
    snprintf(E.dir, sizeof(E.dir), "/tmp/closehook_oauth_XXXXXX");
    cr_assert_not_null(mkdtemp(E.dir));
    snprintf(E.db, sizeof(E.db), "%s/q.db", E.dir);
    snprintf(E.base, sizeof(E.base), "http://127.0.0.1:%d", fake.port);
    snprintf(E.token_url, sizeof(E.token_url), "%s/oauth2/token/", E.base);
    E.cred = (credential){.name = "close_oauth",
                          .kind = CREDENTIAL_OAUTH,
                          .secret_ref = "env:X",
                          .secret = CONFIG_ACCESS,
                          .oauth = {.refresh_token = CONFIG_REFRESH,
                                    .client_id = CLIENT_ID,
                                    .client_secret = CLIENT_SECRET,
                                    .token_url = E.token_url}};
    E.cfg = (config){
        .close.base_url = E.base, .close.timeout_ms = 5000, .credentials = &E.cred, .ncredentials = 1};
}

/* stderr goes to a temporary file this test reads back; Criterion's own
 * redirection left its runner waiting forever about one run in fifteen. */
static FILE *captured_stderr;

static void setup_capturing_stderr(void)
{
    captured_stderr = tmpfile();
    cr_assert_not_null(captured_stderr);
    fflush(stderr);
    cr_assert_geq(dup2(fileno(captured_stderr), STDERR_FILENO), 0);
    setup();
}

static void teardown(void)
{
    fake_stop();
    const char *suffixes[] = {"", "-journal", "-wal", "-shm"};
    for (size_t i = 0; i < 4; i++) {
        char path[128];
        snprintf(path, sizeof(path), "%s%s", E.db, suffixes[i]);
        unlink(path);
    }
    rmdir(E.dir);
    log_forget_secrets();
    curl_global_cleanup();
}

TestSuite(oauth, .init = setup, .fini = teardown);

static oauth *open_registry(void)
{
    char err[256] = "";
    E.store = store_open(E.db, err, sizeof(err));
    cr_assert_not_null(E.store, "%s", err);
    oauth *o = oauth_open(E.store, &E.cfg, err, sizeof(err));
    cr_assert_not_null(o, "%s", err);
    return o;
}

/* Closes the registry and its store: the next open_registry is a restart. */
static void close_registry(oauth *o)
{
    oauth_close(o);
    store_close(E.store);
    E.store = NULL;
}

/* The stored row for the test credential; 0 when there is none. */
static int stored_row(char *access, char *refresh, long long *expires_at)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_open(E.db, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(db,
                                    "SELECT access_token, refresh_token, expires_at FROM oauth_tokens"
                                    " WHERE credential = 'close_oauth'",
                                    -1, &st, NULL),
                 SQLITE_OK);
    int found = sqlite3_step(st) == SQLITE_ROW;
    if (found) {
        snprintf(access, TOKEN_MAX, "%s", (const char *)sqlite3_column_text(st, 0));
        snprintf(refresh, TOKEN_MAX, "%s", (const char *)sqlite3_column_text(st, 1));
        *expires_at = sqlite3_column_int64(st, 2);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return found;
}

static oauth_result token_now(oauth *o, char **token)
{
    char err[256] = "";
    oauth_result r = oauth_access_token(o, &E.cred, token, err, sizeof(err));
    cr_log_info("%s", err);
    return r;
}

/* ---- oauth on its own ---- */

Test(oauth, config_token_is_used_until_refused)
{
    oauth *o = open_registry();
    char *t = NULL;
    cr_assert_eq(token_now(o, &t), OAUTH_OK);
    cr_assert_str_eq(t, CONFIG_ACCESS);
    oauth_token_free(t);
    /* expiry of a configured token is unknown: no refresh until Close refuses it */
    cr_assert_eq(counter(&fake.token_calls), 0);

    char err[256];
    cr_assert_eq(oauth_refresh_after_401(o, &E.cred, CONFIG_ACCESS, &t, err, sizeof(err)), OAUTH_OK, "%s",
                 err);
    cr_assert_str_eq(t, "new-access-1-5f1e2d3c4b5a");
    oauth_token_free(t);
    cr_assert_eq(counter(&fake.token_calls), 1);
    cr_assert_str_eq(fake.last_form, "grant_type=refresh_token&refresh_token=" CONFIG_REFRESH
                                     "&client_id=" CLIENT_ID "&client_secret=" CLIENT_SECRET_ESCAPED);
    close_registry(o);
}

Test(oauth, refreshes_before_expiry_not_after_every_call)
{
    fake.expires_in = 30; /* inside the refresh margin from the start */
    oauth *o = open_registry();
    char *t = NULL, err[256];
    cr_assert_eq(oauth_refresh_after_401(o, &E.cred, CONFIG_ACCESS, &t, err, sizeof(err)), OAUTH_OK);
    oauth_token_free(t);
    cr_assert_eq(counter(&fake.token_calls), 1);

    pthread_mutex_lock(&fake.lock);
    fake.expires_in = 3600;
    pthread_mutex_unlock(&fake.lock);
    cr_assert_eq(token_now(o, &t), OAUTH_OK);
    cr_assert_str_eq(t, "new-access-2-5f1e2d3c4b5a", "a token expiring within the margin is refreshed");
    oauth_token_free(t);
    cr_assert_eq(counter(&fake.token_calls), 2);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(token_now(o, &t), OAUTH_OK);
        cr_assert_str_eq(t, "new-access-2-5f1e2d3c4b5a");
        oauth_token_free(t);
    }
    cr_assert_eq(counter(&fake.token_calls), 2, "an hour-long token is not refreshed again");
    close_registry(o);
}

Test(oauth, early_refresh_failure_keeps_a_still_valid_token)
{
    fake.expires_in = 30;
    oauth *o = open_registry();
    char *t = NULL, err[256];
    cr_assert_eq(oauth_refresh_after_401(o, &E.cred, CONFIG_ACCESS, &t, err, sizeof(err)), OAUTH_OK);
    oauth_token_free(t);
    pthread_mutex_lock(&fake.lock);
    fake.token_status = 503;
    pthread_mutex_unlock(&fake.lock);
    cr_assert_eq(token_now(o, &t), OAUTH_OK);
    cr_assert_str_eq(t, "new-access-1-5f1e2d3c4b5a");
    oauth_token_free(t);
    cr_assert_eq(counter(&fake.token_calls), 2);
    close_registry(o);
}

Test(oauth, stale_token_from_another_worker_is_not_refreshed_again)
{
    oauth *o = open_registry();
    char *t1 = NULL, *t2 = NULL, err[256];
    cr_assert_eq(oauth_refresh_after_401(o, &E.cred, CONFIG_ACCESS, &t1, err, sizeof(err)), OAUTH_OK);
    /* a second worker's 401 was for the old token: it gets the new one, no call */
    cr_assert_eq(oauth_refresh_after_401(o, &E.cred, CONFIG_ACCESS, &t2, err, sizeof(err)), OAUTH_OK);
    cr_assert_str_eq(t1, t2);
    cr_assert_eq(counter(&fake.token_calls), 1);
    oauth_token_free(t1);
    oauth_token_free(t2);
    close_registry(o);
}

typedef struct racer {
    oauth *o;
    pthread_barrier_t *start;
    char *token;
    oauth_result r;
} racer;

static void *race_refresh(void *arg)
{
    racer *r = arg;
    char err[256];
    pthread_barrier_wait(r->start);
    r->r = oauth_refresh_after_401(r->o, &E.cred, CONFIG_ACCESS, &r->token, err, sizeof(err));
    return NULL;
}

Test(oauth, concurrent_workers_cause_one_refresh)
{
    fake.token_delay_ms = SLOW_TOKEN_MS;
    oauth *o = open_registry();
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, WORKERS);
    racer r[WORKERS];
    pthread_t th[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        r[i] = (racer){.o = o, .start = &start};
        cr_assert_eq(pthread_create(&th[i], NULL, race_refresh, &r[i]), 0);
    }
    for (int i = 0; i < WORKERS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    cr_assert_eq(counter(&fake.token_calls), 1);
    for (int i = 0; i < WORKERS; i++) {
        cr_assert_eq(r[i].r, OAUTH_OK);
        cr_assert_str_eq(r[i].token, "new-access-1-5f1e2d3c4b5a");
        oauth_token_free(r[i].token);
    }
    close_registry(o);
}

Test(oauth, rotated_pair_is_stored_and_wins_over_config_after_reopen)
{
    oauth *o = open_registry();
    char *t = NULL, err[256];
    cr_assert_eq(oauth_refresh_after_401(o, &E.cred, CONFIG_ACCESS, &t, err, sizeof(err)), OAUTH_OK);
    oauth_token_free(t);
    close_registry(o);

    char access[TOKEN_MAX], refresh[TOKEN_MAX];
    long long expires_at = 0;
    cr_assert(stored_row(access, refresh, &expires_at));
    cr_assert_str_eq(access, "new-access-1-5f1e2d3c4b5a");
    cr_assert_str_eq(refresh, "new-refresh-1-a5b4c3d2e1f0");
    long long now = (long long)time(NULL);
    cr_assert(expires_at > now + 3500 && expires_at <= now + 3600, "expires_at %lld", expires_at);

    /* a restart: the config still names the dead pair, the store has the live one */
    o = open_registry();
    cr_assert_eq(token_now(o, &t), OAUTH_OK);
    cr_assert_str_eq(t, "new-access-1-5f1e2d3c4b5a");
    char *fresh = NULL;
    cr_assert_eq(oauth_refresh_after_401(o, &E.cred, t, &fresh, err, sizeof(err)), OAUTH_OK, "%s", err);
    cr_assert_str_eq(fake.last_form, "grant_type=refresh_token&refresh_token=new-refresh-1-a5b4c3d2e1f0"
                                     "&client_id=" CLIENT_ID "&client_secret=" CLIENT_SECRET_ESCAPED);
    cr_assert_str_eq(fresh, "new-access-2-5f1e2d3c4b5a");
    oauth_token_free(t);
    oauth_token_free(fresh);
    cr_assert_eq(counter(&fake.token_calls), 2);
    close_registry(o);
}

Test(oauth, refused_grant_is_permanent_and_stores_nothing)
{
    snprintf(fake.refresh, sizeof(fake.refresh), "someone-else-rotated-it");
    oauth *o = open_registry();
    char *t = NULL, err[256] = "";
    cr_assert_eq(oauth_refresh_after_401(o, &E.cred, CONFIG_ACCESS, &t, err, sizeof(err)), OAUTH_PERMANENT);
    cr_assert_null(t);
    cr_assert_str_eq(err, "oauth refresh failed: HTTP 400: invalid_grant (refused by the fake)");
    char access[TOKEN_MAX], refresh[TOKEN_MAX];
    long long expires_at;
    cr_assert_not(stored_row(access, refresh, &expires_at));
    close_registry(o);
}

/* A token endpoint that echoes the form: neither the refresh token nor the
 * client secret (raw or form-encoded) reaches the error text. */
Test(oauth, refusal_echoing_the_form_holds_no_secret)
{
    fake.token_status = 400;
    fake.echo_form = 1;
    oauth *o = open_registry();
    char *t = NULL, err[512] = "";
    cr_assert_eq(oauth_refresh_after_401(o, &E.cred, CONFIG_ACCESS, &t, err, sizeof(err)), OAUTH_PERMANENT);
    cr_assert_not_null(strstr(fake.last_form, CONFIG_REFRESH), "the form did carry it: %s", fake.last_form);
    cr_assert_not_null(strstr(err, "invalid_grant"), "%s", err);
    cr_assert_not_null(strstr(err, "[redacted]"), "%s", err);
    cr_assert_null(strstr(err, CONFIG_REFRESH), "%s", err);
    cr_assert_null(strstr(err, CLIENT_SECRET_ESCAPED), "%s", err);
    cr_assert_null(strstr(err, "s3cr"), "%s", err);
    close_registry(o);
}

Test(oauth, unreachable_or_failing_token_endpoint_is_transient)
{
    oauth *o = open_registry();
    char *t = NULL, err[256] = "";
    fake.token_status = 503;
    cr_assert_eq(oauth_refresh_after_401(o, &E.cred, CONFIG_ACCESS, &t, err, sizeof(err)), OAUTH_TRANSIENT);
    cr_assert_not_null(strstr(err, "oauth refresh failed: HTTP 503"), "%s", err);
    close_registry(o);

    snprintf(E.token_url, sizeof(E.token_url), "http://127.0.0.1:1/oauth2/token/"); /* nothing listens */
    o = open_registry();
    cr_assert_eq(oauth_refresh_after_401(o, &E.cred, CONFIG_ACCESS, &t, err, sizeof(err)), OAUTH_TRANSIENT);
    cr_assert_null(t);
    cr_assert(strncmp(err, "oauth refresh failed: ", 22) == 0, "%s", err);
    cr_assert_null(strstr(err, CONFIG_REFRESH), "%s", err);
    cr_assert_null(strstr(err, "s3cr"), "%s", err);
    close_registry(o);
}

Test(oauth, credential_without_state_is_refused)
{
    E.cred.oauth.refresh_token = NULL; /* absent: config made it a dry-run credential */
    char err0[256] = "";
    oauth *o = oauth_open(NULL, &E.cfg, err0, sizeof(err0)); /* no OAuth credential: needs no store */
    cr_assert_not_null(o, "%s", err0);
    char *t = NULL, err[256] = "";
    cr_assert_eq(oauth_access_token(o, &E.cred, &t, err, sizeof(err)), OAUTH_PERMANENT);
    cr_assert_null(t);
    cr_assert_not_null(strstr(err, "close_oauth"), "%s", err);
    close_registry(o);
    /* no OAuth credential in use: the registry needed no store, and made none */
    cr_assert_neq(access(E.db, F_OK), 0);
}

Test(oauth, no_oauth_credential_sets_up_no_token_storage)
{
    E.cred.oauth.refresh_token = NULL;
    oauth *o = open_registry();
    close_registry(o);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_open(E.db, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'oauth_tokens'", -1,
                                    &st, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_int(st, 0), 0, "oauth_tokens was created with no OAuth credential");
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* ---- through close_client ---- */

static close_client *oauth_client(oauth *o)
{
    close_client *c = close_client_new(E.base, 5000);
    cr_assert_not_null(c);
    close_client_set_oauth(c, o);
    return c;
}

Test(oauth, put_refreshes_once_on_401_and_repeats)
{
    oauth *o = open_registry();
    close_client *c = oauth_client(o);
    close_response res;
    cr_assert_eq(close_client_put_meeting(c, &E.cred, "acti_1", "{}", RATE_LIMIT_QUEUE, &res), CLOSE_OK,
                 "%ld %s", res.status, res.err);
    close_response_clear(&res);
    cr_assert_eq(counter(&fake.put_calls), 2, "the refused PUT and its repeat");
    cr_assert_eq(counter(&fake.token_calls), 1);

    cr_assert_eq(close_client_put_meeting(c, &E.cred, "acti_1", "{}", RATE_LIMIT_QUEUE, &res), CLOSE_OK);
    close_response_clear(&res);
    cr_assert_eq(counter(&fake.put_calls), 3);
    cr_assert_eq(counter(&fake.token_calls), 1, "the new token is reused");
    close_client_free(c);
    close_registry(o);
}

Test(oauth, second_401_is_closes_answer_not_a_loop)
{
    fake.refuse_puts = 1;
    oauth *o = open_registry();
    close_client *c = oauth_client(o);
    close_response res;
    cr_assert_eq(close_client_put_meeting(c, &E.cred, "acti_1", "{}", RATE_LIMIT_QUEUE, &res),
                 CLOSE_PERMANENT);
    cr_assert_eq(res.status, 401);
    close_response_clear(&res);
    cr_assert_eq(counter(&fake.put_calls), 2);
    cr_assert_eq(counter(&fake.token_calls), 1);
    close_client_free(c);
    close_registry(o);
}

Test(oauth, refused_refresh_fails_the_put_permanently)
{
    snprintf(fake.refresh, sizeof(fake.refresh), "someone-else-rotated-it");
    oauth *o = open_registry();
    close_client *c = oauth_client(o);
    close_response res;
    cr_assert_eq(close_client_put_meeting(c, &E.cred, "acti_1", "{}", RATE_LIMIT_QUEUE, &res),
                 CLOSE_PERMANENT);
    cr_assert_eq(res.status, 0);
    cr_assert(strncmp(res.err, "oauth refresh failed: HTTP 400: invalid_grant", 45) == 0, "%s", res.err);
    close_response_clear(&res);
    cr_assert_eq(counter(&fake.put_calls), 1);
    close_client_free(c);

    c = close_client_new(E.base, 5000); /* no registry: refused, nothing sent */
    cr_assert_eq(close_client_put_meeting(c, &E.cred, "acti_1", "{}", RATE_LIMIT_QUEUE, &res),
                 CLOSE_PERMANENT);
    cr_assert_eq(counter(&fake.put_calls), 1);
    close_response_clear(&res);
    close_client_free(c);
    close_registry(o);
}

typedef struct putter {
    oauth *o;
    pthread_barrier_t *start;
    close_class cls;
} putter;

static void *race_put(void *arg)
{
    putter *p = arg;
    close_client *c = close_client_new(E.base, 5000);
    close_client_set_oauth(c, p->o);
    close_response res;
    pthread_barrier_wait(p->start);
    p->cls = close_client_put_meeting(c, &E.cred, "acti_1", "{}", RATE_LIMIT_QUEUE, &res);
    close_response_clear(&res);
    close_client_free(c);
    return NULL;
}

Test(oauth, workers_refused_together_share_one_refresh)
{
    fake.token_delay_ms = SLOW_TOKEN_MS;
    oauth *o = open_registry();
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, WORKERS);
    putter p[WORKERS];
    pthread_t th[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        p[i] = (putter){.o = o, .start = &start};
        cr_assert_eq(pthread_create(&th[i], NULL, race_put, &p[i]), 0);
    }
    for (int i = 0; i < WORKERS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    for (int i = 0; i < WORKERS; i++)
        cr_assert_eq(p[i].cls, CLOSE_OK, "worker %d", i);
    cr_assert_eq(counter(&fake.token_calls), 1);
    close_registry(o);
}

/* ---- no token in any log line ---- */

static char *read_all(FILE *f)
{
    static char text[1 << 16];
    fflush(stderr);
    rewind(f);
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    return text;
}

Test(oauth, no_token_in_any_log_line, .init = setup_capturing_stderr)
{
    log_set_level(LOG_DEBUG);
    fake.expires_in = 30;
    oauth *o = open_registry();
    close_client *c = oauth_client(o);
    close_response res;
    close_client_put_meeting(c, &E.cred, "acti_1", "{}", RATE_LIMIT_QUEUE, &res); /* 401, refresh 1, PUT */
    close_response_clear(&res);
    close_client_put_meeting(c, &E.cred, "acti_1", "{}", RATE_LIMIT_QUEUE, &res); /* expiring: refresh 2 */
    close_response_clear(&res);
    close_client_free(c);
    close_registry(o);
    o = open_registry(); /* logs that the stored pair is used */
    pthread_mutex_lock(&fake.lock);
    snprintf(fake.refresh, sizeof(fake.refresh), "someone-else-rotated-it");
    pthread_mutex_unlock(&fake.lock);
    char *t = NULL, err[256];
    cr_assert_eq(oauth_access_token(o, &E.cred, &t, err, sizeof(err)), OAUTH_OK); /* early refresh fails */
    oauth_token_free(t);
    close_registry(o);
    fflush(stderr);
    cr_assert_eq(counter(&fake.token_calls), 3);

    const char *log = read_all(captured_stderr);
    cr_assert_not_null(strstr(log, "oauth: access token refreshed"), "%s", log);
    cr_assert_not_null(strstr(log, "oauth: using the stored token pair"), "%s", log);
    cr_assert_not_null(strstr(log, "early refresh failed"), "%s", log);
    const char *tokens[] = {CONFIG_ACCESS,   CONFIG_REFRESH, "s3cr",          "new-access-1",
                            "new-refresh-1", "new-access-2", "new-refresh-2", "someone-else"};
    for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++)
        cr_assert_null(strstr(log, tokens[i]), "%s in the log:\n%s", tokens[i], log);
    /* not even handed to the log and caught by its redaction */
    cr_assert_null(strstr(log, "[redacted]"), "%s", log);
}
