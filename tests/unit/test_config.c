/* test_config: config_load must accept a complete config, fill defaults, and
 * refuse every kind of mistake with a "FILE: KEY: PROBLEM" line — all of them
 * at once, and never echoing an inline secret. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "json.h"
#include "secret.h"

#define ERR_LEN 4096

/* A config file under /tmp that the test owns; unlinked by drop_file. */
typedef struct temp_file {
    char path[64];
} temp_file;

static void write_file(temp_file *f, const char *text)
{
    strcpy(f->path, "/tmp/closehook_cfg_XXXXXX");
    int fd = mkstemp(f->path);
    cr_assert(fd >= 0);
    size_t len = strlen(text);
    cr_assert_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
}

static void drop_file(temp_file *f)
{
    unlink(f->path);
}

/* Loads text as a config file; f keeps the path for assertions on messages. */
static config *load_text(temp_file *f, const char *text, char *err)
{
    write_file(f, text);
    return config_load(f->path, err, ERR_LEN);
}

/* Loads text expecting failure; returns the message for assertions. */
static void expect_failure(const char *text, char *err)
{
    temp_file f;
    config *cfg = load_text(&f, text, err);
    drop_file(&f);
    cr_assert_null(cfg, "config unexpectedly loaded");
    cr_assert(strlen(err) > 0);
    cr_log_info("%s", err);
}

static void assert_has(const char *err, const char *needle)
{
    cr_assert(strstr(err, needle) != NULL, "expected \"%s\" in:\n%s", needle, err);
}

static void set_secrets(void)
{
    setenv("CFGTEST_ZOOM_SECRET", "zoom-secret-value", 1);
    setenv("CFGTEST_CLOSE_KEY", "api_close_key_value", 1);
}

/* A route body valid for any source that only needs a secret. */
#define ROUTE(name, src, cred)                                                                               \
    "{\"name\": \"" name "\", \"source\": \"" src "\", \"secret\": \"env:CFGTEST_ZOOM_SECRET\","             \
    " \"credential\": \"" cred                                                                               \
    "\", \"rules\": [{\"event\": \"meeting.ended\", \"outcome_id\": \"outcome_1\"}]}"
#define CREDENTIALS "\"credentials\": {\"close\": {\"api_key\": \"env:CFGTEST_CLOSE_KEY\"}}"

Test(config, loads_every_section)
{
    set_secrets();
    temp_file secret;
    write_file(&secret, "bearer-token-value\n");
    char text[4096];
    snprintf(text, sizeof(text),
             "// comments are fine\n"
             "{\"listen\": [{\"host\": \"0.0.0.0\", \"port\": 9000}, {\"port\": 9001}],\n"
             " \"threads\": 3, \"body_limit\": 2048,\n"
             " \"store\": {\"path\": \"/var/lib/closehook/q.db\"},\n"
             " \"close\": {\"base_url\": \"http://127.0.0.1:9999//\", \"timeout_ms\": 500},\n"
             " \"delivery\": {\"workers\": 4, \"retry_initial_ms\": 10, \"retry_max_ms\": 20,"
             " \"max_age_s\": 60},\n"
             " \"resolve\": {\"window_s\": 600},\n"
             " \"credentials\": {\"close\": {\"api_key\": \"env:CFGTEST_CLOSE_KEY\"},"
             " \"oauth\": {\"bearer_token\": \"file:%s\"}},\n"
             " \"routes\": [" ROUTE("zoom", "zoom", "close") ", " ROUTE("notes_2", "generic", "oauth") "]}",
             secret.path);
    char err[ERR_LEN];
    temp_file f;
    config *cfg = load_text(&f, text, err);
    cr_assert_not_null(cfg, "%s", err);

    cr_assert_str_eq(cfg->path, f.path);
    cr_assert_eq(cfg->nlisteners, 2);
    cr_assert_str_eq(cfg->listeners[0].host, "0.0.0.0");
    cr_assert_eq(cfg->listeners[0].port, 9000);
    cr_assert_str_eq(cfg->listeners[1].host, "127.0.0.1");
    cr_assert_eq(cfg->listeners[1].port, 9001);
    cr_assert_eq(cfg->threads, 3);
    cr_assert_eq(cfg->body_limit, 2048);
    cr_assert_str_eq(cfg->store.path, "/var/lib/closehook/q.db");
    cr_assert_str_eq(cfg->close.base_url, "http://127.0.0.1:9999");
    cr_assert_eq(cfg->close.timeout_ms, 500);
    cr_assert_eq(cfg->delivery.workers, 4);
    cr_assert_eq(cfg->delivery.retry_initial_ms, 10);
    cr_assert_eq(cfg->delivery.retry_max_ms, 20);
    cr_assert_eq(cfg->delivery.max_age_s, 60);
    cr_assert_eq(cfg->resolve.window_s, 600);

    cr_assert_eq(cfg->ncredentials, 2);
    const credential *close_cred = config_find_credential(cfg, "close");
    cr_assert_not_null(close_cred);
    cr_assert_eq(close_cred->kind, CREDENTIAL_API_KEY);
    cr_assert_str_eq(close_cred->secret_ref, "env:CFGTEST_CLOSE_KEY");
    cr_assert_str_eq(close_cred->secret, "api_close_key_value");
    const credential *oauth = config_find_credential(cfg, "oauth");
    cr_assert_not_null(oauth);
    cr_assert_eq(oauth->kind, CREDENTIAL_BEARER);
    cr_assert_str_eq(oauth->secret, "bearer-token-value");
    cr_assert_null(config_find_credential(cfg, "nope"));

    cr_assert_eq(cfg->nroutes, 2);
    const route *zoom = config_find_route(cfg, "zoom", 4);
    cr_assert_not_null(zoom);
    cr_assert_str_eq(zoom->source_name, "zoom");
    cr_assert_not_null(zoom->source);
    cr_assert_str_eq(zoom->source->name, "zoom");
    cr_assert_str_eq(zoom->secret_ref, "env:CFGTEST_ZOOM_SECRET");
    cr_assert_eq(zoom->credential, close_cred);
    cr_assert_eq(zoom->rules.count, 1);
    cr_assert_str_eq(zoom->rules.items[0].event, "meeting.ended");
    const route *notes = config_find_route(cfg, "notes_2/extra", 7);
    cr_assert_not_null(notes);
    cr_assert_str_eq(notes->source->name, "generic");
    cr_assert_eq(notes->credential, oauth);

    config_free(cfg);
    drop_file(&f);
    drop_file(&secret);
}

