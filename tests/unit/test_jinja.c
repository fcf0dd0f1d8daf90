/*
 * test_jinja.c - the sandboxed Jinja interpreter: each construct, filter and
 * test against the output Python's jinja2 gives (trim_blocks, lstrip_blocks,
 * transformers' tojson), and every error path (syntax errors, unknown
 * filters, raise_exception, the step, output, memory and recursion limits).
 * tests/python/test_chat_templates.py compares with jinja2 itself.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/jinja.h"

#define NOW 1721952000 /* 2024-07-26 00:00:00 UTC */

static const char *VARS =
    "{\"messages\": [{\"role\": \"system\", \"content\": \"sys\"},"
    "                {\"role\": \"user\", \"content\": \"Hi  \"},"
    "                {\"role\": \"assistant\", \"content\": \" yo \"},"
    "                {\"role\": \"user\", \"content\": \"x\", \"name\": \"bob\"}],"
    " \"bos_token\": \"<s>\", \"eos_token\": \"</s>\", \"add_generation_prompt\": true,"
    " \"tools\": null, \"n\": 3, \"f\": 2.5, \"s\": \"a,b\", \"d\": {\"k\": \"v\", \"items\": 5}}";

/* Render src with VARS; returns the output (caller frees) or NULL with err. */
static char *render_lim(const char *src, const struct jinja_limits *lim, char *err, size_t n)
{
    struct jinja_template *t = jinja_compile(src, strlen(src), err, n);
    if (t == NULL)
        return NULL;
    json_error_t je;
    json_t *vars = json_loads(VARS, 0, &je);
    assert_non_null(vars);
    char *out = jinja_render(t, vars, NOW, lim, NULL, err, n);
    json_decref(vars);
    jinja_free(t);
    return out;
}

static char *render(const char *src, char *err, size_t n)
{
    return render_lim(src, NULL, err, n);
}

struct case_ok {
    const char *src, *want;
};

static void check_ok(const struct case_ok *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char err[512] = "";
        char *out = render(c[i].src, err, sizeof err);
        if (out == NULL)
            fail_msg("%s\n  failed: %s", c[i].src, err);
        if (strcmp(out, c[i].want) != 0)
            fail_msg("%s\n  want: [%s]\n   got: [%s]", c[i].src, c[i].want, out);
        free(out);
    }
}

struct case_err {
    const char *src, *msg; /* msg: a substring of the error */
};

static void check_err(const struct case_err *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char err[512] = "";
        char *out = render(c[i].src, err, sizeof err);
        if (out != NULL)
            fail_msg("%s\n  rendered [%s], want an error with '%s'", c[i].src, out, c[i].msg);
        if (strstr(err, c[i].msg) == NULL)
            fail_msg("%s\n  error [%s] lacks '%s'", c[i].src, err, c[i].msg);
    }
}

#define CHECK_OK(...)                                                  \
    do {                                                               \
        static const struct case_ok cases[] = {__VA_ARGS__};           \
        check_ok(cases, sizeof(cases) / sizeof(cases[0]));             \
    } while (0)
#define CHECK_ERR(...)                                                 \
    do {                                                               \
        static const struct case_err cases[] = {__VA_ARGS__};          \
        check_err(cases, sizeof(cases) / sizeof(cases[0]));            \
    } while (0)

