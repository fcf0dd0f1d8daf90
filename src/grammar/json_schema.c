/*
 * json_schema.c - a JSON schema turned into a GBNF grammar (see
 * json_schema.h). Each schema becomes a rule; the grammar's sentences are
 * JSON texts the schema accepts. Where a keyword's exact language would be
 * awkward, a subset of the valid texts is generated (objects keep the
 * declared property order, number ranges are met through the integer part,
 * long lengths are capped), never a superset.
 *
 * Supported: type (and arrays of types), properties, required,
 * additionalProperties, items, prefixItems (and the older items-array with
 * additionalItems), minItems/maxItems, enum, const, anyOf/oneOf (oneOf is
 * read as anyOf), allOf (merged), local $ref / $defs / definitions
 * (recursion allowed when an object or array lies between), string
 * minLength/maxLength, pattern (json_schema_regex.c), format (date, time,
 * date-time, uuid, email, ipv4; other formats are plain strings), integer ranges exactly,
 * number ranges through the integer part, nullable. Keywords that would
 * restrict the output in ways not generated here give an error naming them.
 *
 * Whitespace: none around the top-level value; between tokens inside
 * objects and arrays an optional bounded run ("space" rule), so a model
 * cannot loop on whitespace. Integers have at most 16 digits unless a range
 * asks for more.
 */
#include "base/unicode.h"
#include "grammar/json_schema.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"
#include "grammar/json_schema_impl.h"

#define MAX_DEPTH 64        /* nested schemas being visited */
#define MAX_MERGE_DEPTH 32  /* nested $ref / allOf being merged */
#define MAX_RULES 20000
#define MAX_TEXT (8u << 20) /* bytes of grammar */
#define MAX_PROPS 500
#define MAX_PREFIX 100
#define MAX_LEN 1000   /* string lengths and item counts above: capped */
#define MAX_MERGES 20000
#define UNB UINT64_MAX /* no upper bound */
#define INT_CAP 999999999999999ull /* magnitude of unbounded integers: 15 digits */

enum prim {
    P_SPACE,
    P_VALUE,
    P_OBJECT,
    P_ARRAY,
    P_STRING,
    P_CHAR,
    P_ESCAPE,
    P_NUMBER,
    P_INTEGER,
    P_INTEGRAL,
    P_BOOLEAN,
    P_NULL,
    P_FRAC,
    P_DATE,
    P_TIME,
    P_UUID,
    P_EMAIL,
    P_IPV4,
    P_OCTET,
    P_COUNT
};

struct rule {
    char *name;
    char *body; /* NULL while reserved */
};

struct ref {
    char *ref;
    size_t rule;
};

struct conv {
    json_t *root;
    struct rule *rules;
    size_t n_rules, cap_rules;
    size_t *names; /* open addressing by name: rule index + 1 */
    size_t *bodies; /* by body */
    size_t mask;    /* of both tables */
    struct ref *refs;
    size_t n_refs, cap_refs;
    const char *prim[P_COUNT];
    size_t text;
    int depth, merge_depth;
    size_t merges;
    char *err;
    size_t err_size;
    bool failed;
};

static void fail(struct conv *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct conv *c, const char *fmt, ...)
{
    if (c->failed)
        return;
    c->failed = true;
    if (c->err == NULL || c->err_size == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, c->err_size, fmt, ap);
    va_end(ap);
}

static void oom(struct conv *c) { fail(c, "out of memory"); }

/* The requester has gone (grammar_cancel_watch): fail with "cancelled".
 * Looked at once per schema visited, per piece of grammar text and per
 * CANCEL_EVERY values of an enum, so a compile stops within a bounded
 * amount of work. */
#define CANCEL_EVERY 1024
static bool cancelled(struct conv *c)
{
    if (!grammar_cancelled())
        return false;
    fail(c, "cancelled");
    return true;
}

/* ---- rules ---- */

static size_t str_hash(const char *s)
{
    size_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void table_put(struct conv *c, size_t *t, const char *key, size_t idx)
{
    size_t h = str_hash(key) & c->mask;
    while (t[h])
        h = (h + 1) & c->mask;
    t[h] = idx + 1;
}

static bool tables_grow(struct conv *c)
{
    size_t cap = c->mask ? (c->mask + 1) * 2 : 256;
    size_t *n = calloc(cap, sizeof(*n)), *b = calloc(cap, sizeof(*b));
    if (n == NULL || b == NULL) {
        free(n);
        free(b);
        oom(c);
        return false;
    }
    free(c->names);
    free(c->bodies);
    c->names = n;
    c->bodies = b;
    c->mask = cap - 1;
    for (size_t i = 0; i < c->n_rules; i++) {
        table_put(c, c->names, c->rules[i].name, i);
        if (c->rules[i].body)
            table_put(c, c->bodies, c->rules[i].body, i);
    }
    return true;
}

/* Index of the rule with this name (by_body: with this body), or -1. */
static long table_find(const struct conv *c, const char *key, bool by_body)
{
    const size_t *t = by_body ? c->bodies : c->names;
    if (t == NULL)
        return -1;
    for (size_t h = str_hash(key) & c->mask; t[h]; h = (h + 1) & c->mask) {
        const struct rule *r = &c->rules[t[h] - 1];
        const char *k = by_body ? r->body : r->name;
        if (k && strcmp(k, key) == 0)
            return (long)(t[h] - 1);
    }
    return -1;
}

/* hint with characters outside [a-zA-Z0-9-] replaced, at most 48 long. */
static void sanitize(const char *hint, char *out)
{
    size_t n = 0;
    for (const char *p = hint; *p && n < 48; p++) {
        char ch = *p;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '-';
        out[n++] = ok ? ch : '-';
    }
    if (n == 0)
        out[n++] = 'r';
    out[n] = '\0';
}

/* A new rule with a unique name made from hint; -1 on error. */
static long rule_new(struct conv *c, const char *hint, char *body)
{
    if (c->failed)
        goto bad;
    if (c->n_rules >= MAX_RULES) {
        fail(c, "schema too complex (more than %d grammar rules)", MAX_RULES);
        goto bad;
    }
    if ((c->n_rules + 1) * 2 > c->mask && !tables_grow(c))
        goto bad;
    if (c->n_rules == c->cap_rules) {
        size_t cap = c->cap_rules ? c->cap_rules * 2 : 64;
        struct rule *r = realloc(c->rules, cap * sizeof(*r));
        if (r == NULL) {
            oom(c);
            goto bad;
        }
        c->rules = r;
        c->cap_rules = cap;
    }
    char base[64], name[80];
    sanitize(hint, base);
    snprintf(name, sizeof(name), "%s", base);
    for (unsigned k = 2; table_find(c, name, false) >= 0; k++)
        snprintf(name, sizeof(name), "%s-%u", base, k);
    char *dup = strdup(name);
    if (dup == NULL) {
        oom(c);
        goto bad;
    }
    c->rules[c->n_rules] = (struct rule){dup, body};
    table_put(c, c->names, dup, c->n_rules);
    if (body)
        table_put(c, c->bodies, body, c->n_rules);
    return (long)c->n_rules++;
bad:
    free(body);
    return -1;
}

static void rule_set(struct conv *c, long idx, char *body)
{
    if (c->failed || idx < 0) {
        free(body);
        return;
    }
    c->rules[idx].body = body;
    table_put(c, c->bodies, body, (size_t)idx);
}

static bool count_text(struct conv *c, size_t n)
{
    if (cancelled(c))
        return false;
    c->text += n;
    if (c->text > MAX_TEXT) {
        fail(c, "schema too complex (grammar over %u bytes)", MAX_TEXT);
        return false;
    }
    return true;
}

/* The rule for body (taken from b): an existing one with the same body, or a
 * new one named after hint. */
static const char *rule_add(struct conv *c, const char *hint, struct sbuf *b)
{
    char *body = sbuf_take(b, NULL);
    if (c->failed) {
        free(body);
        return NULL;
    }
    if (body == NULL) {
        oom(c);
        return NULL;
    }
    if (body[0] == '\0') { /* an empty rule is written "" */
        free(body);
        body = strdup("\"\"");
        if (body == NULL) {
            oom(c);
            return NULL;
        }
    }
    long i = table_find(c, body, true);
    if (i >= 0) {
        free(body);
        return c->rules[i].name;
    }
    if (!count_text(c, strlen(body)))
        i = -1;
    else
        i = rule_new(c, hint, body);
    return i < 0 ? NULL : c->rules[i].name;
}

static const char *rule_addf(struct conv *c, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static const char *rule_addf(struct conv *c, const char *hint, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n < 0 ? NULL : malloc((size_t)n + 1);
    if (s == NULL) {
        oom(c);
        return NULL;
    }
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    struct sbuf b = {s, (size_t)n, (size_t)n + 1, false};
    return rule_add(c, hint, &b);
}

/* ---- primitive rules ---- */

static const char *prim(struct conv *c, enum prim p);

static const char *prim_body(struct conv *c, enum prim p, struct sbuf *b)
{
    switch (p) {
    case P_SPACE: sbuf_puts(b, "| \" \" | \"\\n\" [ \\t]{0,20}"); return "space";
    case P_BOOLEAN: sbuf_puts(b, "\"true\" | \"false\""); return "boolean";
    case P_NULL: sbuf_puts(b, "\"null\""); return "null";
    case P_INTEGRAL: sbuf_puts(b, "[0] | [1-9] [0-9]{0,15}"); return "integral-part";
    case P_FRAC: sbuf_puts(b, "[0-9]{1,16}"); return "decimal-part";
    case P_INTEGER: sbuf_printf(b, "\"-\"? %s", prim(c, P_INTEGRAL)); return "integer";
    case P_NUMBER:
        sbuf_printf(b, "\"-\"? %s (\".\" %s)? ([eE] [-+]? [0-9]{1,2})?", prim(c, P_INTEGRAL),
                   prim(c, P_FRAC));
        return "number";
    case P_ESCAPE:
        sbuf_puts(b, "\"\\\\\" ([\"\\\\/bfnrt] | \"u\" ([0-9a-cA-Ce-fE-F] [0-9a-fA-F]{3} | "
                    "[dD] [0-7] [0-9a-fA-F]{2}))");
        return "char-escape";
    case P_CHAR: sbuf_printf(b, "[^\"\\\\\\x7F\\x00-\\x1F] | %s", prim(c, P_ESCAPE)); return "char";
    case P_STRING: sbuf_printf(b, "\"\\\"\" %s* \"\\\"\"", prim(c, P_CHAR)); return "string";
    case P_VALUE:
        sbuf_printf(b, "%s | %s | %s | %s | %s | %s", prim(c, P_OBJECT), prim(c, P_ARRAY),
                   prim(c, P_STRING), prim(c, P_NUMBER), prim(c, P_BOOLEAN), prim(c, P_NULL));
        return "value";
    case P_DATE: {
        const char *d28 = rule_addf(c, "day28", "\"0\" [1-9] | \"1\" [0-9] | \"2\" [0-8]");
        const char *d30 = d28 ? rule_addf(c, "day30", "%s | \"29\" | \"30\"", d28) : NULL;
        const char *d31 = d30 ? rule_addf(c, "day31", "%s | \"31\"", d30) : NULL;
        if (d31 == NULL)
            return "date";
        sbuf_printf(b,
                   "[12] [0-9]{3} \"-\" (\"0\" [13578] \"-\" %s | \"1\" [02] \"-\" %s | "
                   "\"0\" [469] \"-\" %s | \"11-\" %s | \"02-\" %s)",
                   d31, d31, d30, d30, d28);
        return "date";
    }
    case P_TIME:
        sbuf_puts(b, "([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9] \":\" [0-5] [0-9] "
                    "(\".\" [0-9]{1,6})? (\"Z\" | [+-] ([01] [0-9] | \"2\" [0-3]) \":\" [0-5] "
                    "[0-9])");
        return "time";
    case P_UUID:
        sbuf_puts(b, "[0-9a-f]{8} \"-\" [0-9a-f]{4} \"-\" [0-9a-f]{4} \"-\" [0-9a-f]{4} \"-\" "
                    "[0-9a-f]{12}");
        return "uuid";
    case P_EMAIL:
        sbuf_puts(b, "[A-Za-z0-9._%+-]{1,40} \"@\" [A-Za-z0-9-]{1,30} (\".\" [A-Za-z0-9-]{1,30}){1,3}");
        return "email";
    case P_OCTET:
        sbuf_puts(b, "[0-9] | [1-9] [0-9] | \"1\" [0-9] [0-9] | \"2\" [0-4] [0-9] | \"25\" [0-5]");
        return "ipv4-octet";
    case P_IPV4: {
        const char *o = prim(c, P_OCTET);
        sbuf_printf(b, "%s \".\" %s \".\" %s \".\" %s", o, o, o, o);
        return "ipv4";
    }
    default: return NULL;
    }
}

/* object and array (of any values) refer to value, which refers to them:
 * their names are reserved first. */
static const char *prim_container(struct conv *c, enum prim p)
{
    long idx = rule_new(c, p == P_OBJECT ? "object" : "array", NULL);
    if (idx < 0)
        return NULL;
    c->prim[p] = c->rules[idx].name;
    const char *sp = prim(c, P_SPACE), *v = prim(c, P_VALUE), *s = prim(c, P_STRING);
    struct sbuf b;
    b = (struct sbuf)SBUF_INIT;
    if (p == P_OBJECT)
        sbuf_printf(&b,
                   "\"{\" %s (%s %s \":\" %s %s (%s \",\" %s %s %s \":\" %s %s)* %s)? \"}\"",
                   sp, s, sp, sp, v, sp, sp, s, sp, sp, v, sp);
    else
        sbuf_printf(&b, "\"[\" %s (%s (%s \",\" %s %s)* %s)? \"]\"", sp, v, sp, sp, v, sp);
    char *body = sbuf_take(&b, NULL);
    if (body == NULL)
        oom(c);
    rule_set(c, idx, body);
    return c->failed ? NULL : c->prim[p];
}

static const char *prim(struct conv *c, enum prim p)
{
    if (c->failed)
        return "x";
    if (c->prim[p])
        return c->prim[p];
    if (p == P_OBJECT || p == P_ARRAY) {
        const char *n = prim_container(c, p);
        return n ? n : "x";
    }
    struct sbuf b;
    b = (struct sbuf)SBUF_INIT;
    const char *hint = prim_body(c, p, &b);
    const char *name = rule_add(c, hint, &b);
    if (name == NULL)
        return "x";
    c->prim[p] = name;
    return name;
}

/* ---- keywords ---- */

static const char *const UNSUPPORTED[] = {
    "not", "if", "then", "else", "patternProperties", "propertyNames", "dependentRequired",
    "dependentSchemas", "dependencies", "unevaluatedProperties", "unevaluatedItems", "contains",
    "minContains", "maxContains", "$dynamicRef", "$recursiveRef", NULL};

/* Keywords that constrain a value (everything else is an annotation). */
static const char *const CONSTRAINTS[] = {
    "type", "enum", "const", "properties", "required", "additionalProperties", "items",
    "prefixItems", "additionalItems", "minItems", "maxItems", "minLength", "maxLength",
    "pattern", "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "anyOf",
    "oneOf", "allOf", "$ref", "nullable", "minProperties", "maxProperties", "uniqueItems",
    "multipleOf", NULL};

static bool in_list(const char *const *list, const char *k)
{
    for (; *list; list++)
        if (strcmp(*list, k) == 0)
            return true;
    return false;
}

static bool check_unsupported(struct conv *c, const json_t *s)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)s, k, v) {
        if (in_list(UNSUPPORTED, k)) {
            fail(c, "unsupported JSON schema keyword '%s'", k);
            return false;
        }
    }
    return true;
}