Test(config, fills_defaults_for_omitted_keys)
{
    set_secrets();
    char err[ERR_LEN];
    temp_file f;
    config *cfg = load_text(&f, "{" CREDENTIALS ", \"routes\": [" ROUTE("zoom", "zoom", "close") "]}", err);
    drop_file(&f);
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_eq(cfg->nlisteners, 1);
    cr_assert_str_eq(cfg->listeners[0].host, "127.0.0.1");
    cr_assert_eq(cfg->listeners[0].port, 8080);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    cr_assert_eq(cfg->threads, cpus < 1 ? 1 : cpus > 256 ? 256 : cpus);
    cr_assert_eq(cfg->body_limit, 1048576);
    cr_assert_str_eq(cfg->store.path, "closehook.db");
    cr_assert_str_eq(cfg->close.base_url, "https://api.close.com");
    cr_assert_eq(cfg->close.timeout_ms, 10000);
    cr_assert_eq(cfg->delivery.workers, 2);
    cr_assert_eq(cfg->delivery.retry_initial_ms, 1000);
    cr_assert_eq(cfg->delivery.retry_max_ms, 300000);
    cr_assert_eq(cfg->delivery.max_age_s, 259200);
    cr_assert_eq(cfg->resolve.window_s, 7200);
    config_free(cfg);
}

Test(config, unparseable_json_names_the_file)
{
    char err[ERR_LEN];
    temp_file f;
    config *cfg = load_text(&f, "{\"routes\": [}", err);
    drop_file(&f);
    cr_assert_null(cfg);
    cr_assert_eq(strncmp(err, f.path, strlen(f.path)), 0, "%s", err);
    assert_has(err, "invalid JSON");
}

Test(config, missing_file_names_the_file)
{
    char err[ERR_LEN];
    cr_assert_null(config_load("/nonexistent/closehook.json", err, sizeof(err)));
    assert_has(err, "/nonexistent/closehook.json: cannot read: No such file or directory");
}

Test(config, wrong_types_are_reported)
{
    set_secrets();
    char err[ERR_LEN];
    expect_failure(
        "{\"threads\": \"4\", \"store\": {\"path\": 5}, \"listen\": {}, \"close\": [],"
        " \"body_limit\": 1.5, " CREDENTIALS ","
        " \"routes\": [{\"name\": 7, \"source\": \"zoom\", \"secret\": \"env:CFGTEST_ZOOM_SECRET\","
        " \"credential\": \"close\", \"rules\": {}}]}",
        err);
    assert_has(err, ": threads: must be an integer 0..256");
    assert_has(err, ": store.path: must be a string");
    assert_has(err, ": listen: must be a non-empty array");
    assert_has(err, ": close: must be an object");
    assert_has(err, ": body_limit: must be an integer 1..67108864");
    assert_has(err, ": routes[0].name: must be a string");
    assert_has(err, ": routes[0].rules: must be an array");
}