static void test_output_and_literals(void **state)
{
    CHECK_OK({"plain text", "plain text"},
             {"{{ 'a' }}{{ \"b\" }}{{ 1 }}{{ 1.5 }}{{ -3 }}", "ab11.5-3"},
             {"{{ true }}{{ True }}{{ false }}{{ none }}{{ None }}", "TrueTrueFalseNoneNone"},
             {"{{ [1, 'a', none, true, 1.5] }}", "[1, 'a', None, True, 1.5]"},
             {"{{ (1,) }}{{ (1, 2) }}{{ () }}{{ {} }}{{ {'k': [1]} }}", "(1,)(1, 2)(){}{'k': [1]}"},
             {"{{ \"it's\" }} {{ ['it\\'s', 'x\"y', 'a\\nb'] }}", "it's [\"it's\", 'x\"y', 'a\\nb']"},
             {"{{ 'a' 'b' }}", "ab"},
             {"{{ '\\x41\\u00e9\\t' }}", "A\xc3\xa9\t"},
             {"{{ 1e20 }} {{ 1e16 }} {{ 1e15 }} {{ 0.0001 }} {{ 1e-05 }} {{ 0.1 + 0.2 }}",
              "1e+20 1e+16 1000000000000000.0 0.0001 1e-05 0.30000000000000004"},
             {"{{ u }}|{{ messages[9] }}|{{ d.nope }}", "||"},
             {"{{ 1, 2 }}", "(1, 2)"});
}

static void test_operators(void **state)
{
    CHECK_OK({"{{ 1 + 2 * 3 - 4 / 2 }}", "5.0"},
             {"{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 2 ** -1 }}",
              "3 -4 1 2 1024 0.5"},
             {"{{ 7.5 // 2 }} {{ -7.5 % 2 }}", "3.0 0.5"},
             {"{{ 3 * 'ab' }}{{ [0] * 2 }}{{ 'a' ~ 1 ~ none }}", "ababab[0, 0]a1None"},
             {"{{ [1] + [2] }}{{ 'a' + 'b' }}", "[1, 2]ab"},
             {"{{ 1 == 1.0 }} {{ true == 1 }} {{ (1,) == [1] }} {{ {'a': 1} == {'a': 1} }}",
              "True True False True"},
             {"{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }}",
              "True False True True"},
             {"{{ 'a' in 'cat' }} {{ 'z' not in 'cat' }} {{ 1 in [1] }} {{ 'k' in d }} {{ 'x' in u }}",
              "True True True True False"},
             {"{{ not 1 }} {{ 0 or 'x' }} {{ '' or [] }} {{ 1 and 2 }} {{ 0 and 1 }}",
              "False x [] 2 0"},
             {"{{ 'y' if 1 else 'n' }}{{ 'y' if 0 else 'n' }}[{{ 'y' if 0 }}]", "yn[]"},
             {"{{ -2|abs }} {{ -(2 + 3) }} {{ +3 }} {{ (1 + 2) * 3 }}", "2 -5 3 9"});
}

static void test_subscripts(void **state)
{
    CHECK_OK({"{{ messages[0].role }} {{ messages[0]['content'] }} {{ messages[-1].name }}",
              "system sys bob"},
             {"{{ 'hello'[1] }}{{ 'hello'[-1] }} {{ 'hello'[1:3] }} {{ 'hello'[::-1] }}",
              "eo el olleh"},
             {"{{ 'h\xc3\xa9llo'[1] }}{{ 'h\xc3\xa9llo'[1:3] }}", "\xc3\xa9\xc3\xa9l"},
             {"{{ [1, 2, 3][1:] }} {{ [1, 2, 3][:-1] }} {{ [1, 2, 3, 4][::2] }} {{ (1, 2, 3)[1:] }}",
              "[2, 3] [1, 2] [1, 3] (2, 3)"},
             {"{{ messages[1:]|length }} {{ [1, 2][5] }}|", "3 |"},
             {"{{ d.k }} {{ d['items'] }} {{ d.items()|list }}",
              "v 5 [('k', 'v'), ('items', 5)]"},
             {"{{ d.get('k') }} {{ d.get('z', 'dflt') }} {{ d.get('z') }}", "v dflt None"},
             {"{{ d.keys()|list }} {{ d.values()|list }}", "['k', 'items'] ['v', 5]"},
             {"{{ none.x }}|{{ (1).x }}|{{ 'abc'.x }}", "||"},
             /* the sandbox: no dunder attributes, no mutating methods */
             {"{{ ''.__class__ }}|{{ d.__class__ }}|{{ messages.append }}|{{ d.update }}", "|||"});
}