/* Does s have a constraint keyword other than those in except? */
static bool has_constraints_except(const json_t *s, const char *const *except)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)s, k, v) {
        if (in_list(CONSTRAINTS, k) && !in_list(except, k))
            return true;
    }
    return false;
}

/* A copy of s without the keys in drop. */
static json_t *without(const json_t *s, const char *const *drop)
{
    json_t *o = json_object();
    const char *k;
    json_t *v;
    if (o == NULL)
        return NULL;
    json_object_foreach((json_t *)s, k, v) {
        if (!in_list(drop, k) && json_object_set(o, k, v) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

/* ---- $ref ---- */

static int hexv(char ch)
{
    return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
         : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

/* One JSON pointer token: percent-decoded, ~1 -> /, ~0 -> ~. */
static void pointer_token(const char *s, size_t n, char *out)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '%' && i + 2 < n && hexv(s[i + 1]) >= 0 && hexv(s[i + 2]) >= 0) {
            ch = (char)(hexv(s[i + 1]) * 16 + hexv(s[i + 2]));
            i += 2;
        } else if (ch == '~' && i + 1 < n && (s[i + 1] == '0' || s[i + 1] == '1')) {
            ch = s[i + 1] == '0' ? '~' : '/';
            i++;
        }
        out[m++] = ch;
    }
    out[m] = '\0';
}

static json_t *resolve(struct conv *c, const char *ref)
{
    if (ref[0] != '#') {
        fail(c, "unsupported $ref '%.200s' (only local references \"#/...\")", ref);
        return NULL;
    }
    json_t *at = c->root;
    const char *p = ref + 1;
    if (*p != '\0' && *p != '/') {
        fail(c, "unsupported $ref '%.200s' (anchors are not supported)", ref);
        return NULL;
    }
    while (*p == '/') {
        p++;
        size_t n = strcspn(p, "/");
        char *tok = malloc(n + 1);
        if (tok == NULL) {
            oom(c);
            return NULL;
        }
        pointer_token(p, n, tok);
        json_t *next = NULL;
        if (json_is_object(at)) {
            next = json_object_get(at, tok);
        } else if (json_is_array(at)) {
            char *end;
            unsigned long idx = strtoul(tok, &end, 10);
            if (*tok && *end == '\0')
                next = json_array_get(at, idx);
        }
        free(tok);
        if (next == NULL) {
            fail(c, "$ref '%.200s' does not resolve", ref);
            return NULL;
        }
        at = next;
        p += n;
    }
    return at;
}

/* ---- allOf / $ref merging ---- */

static json_t *flatten(struct conv *c, const json_t *s);
static json_t *merge(struct conv *c, const json_t *a, const json_t *b);

static bool set_new(struct conv *c, json_t *o, const char *k, json_t *v)
{
    if (v == NULL || json_object_set_new(o, k, v) != 0) {
        if (!c->failed)
            oom(c);
        return false;
    }
    return true;
}

static json_t *pair_allof(const json_t *a, const json_t *b)
{
    return json_pack("{s:[OO]}", "allOf", a, b);
}

static json_t *types_of(const json_t *t)
{
    if (json_is_string(t))
        return json_pack("[O]", t);
    return json_incref((json_t *)t);
}

/* Intersection of two "type" values. */
static json_t *merge_type(struct conv *c, const json_t *a, const json_t *b)
{
    json_t *ta = types_of(a), *tb = types_of(b), *out = json_array();
    size_t i, j;
    json_t *x, *y;
    json_array_foreach(ta, i, x) {
        json_array_foreach(tb, j, y) {
            const char *sx = json_string_value(x), *sy = json_string_value(y);
            if (!sx || !sy)
                continue;
            if (strcmp(sx, sy) == 0 || (strcmp(sx, "integer") == 0 && strcmp(sy, "number") == 0))
                json_array_append(out, x);
            else if (strcmp(sx, "number") == 0 && strcmp(sy, "integer") == 0)
                json_array_append(out, y);
        }
    }
    json_decref(ta);
    json_decref(tb);
    if (json_array_size(out) == 0) {
        json_decref(out);
        fail(c, "allOf: the schemas have no type in common");
        return NULL;
    }
    return out;
}

static json_t *merge_required(const json_t *a, const json_t *b)
{
    json_t *out = json_copy((json_t *)a);
    size_t i, j;
    json_t *x, *y;
    json_array_foreach(b, i, x) {
        bool found = false;
        json_array_foreach(out, j, y) found = found || json_equal(x, y);
        if (!found)
            json_array_append(out, x);
    }
    return out;
}

/* A value's canonical text (keys sorted), the key of an enum set. */
static char *enum_key(const json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
}

/* The values of a that are also in b: one pass over each (a set of b's
 * values keyed by their canonical text), not |a| * |b| comparisons. */
static json_t *merge_enum(struct conv *c, const json_t *a, const json_t *b)
{
    json_t *out = json_array(), *set = json_object();
    size_t i;
    json_t *x;
    if (!out || !set) {
        json_decref(out);
        json_decref(set);
        oom(c);
        return NULL;
    }
    json_array_foreach(b, i, x) {
        if (i % CANCEL_EVERY == CANCEL_EVERY - 1 && cancelled(c))
            break;
        char *k = enum_key(x);
        if (k)
            json_object_set_new(set, k, json_true());
        free(k);
    }
    json_array_foreach(a, i, x) {
        if (c->failed || (i % CANCEL_EVERY == CANCEL_EVERY - 1 && cancelled(c)))
            break;
        char *k = enum_key(x);
        if (k && json_object_get(set, k))
            json_array_append(out, x);
        free(k);
    }
    json_decref(set);
    if (c->failed) {
        json_decref(out);
        return NULL;
    }
    if (json_array_size(out) == 0) {
        json_decref(out);
        fail(c, "allOf: the enums have no value in common");
        return NULL;
    }
    return out;
}

static json_t *merge_properties(const json_t *a, const json_t *b)
{
    json_t *out = json_copy((json_t *)a);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)b, k, v) {
        json_t *old = json_object_get(out, k);
        json_object_set_new(out, k, old ? pair_allof(old, v) : json_incref(v));
    }
    return out;
}