Test(config, unknown_keys_are_named)
{
    set_secrets();
    char err[ERR_LEN];
    expect_failure(
        "{\"thread\": 2, \"delivery\": {\"wokers\": 2}, \"listen\": [{\"port\": 1, \"hots\": \"x\"}],"
        " \"credentials\": {\"close\": {\"api_key\": \"env:CFGTEST_CLOSE_KEY\", \"org\": 1}},"
        " \"routes\": [" ROUTE("zoom", "zoom", "close") "]}",
        err);
    assert_has(err, ": thread: unknown key");
    assert_has(err, ": delivery.wokers: unknown key");
    assert_has(err, ": listen[0].hots: unknown key");
    assert_has(err, ": credentials.close.org: unknown key");
}

Test(config, port_out_of_range)
{
    set_secrets();
    char err[ERR_LEN];
    temp_file f;
    config *cfg = load_text(&f,
                            "{\"listen\": [{\"port\": 70000}], " CREDENTIALS
                            ", \"routes\": [" ROUTE("z", "zoom", "close") "]}",
                            err);
    drop_file(&f);
    cr_assert_null(cfg);
    char expected[128];
    snprintf(expected, sizeof(expected), "%s: listen[0].port: must be an integer 1..65535", f.path);
    cr_assert_str_eq(err, expected);
}

Test(config, range_checks_on_numbers_and_urls)
{
    set_secrets();
    char err[ERR_LEN];
    expect_failure(
        "{\"threads\": 257, \"body_limit\": 67108865, \"delivery\": {\"workers\": 0,"
        " \"retry_initial_ms\": 500, \"retry_max_ms\": 100}, \"close\": {\"base_url\": \"ftp://x\"},"
        " " CREDENTIALS ", \"routes\": [" ROUTE("z", "zoom", "close") "]}",
        err);
    assert_has(err, ": threads: must be an integer 0..256");
    assert_has(err, ": body_limit: must be an integer 1..67108864");
    assert_has(err, ": delivery.workers: must be an integer 1..64");
    assert_has(err, ": delivery.retry_max_ms: must be at least delivery.retry_initial_ms (500)");
    assert_has(err, ": close.base_url: must start with http:// or https://");
}

Test(config, duplicate_route_name)
{
    set_secrets();
    char err[ERR_LEN];
    expect_failure("{" CREDENTIALS ", \"routes\": [" ROUTE("zoom", "zoom", "close") "," ROUTE(
                       "zoom", "generic", "close") "]}",
                   err);
    assert_has(err, ": routes[1].name: duplicate route name \"zoom\" (also routes[0])");
}

Test(config, bad_route_name)
{
    set_secrets();
    char err[ERR_LEN];
    expect_failure("{" CREDENTIALS ", \"routes\": [" ROUTE("zoom/hook", "zoom", "close") "]}", err);
    assert_has(err, ": routes[0].name: must be 1..64 characters");
}

Test(config, unknown_source)
{
    set_secrets();
    char err[ERR_LEN];
    expect_failure("{" CREDENTIALS ", \"routes\": [" ROUTE("teams", "teams", "close") "]}", err);
    assert_has(err, ": routes[0].source: unknown source \"teams\"");
}

Test(config, unknown_credential)
{
    set_secrets();
    char err[ERR_LEN];
    expect_failure("{" CREDENTIALS
                   ", \"routes\": [" ROUTE("a", "zoom", "close") "," ROUTE("b", "zoom", "sales") "]}",
                   err);
    assert_has(err, ": routes[1].credential: no credential named \"sales\"");
    cr_assert_null(strstr(err, "routes[0]"), "%s", err);
}

Test(config, missing_rules_and_required_keys)
{
    set_secrets();
    char err[ERR_LEN];
    expect_failure(
        "{" CREDENTIALS ", \"routes\": [{\"name\": \"zoom\", \"source\": \"zoom\","
        " \"secret\": \"env:CFGTEST_ZOOM_SECRET\", \"credential\": \"close\"}, {\"name\": \"x\"}]}",
        err);
    assert_has(err, ": routes[0].rules: required");
    assert_has(err, ": routes[1].source: required");
    assert_has(err, ": routes[1].credential: required");
    assert_has(err, ": routes[1].rules: required");
}

Test(config, missing_routes)
{
    char err[ERR_LEN];
    expect_failure("{}", err);
    assert_has(err, ": routes: required");
}

Test(config, inline_secret_is_refused_and_not_echoed)
{
    set_secrets();
    char err[ERR_LEN];
    expect_failure(
        "{\"credentials\": {\"close\": {\"api_key\": \"api_INLINE_KEY_123456\"}},"
        " \"routes\": [{\"name\": \"zoom\", \"source\": \"zoom\", \"secret\": \"zm_INLINE_SECRET_987\","
        " \"credential\": \"close\", \"rules\": [{\"event\": \"*\", \"outcome_id\": \"outcome_o\"}]}]}",
        err);
    assert_has(err,
               ": routes[0].secret: must be a reference \"env:NAME\" or \"file:/path\" (inline secrets are "
               "not accepted)");
    assert_has(err, ": credentials.close.api_key: must be a reference");
    cr_assert_null(strstr(err, "INLINE"), "secret echoed: %s", err);
}