static void test_if_for(void **state)
{
    CHECK_OK({"{% if 1 %}a{% elif 2 %}b{% else %}c{% endif %}", "a"},
             {"{% if 0 %}a{% elif 2 %}b{% else %}c{% endif %}", "b"},
             {"{% if 0 %}a{% elif 0 %}b{% else %}c{% endif %}", "c"},
             {"{% for x in [1, 2, 3] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}"
              "{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }},{% endfor %}",
              "1032TrueFalse3,2121FalseFalse3,3210FalseTrue3,"},
             {"{% for x in 'abc' %}{{ loop.previtem }}-{{ x }}-{{ loop.nextitem }};{% endfor %}",
              "-a-b;a-b-c;b-c-;"},
             {"{% for x in [] %}x{% else %}empty{% endfor %}", "empty"},
             {"{% for x in u %}x{% else %}none{% endfor %}", "none"},
             {"{% for x in [1, 2, 3, 4, 5] if x is odd %}{{ x }}:{{ loop.index }}/{{ loop.length }} "
              "{% endfor %}",
              "1:1/3 3:2/3 5:3/3 "},
             {"{% for k, v in d|items %}{{ k }}={{ v }};{% endfor %}", "k=v;items=5;"},
             {"{% for k in d %}{{ k }}{% endfor %}", "kitems"},
             {"{% for a, b in [(1, 2), [3, 4]] %}{{ a + b }}{% endfor %}", "37"},
             {"{% for x in [1, 2, 3] %}{% if x == 2 %}{% continue %}{% endif %}{{ x }}{% endfor %}",
              "13"},
             {"{% for x in [1, 2, 3] %}{% if x == 2 %}{% break %}{% endif %}{{ x }}{% endfor %}", "1"},
             {"{% for x in [1, 2] %}{% for y in 'ab' %}{{ x }}{{ y }}{{ loop.index }}{% endfor %}"
              "{{ loop.index }}{% endfor %}",
              "1a11b212a12b22"},
             {"{% for x in [1, 2, 3] %}{{ loop.cycle('a', 'b') }}{% if loop.changed(x > 1) %}!{% endif %}"
              "{% endfor %}",
              "a!b!a"},
             /* an iteration's assignments do not outlive it */
             {"{% set x = 1 %}{% for i in [1, 2, 3] %}{{ x }}{% set x = x + i %}{{ x }},{% endfor %}{{ x }}",
              "12,13,14,1"});
}

static void test_set_namespace_macro(void **state)
{
    CHECK_OK({"{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set t = 1, 2 %}{{ t }}", "12(1, 2)"},
             {"{% set ns = namespace(n=0, l=[]) %}{% for i in range(4) %}{% set ns.n = ns.n + i %}"
              "{% set ns.l = ns.l + [i] %}{% endfor %}{{ ns.n }} {{ ns.l }}",
              "6 [0, 1, 2, 3]"},
             {"{% set ns = namespace() %}{% set ns.a = 'x' %}{{ ns.a }}{{ ns.b }}{{ ns }}",
              "x<Namespace {'a': 'x'}>"},
             {"{% set b %}hi {{ 'there' }}{% endset %}[{{ b }}]", "[hi there]"},
             {"{% set b | upper | trim %}  x y  {% endset %}[{{ b }}]", "[X Y]"},
             {"{% macro m(a, b='B', c=none) %}{{ a }}-{{ b }}-{{ c }}{% endmacro %}"
              "{{ m(1) }} {{ m(1, 2) }} {{ m(1, c=3) }} {{ m() }}",
              "1-B-None 1-2-None 1-B-3 -B-None"},
             {"{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(5) }}",
              "54321"},
             {"{% macro g() %}{{ varargs }}{{ kwargs }}{% endmacro %}{{ g(1, 2, k=3) }}",
              "(1, 2){'k': 3}"},
             {"{% macro late() %}{{ later }}{% endmacro %}{% set later = 'L' %}{{ late() }}", "L"},
             {"{% macro wrap() %}<{{ caller() }}>{% endmacro %}{% call wrap() %}in{{ 1 }}{% endcall %}",
              "<in1>"},
             {"{% macro w(x) %}[{{ caller(x * 2) }}]{% endmacro %}{% call(v) w(4) %}{{ v }}{% endcall %}",
              "[8]"},
             {"{% filter upper %}shout {{ 'it' }}{% endfilter %}", "SHOUT IT"},
             {"{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}[{{ a }}]", "3[]"},
             {"{% print 'p' %}", "p"},
             {"{% raw %}{{ x }}{% endraw %}", "{{ x }}"},
             {"{% generation %}g{% endgeneration %}", "g"});
}