/* anyOf x anyOf: every pair merged. */
static json_t *merge_anyof(struct conv *c, const json_t *a, const json_t *b)
{
    json_t *out = json_array();
    size_t i, j;
    json_t *x, *y;
    json_array_foreach(a, i, x) {
        json_array_foreach(b, j, y) {
            json_t *m = merge(c, x, y);
            if (m == NULL) {
                json_decref(out);
                return NULL;
            }
            json_array_append_new(out, m);
        }
    }
    return out;
}

static bool num_pick(const json_t *a, const json_t *b, bool larger)
{
    double x = json_number_value(a), y = json_number_value(b);
    return larger ? y > x : y < x;
}

/* Combine one keyword present on both sides into out. */
static bool merge_key(struct conv *c, json_t *out, const char *k, const json_t *va,
                      const json_t *vb)
{
    static const char *const LOWER[] = {"minimum", "minLength", "minItems", "minProperties",
                                        NULL};
    static const char *const UPPER[] = {"maximum", "maxLength", "maxItems", "maxProperties",
                                        NULL};
    if (json_equal((json_t *)va, (json_t *)vb))
        return true;
    if (strcmp(k, "type") == 0)
        return set_new(c, out, k, merge_type(c, va, vb));
    if (strcmp(k, "required") == 0 && json_is_array(va) && json_is_array(vb))
        return set_new(c, out, k, merge_required(va, vb));
    if (strcmp(k, "enum") == 0 && json_is_array(va) && json_is_array(vb))
        return set_new(c, out, k, merge_enum(c, va, vb));
    if (strcmp(k, "properties") == 0 && json_is_object(va) && json_is_object(vb))
        return set_new(c, out, k, merge_properties(va, vb));
    if ((strcmp(k, "anyOf") == 0 || strcmp(k, "oneOf") == 0) && json_is_array(va) &&
        json_is_array(vb))
        return set_new(c, out, k, merge_anyof(c, va, vb));
    if ((strcmp(k, "items") == 0 || strcmp(k, "additionalItems") == 0) && !json_is_array(va) &&
        !json_is_array(vb))
        return set_new(c, out, k, pair_allof(va, vb));
    if (strcmp(k, "nullable") == 0)
        return set_new(c, out, k, json_boolean(json_is_true(va) && json_is_true(vb)));
    if ((in_list(LOWER, k) || in_list(UPPER, k) || strcmp(k, "exclusiveMinimum") == 0 ||
         strcmp(k, "exclusiveMaximum") == 0) &&
        json_is_number(va) && json_is_number(vb)) {
        bool larger = in_list(LOWER, k) || strcmp(k, "exclusiveMinimum") == 0;
        return set_new(c, out, k, json_incref((json_t *)(num_pick(va, vb, larger) ? vb : va)));
    }
    if (!in_list(CONSTRAINTS, k))
        return true; /* annotations: keep the first */
    fail(c, "allOf: conflicting values for '%s' are not supported", k);
    return false;
}

/* The side `closed` has additionalProperties false or a schema: a property
 * it does not declare may not appear (false) or must also meet that schema. */
static bool restrict_props(struct conv *c, json_t *out, const json_t *closed)
{
    const json_t *ap = json_object_get(closed, "additionalProperties");
    const json_t *allowed = json_object_get(closed, "properties");
    if (ap == NULL || json_is_true(ap))
        return true;
    const json_t *req = json_object_get(out, "required");
    const char *k;
    json_t *v;
    size_t i;
    if (json_is_false(ap)) {
        json_array_foreach(req, i, v) {
            const char *name = json_string_value(v);
            if (name && !json_object_get(allowed, name)) {
                fail(c, "allOf/$ref: property '%.100s' is required but additionalProperties "
                        "is false where it is not declared", name);
                return false;
            }
        }
    }
    if (!json_is_object(json_object_get(out, "properties")))
        return true;
    /* a copy: the properties object may be shared with the caller's schema */
    json_t *props = json_copy(json_object_get(out, "properties"));
    if (props == NULL || json_object_set_new(out, "properties", props) != 0) {
        oom(c);
        return false;
    }
    json_object_foreach(props, k, v) {
        if (json_object_get(allowed, k))
            continue;
        json_t *nv = json_is_false(ap) ? json_false() : pair_allof(v, ap);
        if (nv == NULL || json_object_set_new(props, k, nv) != 0) {
            oom(c);
            return false;
        }
    }
    return true;
}