Test(config, unset_env_secret_fails_a_route)
{
    set_secrets();
    unsetenv("CFGTEST_UNSET_SECRET");
    char err[ERR_LEN];
    expect_failure("{" CREDENTIALS ", \"routes\": [{\"name\": \"zoom\", \"source\": \"zoom\","
                   " \"secret\": \"env:CFGTEST_UNSET_SECRET\", \"credential\": \"close\","
                   " \"rules\": [{\"event\": \"*\", \"outcome_id\": \"outcome_o\"}]}]}",
                   err);
    assert_has(err, ": routes[0].secret: environment variable CFGTEST_UNSET_SECRET is not set");
    /* The source is not built without its secret, so no second error about it. */
    cr_assert_eq(strchr(err, '\n'), NULL, "%s", err);
}

#define UNSET_KEY_CONFIG                                                                                     \
    "{\"credentials\": {\"close\": {\"api_key\": \"env:CFGTEST_UNSET_KEY\"}},"                               \
    " \"routes\": [" ROUTE("zoom", "zoom", "close") "]}"

/* No silent dry-run: by default an absent credential is an error naming it. */
Test(config, unset_env_credential_is_an_error_naming_it)
{
    set_secrets();
    unsetenv("CFGTEST_UNSET_KEY");
    char err[ERR_LEN];
    expect_failure(UNSET_KEY_CONFIG, err);
    assert_has(err, "credentials.close.api_key: credential \"close\" cannot be loaded");
    assert_has(err, "CFGTEST_UNSET_KEY is not set");
}

Test(config, unset_env_credential_is_absent_when_allowed)
{
    set_secrets();
    unsetenv("CFGTEST_UNSET_KEY");
    char err[ERR_LEN];
    temp_file f;
    write_file(&f, UNSET_KEY_CONFIG);
    config *cfg = config_load_mode(f.path, CONFIG_LOAD_ALLOW_ABSENT, NULL, err, ERR_LEN);
    drop_file(&f);
    cr_assert_not_null(cfg, "%s", err);
    const credential *c = config_find_credential(cfg, "close");
    cr_assert_null(c->secret);
    cr_assert_str_eq(c->secret_ref, "env:CFGTEST_UNSET_KEY");
    cr_assert_eq(cfg->routes[0].credential, c);
    config_free(cfg);
}

/* A credential may ask for dry-run itself; then its secret may be absent. */
Test(config, credential_dry_run_key_allows_an_absent_secret)
{
    set_secrets();
    unsetenv("CFGTEST_UNSET_KEY");
    char err[ERR_LEN];
    temp_file f;
    config *cfg = load_text(
        &f,
        "{\"credentials\": {\"close\": {\"api_key\": \"env:CFGTEST_UNSET_KEY\", \"dry_run\": true}},"
        " \"routes\": [" ROUTE("zoom", "zoom", "close") "]}",
        err);
    drop_file(&f);
    cr_assert_not_null(cfg, "%s", err);
    cr_assert(config_find_credential(cfg, "close")->dry_run);
    config_free(cfg);
    expect_failure("{\"credentials\": {\"close\": {\"api_key\": \"env:CFGTEST_CLOSE_KEY\", \"dry_run\": 1}},"
                   " \"routes\": [" ROUTE("zoom", "zoom", "close") "]}",
                   err);
    assert_has(err, "credentials.close.dry_run: must be true or false");
}

/* dlq's load resolves nothing: no route or credential secret is needed. */
Test(config, no_secrets_mode_loads_without_any_secret)
{
    unsetenv("CFGTEST_ZOOM_SECRET");
    unsetenv("CFGTEST_CLOSE_KEY");
    char err[ERR_LEN];
    temp_file f;
    write_file(&f, "{" CREDENTIALS ", \"store\": {\"path\": \"/tmp/x.db\"}, \"routes\": [" ROUTE(
                       "zoom", "zoom", "close") "]}");
    config *cfg = config_load_mode(f.path, CONFIG_LOAD_NO_SECRETS, NULL, err, ERR_LEN);
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_str_eq(cfg->store.path, "/tmp/x.db");
    config_free(cfg);
    /* try's load: its route's secret is still required */
    cfg = config_load_mode(f.path, CONFIG_LOAD_NO_SECRETS | CONFIG_LOAD_ALLOW_ABSENT, "zoom", err, ERR_LEN);
    drop_file(&f);
    cr_assert_null(cfg);
    assert_has(err, "routes[0].secret:");
}