static void test_whitespace(void **state)
{
    CHECK_OK({"a  {{- 'b' -}}  c", "abc"},
             {"{# c #}a{#- t -#}  b", "ab"},
             /* trim_blocks and lstrip_blocks */
             {"line1\n    {% if true %}\n    indented\n    {% endif %}\nend\n",
              "line1\n    indented\nend"},
             {"{% for i in [1, 2] %}\n  {{ i }}\n{% endfor %}\n", "  1\n  2\n"},
             {"a\n{%+ if true %}b{% endif +%}\nc", "a\nb\nc"},
             {"{{ 'x' }}\n{{ 'y' }}\r\nw\rz\n\n", "x\ny\nw\nz\n"},
             {"\t {% set x = 1 %}\t\n{{ x }}", "\t\n1"});
}

static void test_filters(void **state)
{
    CHECK_OK({"{{ '  hi  '|trim }}|{{ 'xxhixx'|trim('x') }}|{{ 'Hi'|lower }}{{ 'hi'|upper }}",
              "hi|hi|hiHI"},
             {"{{ 'hELLO wORLD-foo(bar)'|title }}|{{ 'hELLO world'|capitalize }}",
              "Hello World-Foo(Bar)|Hello world"},
             {"{{ 'a,b'|replace(',', ';') }} {{ 'aaa'|replace('a', 'b', 2) }} {{ 'abc'|reverse }}",
              "a;b bba cba"},
             {"{{ [1, 2, 3]|length }} {{ 'h\xc3\xa9llo'|length }} {{ d|count }} {{ u|length }}",
              "3 5 2 0"},
             {"{{ [3, 1]|first }}{{ [3, 1]|last }}{{ 'ab'|first }}[{{ []|first }}]", "31a[]"},
             {"{{ u|default('d') }} {{ ''|default('d') }}[{{ ''|d('d', true) }}] {{ none|d('n') }}",
              "d [d] None"},
             {"{{ ['a', 'b']|join }} {{ [1, 2]|join(', ') }} {{ messages|join('/', attribute='role') }}",
              "ab 1, 2 system/user/assistant/user"},
             {"{{ 'ab'|list }} {{ d|list }} {{ (1, 2)|list }}", "['a', 'b'] ['k', 'items'] [1, 2]"},
             {"{{ ['b', 'A', 'a', 'C']|sort }} {{ [3, 1, 2]|sort(reverse=true) }}",
              "['A', 'a', 'b', 'C'] [3, 2, 1]"},
             {"{{ ['b', 'A', 'a', 'B']|unique|list }} {{ [1, 2, 1]|unique|list }}", "['b', 'A'] [1, 2]"},
             {"{{ {'b': 1, 'A': 2}|dictsort }} {{ {'b': 1, 'a': 2}|dictsort(by='value') }}",
              "[('A', 2), ('b', 1)] [('b', 1), ('a', 2)]"},
             {"{{ messages|selectattr('role', 'equalto', 'user')|list|length }} "
              "{{ messages|rejectattr('role', 'eq', 'user')|map(attribute='content')|list }}",
              "2 ['sys', ' yo ']"},
             {"{{ messages|selectattr('name')|map(attribute='name')|list }} "
              "{{ messages|map(attribute='name', default='-')|list }}",
              "['bob'] ['-', '-', '-', 'bob']"},
             {"{{ [1, 2, 3, 4]|select('odd')|list }} {{ [1, 2, 3]|reject('odd')|list }} "
              "{{ [0, 1, '']|select|list }} {{ [1, 5]|select('gt', 4)|list }}",
              "[1, 3] [2] [1] [5]"},
             {"{{ ['a', 'b']|map('upper')|list }} {{ none|map('upper')|list }}", "['A', 'B'] []"},
             {"{{ 3.7|int }} {{ '42'|int }} {{ '4.9'|int }} {{ 'x'|int(7) }} {{ true|int }}",
              "3 42 4 7 1"},
             {"{{ '3.5'|float }} {{ 3|float }} {{ 'x'|float }}", "3.5 3.0 0.0"},
             {"{{ 2.5|round }} {{ 3.5|round }} {{ 2.567|round(2) }} {{ 2.5|round(0, 'floor') }}",
              "2.0 4.0 2.57 2.0"},
             {"{{ [1, 2, 3]|sum }} {{ [3, 1, 2]|max }} {{ [3, 1, 2]|min }} {{ ['b', 'A']|max }}",
              "6 3 1 b"},
             {"{{ 1|string }} {{ [1, 'a']|string }} {{ 5|string + 'a' }}", "1 [1, 'a'] 5a"},
             {"{{ 'a\\nb\\n\\nc'|indent }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'a\\n\\nb'|indent(1, blank=true) }}",
              "a\n    b\n\n    c|  a\n  b|a\n \n b"},
             {"{{ 'a b  c'|wordcount }} [{{ 'x'|center(5) }}] {{ [1, 2, 3]|batch(2)|list }}",
              "3 [  x  ] [[1, 2], [3]]"},
             {"{{ '%s is %d, %.2f%%'|format('Bob', 42, 3.14159) }}", "Bob is 42, 3.14%"},
             {"{{ '<b>\"&'|e }} {{ '<b>'|safe }} {{ 'a'|safe + '<b>' }} {{ '<b>' + 'a'|safe }}",
              "&lt;b&gt;&#34;&amp; <b> a&lt;b&gt; &lt;b&gt;a"},
             {"{{ {'b': 1, 'a': [1, 2.5, none, true, 'x\"y\xc3\xa9']}|tojson }}",
              "{\"b\": 1, \"a\": [1, 2.5, null, true, \"x\\\"y\xc3\xa9\"]}"},
             {"{{ [1, [2, {}], []]|tojson(indent=2) }}", "[\n  1,\n  [\n    2,\n    {}\n  ],\n  []\n]"},
             {"{{ {'b': 1, 'a': 2}|tojson(sort_keys=true) }} {{ '\xc3\xa9'|tojson(ensure_ascii=true) }}",
              "{\"a\": 2, \"b\": 1} \"\\u00e9\""},
             {"{{ 'x'|tojson }} {{ (1, 2)|tojson }} {{ [1e20, -0.0, 3.0]|tojson }}",
              "\"x\" [1, 2] [1e+20, -0.0, 3.0]"},
             {"{{ 'abcdef'|truncate(5, killwords=true, leeway=0) }}", "ab..."},
             {"{{ [[1, 2], [3]]|pprint }} {{ '<p>a <b>b</b></p>'|striptags }}", "[[1, 2], [3]] a b"});
}