static json_t *merge(struct conv *c, const json_t *a0, const json_t *b0)
{
    if (++c->merges > MAX_MERGES) {
        fail(c, "schema too complex (allOf / $ref merging)");
        return NULL;
    }
    json_t *a = flatten(c, a0), *b = a ? flatten(c, b0) : NULL, *out = NULL;
    if (a == NULL || b == NULL)
        goto done;
    out = json_copy(a);
    if (out == NULL) {
        oom(c);
        goto done;
    }
    const char *k;
    json_t *vb;
    json_object_foreach(b, k, vb) {
        json_t *va = json_object_get(a, k);
        if (strcmp(k, "additionalProperties") == 0 && va && !json_is_false(va) &&
            !json_is_false(vb)) {
            bool ta = json_is_true(va), tb = json_is_true(vb);
            json_object_set_new(out, k, ta ? json_incref(vb) : tb ? json_incref(va)
                                                              : pair_allof(va, vb));
        } else if (strcmp(k, "additionalProperties") == 0 && va) {
            json_object_set_new(out, k, json_false());
        } else if (va == NULL) {
            json_object_set(out, k, vb);
        } else if (!merge_key(c, out, k, va, vb)) {
            break;
        }
    }
    if (!c->failed)
        restrict_props(c, out, a);
    if (!c->failed)
        restrict_props(c, out, b);
done:
    json_decref(a);
    json_decref(b);
    if (c->failed) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* s without $ref and allOf at its top: those merged in. New reference. */
static json_t *flatten(struct conv *c, const json_t *s)
{
    if (c->failed)
        return NULL;
    if (json_is_true(s))
        return json_object();
    if (!json_is_object(s)) {
        fail(c, json_is_false(s) ? "allOf with the schema false matches nothing"
                                 : "a schema must be an object or a boolean");
        return NULL;
    }
    const json_t *ref = json_object_get(s, "$ref"), *all = json_object_get(s, "allOf");
    if (ref == NULL && all == NULL)
        return json_copy((json_t *)s);
    if (++c->merge_depth > MAX_MERGE_DEPTH) {
        fail(c, "$ref / allOf nested too deeply (a schema that includes itself?)");
        return NULL;
    }
    static const char *const DROP[] = {"$ref", "allOf", NULL};
    json_t *acc = without(s, DROP);
    if (acc == NULL)
        oom(c);
    if (ref && acc) {
        const json_t *t = json_is_string(ref) ? resolve(c, json_string_value(ref)) : NULL;
        if (!json_is_string(ref))
            fail(c, "$ref must be a string");
        json_t *m = t ? merge(c, acc, t) : NULL;
        json_decref(acc);
        acc = m;
    }
    if (all && !json_is_array(all))
        fail(c, "allOf must be an array");
    size_t i;
    json_t *x;
    json_array_foreach(all, i, x) {
        if (acc == NULL)
            break;
        json_t *m = merge(c, acc, x);
        json_decref(acc);
        acc = m;
    }
    c->merge_depth--;
    return acc;
}

/* ---- visiting ---- */

static const char *visit(struct conv *c, const json_t *s, const char *hint);

static void subhint(char *out, size_t size, const char *hint, const char *part)
{
    snprintf(out, size, "%s-%s", hint, part);
}

/* A rule "a | b | ..." from the names in alts. */
static const char *alternatives(struct conv *c, const char *hint, const char **alts, size_t n)
{
    struct sbuf b;
    b = (struct sbuf)SBUF_INIT;
    for (size_t i = 0; i < n; i++) {
        if (i)
            sbuf_puts(&b, " | ");
        sbuf_puts(&b, alts[i]);
    }
    return rule_add(c, hint, &b);
}

static const char *visit_ref(struct conv *c, const json_t *ref, const char *hint)
{
    const char *r = json_string_value(ref);
    if (r == NULL) {
        fail(c, "$ref must be a string");
        return NULL;
    }
    for (size_t i = 0; i < c->n_refs; i++)
        if (strcmp(c->refs[i].ref, r) == 0)
            return c->rules[c->refs[i].rule].name;
    const json_t *target = resolve(c, r);
    if (target == NULL)
        return NULL;
    if (c->n_refs == c->cap_refs) {
        size_t cap = c->cap_refs ? c->cap_refs * 2 : 16;
        struct ref *nr = realloc(c->refs, cap * sizeof(*nr));
        if (nr == NULL) {
            oom(c);
            return NULL;
        }
        c->refs = nr;
        c->cap_refs = cap;
    }
    const char *slash = strrchr(r, '/');
    long idx = rule_new(c, slash && slash[1] ? slash + 1 : hint, NULL);
    char *dup = strdup(r);
    if (idx < 0 || dup == NULL) {
        free(dup);
        if (!c->failed)
            oom(c);
        return NULL;
    }
    c->refs[c->n_refs++] = (struct ref){dup, (size_t)idx};
    const char *name = c->rules[idx].name;
    const char *inner = visit(c, target, name);
    if (inner == NULL)
        return NULL;
    char *body = strdup(inner);
    if (body == NULL)
        oom(c);
    rule_set(c, idx, body);
    return c->failed ? NULL : name;
}

/* ---- enum / const ---- */

static bool type_is(const json_t *v, const char *t)
{
    if (strcmp(t, "string") == 0)
        return json_is_string(v);
    if (strcmp(t, "integer") == 0)
        return json_is_integer(v) ||
               (json_is_real(v) && floor(json_real_value(v)) == json_real_value(v));
    if (strcmp(t, "number") == 0)
        return json_is_number(v);
    if (strcmp(t, "boolean") == 0)
        return json_is_boolean(v);
    if (strcmp(t, "null") == 0)
        return json_is_null(v);
    if (strcmp(t, "object") == 0)
        return json_is_object(v);
    if (strcmp(t, "array") == 0)
        return json_is_array(v);
    return false;
}

/* Does an enum value also meet the schema's type, length and range? */
static bool value_ok(const json_t *s, const json_t *v)
{
    const json_t *t = json_object_get(s, "type");
    if (json_is_string(t) && !type_is(v, json_string_value(t)))
        return false;
    if (json_is_array(t)) {
        bool any = false;
        size_t i;
        json_t *x;
        json_array_foreach(t, i, x) any = any || (json_is_string(x) &&
                                                  type_is(v, json_string_value(x)));
        if (!any)
            return false;
    }
    if (json_is_string(v)) {
        size_t n = utf8_count(json_string_value(v), json_string_length(v));
        const json_t *mn = json_object_get(s, "minLength"), *mx = json_object_get(s, "maxLength");
        if ((json_is_number(mn) && n < json_number_value(mn)) ||
            (json_is_number(mx) && n > json_number_value(mx)))
            return false;
    }
    if (json_is_number(v)) {
        double x = json_number_value(v);
        const json_t *mn = json_object_get(s, "minimum"), *mx = json_object_get(s, "maximum");
        const json_t *emn = json_object_get(s, "exclusiveMinimum");
        const json_t *emx = json_object_get(s, "exclusiveMaximum");
        if ((json_is_number(mn) && x < json_number_value(mn)) ||
            (json_is_number(mx) && x > json_number_value(mx)) ||
            (json_is_number(emn) && x <= json_number_value(emn)) ||
            (json_is_number(emx) && x >= json_number_value(emx)))
            return false;
    }
    return true;
}

/* A JSON value as a grammar: scalars literally, objects and arrays with the
 * same optional whitespace as elsewhere. */
static void value_literal(struct conv *c, struct sbuf *b, const json_t *v, int depth)
{
    const char *sp = prim(c, P_SPACE);
    if (depth > MAX_DEPTH) {
        b->oom = true; /* reported as too complex by the caller */
        return;
    }
    if (json_is_object(v) || json_is_array(v)) {
        bool obj = json_is_object(v);
        sbuf_printf(b, obj ? "\"{\" %s" : "\"[\" %s", sp);
        size_t n = 0, i;
        const char *k;
        json_t *x;
        if (obj) {
            json_object_foreach((json_t *)v, k, x) {
                sbuf_printf(b, n++ ? " %s \",\" %s " : " ", sp, sp);
                json_schema_string_literal(b, k, strlen(k));
                sbuf_printf(b, " %s \":\" %s ", sp, sp);
                value_literal(c, b, x, depth + 1);
            }
        } else {
            json_array_foreach(v, i, x) {
                sbuf_printf(b, n++ ? " %s \",\" %s " : " ", sp, sp);
                value_literal(c, b, x, depth + 1);
            }
        }
        if (n)
            sbuf_printf(b, " %s", sp);
        sbuf_printf(b, " \"%c\"", obj ? '}' : ']');
        return;
    }
    /* reals: the shortest form that reads back as the same number */
    int prec = 17;
    for (int p = 1; json_is_real(v) && p < 17; p++) {
        char tmp[64];
        snprintf(tmp, sizeof(tmp), "%.*g", p, json_real_value(v));
        if (strtod(tmp, NULL) == json_real_value(v)) {
            prec = p;
            break;
        }
    }
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(prec));
    if (text == NULL) {
        b->oom = true;
        return;
    }
    json_schema_literal(b, text, strlen(text));
    free(text);
}

static const char *visit_enum(struct conv *c, const json_t *s, const char *hint)
{
    const json_t *cst = json_object_get(s, "const"), *en = json_object_get(s, "enum");
    if (en && !json_is_array(en)) {
        fail(c, "enum must be an array");
        return NULL;
    }
    struct sbuf b;
    b = (struct sbuf)SBUF_INIT;
    size_t n = 0, i;
    json_t *v;
    json_t *one = cst ? json_pack("[O]", cst) : NULL;
    json_array_foreach(cst ? one : en, i, v) {
        if (i % CANCEL_EVERY == CANCEL_EVERY - 1 && cancelled(c))
            break;
        if (b.len > MAX_TEXT) { /* before the rule's text is counted: stop building it */
            fail(c, "schema too complex (grammar over %u bytes)", MAX_TEXT);
            break;
        }
        /* with both const and enum, the const must be one of the enum's
         * values: one pass (the enum is walked once, never once per value) */
        bool in_enum = !cst || !en;
        size_t j;
        json_t *e;
        if (!in_enum)
            json_array_foreach(en, j, e) if ((in_enum = json_equal(v, e))) break;
        if (!in_enum || !value_ok(s, v))
            continue;
        if (n++)
            sbuf_puts(&b, " | ");
        sbuf_putc(&b, '(');
        value_literal(c, &b, v, 0);
        sbuf_putc(&b, ')');
    }
    json_decref(one);
    if (c->failed) {
        sbuf_free(&b);
        return NULL;
    }
    if (n == 0 && !b.oom) {
        sbuf_free(&b);
        fail(c, "no value of enum/const satisfies the rest of the schema");
        return NULL;
    }
    return rule_add(c, hint, &b);
}

/* ---- numbers ---- */