/* A FIFO as a file: secret must not hang the load. */
Test(config, fifo_secret_is_refused_without_hanging, .timeout = 5)
{
    char fifo[] = "/tmp/closehook_fifo_XXXXXX";
    int fd = mkstemp(fifo);
    cr_assert(fd >= 0);
    close(fd);
    unlink(fifo);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    char ref[64], err[256];
    snprintf(ref, sizeof(ref), "file:%s", fifo);
    int absent = -1;
    char *s = secret_resolve(ref, &absent, err, sizeof(err));
    unlink(fifo);
    cr_assert_null(s);
    cr_assert_eq(absent, 0);
    cr_assert(strstr(err, "not a regular file") != NULL, "%s", err);
}

Test(config, several_errors_reported_together)
{
    set_secrets();
    char err[ERR_LEN];
    expect_failure(
        "{\"listen\": [{\"port\": 0}], \"resolve\": {\"window_s\": -1}, \"bogus\": true, " CREDENTIALS
        ", \"routes\": [" ROUTE("a", "zoom", "sales") "]}",
        err);
    assert_has(err, ": listen[0].port: must be an integer 1..65535");
    assert_has(err, ": resolve.window_s: must be an integer");
    assert_has(err, ": bogus: unknown key");
    assert_has(err, ": routes[0].credential: no credential named \"sales\"");
    size_t lines = 1;
    for (const char *p = err; *p; p++)
        lines += *p == '\n';
    cr_assert_eq(lines, 4, "%s", err);
}

Test(config, small_error_buffer_truncates_safely)
{
    char err[16];
    memset(err, 'x', sizeof(err));
    temp_file f;
    write_file(&f, "{\"a\": 1, \"b\": 2, \"c\": 3}");
    cr_assert_null(config_load(f.path, err, sizeof(err)));
    drop_file(&f);
    cr_assert_eq(strlen(err), sizeof(err) - 1);
    cr_assert_null(config_load("/nonexistent", NULL, 0));
}

Test(config, resolve_secret_file_strips_one_newline)
{
    temp_file f;
    int absent = -1;
    char err[256];
    write_file(&f, "file-secret\r\n");
    char *s = secret_resolve("", &absent, err, sizeof(err));
    cr_assert_null(s);
    char ref[80];
    snprintf(ref, sizeof(ref), "file:%s", f.path);
    s = secret_resolve(ref, &absent, err, sizeof(err));
    cr_assert_str_eq(s, "file-secret");
    cr_assert_eq(absent, 0);
    free(s);
    drop_file(&f);

    write_file(&f, "two\n\n");
    snprintf(ref, sizeof(ref), "file:%s", f.path);
    s = secret_resolve(ref, &absent, err, sizeof(err));
    cr_assert_str_eq(s, "two\n");
    free(s);
    drop_file(&f);

    s = secret_resolve(ref, &absent, err, sizeof(err));
    cr_assert_null(s);
    cr_assert_eq(absent, 1);
    assert_has(err, "does not exist");
}

Test(config, resolve_secret_refuses_malformed_references)
{
    int absent = -1;
    char err[256];
    const char *bad[] = {"sk_live_abcdef", "file:relative/path", "env:", "env:1BAD", "ENV:X", NULL};
    for (size_t i = 0; bad[i] != NULL; i++) {
        cr_assert_null(secret_resolve(bad[i], &absent, err, sizeof(err)), "%s", bad[i]);
        cr_assert_eq(absent, 0, "%s", bad[i]);
    }
    cr_assert_null(secret_resolve("sk_live_abcdef", &absent, err, sizeof(err)));
    cr_assert_null(strstr(err, "sk_live"), "%s", err);

    setenv("CFGTEST_ENV", "from-env", 1);
    char *s = secret_resolve("env:CFGTEST_ENV", &absent, err, sizeof(err));
    cr_assert_str_eq(s, "from-env");
    free(s);
}

Test(config, file_secret_in_a_route)
{
    set_secrets();
    temp_file secret;
    write_file(&secret, "route-file-secret\n");
    char text[1024];
    snprintf(text, sizeof(text),
             "{" CREDENTIALS
             ", \"routes\": [{\"name\": \"g\", \"source\": \"generic\", \"secret\": \"file:%s\","
             " \"credential\": \"close\", \"rules\": [{\"event\": \"*\", \"outcome_id\": \"outcome_o\"}]}]}",
             secret.path);
    char err[ERR_LEN];
    temp_file f;
    config *cfg = load_text(&f, text, err);
    drop_file(&f);
    drop_file(&secret);
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_not_null(cfg->routes[0].source);
    config_free(cfg);
}

