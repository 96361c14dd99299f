/* Tests for template.c: interpolation, escaping, lists, sections and syntax
 * errors, mostly against the Zoom summary sample a real note would use. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "template.h"

static yajl_val tree;

static yajl_val parse_text(const char *text)
{
    char err[256];
    yajl_val v = json_parse(text, strlen(text), err, sizeof(err));
    cr_assert_not_null(v, "parse: %s", err);
    return v;
}

static void load_sample(void)
{
    FILE *f = fopen(SAMPLES_DIR "/zoom/summary_completed.json", "rb");
    cr_assert_not_null(f);
    char buf[8192];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    tree = parse_text(buf);
}

static void free_tree(void)
{
    yajl_tree_free(tree);
    tree = NULL;
}

/* Renders against `root` and asserts the exact output. */
static void expect(yajl_val root, const char *tmpl, const char *want)
{
    char err[256] = "";
    char *got = template_render(tmpl, root, err, sizeof(err));
    cr_assert_not_null(got, "render %s: %s", tmpl, err);
    cr_expect_str_eq(got, want, "template %s", tmpl);
    free(got);
}

/* Asserts both check and render fail with a message containing `needle`. */
static void expect_error(const char *tmpl, const char *needle)
{
    char err[256] = "";
    cr_expect_eq(template_check(tmpl, err, sizeof(err)), -1, "check %s", tmpl);
    cr_expect(strstr(err, needle) != NULL, "check %s: \"%s\" lacks \"%s\"", tmpl, err, needle);
    yajl_val root = parse_text("{\"a\":\"x\"}");
    err[0] = '\0';
    char *got = template_render(tmpl, root, err, sizeof(err));
    cr_expect_null(got, "render %s", tmpl);
    free(got);
    cr_expect(strstr(err, needle) != NULL, "render %s: \"%s\" lacks \"%s\"", tmpl, err, needle);
    yajl_tree_free(root);
}

TestSuite(template, .init = load_sample, .fini = free_tree);

Test(template, plain_and_nested_paths)
{
    expect(tree, "{{event}}", "meeting.summary_completed");
    expect(tree, "Topic: {{payload.object.summary_title}}.", "Topic: Pricing follow-up with Acme.");
    expect(tree, "{{ payload.object.meeting_host_email }}", "host@seller.example");
}

Test(template, array_index_path)
{
    expect(tree, "{{payload.object.summary_details.1.label}}", "Security");
    expect(tree, "{{payload.object.next_steps.0}}", "Send revised quote by Thursday");
    expect(tree, "[{{payload.object.next_steps.9}}]", "[]");
}

Test(template, numbers_keep_their_spelling)
{
    expect(tree, "{{payload.object.meeting_id}}", "85746392011");
    expect(tree, "{{event_ts}}", "1764068700456");
    yajl_val v = parse_text("{\"f\":1.50,\"e\":1e3,\"n\":-0}");
    expect(v, "{{f}} {{e}} {{n}}", "1.50 1e3 -0");
    yajl_tree_free(v);
}

Test(template, booleans_and_null)
{
    yajl_val v = parse_text("{\"yes\":true,\"no\":false,\"nothing\":null}");
    expect(v, "{{yes}}/{{no}}/[{{nothing}}]", "true/false/[]");
    yajl_tree_free(v);
}

Test(template, missing_path_renders_empty)
{
    expect(tree, "a{{payload.nope.deeper}}b", "ab");
    expect(tree, "a{{event.too_deep}}b", "ab");
    expect(tree, "", "");
}

Test(template, every_special_char_is_escaped)
{
    expect(tree, "{{payload.object.summary_overview}}",
           "Acme wants the Growth plan for 40 seats if SSO is included. &lt;Decision&gt; due Friday &amp; "
           "legal review pending.");
    yajl_val v = parse_text("{\"s\":\"a&b<c>d\\\"e'f\"}");
    expect(v, "{{s}}", "a&amp;b&lt;c&gt;d&quot;e&#39;f");
    yajl_tree_free(v);
}

Test(template, escape_html_appends)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    cr_assert_eq(template_escape_html("x<", 2, &buf, &len, &cap), 0);
    cr_assert_eq(template_escape_html("&'", 2, &buf, &len, &cap), 0);
    cr_expect_eq(len, strlen("x&lt;&amp;&#39;"));
    cr_expect_str_eq(buf, "x&lt;&amp;&#39;");
    free(buf);
}

Test(template, template_html_is_kept)
{
    expect(tree, "<p class=\"t\">{{payload.object.summary_title}} & co</p>",
           "<p class=\"t\">Pricing follow-up with Acme & co</p>");
}

Test(template, array_of_scalars_renders_a_list)
{
    expect(
        tree, "{{payload.object.next_steps}}",
        "<ul><li>Send revised quote by Thursday</li><li>Book security review with their IT lead</li></ul>");
    yajl_val v = parse_text("{\"l\":[\"<a>\",2,true],\"empty\":[]}");
    expect(v, "{{l}}[{{empty}}]", "<ul><li>&lt;a&gt;</li><li>2</li><li>true</li></ul>[]");
    yajl_tree_free(v);
}

Test(template, array_of_objects_and_objects_render_nothing)
{
    expect(tree, "[{{payload.object.summary_details}}][{{payload.object}}]", "[][]");
}

Test(template, section_over_objects)
{
    expect(tree,
           "{{#payload.object.summary_details}}<h3>{{label}}</h3><p>{{ summary "
           "}}</p>{{/payload.object.summary_details}}",
           "<h3>Pricing</h3><p>Discussed 40 seats on Growth; asked for 12% discount.</p>"
           "<h3>Security</h3><p>SSO and audit log are must-haves.</p>");
}