static int ndigits(uint64_t v)
{
    int n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

static uint64_t pow10u(int n)
{
    uint64_t p = 1;
    while (n-- > 0)
        p *= 10;
    return p;
}

/* Digit strings lo..hi, both n digits long (leading zeros allowed). */
static void digits_range(struct sbuf *b, const char *lo, const char *hi, int n)
{
    int k = 0;
    while (k < n && lo[k] == hi[k])
        k++;
    if (k > 0) {
        json_schema_literal(b, lo, (size_t)k);
        if (k == n)
            return;
        sbuf_putc(b, ' ');
    }
    lo += k;
    hi += k;
    n -= k;
    if (n == 1) {
        sbuf_printf(b, "[%c-%c]", lo[0], hi[0]);
        return;
    }
    static const char nines[] = "9999999999999999999999", zeros[] = "0000000000000000000000";
    bool lo_zero = strncmp(lo + 1, zeros, (size_t)n - 1) == 0;
    bool hi_nine = strncmp(hi + 1, nines, (size_t)n - 1) == 0;
    char s = (char)(lo[0] + (lo_zero ? 0 : 1)), e = (char)(hi[0] - (hi_nine ? 0 : 1));
    int alts = 0;
    sbuf_putc(b, '(');
    if (!lo_zero) {
        sbuf_printf(b, "\"%c\" ", lo[0]);
        digits_range(b, lo + 1, nines, n - 1);
        alts++;
    }
    if (s <= e) {
        sbuf_printf(b, "%s[%c-%c] [0-9]{%d}", alts++ ? " | " : "", s, e, n - 1);
    }
    if (!hi_nine) {
        sbuf_printf(b, "%s\"%c\" ", alts ? " | " : "", hi[0]);
        digits_range(b, zeros, hi + 1, n - 1);
    }
    sbuf_putc(b, ')');
}

/* Decimal numerals (no leading zeros) of the integers in [a, z]. */
static void uint_range(struct sbuf *b, uint64_t a, uint64_t z)
{
    int la = ndigits(a), lz = ndigits(z), alts = 0;
    sbuf_putc(b, '(');
    for (int len = la; len <= lz; len++) {
        uint64_t first = len == 1 ? 0 : pow10u(len - 1);
        uint64_t last = len >= 20 ? UINT64_MAX : pow10u(len) - 1;
        uint64_t lo = a > first ? a : first, hi = z < last ? z : last;
        if (alts++)
            sbuf_puts(b, " | ");
        if (len > 1 && lo == first && hi == last) {
            int end = len; /* lengths len..end all complete */
            while (end < lz && !(end + 1 == lz && z != pow10u(lz) - 1))
                end++;
            if (end == len)
                sbuf_printf(b, "[1-9] [0-9]{%d}", len - 1);
            else
                sbuf_printf(b, "[1-9] [0-9]{%d,%d}", len - 1, end - 1);
            len = end;
            continue;
        }
        char slo[24], shi[24];
        snprintf(slo, sizeof(slo), "%0*llu", len, (unsigned long long)lo);
        snprintf(shi, sizeof(shi), "%0*llu", len, (unsigned long long)hi);
        digits_range(b, slo, shi, len);
    }
    sbuf_putc(b, ')');
}

/* A bound on integers: value, or none. */
struct ibound {
    bool set;
    int64_t v;
};

/* Integers in [lo, hi] (unset: unbounded, INT_CAP in magnitude). Returns
 * false (writing nothing) when the range is empty. */
static bool int_range(struct sbuf *b, struct ibound lo, struct ibound hi)
{
    uint64_t cap = INT_CAP;
    if (lo.set && lo.v > 0 && (uint64_t)lo.v > cap)
        cap = UINT64_C(999999999999999999) > (uint64_t)lo.v ? UINT64_C(999999999999999999)
                                                             : (uint64_t)lo.v;
    if (hi.set && hi.v < 0 && (uint64_t)0 - (uint64_t)hi.v > cap)
        cap = UINT64_C(999999999999999999) > (uint64_t)0 - (uint64_t)hi.v
                  ? UINT64_C(999999999999999999)
                  : (uint64_t)0 - (uint64_t)hi.v;
    int alts = 0;
    struct sbuf t;
    t = (struct sbuf)SBUF_INIT;
    /* negative part: magnitudes [mlo, mhi] */
    if (!lo.set || lo.v < 0) {
        uint64_t mhi = lo.set ? (uint64_t)0 - (uint64_t)lo.v : cap;
        uint64_t mlo = hi.set && hi.v < 0 ? (uint64_t)0 - (uint64_t)hi.v : 1;
        if (mlo <= mhi) {
            sbuf_puts(&t, "\"-\" ");
            uint_range(&t, mlo, mhi);
            alts++;
        }
    }
    if (!hi.set || hi.v >= 0) {
        uint64_t a = lo.set && lo.v > 0 ? (uint64_t)lo.v : 0;
        uint64_t z = hi.set ? (uint64_t)hi.v : cap;
        if (a <= z) {
            if (alts++)
                sbuf_puts(&t, " | ");
            uint_range(&t, a, z);
        }
    }
    if (alts)
        sbuf_append(b, t.s, t.len);
    if (t.oom)
        b->oom = true;
    sbuf_free(&t);
    return alts > 0;
}

/* A JSON number bound: value and whether it is exclusive. */
struct nbound {
    bool set, excl;
    double v;
};

static bool read_bounds(struct conv *c, const json_t *s, struct nbound *lo, struct nbound *hi)
{
    const json_t *mn = json_object_get(s, "minimum"), *mx = json_object_get(s, "maximum");
    const json_t *emn = json_object_get(s, "exclusiveMinimum");
    const json_t *emx = json_object_get(s, "exclusiveMaximum");
    *lo = (struct nbound){false, false, 0};
    *hi = (struct nbound){false, false, 0};
    if ((mn && !json_is_number(mn)) || (mx && !json_is_number(mx)) ||
        (emn && !json_is_number(emn) && !json_is_boolean(emn)) ||
        (emx && !json_is_number(emx) && !json_is_boolean(emx))) {
        fail(c, "minimum/maximum must be numbers");
        return false;
    }
    if (mn)
        *lo = (struct nbound){true, json_is_true(emn), json_number_value(mn)};
    if (mx)
        *hi = (struct nbound){true, json_is_true(emx), json_number_value(mx)};
    if (json_is_number(emn) && (!lo->set || json_number_value(emn) >= lo->v))
        *lo = (struct nbound){true, true, json_number_value(emn)};
    if (json_is_number(emx) && (!hi->set || json_number_value(emx) <= hi->v))
        *hi = (struct nbound){true, true, json_number_value(emx)};
    return true;
}

#define LIMIT 9.0e18

/* An integer bound from a number bound: lower (ceil) or upper (floor).
 * Returns false when out of range in the restrictive direction. */
static bool to_ibound(struct conv *c, struct nbound nb, bool lower, struct ibound *out)
{
    out->set = false;
    if (!nb.set)
        return true;
    double v = lower ? (nb.excl ? floor(nb.v) + 1 : ceil(nb.v))
                     : (nb.excl ? ceil(nb.v) - 1 : floor(nb.v));
    if (v != v) {
        fail(c, "minimum/maximum is not a number");
        return false;
    }
    if (lower ? v < -LIMIT : v > LIMIT)
        return true; /* beyond what is generated anyway */
    if (lower ? v > LIMIT : v < -LIMIT) {
        fail(c, "integer bound %g is out of the supported range", nb.v);
        return false;
    }
    *out = (struct ibound){true, (int64_t)v};
    return true;
}

static bool check_multiple_of(struct conv *c, const json_t *s, bool *integer)
{
    const json_t *m = json_object_get(s, "multipleOf");
    if (m == NULL)
        return true;
    if (json_is_number(m) && json_number_value(m) == 1) {
        *integer = true;
        return true;
    }
    fail(c, "unsupported JSON schema keyword 'multipleOf' (only 1)");
    return false;
}

static const char *visit_integer(struct conv *c, const json_t *s, const char *hint,
                                 struct nbound nlo, struct nbound nhi)
{
    struct ibound lo, hi;
    if (!to_ibound(c, nlo, true, &lo) || !to_ibound(c, nhi, false, &hi))
        return NULL;
    if (!lo.set && !hi.set)
        return prim(c, P_INTEGER);
    if (lo.set && hi.set && lo.v > hi.v) {
        fail(c, "no integer lies between minimum and maximum");
        return NULL;
    }
    struct sbuf b;
    b = (struct sbuf)SBUF_INIT;
    int_range(&b, lo, hi);
    return rule_add(c, hint, &b);
}

/* Numbers in a range, through their integer part X: "X.F" is taken where
 * every fraction stays in range, "X" where X itself is (a subset). */
static const char *visit_number_range(struct conv *c, const char *hint, struct nbound lo,
                                      struct nbound hi)
{
    /* positive forms "X.F" / "X"; negative "-X.F" / "-X" */
    struct nbound fa_lo = lo, fa_hi = hi, ia_lo = lo, ia_hi = hi;
    fa_hi.v = hi.v - 1;
    fa_hi.excl = false;
    /* negative side, in magnitudes: value -(X.F) >= lo  <=>  X <= -lo - 1 */
    struct nbound fb_lo = {hi.set, hi.excl, -hi.v}, fb_hi = {lo.set, false, -lo.v - 1};
    struct nbound ib_lo = {hi.set, hi.excl, -hi.v}, ib_hi = {lo.set, lo.excl, -lo.v};
    struct ibound a_lo, a_hi, i_lo, i_hi, b_lo, b_hi, j_lo, j_hi;
    if (!to_ibound(c, fa_lo, true, &a_lo) || !to_ibound(c, fa_hi, false, &a_hi) ||
        !to_ibound(c, ia_lo, true, &i_lo) || !to_ibound(c, ia_hi, false, &i_hi) ||
        !to_ibound(c, fb_lo, true, &b_lo) || !to_ibound(c, fb_hi, false, &b_hi) ||
        !to_ibound(c, ib_lo, true, &j_lo) || !to_ibound(c, ib_hi, false, &j_hi))
        return NULL;
    struct ibound zero = {true, 0}, one = {true, 1};
    if (!a_lo.set || a_lo.v < 0)
        a_lo = zero;
    if (!i_lo.set || i_lo.v < 0)
        i_lo = zero;
    if (!b_lo.set || b_lo.v < 0)
        b_lo = zero;
    if (!j_lo.set || j_lo.v < 1)
        j_lo = one;
    const char *frac = prim(c, P_FRAC);
    struct sbuf b, t;
    b = (struct sbuf)SBUF_INIT;
    int alts = 0;
    struct {
        struct ibound lo, hi;
        const char *sign;
        bool frac;
    } part[4] = {{a_lo, a_hi, "", true}, {i_lo, i_hi, "", false}, {b_lo, b_hi, "\"-\" ", true},
                 {j_lo, j_hi, "\"-\" ", false}};
    for (int k = 0; k < 4; k++) {
        if (part[k].hi.set && part[k].hi.v < part[k].lo.v)
            continue;
        t = (struct sbuf)SBUF_INIT;
        if (int_range(&t, part[k].lo, part[k].hi)) {
            sbuf_printf(&b, "%s%s", alts++ ? " | " : "", part[k].sign);
            sbuf_append(&b, t.s, t.len);
            if (part[k].frac)
                sbuf_printf(&b, " \".\" %s", frac);
        }
        sbuf_free(&t);
    }
    /* an exclusive integral bound L >= 0 (or H <= 0): "L.F" ("-H.F") with F
     * not all zeros */
    if (lo.set && lo.excl && lo.v >= 0 && lo.v == floor(lo.v) && lo.v <= (double)INT_CAP &&
        (!hi.set || hi.v >= lo.v + 1))
        sbuf_printf(&b, "%s\"%.0f.\" [0-9]{0,15} [1-9]", alts++ ? " | " : "", lo.v);
    if (hi.set && hi.excl && hi.v <= 0 && hi.v == floor(hi.v) && -hi.v <= (double)INT_CAP &&
        (!lo.set || lo.v <= hi.v - 1))
        sbuf_printf(&b, "%s\"-%.0f.\" [0-9]{0,15} [1-9]", alts++ ? " | " : "", fabs(hi.v));
    if (alts == 0) {
        sbuf_free(&b);
        fail(c, "number range too narrow to express (needs fractions)");
        return NULL;
    }
    return rule_add(c, hint, &b);
}

static const char *visit_number(struct conv *c, const json_t *s, bool integer, const char *hint)
{
    if (!check_multiple_of(c, s, &integer))
        return NULL;
    struct nbound lo, hi;
    if (!read_bounds(c, s, &lo, &hi))
        return NULL;
    if (integer)
        return visit_integer(c, s, hint, lo, hi);
    if (!lo.set && !hi.set)
        return prim(c, P_NUMBER);
    return visit_number_range(c, hint, lo, hi);
}

/* ---- strings ---- */

static bool read_count(struct conv *c, const json_t *s, const char *k, uint64_t def,
                       uint64_t *out)
{
    const json_t *v = json_object_get(s, k);
    *out = def;
    if (v == NULL)
        return true;
    double d = json_number_value(v);
    if (!json_is_number(v) || d < 0 || d != floor(d)) {
        fail(c, "%s must be a non-negative integer", k);
        return false;
    }
    *out = d > 1e15 ? (uint64_t)1e15 : (uint64_t)d;
    return true;
}

static void put_repeat(struct sbuf *b, uint64_t min, uint64_t max)
{
    if (min == 0 && max == UNB)
        sbuf_putc(b, '*');
    else if (min == 1 && max == UNB)
        sbuf_putc(b, '+');
    else if (min == 0 && max == 1)
        sbuf_putc(b, '?');
    else if (max == UNB)
        sbuf_printf(b, "{%llu,}", (unsigned long long)min);
    else if (min == max)
        sbuf_printf(b, "{%llu}", (unsigned long long)min);
    else
        sbuf_printf(b, "{%llu,%llu}", (unsigned long long)min, (unsigned long long)max);
}

/* min..max (UNB: no limit) with max capped at MAX_LEN; false if impossible. */
static bool counts(struct conv *c, const char *what, uint64_t min, uint64_t *max)
{
    if (*max != UNB && min > *max) {
        fail(c, "%s: the minimum is larger than the maximum", what);
        return false;
    }
    if (min > MAX_LEN) {
        fail(c, "%s: a minimum above %d is not supported", what, MAX_LEN);
        return false;
    }
    if (*max != UNB && *max > MAX_LEN)
        *max = MAX_LEN;
    return true;
}

static const char *visit_format(struct conv *c, const char *f, const char *hint)
{
    const char *inner = NULL;
    if (strcmp(f, "date") == 0)
        inner = prim(c, P_DATE);
    else if (strcmp(f, "time") == 0)
        inner = prim(c, P_TIME);
    else if (strcmp(f, "uuid") == 0)
        inner = prim(c, P_UUID);
    else if (strcmp(f, "email") == 0)
        inner = prim(c, P_EMAIL);
    else if (strcmp(f, "ipv4") == 0)
        inner = prim(c, P_IPV4);
    else if (strcmp(f, "date-time") == 0)
        return rule_addf(c, hint, "\"\\\"\" %s \"T\" %s \"\\\"\"", prim(c, P_DATE),
                         prim(c, P_TIME));
    else
        return NULL;
    return rule_addf(c, hint, "\"\\\"\" %s \"\\\"\"", inner);
}

/* A pattern, with minLength/maxLength when they follow from it or when the
 * pattern is one repeated character set (then the bounds are intersected). */
static const char *visit_pattern(struct conv *c, const json_t *s, const json_t *pat,
                                 const char *hint)
{
    uint64_t min, max;
    if (!json_is_string(pat)) {
        fail(c, "pattern must be a string");
        return NULL;
    }
    if (!read_count(c, s, "minLength", 0, &min) || !read_count(c, s, "maxLength", UNB, &max) ||
        !counts(c, "string length", min, &max))
        return NULL;
    struct sbuf b;
    b = (struct sbuf)SBUF_INIT;
    sbuf_puts(&b, "\"\\\"\" ");
    char msg[200];
    struct json_schema_regex_info info = {0};
    if (json_schema_regex(json_string_value(pat), json_string_length(pat), &b, &info, msg,
                  sizeof(msg)) != 0) {
        sbuf_free(&b);
        fail(c, "%s", msg);
        return NULL;
    }
    bool implied = info.min_len >= min && (max == UNB || info.max_len <= max);
    if (!implied && info.single) {
        uint64_t lo = info.qmin > min ? info.qmin : min;
        uint64_t hi = info.qmax == UINT64_MAX ? max : (max == UNB || info.qmax < max ? info.qmax : max);
        if (hi != UNB && lo > hi) {
            fail(c, "pattern and minLength/maxLength allow no string");
        } else {
            sbuf_free(&b);
            b = (struct sbuf)SBUF_INIT;
            sbuf_printf(&b, "\"\\\"\" (%s)", info.atom);
            put_repeat(&b, lo, hi);
        }
    } else if (!implied) {
        fail(c, "pattern together with minLength/maxLength is supported only when the "
                "lengths follow from the pattern or it is one repeated character class");
    }
    free(info.atom);
    if (c->failed) {
        sbuf_free(&b);
        return NULL;
    }
    sbuf_puts(&b, " \"\\\"\"");
    return rule_add(c, hint, &b);
}

static const char *visit_string(struct conv *c, const json_t *s, const char *hint)
{
    const json_t *pat = json_object_get(s, "pattern"), *fmt = json_object_get(s, "format");
    bool lengths = json_object_get(s, "minLength") || json_object_get(s, "maxLength");
    if (pat)
        return visit_pattern(c, s, pat, hint);
    if (json_is_string(fmt)) {
        const char *r = visit_format(c, json_string_value(fmt), hint);
        if (r && lengths) {
            fail(c, "format together with minLength/maxLength is not supported");
            return NULL;
        }
        if (r || c->failed)
            return r;
    }
    uint64_t min, max;
    if (!read_count(c, s, "minLength", 0, &min) || !read_count(c, s, "maxLength", UNB, &max) ||
        !counts(c, "string length", min, &max))
        return NULL;
    if (min == 0 && max == UNB)
        return prim(c, P_STRING);
    struct sbuf b;
    b = (struct sbuf)SBUF_INIT;
    sbuf_printf(&b, "\"\\\"\" %s", prim(c, P_CHAR));
    put_repeat(&b, min, max);
    sbuf_puts(&b, " \"\\\"\"");
    return rule_add(c, hint, &b);
}

/* ---- objects ---- */

struct prop {
    const char *key;
    const json_t *schema;
    bool required;
    const char *kv; /* rule name */
};

/* Trie over property names, for keys that must differ from all of them. */
struct tnode {
    uint32_t cp;
    int child, sibling;
    bool terminal;
};

struct trie {
    struct tnode *v;
    int n, cap;
};

static int trie_child(struct trie *t, int at, uint32_t cp)
{
    for (int k = t->v[at].child; k >= 0; k = t->v[k].sibling)
        if (t->v[k].cp == cp)
            return k;
    if (t->n == t->cap) {
        int cap = t->cap ? t->cap * 2 : 32;
        struct tnode *v = realloc(t->v, (size_t)cap * sizeof(*v));
        if (v == NULL)
            return -1;
        t->v = v;
        t->cap = cap;
    }
    t->v[t->n] = (struct tnode){cp, -1, t->v[at].child, false};
    t->v[at].child = t->n;
    return t->n++;
}

/* Decode one UTF-8 code point (input is valid: it came from jansson). */
static uint32_t next_cp(const unsigned char **p)
{
    const unsigned char *s = *p;
    int n = s[0] < 0x80 ? 1 : s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : 2;
    uint32_t cp = n == 1 ? s[0] : s[0] & (0x3F >> (n - 1));
    for (int i = 1; i < n && s[i]; i++)
        cp = cp << 6 | (s[i] & 0x3F);
    *p = s + n;
    return cp;
}

static bool trie_add(struct trie *t, const char *key)
{
    if (strlen(key) > 200)
        return true; /* not excluded: a model will hardly write it */
    for (const char *p = key; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == '"' || *p == '\\')
            return true; /* written with escapes: not excluded (see below) */
    int at = 0;
    const unsigned char *p = (const unsigned char *)key;
    while (*p) {
        at = trie_child(t, at, next_cp(&p));
        if (at < 0)
            return false;
    }
    t->v[at].terminal = true;
    return true;
}

/* Rule for trie node k: the rest of a key that is none of the names. */
static const char *trie_rule(struct conv *c, struct trie *t, int k, const char *hint)
{
    struct sbuf b;
    b = (struct sbuf)SBUF_INIT;
    const char *ch = prim(c, P_CHAR), *esc = prim(c, P_ESCAPE);
    if (!t->v[k].terminal)
        sbuf_puts(&b, "| ");
    uint32_t *excl = NULL;
    size_t n_excl = 0;
    for (int m = t->v[k].child; m >= 0; m = t->v[m].sibling) {
        const char *sub = trie_rule(c, t, m, hint);
        if (sub == NULL)
            break;
        uint32_t r[2] = {t->v[m].cp, t->v[m].cp};
        json_schema_charset(&b, r, 1);
        sbuf_printf(&b, " %s | ", sub);
        uint32_t *e = realloc(excl, (n_excl + 1) * 2 * sizeof(*e));
        if (e == NULL) {
            b.oom = true;
            break;
        }
        excl = e;
        excl[2 * n_excl] = excl[2 * n_excl + 1] = t->v[m].cp;
        n_excl++;
    }
    /* any first character but the children's, then anything */
    sbuf_puts(&b, "[^\"\\\\\\x7F\\x00-\\x1F");
    for (size_t i = 0; i < n_excl; i++) {
        uint32_t cp = excl[2 * i];
        if (cp == ']' || cp == '[' || cp == '-' || cp == '^')
            sbuf_printf(&b, "\\%c", (char)cp);
        else if (cp < 0x80)
            sbuf_putc(&b, (char)cp);
        else
            sbuf_printf(&b, cp <= 0xFFFF ? "\\u%04X" : "\\U%08X", cp);
    }
    sbuf_printf(&b, "] %s* | %s %s*", ch, esc, ch);
    free(excl);
    if (c->failed) {
        sbuf_free(&b);
        return NULL;
    }
    return rule_add(c, hint, &b);
}

/* A JSON string that is none of the declared property names. */
static const char *other_key(struct conv *c, const struct prop *props, size_t n,
                             const char *hint)
{
    if (n == 0)
        return prim(c, P_STRING);
    struct trie t = {malloc(32 * sizeof(struct tnode)), 1, 32};
    bool ok = t.v != NULL;
    if (ok)
        t.v[0] = (struct tnode){0, -1, -1, false}; /* the root: empty prefix */
    for (size_t i = 0; ok && i < n; i++)
        ok = trie_add(&t, props[i].key);
    char h[128];
    subhint(h, sizeof(h), hint, "other-key");
    const char *rest = ok ? trie_rule(c, &t, 0, h) : NULL;
    free(t.v);
    if (!ok) {
        oom(c);
        return NULL;
    }
    if (rest == NULL)
        return NULL;
    return rule_addf(c, h, "\"\\\"\" %s \"\\\"\"", rest);
}

static bool collect_props(struct conv *c, const json_t *s, struct prop **out, size_t *n_out)
{
    const json_t *props = json_object_get(s, "properties"), *req = json_object_get(s, "required");
    if ((props && !json_is_object(props)) || (req && !json_is_array(req))) {
        fail(c, "properties must be an object and required an array");
        return false;
    }
    size_t cap = json_object_size(props) + json_array_size(req) + 1, n = 0;
    if (cap > MAX_PROPS) {
        fail(c, "too many properties (more than %d)", MAX_PROPS);
        return false;
    }
    struct prop *v = calloc(cap, sizeof(*v));
    if (v == NULL) {
        oom(c);
        return false;
    }
    const char *k;
    json_t *ps;
    size_t i;
    json_t *r;
    json_object_foreach((json_t *)props, k, ps) {
        bool required = false;
        json_array_foreach(req, i, r) required = required || (json_is_string(r) &&
                                                              strcmp(json_string_value(r), k) == 0);
        if (json_is_false(ps)) {
            if (required) {
                fail(c, "property '%.100s' is required but its schema is false", k);
                free(v);
                return false;
            }
            continue;
        }
        v[n++] = (struct prop){k, ps, required, NULL};
    }
    json_array_foreach(req, i, r) {
        const char *name = json_string_value(r);
        if (name == NULL) {
            fail(c, "required must list strings");
            free(v);
            return false;
        }
        bool seen = false;
        for (size_t j = 0; j < n; j++)
            seen = seen || strcmp(v[j].key, name) == 0;
        if (!seen && !json_object_get(props, name))
            v[n++] = (struct prop){name, json_true(), true, NULL};
    }
    *out = v;
    *n_out = n;
    return true;
}

/* min/maxProperties: fine when they follow from the rest; a maximum also
 * caps the number of additional members (*add_max; UNB: no cap), counting
 * every declared property as present (a subset). */
static bool check_prop_counts(struct conv *c, const json_t *s, const struct prop *p, size_t n,
                              uint64_t *add_max)
{
    uint64_t mn, mx, req = 0;
    if (!read_count(c, s, "minProperties", 0, &mn) || !read_count(c, s, "maxProperties", UNB, &mx))
        return false;
    for (size_t i = 0; i < n; i++)
        req += p[i].required;
    if (mn > req) {
        fail(c, "unsupported JSON schema keyword 'minProperties' (above the required count)");
        return false;
    }
    if (mx != UNB && mx < n) {
        fail(c, "unsupported JSON schema keyword 'maxProperties' (below the declared count)");
        return false;
    }
    *add_max = mx == UNB ? UNB : mx - n;
    if (*add_max != UNB && *add_max > MAX_LEN)
        *add_max = MAX_LEN;
    return true;
}

/* The members "kv (, kv)*" of an object: required ones in order, optional
 * ones anywhere between, in declaration order, then additional ones. */
static const char *members(struct conv *c, const struct prop *p, size_t n, const char *add,
                           uint64_t add_max, const char *hint)
{
    const char *sp = prim(c, P_SPACE);
    char sep[160];
    snprintf(sep, sizeof(sep), "%s \",\" %s", sp, sp);
    size_t first_req = n;
    for (size_t i = 0; i < n && first_req == n; i++)
        if (p[i].required)
            first_req = i;
    /* tails[i]: members i..n-1 after something was written */
    char **tails = calloc(n + 1, sizeof(*tails));
    if (tails == NULL) {
        oom(c);
        return NULL;
    }
    struct sbuf b;
    b = (struct sbuf)SBUF_INIT;
    if (add) {
        sbuf_printf(&b, " (%s %s)", sep, add);
        put_repeat(&b, 0, add_max);
    }
    tails[n] = sbuf_take(&b, NULL);
    for (size_t i = n; i-- > 0 && tails[i + 1];) {
        b = (struct sbuf)SBUF_INIT;
        sbuf_printf(&b, p[i].required ? " %s %s%s" : " (%s %s)?%s", sep, p[i].kv, tails[i + 1]);
        tails[i] = sbuf_take(&b, NULL);
    }
    bool ok = true;
    for (size_t i = 0; i <= n; i++)
        ok = ok && tails[i];
    const char *next = NULL;
    b = (struct sbuf)SBUF_INIT;
    if (!ok)
        oom(c);
    else if (first_req < n)
        sbuf_printf(&b, "%s%s %s", p[first_req].kv, tails[first_req + 1], sp);
    else if (add) {
        sbuf_printf(&b, "| %s", add);
        if (add_max != 1) {
            sbuf_printf(&b, " (%s %s)", sep, add);
            put_repeat(&b, 0, add_max == UNB ? UNB : add_max - 1);
        }
        sbuf_printf(&b, " %s", sp);
    }
    char h[128];
    subhint(h, sizeof(h), hint, "rest");
    next = ok ? rule_add(c, h, &b) : NULL;
    for (size_t i = first_req; ok && next && i-- > 0;) {
        char hi[140];
        snprintf(hi, sizeof(hi), "%.100s-%zu", h, i);
        next = rule_addf(c, hi, "%s%s %s | %s", p[i].kv, tails[i + 1], sp, next);
    }
    sbuf_free(&b);
    for (size_t i = 0; i <= n; i++)
        free(tails[i]);
    free(tails);
    return next;
}

static const char *visit_object(struct conv *c, const json_t *s, const char *hint)
{
    const json_t *ap = json_object_get(s, "additionalProperties");
    struct prop *p = NULL;
    size_t n = 0;
    if (!collect_props(c, s, &p, &n))
        return NULL;
    bool extra = ap && !json_is_false(ap);
    if (n == 0 && ap == NULL)
        extra = true; /* {"type": "object"}: any members */
    const char *result = NULL, *add = NULL;
    char h[128];
    uint64_t add_max = UNB;
    if (!check_prop_counts(c, s, p, n, &add_max))
        goto done;
    if (add_max == 0)
        extra = false;
    if (n == 0 && extra && (ap == NULL || json_is_true(ap)) && add_max == UNB) {
        result = prim(c, P_OBJECT);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        subhint(h, sizeof(h), hint, p[i].key);
        const char *v = visit(c, p[i].schema, h);
        if (v == NULL)
            goto done;
        struct sbuf b;
        b = (struct sbuf)SBUF_INIT;
        json_schema_string_literal(&b, p[i].key, strlen(p[i].key));
        sbuf_printf(&b, " %s \":\" %s %s", prim(c, P_SPACE), prim(c, P_SPACE), v);
        char hk[140];
        snprintf(hk, sizeof(hk), "%s-kv", h);
        if ((p[i].kv = rule_add(c, hk, &b)) == NULL)
            goto done;
    }
    if (extra) {
        subhint(h, sizeof(h), hint, "additional");
        const char *key = other_key(c, p, n, hint);
        const char *v = key ? visit(c, json_is_object(ap) ? ap : json_true(), h) : NULL;
        char hk[140];
        snprintf(hk, sizeof(hk), "%s-kv", h);
        add = v ? rule_addf(c, hk, "%s %s \":\" %s %s", key, prim(c, P_SPACE), prim(c, P_SPACE), v)
                : NULL;
        if (add == NULL)
            goto done;
    }
    const char *m = members(c, p, n, add, add_max, hint);
    if (m)
        result = rule_addf(c, hint, "\"{\" %s %s \"}\"", prim(c, P_SPACE), m);
done:
    free(p);
    return c->failed ? NULL : result;
}

/* ---- arrays ---- */

/* An array's shape: k prefix items (schemas in prefix), then between emin
 * and emax (UNB: any number) further items of schema extra. */
struct shape {
    const json_t *prefix, *extra;
    size_t k;
    uint64_t min, emin, emax;
};

static bool array_shape(struct conv *c, const json_t *s, struct shape *sh)
{
    const json_t *prefix = json_object_get(s, "prefixItems"), *items = json_object_get(s, "items");
    const json_t *extra = items;
    if (prefix == NULL && json_is_array(items)) { /* the draft-7 form */
        prefix = items;
        extra = json_object_get(s, "additionalItems");
    }
    if (prefix && !json_is_array(prefix)) {
        fail(c, "prefixItems must be an array");
        return false;
    }
    uint64_t min, max;
    if (!read_count(c, s, "minItems", 0, &min) || !read_count(c, s, "maxItems", UNB, &max) ||
        !counts(c, "array length", min, &max))
        return false;
    if (json_is_true(json_object_get(s, "uniqueItems")) && max > 1) {
        fail(c, "unsupported JSON schema keyword 'uniqueItems'");
        return false;
    }
    size_t k = json_array_size(prefix);
    if (k > MAX_PREFIX) {
        fail(c, "too many prefixItems (more than %d)", MAX_PREFIX);
        return false;
    }
    if (k > max)
        k = (size_t)max;
    uint64_t emin = min > k ? min - k : 0, emax;
    if (json_is_false(extra))
        emax = 0;
    else if (extra == NULL && prefix)
        emax = emin; /* allowed, but only generated when needed */
    else
        emax = max == UNB ? UNB : max - k;
    if (emin > emax) {
        fail(c, "minItems cannot be met with these items");
        return false;
    }
    *sh = (struct shape){prefix, extra && !json_is_array(extra) ? extra : json_true(), k, min,
                         emin, emax};
    return true;
}

/* The items after the first one into tail: prefix items nested as optional
 * from position min on, then the further items. */
static bool array_tail(struct conv *c, const struct shape *sh, const char *item,
                       const char *hint, struct sbuf *tail)
{
    const char *sp = prim(c, P_SPACE);
    uint64_t t_min = sh->k == 0 ? (sh->emin ? sh->emin - 1 : 0) : sh->emin;
    uint64_t t_max = sh->k == 0 ? (sh->emax == UNB ? UNB : sh->emax - 1) : sh->emax;
    if (t_max > 0) {
        sbuf_printf(tail, " (%s \",\" %s %s)", sp, sp, item);
        put_repeat(tail, t_min, t_max);
    }
    for (size_t j = sh->k; j-- > 1;) {
        char h[160];
        snprintf(h, sizeof(h), "%.100s-%zu", hint, j);
        const char *e = visit(c, json_array_get(sh->prefix, j), h);
        if (e == NULL)
            return false;
        struct sbuf nt;
        nt = (struct sbuf)SBUF_INIT;
        sbuf_printf(&nt, j < sh->min ? " %s \",\" %s %s%s" : " (%s \",\" %s %s%s)?", sp, sp, e,
                   tail->s ? tail->s : "");
        if (tail->oom)
            nt.oom = true;
        sbuf_free(tail);
        *tail = nt;
    }
    return true;
}

static const char *visit_array(struct conv *c, const json_t *s, const char *hint)
{
    struct shape sh;
    if (!array_shape(c, s, &sh))
        return NULL;
    const char *sp = prim(c, P_SPACE), *item = NULL;
    char h[160];
    if (sh.emax > 0) {
        subhint(h, sizeof(h), hint, "item");
        if ((item = visit(c, sh.extra, h)) == NULL)
            return NULL;
    }
    struct sbuf b, tail;
    b = (struct sbuf)SBUF_INIT;
    if (sh.k == 0 && sh.emax == 0) {
        sbuf_printf(&b, "\"[\" %s \"]\"", sp);
        return rule_add(c, hint, &b);
    }
    tail = (struct sbuf)SBUF_INIT;
    snprintf(h, sizeof(h), "%.100s-0", hint);
    const char *first = sh.k ? visit(c, json_array_get(sh.prefix, 0), h) : item;
    if (first == NULL || !array_tail(c, &sh, item, hint, &tail)) {
        sbuf_free(&tail);
        return NULL;
    }
    if (sh.min == 0)
        sbuf_printf(&b, "\"[\" %s (%s%s %s)? \"]\"", sp, first, tail.s ? tail.s : "", sp);
    else
        sbuf_printf(&b, "\"[\" %s %s%s %s \"]\"", sp, first, tail.s ? tail.s : "", sp);
    if (tail.oom)
        b.oom = true;
    sbuf_free(&tail);
    return rule_add(c, hint, &b);
}

/* ---- dispatch ---- */

static const char *visit_type(struct conv *c, const json_t *s, const char *t, const char *hint)
{
    if (strcmp(t, "object") == 0)
        return visit_object(c, s, hint);
    if (strcmp(t, "array") == 0)
        return visit_array(c, s, hint);
    if (strcmp(t, "string") == 0)
        return visit_string(c, s, hint);
    if (strcmp(t, "integer") == 0)
        return visit_number(c, s, true, hint);
    if (strcmp(t, "number") == 0)
        return visit_number(c, s, false, hint);
    if (strcmp(t, "boolean") == 0)
        return prim(c, P_BOOLEAN);
    if (strcmp(t, "null") == 0)
        return prim(c, P_NULL);
    fail(c, "unknown type '%.50s'", t);
    return NULL;
}

/* One visit per type of a type array. */
static const char *visit_types(struct conv *c, const json_t *s, const json_t *types,
                               const char *hint)
{
    size_t n = json_array_size(types), i;
    if (n == 0) {
        fail(c, "type must not be an empty array");
        return NULL;
    }
    const char **alts = calloc(n, sizeof(*alts));
    if (alts == NULL) {
        oom(c);
        return NULL;
    }
    json_t *t;
    json_array_foreach(types, i, t) {
        if (!json_is_string(t)) {
            fail(c, "type must list strings");
            break;
        }
        char h[128];
        subhint(h, sizeof(h), hint, json_string_value(t));
        alts[i] = visit_type(c, s, json_string_value(t), h);
        if (alts[i] == NULL)
            break;
    }
    const char *r = c->failed ? NULL : alternatives(c, hint, alts, n);
    free(alts);
    return r;
}

/* The type a schema without "type" is written as (a valid subset). */
static const char *implied_type(const json_t *s)
{
    static const char *const OBJ[] = {"properties", "required", "additionalProperties",
                                      "minProperties", "maxProperties", NULL};
    static const char *const ARR[] = {"items", "prefixItems", "additionalItems", "minItems",
                                      "maxItems", "uniqueItems", NULL};
    static const char *const STR[] = {"minLength", "maxLength", "pattern", "format", NULL};
    static const char *const NUM[] = {"minimum", "maximum", "exclusiveMinimum",
                                      "exclusiveMaximum", "multipleOf", NULL};
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)s, k, v) {
        if (in_list(OBJ, k))
            return "object";
        if (in_list(ARR, k))
            return "array";
        if (in_list(STR, k))
            return "string";
        if (in_list(NUM, k))
            return "number";
    }
    return NULL;
}