Test(config, find_route_compares_length_exactly)
{
    set_secrets();
    char err[ERR_LEN];
    temp_file f;
    config *cfg = load_text(&f, "{" CREDENTIALS ", \"routes\": [" ROUTE("zoom", "zoom", "close") "]}", err);
    drop_file(&f);
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_null(config_find_route(cfg, "zoo", 3));
    cr_assert_null(config_find_route(cfg, "zoomx", 5));
    cr_assert_not_null(config_find_route(cfg, "zoomx", 4));
    cr_assert_null(config_find_route(cfg, "", 0));
    config_free(cfg);
}

/* Captures what config_print writes to stdout. */
static char *print_to_string(const config *cfg)
{
    temp_file out;
    write_file(&out, "");
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    FILE *f = fopen(out.path, "w");
    dup2(fileno(f), STDOUT_FILENO);
    config_print(cfg);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    fclose(f);
    f = fopen(out.path, "r");
    static char buf[16384];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    drop_file(&out);
    return buf;
}

Test(config, print_shows_references_never_secrets)
{
    set_secrets();
    char err[ERR_LEN];
    temp_file f;
    config *cfg = load_text(&f, "{" CREDENTIALS ", \"routes\": [" ROUTE("zoom", "zoom", "close") "]}", err);
    drop_file(&f);
    cr_assert_not_null(cfg, "%s", err);
    const char *text = print_to_string(cfg);
    cr_assert_null(strstr(text, "api_close_key_value"), "%s", text);
    cr_assert_null(strstr(text, "zoom-secret-value"), "%s", text);
    cr_assert_not_null(strchr(text, '\n'), "not beautified: %s", text);
    yajl_val root = json_parse(text, strlen(text), err, sizeof(err));
    cr_assert_not_null(root, "%s", err);
    cr_assert_str_eq(json_scalar(json_get(root, "credentials.close.api_key.ref")), "env:CFGTEST_CLOSE_KEY");
    cr_assert_str_eq(json_scalar(json_get(root, "credentials.close.api_key.resolved")), "true");
    cr_assert_str_eq(json_scalar(json_get(root, "routes.0.secret.ref")), "env:CFGTEST_ZOOM_SECRET");
    cr_assert_str_eq(json_scalar(json_get(root, "routes.0.dry_run")), "false");
    cr_assert_str_eq(json_scalar(json_get(root, "routes.0.rules")), "1");
    cr_assert_str_eq(json_scalar(json_get(root, "listen.0.port")), "8080");
    cr_assert_str_eq(json_scalar(json_get(root, "delivery.max_age_s")), "259200");
    yajl_tree_free(root);
    config_free(cfg);
}

Test(config, example_config_loads)
{
    setenv("ZOOM_WEBHOOK_SECRET", "example-zoom-secret", 1);
    setenv("NOTETAKER_WEBHOOK_SECRET", "example-notetaker-secret", 1);
    setenv("CALENDLY_SIGNING_KEY", "example-calendly-key", 1);
    /* stdwebhooks secrets must be whsec_ + base64: this is "example-recorder-key" */
    setenv("RECORDER_WEBHOOK_SECRET", "whsec_ZXhhbXBsZS1yZWNvcmRlci1rZXk=", 1);
    setenv("GRAPH_CLIENT_STATE", "example-graph-client-state", 1);
    setenv("GOOGLE_CHANNEL_TOKEN", "example-google-channel-token", 1);
    unsetenv("CLOSE_API_KEY"); /* as run-example.sh without a key: serve --dry-run --allow-placeholders */
    char err[ERR_LEN];
    config *cfg =
        config_load_mode(SAMPLES_DIR "/../../config/closehook.example.json",
                         CONFIG_LOAD_ALLOW_ABSENT | CONFIG_LOAD_ALLOW_PLACEHOLDERS, NULL, err, sizeof(err));
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_eq(cfg->nlisteners, 1);
    cr_assert_str_eq(cfg->listeners[0].host, "127.0.0.1");
    cr_assert_eq(cfg->listeners[0].port, 8080);
    cr_assert_str_eq(cfg->store.path, "closehook.db");
    cr_assert_eq(cfg->nroutes, 6);
    const route *zoom = config_find_route(cfg, "zoom", 4);
    const route *notetaker = config_find_route(cfg, "notetaker", 9);
    cr_assert_not_null(zoom);
    cr_assert_not_null(notetaker);
    cr_assert_str_eq(zoom->source->name, "zoom");
    cr_assert_str_eq(notetaker->source->name, "generic");
    cr_assert_eq(zoom->rules.count, 2);
    cr_assert_eq(notetaker->rules.count, 1);
    static const char *const senders[][2] = {
        {"calendly", "calendly"}, {"recorder", "stdwebhooks"}, {"outlook", "msgraph"}, {"google", "gcal"}};
    for (size_t i = 0; i < sizeof(senders) / sizeof(senders[0]); i++) {
        const route *r = config_find_route(cfg, senders[i][0], strlen(senders[i][0]));
        cr_assert_not_null(r, "route %s", senders[i][0]);
        cr_assert_str_eq(r->source->name, senders[i][1]);
        cr_assert_gt(r->rules.count, 0, "route %s has rules", senders[i][0]);
    }
    cr_assert_null(config_find_credential(cfg, "close")->secret, "CLOSE_API_KEY unset: dry-run");
    config_free(cfg);
}