static void test_tests(void **state)
{
    CHECK_OK({"{{ u is defined }} {{ u is undefined }} {{ none is none }} {{ 1 is none }}",
              "False True True False"},
             {"{{ true is boolean }} {{ 1 is boolean }} {{ false is false }} {{ true is true }}",
              "True False True True"},
             {"{{ 1 is integer }} {{ true is integer }} {{ 1.0 is float }} {{ true is number }} "
              "{{ 'a' is string }}",
              "True False True True True"},
             {"{{ {} is mapping }} {{ [] is iterable }} {{ 'a' is iterable }} {{ 1 is iterable }} "
              "{{ u is iterable }} {{ 'a' is sequence }}",
              "True True True False True True"},
             {"{{ 2 is even }} {{ 3 is odd }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }}",
              "True True True False"},
             {"{{ 'a' is eq 'a' }} {{ 1 is ne 2 }} {{ 1 is lt 2 }} {{ 2 is le 2 }} {{ 3 is gt 2 }} "
              "{{ 3 is ge 4 }} {{ 1 is equalto 1 }} {{ 1 is in [1] }}",
              "True True True True True False True True"},
             {"{{ 'ab' is lower }} {{ 'AB' is upper }} {{ 'aB' is lower }}", "True True False"},
             {"{{ none is sameas none }} {{ range is callable }} {{ 'upper' is filter }} "
              "{{ 'odd' is test }} {{ 'nope' is filter }}",
              "True True True True False"},
             {"{{ 1 is not none }} {{ not u is defined }} {{ '<'|safe is escaped }}", "True True True"});
}