static const char *visit_anyof(struct conv *c, const json_t *s, const char *key,
                               const char *hint)
{
    const json_t *list = json_object_get(s, key);
    size_t n = json_array_size(list), i;
    if (!json_is_array(list) || n == 0) {
        fail(c, "%s must be a non-empty array", key);
        return NULL;
    }
    const char *const DROP[] = {key, NULL};
    json_t *rest = has_constraints_except(s, DROP) ? without(s, DROP) : NULL;
    const char **alts = calloc(n, sizeof(*alts));
    if (alts == NULL) {
        json_decref(rest);
        oom(c);
        return NULL;
    }
    json_t *x;
    json_array_foreach(list, i, x) {
        char h[128];
        snprintf(h, sizeof(h), "%s-%zu", hint, i);
        json_t *m = rest ? merge(c, rest, x) : NULL;
        alts[i] = rest ? (m ? visit(c, m, h) : NULL) : visit(c, x, h);
        json_decref(m);
        if (alts[i] == NULL)
            break;
    }
    json_decref(rest);
    const char *r = c->failed ? NULL : alternatives(c, hint, alts, n);
    free(alts);
    return r;
}

static const char *visit_object_schema(struct conv *c, const json_t *s, const char *hint)
{
    static const char *const REF_ONLY[] = {"$ref", NULL};
    static const char *const NULLABLE[] = {"nullable", NULL};
    if (!check_unsupported(c, s))
        return NULL;
    const json_t *ref = json_object_get(s, "$ref");
    if ((ref && has_constraints_except(s, REF_ONLY)) || json_object_get(s, "allOf")) {
        json_t *m = flatten(c, s);
        const char *r = m ? visit(c, m, hint) : NULL;
        json_decref(m);
        return r;
    }
    if (ref)
        return visit_ref(c, ref, hint);
    if (json_object_get(s, "anyOf"))
        return visit_anyof(c, s, "anyOf", hint);
    if (json_object_get(s, "oneOf"))
        return visit_anyof(c, s, "oneOf", hint);
    if (json_is_true(json_object_get(s, "nullable"))) {
        json_t *inner = without(s, NULLABLE);
        char h[128];
        subhint(h, sizeof(h), hint, "value");
        const char *v = inner ? visit(c, inner, h) : NULL;
        json_decref(inner);
        if (inner == NULL)
            oom(c);
        return v ? rule_addf(c, hint, "%s | %s", v, prim(c, P_NULL)) : NULL;
    }
    if (json_object_get(s, "const") || json_object_get(s, "enum"))
        return visit_enum(c, s, hint);
    const json_t *type = json_object_get(s, "type");
    if (json_is_string(type))
        return visit_type(c, s, json_string_value(type), hint);
    if (json_is_array(type))
        return visit_types(c, s, type, hint);
    if (type) {
        fail(c, "type must be a string or an array");
        return NULL;
    }
    const char *t = implied_type(s);
    return t ? visit_type(c, s, t, hint) : prim(c, P_VALUE);
}