/* ---- OAuth credentials ---- */

static void set_oauth_secrets(void)
{
    set_secrets();
    setenv("CFGTEST_OAUTH_ACCESS", "oauth-access-value", 1);
    setenv("CFGTEST_OAUTH_REFRESH", "oauth-refresh-value", 1);
    setenv("CFGTEST_OAUTH_CLIENT_SECRET", "oauth-client-secret-value", 1);
}

#define OAUTH_FIELDS(extra)                                                                                  \
    "{\"access_token\": \"env:CFGTEST_OAUTH_ACCESS\", \"refresh_token\": \"env:CFGTEST_OAUTH_REFRESH\","     \
    " \"client_id\": \"oa2client_1\", \"client_secret\": \"env:CFGTEST_OAUTH_CLIENT_SECRET\"" extra "}"
#define OAUTH_ROUTES(cred) ", \"routes\": [" ROUTE("zoom", "zoom", cred) "]}"
#define OAUTH_CONFIG(extra)                                                                                  \
    "{\"close\": {\"base_url\": \"http://127.0.0.1:9999/\"},"                                                \
    " \"credentials\": {\"crm\": {\"oauth\": " OAUTH_FIELDS(extra) "}}" OAUTH_ROUTES("crm")

static config *load_ok(const char *text)
{
    char err[ERR_LEN];
    temp_file f;
    config *cfg = load_text(&f, text, err);
    drop_file(&f);
    cr_assert_not_null(cfg, "%s", err);
    return cfg;
}

Test(config, oauth_credential_loads_with_default_token_url)
{
    set_oauth_secrets();
    config *cfg = load_ok(OAUTH_CONFIG(""));
    const credential *c = config_find_credential(cfg, "crm");
    cr_assert_eq(c->kind, CREDENTIAL_OAUTH);
    cr_assert_str_eq(c->secret_ref, "env:CFGTEST_OAUTH_ACCESS");
    cr_assert_str_eq(c->secret, "oauth-access-value");
    cr_assert_str_eq(c->oauth.refresh_token_ref, "env:CFGTEST_OAUTH_REFRESH");
    cr_assert_str_eq(c->oauth.refresh_token, "oauth-refresh-value");
    cr_assert_str_eq(c->oauth.client_id, "oa2client_1");
    cr_assert_str_eq(c->oauth.client_secret, "oauth-client-secret-value");
    cr_assert_str_eq(c->oauth.token_url, "http://127.0.0.1:9999/oauth2/token/");
    config_free(cfg);

    cfg = load_ok(OAUTH_CONFIG(", \"token_url\": \"https://auth.example.com/token/\""));
    cr_assert_str_eq(config_find_credential(cfg, "crm")->oauth.token_url, "https://auth.example.com/token/");
    config_free(cfg);
}

Test(config, oauth_credential_mistakes_are_reported_without_secrets)
{
    set_oauth_secrets();
    char err[ERR_LEN];
    expect_failure(
        "{\"credentials\": {"
        "\"a\": {\"oauth\": {\"access_token\": \"inline-ACCESS-123\", \"client_id\": \"\","
        " \"client_secret\": \"env:CFGTEST_OAUTH_CLIENT_SECRET\", \"token_url\": \"ftp://x\","
        " \"scope\": \"all\"}},"
        "\"b\": {\"oauth\": \"env:CFGTEST_OAUTH_ACCESS\"},"
        "\"c\": {\"oauth\": " OAUTH_FIELDS("") ", \"api_key\": \"env:CFGTEST_CLOSE_KEY\"}}" OAUTH_ROUTES("a"),
        err);
    assert_has(err, ": credentials.a.oauth.access_token: must be a reference");
    assert_has(err, ": credentials.a.oauth.refresh_token: required");
    assert_has(err, ": credentials.a.oauth.client_id: must not be empty");
    assert_has(err, ": credentials.a.oauth.token_url: must start with http:// or https://");
    assert_has(err, ": credentials.a.oauth.scope: unknown key");
    assert_has(err, ": credentials.b.oauth: must be an object");
    assert_has(err, ": credentials.c: must have exactly one of \"api_key\", \"bearer_token\" or \"oauth\"");
    cr_assert_null(strstr(err, "ACCESS-123"), "secret echoed: %s", err);
}