static void test_methods_and_globals(void **state)
{
    CHECK_OK({"{{ ' a b '.strip() }}|{{ 'xax'.strip('x') }}|{{ ' a '.lstrip() }}|{{ ' a '.rstrip() }}|",
              "a b|a|a | a|"},
             {"{{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'a b c'.split(' ', 1) }} "
              "{{ 'a b c'.rsplit(' ', 1) }} {{ s.split(',')[-1] }}",
              "['a', 'b', '', 'c'] ['a', 'b'] ['a', 'b c'] ['a b', 'c'] b"},
             {"{{ 'abc'.startswith('a') }} {{ 'abc'.startswith(('x', 'a')) }} {{ 'abc'.endswith('bc') }} "
              "{{ 'abc'.find('c') }} {{ 'abc'.find('z') }} {{ 'abcb'.count('b') }}",
              "True True True 2 -1 2"},
             {"{{ 'hello world'.title() }} {{ \"they're\".title() }} {{ 'hELLO'.capitalize() }}",
              "Hello World They'Re Hello"},
             {"{{ 'a-b'.replace('-', '+') }} {{ ','.join(['a', 'b']) }} {{ '42'.zfill(5) }}",
              "a+b a,b 00042"},
             {"{{ '{} and {}'.format(1, 'b') }} {{ '{x}!'.format(x=5) }} {{ '{:>4}|{:.2f}'.format('a', 3.14159) }}",
              "1 and b 5!    a|3.14"},
             {"{{ [1, 2, 3].index(2) }} {{ [1, 2, 2].count(2) }}", "1 2"},
             {"{{ range(3)|list }} {{ range(1, 10, 3)|list }} {{ range(5, 0, -2)|list }}",
              "[0, 1, 2] [1, 4, 7] [5, 3, 1]"},
             {"{{ dict(a=1) }} {{ namespace(a=1) }}", "{'a': 1} <Namespace {'a': 1}>"},
             {"{{ strftime_now('%Y-%m-%d %b') }}", "2024-07-26 Jul"},
             {"{% set j = joiner('+') %}{% for x in 'abc' %}{{ j() }}{{ x }}{% endfor %}", "a+b+c"},
             {"{{ bos_token }}{{ eos_token }}{{ add_generation_prompt }}{{ tools }}", "<s></s>TrueNone"});
}