static const char *visit(struct conv *c, const json_t *s, const char *hint)
{
    if (c->failed || cancelled(c))
        return NULL;
    if (++c->depth > MAX_DEPTH) {
        fail(c, "schema nested too deeply (more than %d levels)", MAX_DEPTH);
        return NULL;
    }
    const char *r;
    if (json_is_true(s))
        r = prim(c, P_VALUE);
    else if (json_is_false(s)) {
        fail(c, "the schema false matches nothing");
        r = NULL;
    } else if (!json_is_object(s)) {
        fail(c, "a schema must be an object or a boolean");
        r = NULL;
    } else {
        r = visit_object_schema(c, s, hint);
    }
    c->depth--;
    return c->failed ? NULL : r;
}

/* ---- output ---- */

static char *render(struct conv *c)
{
    struct sbuf b;
    b = (struct sbuf)SBUF_INIT;
    for (size_t i = 0; i < c->n_rules; i++)
        sbuf_printf(&b, "%s ::= %s\n", c->rules[i].name,
                   c->rules[i].body ? c->rules[i].body : "");
    char *text = sbuf_take(&b, NULL);
    if (text == NULL)
        oom(c);
    return text;
}

/* The grammar must parse; the one way it can fail for a schema is a $ref
 * cycle that nothing is consumed along (left recursion). */