Test(config, oauth_credential_with_an_absent_secret_is_absent)
{
    set_oauth_secrets();
    unsetenv("CFGTEST_OAUTH_REFRESH");
    char err[ERR_LEN];
    temp_file f;
    write_file(&f, OAUTH_CONFIG(""));
    config *cfg = config_load_mode(f.path, CONFIG_LOAD_ALLOW_ABSENT, NULL, err, ERR_LEN);
    drop_file(&f);
    cr_assert_not_null(cfg, "%s", err);
    const credential *c = config_find_credential(cfg, "crm");
    /* a token that cannot be refreshed is not used at all: the route dry-runs */
    cr_assert_null(c->secret);
    cr_assert_null(c->oauth.refresh_token);
    cr_assert_null(c->oauth.client_secret);
    cr_assert_str_eq(c->oauth.refresh_token_ref, "env:CFGTEST_OAUTH_REFRESH");
    cr_assert_str_eq(c->oauth.client_id, "oa2client_1");
    config_free(cfg);
}

Test(config, print_shows_oauth_references_never_tokens)
{
    set_oauth_secrets();
    config *cfg = load_ok(OAUTH_CONFIG(""));
    const char *text = print_to_string(cfg);
    cr_assert_null(strstr(text, "oauth-access-value"), "%s", text);
    cr_assert_null(strstr(text, "oauth-refresh-value"), "%s", text);
    cr_assert_null(strstr(text, "oauth-client-secret-value"), "%s", text);
    char err[256];
    yajl_val root = json_parse(text, strlen(text), err, sizeof(err));
    cr_assert_not_null(root, "%s", err);
    cr_assert_str_eq(json_scalar(json_get(root, "credentials.crm.oauth.access_token.ref")),
                     "env:CFGTEST_OAUTH_ACCESS");
    cr_assert_str_eq(json_scalar(json_get(root, "credentials.crm.oauth.refresh_token.resolved")), "true");
    cr_assert_str_eq(json_scalar(json_get(root, "credentials.crm.oauth.client_secret.ref")),
                     "env:CFGTEST_OAUTH_CLIENT_SECRET");
    cr_assert_str_eq(json_scalar(json_get(root, "credentials.crm.oauth.client_id")), "oa2client_1");
    cr_assert_str_eq(json_scalar(json_get(root, "credentials.crm.oauth.token_url")),
                     "http://127.0.0.1:9999/oauth2/token/");
    cr_assert_str_eq(json_scalar(json_get(root, "routes.0.dry_run")), "false");
    yajl_tree_free(root);
    config_free(cfg);
}

/* yajl keeps both members and readers take the first, so a second "threads"
 * (often the operator's intended value) was ignored without a word. */
Test(config, a_key_given_twice_is_an_error_naming_its_path)
{
    set_secrets();
    char err[ERR_LEN];
    expect_failure("{" CREDENTIALS ", \"threads\": 1, \"threads\": 4, \"routes\": []}", err);
    assert_has(err, ": threads: given more than once");
    expect_failure("{" CREDENTIALS ", \"store\": {\"path\": \"a.db\", \"path\": \"b.db\"}, \"routes\": []}",
                   err);
    assert_has(err, ": store.path: given more than once");
}

Test(config, a_syntax_error_names_line_and_column)
{
    char err[ERR_LEN];
    expect_failure("{\n  \"threads\": 1,\n  \"routes\" []\n}", err);
    assert_has(err, "invalid JSON at line 3, column");
}

Test(config, base_url_must_be_a_safe_origin)
{
    set_secrets();
    static const struct {
        const char *url, *want;
    } bad[] = {
        {"https://api.close.com/api/v1/", "without a path"},
        {"https://user:pw@api.close.com", "user-info"},
        {"http://api.close.com", "in clear"},
        {"http://10.0.0.5:8080", "in clear"},
    };
    char text[1024], err[ERR_LEN];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "{" CREDENTIALS ", \"close\": {\"base_url\": \"%s\"}, \"routes\": []}",
                 bad[i].url);
        expect_failure(text, err);
        assert_has(err, "close.base_url: ");
        assert_has(err, bad[i].want);
    }
    static const char *const good[] = {"https://api.close.com/", "http://127.0.0.1:9000", "http://localhost",
                                       "http://[::1]:8080"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        snprintf(text, sizeof(text),
                 "{" CREDENTIALS
                 ", \"close\": {\"base_url\": \"%s\"}, \"routes\": [" ROUTE("zoom", "zoom", "close") "]}",
                 good[i]);
        temp_file f;
        config *cfg = load_text(&f, text, err);
        drop_file(&f);
        cr_expect_not_null(cfg, "%s: %s", good[i], err);
        config_free(cfg);
    }
}