static void test_errors(void **state)
{
    CHECK_ERR({"{{ raise_exception('custom failure') }}", "custom failure"},
              {"{{ u.attr }}", "'u' is undefined"},
              {"{{ u + 1 }}", "'u' is undefined"},
              {"{{ 'a' + 1 }}", "can only concatenate str"},
              {"{{ 1 / 0 }}", "division by zero"},
              {"{{ 1 < 'a' }}", "not supported"},
              {"{{ messages.append(1) }}", "undefined"},
              {"{% for x in none %}{% endfor %}", "not iterable"},
              {"{{ 1 in none }}", "not iterable"},
              {"{{ x|nosuchfilter }}", "No filter named 'nosuchfilter'"},
              {"{{ 1 is nosuchtest }}", "No test named 'nosuchtest'"},
              {"{{ range(1000000)|length }}", "Range too big"},
              {"{% set a, b = [1, 2, 3] %}", "too many values to unpack"},
              {"{% set x = 1 %}{% set x.y = 2 %}", "non-namespace"},
              {"{{ u|tojson }}", "not JSON serializable"},
              {"{{ [1, 'a']|sort }}", "not supported"},
              {"{{ 5|length }}", "has no len()"},
              {"{{ n[1:] }}", "not subscriptable"},
              /* syntax errors */
              {"{% if true %}unterminated", "unexpected end of template"},
              {"{{ 'unterminated }}", "unterminated string"},
              {"{% for x in %}{% endfor %}", "Expected an expression"},
              {"{% endfor %}", "unknown tag 'endfor'"},
              {"{{ 1 + }}", "unexpected"},
              {"{% unknowntag %}", "unknown tag 'unknowntag'"},
              {"{{ a b }}", "expected end of print statement"},
              {"{# unterminated comment", "missing end of comment"},
              {"{{ (1, 2 }}", "unexpected '}'"},
              {"{% macro m(a=1, b) %}{% endmacro %}", "non-default argument"},
              {"{% break %}", "outside of a loop"},
              {"{% include 'x' %}", "not supported"},
              {"{{ '\\x4' }}", "truncated"},
              {"{% raw %}no end", "missing end of raw"});
}

static void test_step_limit(void **state)
{
    char err[256] = "";
    char *out = render("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
                       err, sizeof err);
    assert_null(out);
    assert_non_null(strstr(err, "step limit"));

    struct jinja_limits lim;
    jinja_default_limits(&lim);
    lim.max_steps = 1000;
    out = render_lim("{% for i in range(50) %}{{ i }}{% endfor %}", &lim, err, sizeof err);
    assert_non_null(out);
    free(out);
    out = render_lim("{% for i in range(5000) %}{{ i }}{% endfor %}", &lim, err, sizeof err);
    assert_null(out);
    assert_non_null(strstr(err, "step limit"));
}

static void test_recursion_limit(void **state)
{
    char err[256] = "";
    char *out = render("{% macro r(n) %}{{ r(n + 1) }}{% endmacro %}{{ r(0) }}", err, sizeof err);
    assert_null(out);
    assert_non_null(strstr(err, "recursion"));
    /* mutual recursion too */
    out = render("{% macro a() %}{{ b() }}{% endmacro %}{% macro b() %}{{ a() }}{% endmacro %}{{ a() }}",
                 err, sizeof err);
    assert_null(out);
    assert_non_null(strstr(err, "recursion"));
}

static void test_output_and_memory_limits(void **state)
{
    char err[256] = "";
    struct jinja_limits lim;
    jinja_default_limits(&lim);
    lim.max_output = 1000;
    char *out = render_lim("{% for i in range(2000) %}x{% endfor %}", &lim, err, sizeof err);
    assert_null(out);
    assert_non_null(strstr(err, "output size limit"));
    /* doubling a string: stopped long before memory runs out */
    out = render("{% set ns = namespace(s='xxxxxxxxxxxxxxxx') %}{% for i in range(60) %}"
                 "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
                 err, sizeof err);
    assert_null(out);
    assert_non_null(strstr(err, "too long"));
    out = render("{{ 'x' * 1000000000 }}", err, sizeof err);
    assert_null(out);
    lim = (struct jinja_limits){0};
    jinja_default_limits(&lim);
    lim.max_alloc = 100000;
    out = render_lim("{% set ns = namespace(l=[]) %}{% for i in range(10000) %}{% set ns.l = ns.l + [i] %}"
                     "{% endfor %}",
                     &lim, err, sizeof err);
    assert_null(out);
    assert_non_null(strstr(err, "memory limit"));
}