Test(template, section_falls_back_to_root)
{
    expect(tree, "{{#payload.object.summary_details}}{{label}}@{{event}};{{/payload.object.summary_details}}",
           "Pricing@meeting.summary_completed;Security@meeting.summary_completed;");
}

Test(template, dot_is_the_current_item)
{
    expect(tree, "{{# payload.object.next_steps }}- {{ . }}\n{{/ payload.object.next_steps }}",
           "- Send revised quote by Thursday\n- Book security review with their IT lead\n");
    yajl_val v = parse_text("{\"l\":[\"a&b\",\"c\"]}");
    expect(v, "{{#l}}<i>{{.}}</i>{{/l}}", "<i>a&amp;b</i><i>c</i>");
    yajl_tree_free(v);
}

Test(template, section_on_non_arrays)
{
    yajl_val v = parse_text("{\"t\":true,\"f\":false,\"s\":\"x\",\"e\":\"\",\"o\":{\"k\":\"in\"},\"z\":0}");
    expect(v, "{{#t}}T{{/t}}{{#f}}F{{/f}}{{#s}}S{{.}}{{/s}}{{#e}}E{{/e}}{{#missing}}M{{/missing}}", "TSx");
    expect(v, "{{#o}}{{k}}{{/o}}{{#z}}zero{{/z}}", "inzero");
    yajl_tree_free(v);
}

Test(template, inverted_sections)
{
    yajl_val v = parse_text("{\"t\":true,\"f\":false,\"e\":[],\"l\":[1],\"n\":null}");
    expect(v, "{{^t}}1{{/t}}{{^f}}2{{/f}}{{^e}}3{{/e}}{{^l}}4{{/l}}{{^n}}5{{/n}}{{^missing}}6{{/missing}}",
           "2356");
    yajl_tree_free(v);
    expect(tree, "{{^payload.object.next_steps}}none{{/payload.object.next_steps}}", "");
}

Test(template, nested_sections)
{
    yajl_val v = parse_text("{\"title\":\"T\",\"groups\":[{\"name\":\"g1\",\"items\":[\"a\",\"b\"]},"
                            "{\"name\":\"g2\",\"items\":[]}]}");
    expect(v,
           "{{#groups}}[{{name}}:{{#items}}{{.}}/{{name}}/{{title}} "
           "{{/items}}{{^items}}empty{{/items}}]{{/groups}}",
           "[g1:a/g1/T b/g1/T ][g2:empty]");
    yajl_tree_free(v);
}

Test(template, syntax_errors_name_the_offset)
{
    expect_error("ab{{a", "unclosed tag at offset 2");
    expect_error("{{a {{b}}", "unclosed tag at offset 0");
    expect_error("x{{#a}}y{{/b}}", "closing tag {{/b}} at offset 8 does not match {{#a}} at offset 1");
    expect_error("x{{/a}}", "closing tag {{/a}} at offset 1 has no open section");
    expect_error("0123{{#a}}{{^b}}{{/b}}", "section {{#a}} at offset 4 is never closed");
    expect_error("abc{{ }}", "empty tag name at offset 3");
    expect_error("{{#}}{{/}}", "empty tag name at offset 0");
    expect_error("<p>{{{a}}}</p>", "brace in tag name at offset 3");
}

Test(template, check_accepts_good_templates)
{
    char err[256] = "";
    cr_expect_eq(template_check("<p>{{a}}</p>{{#b}}{{.}}{{/b}}{{^c}}-{{/c}} } { }}", err, sizeof(err)), 0,
                 "%s", err);
}

Test(template, deep_data_is_not_recursed)
{
    /* A hostile payload nests as deep as json_parse lets it (deeper ones are
     * refused there); rendering it must not walk that depth. */
    enum { DEPTH = JSON_MAX_DEPTH };
    char *text = malloc(DEPTH * 6 + 16);
    cr_assert_not_null(text);
    size_t n = 0;
    for (int i = 0; i < DEPTH; i++)
        n += (size_t)sprintf(text + n, "{\"a\":");
    n += (size_t)sprintf(text + n, "1");
    for (int i = 0; i < DEPTH; i++)
        text[n++] = '}';
    text[n] = '\0';
    char err[256];
    yajl_val v = json_parse(text, n, err, sizeof(err));
    free(text);
    cr_assert_not_null(v, "%s", err);
    expect(v, "[{{a}}][{{#a}}x{{/a}}]", "[][x]");
    yajl_tree_free(v);
}

Test(template, output_is_capped)
{
    /* A section nested over the same list squares a hostile array's size. */
    enum { ITEMS = 1500 };
    char *text = malloc(ITEMS * 14 + 16);
    cr_assert_not_null(text);
    size_t n = (size_t)sprintf(text, "{\"l\":[");
    for (int i = 0; i < ITEMS; i++)
        n += (size_t)sprintf(text + n, "%s\"0123456789\"", i ? "," : "");
    n += (size_t)sprintf(text + n, "]}");
    yajl_val v = parse_text(text);
    free(text);
    char err[256] = "";
    char *out = template_render("{{#l}}{{#l}}{{.}}{{/l}}{{/l}}", v, err, sizeof(err));
    cr_expect_null(out);
    free(out);
    cr_expect(strstr(err, "rendered output exceeds") != NULL, "%s", err);
    out = template_render("{{#l}}{{.}}{{/l}}", v, err, sizeof(err));
    cr_assert_not_null(out, "%s", err);
    cr_expect_eq(strlen(out), (size_t)ITEMS * 10);
    free(out);
    yajl_tree_free(v);
}
