/* Tests for json.c: the one parser every module uses must refuse what would
 * crash or fool a tree walk (deep nesting, \u0000) and name where a syntax
 * error is, while ordinary documents still parse. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* depth opening brackets, then as many closing ones. */
static char *nested(size_t depth, size_t *len)
{
    char *s = malloc(2 * depth + 1);
    cr_assert_not_null(s);
    memset(s, '[', depth);
    memset(s + depth, ']', depth);
    s[2 * depth] = '\0';
    *len = 2 * depth;
    return s;
}

static yajl_val parse(const char *text, char *err, size_t errlen)
{
    return json_parse(text, strlen(text), err, errlen);
}

Test(json, nesting_up_to_the_bound_parses)
{
    size_t len;
    char *text = nested(JSON_MAX_DEPTH, &len);
    char err[256] = "";
    yajl_val v = json_parse(text, len, err, sizeof(err));
    cr_expect_not_null(v, "%s", err);
    yajl_tree_free(v);
    free(text);
}

Test(json, nesting_past_the_bound_is_refused)
{
    size_t len;
    char *text = nested(JSON_MAX_DEPTH + 1, &len);
    char err[256] = "";
    cr_expect_null(json_parse(text, len, err, sizeof(err)));
    cr_expect(strstr(err, "nested deeper than 64") != NULL, "%s", err);
    free(text);
}

/* The finding: 1.3M '[' then 1.3M ']' crashed yajl_tree_free's recursion. */
Test(json, a_million_brackets_are_refused_without_a_crash)
{
    size_t len;
    char *text = nested(1300000, &len);
    char err[256] = "";
    cr_expect_null(json_parse(text, len, err, sizeof(err)));
    cr_expect(strstr(err, "nested deeper") != NULL, "%s", err);
    free(text);
}

Test(json, deep_objects_are_refused_too)
{
    char text[1024] = "";
    for (int i = 0; i < JSON_MAX_DEPTH + 1; i++)
        strcat(text, "{\"a\":");
    strcat(text, "1");
    for (int i = 0; i < JSON_MAX_DEPTH + 1; i++)
        strcat(text, "}");
    char err[256] = "";
    cr_expect_null(parse(text, err, sizeof(err)));
    cr_expect(strstr(err, "nested deeper") != NULL, "%s", err);
}

/* The finding: "acti_n\u0000ul" became "acti_n" in the tree. */
Test(json, escaped_nul_in_a_value_is_refused)
{
    char err[256] = "";
    cr_expect_null(parse("{\"activity_id\":\"acti_n\\u0000ul\"}", err, sizeof(err)));
    cr_expect(strstr(err, "\\u0000") != NULL, "%s", err);
}

Test(json, escaped_nul_in_a_key_is_refused)
{
    char err[256] = "";
    cr_expect_null(parse("{\"a\\u0000b\":1}", err, sizeof(err)));
    cr_expect(strstr(err, "\\u0000") != NULL, "%s", err);
}

Test(json, raw_nul_is_refused)
{
    char err[256] = "";
    cr_expect_null(json_parse("{\"a\":\"x\0y\"}", 11, err, sizeof(err)));
    cr_expect(strstr(err, "NUL") != NULL, "%s", err);
}

Test(json, syntax_errors_name_line_and_column)
{
    char err[256] = "";
    cr_expect_null(parse("{\n  \"a\": 1,\n  \"b\" 2\n}", err, sizeof(err)));
    cr_expect(strstr(err, "line 3, column") != NULL, "%s", err);
}

Test(json, ordinary_documents_with_comments_parse)
{
    char err[256] = "";
    yajl_val v =
        parse("/* c */ {\"a\": {\"b\": [1, \"x\\u00e9\", true, null]}, \"n\": -1.5e3}", err, sizeof(err));
    cr_assert_not_null(v, "%s", err);
    cr_expect_str_eq(json_scalar(json_get(v, "a.b.1")), "x\xc3\xa9");
    cr_expect_str_eq(json_scalar(json_get(v, "n")), "-1.5e3");
    yajl_tree_free(v);
}

Test(json, duplicate_keys_are_found_with_their_path)
{
    char err[256] = "", path[128];
    yajl_val v = parse("{\"a\": [{\"x\": 1}, {\"y\": 1, \"y\": 2}], \"b\": 1}", err, sizeof(err));
    cr_assert_not_null(v, "%s", err);
    cr_expect_eq(json_find_duplicate_key(v, path, sizeof(path)), 1);
    cr_expect_str_eq(path, "a[1].y");
    yajl_tree_free(v);
    v = parse("{\"a\": [{\"x\": 1}, {\"y\": 1}], \"b\": {\"a\": 1}}", err, sizeof(err));
    cr_expect_eq(json_find_duplicate_key(v, path, sizeof(path)), 0);
    yajl_tree_free(v);
}

Test(json, string_value_lines_skip_keys_and_comments)
{
    static const char text[] = "// \"not a value\"\n"
                               "{\"a\": \"one\",\n"
                               " /* \"nor this\" */ \"b\": [1,\n"
                               "   \"two\", {\"c\":\n"
                               "\n"
                               "     \"three\"}]}\n";
    size_t n = 0;
    size_t *lines = json_string_value_lines(text, strlen(text), &n);
    cr_assert_not_null(lines);
    cr_assert_eq(n, 3);
    cr_expect_eq(lines[0], 2);
    cr_expect_eq(lines[1], 4);
    cr_expect_eq(lines[2], 6);
    free(lines);
    cr_expect_null(json_string_value_lines("{\"a\": ", 6, &n));
    cr_expect_eq(n, 0);
}