static void test_nesting_limits(void **state)
{
    char err[256] = "";
    /* deeply nested expressions are a syntax error, not a stack overflow */
    size_t n = 5000;
    char *src = malloc(n * 2 + 16);
    strcpy(src, "{{ ");
    for (size_t i = 0; i < n; i++)
        strcat(src, "(");
    strcat(src, "1");
    for (size_t i = 0; i < n; i++)
        strcat(src, ")");
    strcat(src, " }}");
    char *out = render(src, err, sizeof err);
    assert_null(out);
    free(src);
    /* a very long operator chain: a tall tree, evaluated without exhausting the stack */
    n = 100000;
    src = malloc(n * 4 + 16);
    strcpy(src, "{{ 1");
    size_t len = strlen(src);
    for (size_t i = 0; i < n; i++) {
        memcpy(src + len, " + 1", 4);
        len += 4;
    }
    strcpy(src + len, " }}");
    out = render(src, err, sizeof err);
    assert_null(out);
    assert_non_null(strstr(err, "nested too deeply"));
    free(src);
    /* values nested deeper than the limit */
    out = render("{% set ns = namespace(l=[]) %}{% for i in range(2000) %}{% set ns.l = [ns.l] %}"
                 "{% endfor %}{{ ns.l|length }}",
                 err, sizeof err);
    assert_null(out);
    assert_non_null(strstr(err, "nested too deeply"));
    /* a namespace that holds itself is freed (ASan checks) */
    out = render("{% set ns = namespace() %}{% set ns.me = ns %}{% set ns.l = [ns] %}ok", err, sizeof err);
    assert_non_null(out);
    assert_string_equal(out, "ok");
    free(out);
}

static void test_concurrent_renders_share_template(void **state)
{
    /* one compiled template rendered twice with different data */
    char err[256];
    const char *src = "{% for m in messages %}{{ m.role }}:{{ m.content|trim }};{% endfor %}";
    struct jinja_template *t = jinja_compile(src, strlen(src), err, sizeof err);
    assert_non_null(t);
    json_t *a = json_loads("{\"messages\": [{\"role\": \"user\", \"content\": \" a \"}]}", 0, NULL);
    json_t *b = json_loads("{\"messages\": [{\"role\": \"x\", \"content\": \"b\"},"
                           "{\"role\": \"y\", \"content\": \"c\"}]}", 0, NULL);
    size_t len;
    char *o1 = jinja_render(t, a, 0, NULL, &len, err, sizeof err);
    char *o2 = jinja_render(t, b, 0, NULL, NULL, err, sizeof err);
    assert_string_equal(o1, "user:a;");
    assert_int_equal(len, 7);
    assert_string_equal(o2, "x:b;y:c;");
    free(o1);
    free(o2);
    json_decref(a);
    json_decref(b);
    jinja_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_output_and_literals),
        cmocka_unit_test(test_operators),
        cmocka_unit_test(test_subscripts),
        cmocka_unit_test(test_if_for),
        cmocka_unit_test(test_set_namespace_macro),
        cmocka_unit_test(test_whitespace),
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_tests),
        cmocka_unit_test(test_methods_and_globals),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_step_limit),
        cmocka_unit_test(test_recursion_limit),
        cmocka_unit_test(test_output_and_memory_limits),
        cmocka_unit_test(test_nesting_limits),
        cmocka_unit_test(test_concurrent_renders_share_template),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