static bool verify(struct conv *c, const char *text)
{
    char msg[256];
    struct grammar *g = grammar_parse(text, strlen(text), "root", msg, sizeof(msg));
    if (g != NULL) {
        grammar_free(g);
        return true;
    }
    if (strcmp(msg, "cancelled") == 0)
        fail(c, "cancelled");
    else if (strstr(msg, "left-recursive") || strstr(msg, "left recursion"))
        fail(c, "recursive $ref with no object or array in between (%s)", msg);
    else if (strstr(msg, "too large") || strstr(msg, "out of memory"))
        fail(c, "schema too complex: %s", msg);
    else
        fail(c, "internal error: the generated grammar does not parse: %s", msg);
    return false;
}

static void conv_free(struct conv *c)
{
    for (size_t i = 0; i < c->n_rules; i++) {
        free(c->rules[i].name);
        free(c->rules[i].body);
    }
    free(c->rules);
    free(c->names);
    free(c->bodies);
    for (size_t i = 0; i < c->n_refs; i++)
        free(c->refs[i].ref);
    free(c->refs);
}

char *json_schema_to_grammar(const json_t *schema, char *err, size_t err_size)
{
    struct conv c;
    memset(&c, 0, sizeof(c));
    c.root = (json_t *)schema;
    c.err = err;
    c.err_size = err_size;
    if (err && err_size)
        err[0] = '\0';
    if (schema == NULL) {
        fail(&c, "no schema");
        return NULL;
    }
    long root = rule_new(&c, "root", NULL);
    if (root >= 0 && c.n_refs == 0) {
        /* "#" refers to the whole schema: the root rule */
        c.refs = malloc(sizeof(*c.refs));
        char *dup = strdup("#");
        if (c.refs == NULL || dup == NULL) {
            free(dup);
            oom(&c);
        } else {
            c.refs[0] = (struct ref){dup, (size_t)root};
            c.n_refs = c.cap_refs = 1;
        }
    }
    const char *top = c.failed ? NULL : visit(&c, schema, "root");
    char *body = top ? strdup(top) : NULL;
    if (top && body == NULL)
        oom(&c);
    rule_set(&c, root, body);
    char *text = c.failed ? NULL : render(&c);
    if (text && !verify(&c, text)) {
        free(text);
        text = NULL;
    }
    conv_free(&c);
    return text;
}
