/*
 * jinja_builtins.c - jinja2's built-in filters and tests, the Python methods
 * of str, dict and list that templates call, the loop variable, and the
 * globals (range, namespace, dict, joiner, plus transformers' raise_exception
 * and strftime_now). Each follows what Python's jinja2 3.1 does, including
 * its quirks (|unique and |sort ignore case by default, |title splits on
 * "-" and brackets, Markup + str escapes the str, ...). The sandbox rules of
 * ImmutableSandboxedEnvironment apply: no "__" attributes, no methods that
 * modify a list or dict, range() at most 100000 items.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chat/jinja_internal.h"
#include "base/unicode.h"

/* ---- ids ---------------------------------------------------------------------- */

enum filter_id {
    F_ABS, F_ATTR, F_BATCH, F_CAPITALIZE, F_CENTER, F_COUNT, F_DEFAULT, F_DICTSORT,
    F_ESCAPE, F_FIRST, F_FLOAT, F_FORCEESCAPE, F_FORMAT, F_INDENT, F_INT, F_ITEMS,
    F_JOIN, F_LAST, F_LENGTH, F_LIST, F_LOWER, F_MAP, F_MAX, F_MIN, F_PPRINT, F_REJECT,
    F_REJECTATTR, F_REPLACE, F_REVERSE, F_ROUND, F_SAFE, F_SELECT, F_SELECTATTR, F_SORT,
    F_STRING, F_SUM, F_TITLE, F_TOJSON, F_TRIM, F_TRUNCATE, F_UNIQUE, F_UPPER,
    F_WORDCOUNT, F_STRIPTAGS
};

static const struct {
    const char *name;
    int id;
} filters[] = {
    {"abs", F_ABS}, {"attr", F_ATTR}, {"batch", F_BATCH}, {"capitalize", F_CAPITALIZE},
    {"center", F_CENTER}, {"count", F_COUNT}, {"d", F_DEFAULT}, {"default", F_DEFAULT},
    {"dictsort", F_DICTSORT}, {"e", F_ESCAPE}, {"escape", F_ESCAPE}, {"first", F_FIRST},
    {"float", F_FLOAT}, {"forceescape", F_FORCEESCAPE}, {"format", F_FORMAT},
    {"indent", F_INDENT}, {"int", F_INT}, {"items", F_ITEMS}, {"join", F_JOIN},
    {"last", F_LAST}, {"length", F_LENGTH}, {"list", F_LIST}, {"lower", F_LOWER},
    {"map", F_MAP}, {"max", F_MAX}, {"min", F_MIN}, {"pprint", F_PPRINT},
    {"reject", F_REJECT}, {"rejectattr", F_REJECTATTR}, {"replace", F_REPLACE},
    {"reverse", F_REVERSE}, {"round", F_ROUND}, {"safe", F_SAFE}, {"select", F_SELECT},
    {"selectattr", F_SELECTATTR}, {"sort", F_SORT}, {"string", F_STRING}, {"sum", F_SUM},
    {"title", F_TITLE}, {"tojson", F_TOJSON}, {"trim", F_TRIM}, {"truncate", F_TRUNCATE},
    {"unique", F_UNIQUE}, {"upper", F_UPPER}, {"wordcount", F_WORDCOUNT},
    {"striptags", F_STRIPTAGS},
};

enum test_id {
    TT_DEFINED, TT_UNDEFINED, TT_NONE, TT_BOOLEAN, TT_FALSE, TT_TRUE, TT_INTEGER, TT_FLOATT,
    TT_NUMBER, TT_STRING, TT_MAPPING, TT_ITERABLE, TT_SEQUENCE, TT_CALLABLE, TT_SAMEAS,
    TT_ESCAPED, TT_EVEN, TT_ODD, TT_DIVISIBLEBY, TT_EQ, TT_NE, TT_LT, TT_LE, TT_GT, TT_GE, TT_IN,
    TT_LOWER, TT_UPPER, TT_FILTER, TT_TEST
};

static const struct {
    const char *name;
    int id;
} tests[] = {
    {"defined", TT_DEFINED}, {"undefined", TT_UNDEFINED}, {"none", TT_NONE},
    {"boolean", TT_BOOLEAN}, {"false", TT_FALSE}, {"true", TT_TRUE}, {"integer", TT_INTEGER},
    {"float", TT_FLOATT}, {"number", TT_NUMBER}, {"string", TT_STRING}, {"mapping", TT_MAPPING},
    {"iterable", TT_ITERABLE}, {"sequence", TT_SEQUENCE}, {"callable", TT_CALLABLE},
    {"sameas", TT_SAMEAS}, {"escaped", TT_ESCAPED}, {"even", TT_EVEN}, {"odd", TT_ODD},
    {"divisibleby", TT_DIVISIBLEBY}, {"eq", TT_EQ}, {"equalto", TT_EQ}, {"==", TT_EQ},
    {"ne", TT_NE}, {"!=", TT_NE}, {"lt", TT_LT}, {"lessthan", TT_LT}, {"<", TT_LT},
    {"le", TT_LE}, {"<=", TT_LE}, {"gt", TT_GT}, {"greaterthan", TT_GT}, {">", TT_GT},
    {"ge", TT_GE}, {">=", TT_GE}, {"in", TT_IN}, {"lower", TT_LOWER}, {"upper", TT_UPPER},
    {"filter", TT_FILTER}, {"test", TT_TEST},
};

/* callables: globals, methods, the loop's methods */
enum fn_id {
    G_RANGE, G_NAMESPACE, G_DICT, G_RAISE, G_STRFTIME, G_JOINER, G_JOINER_CALL,
    /* str */
    S_CAPITALIZE, S_CENTER, S_COUNT, S_ENDSWITH, S_FIND, S_FORMAT, S_INDEX, S_ISALNUM,
    S_ISALPHA, S_ISDIGIT, S_ISLOWER, S_ISSPACE, S_ISUPPER, S_JOIN, S_LJUST, S_LOWER,
    S_LSTRIP, S_REMOVEPREFIX, S_REMOVESUFFIX, S_REPLACE, S_RFIND, S_RJUST, S_RSPLIT,
    S_RSTRIP, S_SPLIT, S_SPLITLINES, S_STARTSWITH, S_STRIP, S_TITLE, S_UPPER, S_ZFILL,
    S_ISNUMERIC, S_ISDECIMAL, S_SWAPCASE, S_CASEFOLD,
    /* dict */
    D_GET, D_ITEMS, D_KEYS, D_VALUES, D_COPY,
    /* list */
    L_INDEX, L_COUNT, L_COPY,
    /* loop */
    LP_CYCLE, LP_CHANGED
};

static const struct {
    const char *name;
    int id;
} str_methods[] = {
    {"capitalize", S_CAPITALIZE}, {"center", S_CENTER}, {"count", S_COUNT},
    {"endswith", S_ENDSWITH}, {"find", S_FIND}, {"format", S_FORMAT}, {"index", S_INDEX},
    {"isalnum", S_ISALNUM}, {"isalpha", S_ISALPHA}, {"isdigit", S_ISDIGIT},
    {"islower", S_ISLOWER}, {"isspace", S_ISSPACE}, {"isupper", S_ISUPPER},
    {"join", S_JOIN}, {"ljust", S_LJUST}, {"lower", S_LOWER}, {"lstrip", S_LSTRIP},
    {"removeprefix", S_REMOVEPREFIX}, {"removesuffix", S_REMOVESUFFIX},
    {"replace", S_REPLACE}, {"rfind", S_RFIND}, {"rjust", S_RJUST}, {"rsplit", S_RSPLIT},
    {"rstrip", S_RSTRIP}, {"split", S_SPLIT}, {"splitlines", S_SPLITLINES},
    {"startswith", S_STARTSWITH}, {"strip", S_STRIP}, {"title", S_TITLE},
    {"upper", S_UPPER}, {"zfill", S_ZFILL}, {"isnumeric", S_ISNUMERIC},
    {"isdecimal", S_ISDECIMAL}, {"swapcase", S_SWAPCASE}, {"casefold", S_CASEFOLD},
};

static const char *const dict_unsafe[] = {"clear", "pop", "popitem", "setdefault", "update", NULL};
static const char *const list_unsafe[] = {"append", "clear", "extend", "insert", "pop",
                                          "remove", "reverse", "sort", NULL};

static bool name_is(const char *a, size_t len, const char *b)
{
    return strlen(b) == len && memcmp(a, b, len) == 0;
}

int builtin_filter_id(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++)
        if (name_is(name, len, filters[i].name))
            return filters[i].id;
    return -1;
}

int builtin_test_id(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
        if (name_is(name, len, tests[i].name))
            return tests[i].id;
    return -1;
}

int builtin_global_id(const char *name, size_t len)
{
    if (name_is(name, len, "range"))
        return G_RANGE;
    if (name_is(name, len, "namespace"))
        return G_NAMESPACE;
    if (name_is(name, len, "dict"))
        return G_DICT;
    if (name_is(name, len, "raise_exception"))
        return G_RAISE;
    if (name_is(name, len, "strftime_now"))
        return G_STRFTIME;
    if (name_is(name, len, "joiner"))
        return G_JOINER;
    return -1;
}

static jv make_func(struct render *R, int id, jv self_take)
{
    if (!charge(R, sizeof(struct jfunc))) {
        jv_release(self_take);
        return JV_U;
    }
    struct jfunc *f = calloc(1, sizeof(*f));
    if (f == NULL) {
        jv_release(self_take);
        return jerrv(R, "out of memory");
    }
    f->h.rc = 1;
    f->h.kind = JV_FUNC;
    f->id = id;
    f->self = self_take;
    return (jv){.t = JV_FUNC, .u.o = &f->h};
}

jv global_value(struct render *R, int id)
{
    return make_func(R, id, JV_NONEV);
}

bool register_namespace(struct render *R, jv ns)
{
    if (R->nns == R->capns) {
        size_t cap = R->capns ? R->capns * 2 : 8;
        jv *p = realloc(R->namespaces, cap * sizeof(jv));
        if (p == NULL)
            return jerr(R, "out of memory");
        R->namespaces = p;
        R->capns = cap;
    }
    R->namespaces[R->nns++] = jv_retain(ns);
    return true;
}

/* ---- small helpers ------------------------------------------------------------------ */

static bool is_int(jv v) { return v.t == JV_INT || v.t == JV_BOOL; }
static int64_t as_i(jv v) { return v.t == JV_INT ? v.u.i : v.u.b; }
static bool is_num(jv v) { return is_int(v) || v.t == JV_FLOAT; }
static double as_f(jv v) { return v.t == JV_FLOAT ? v.u.f : (double)as_i(v); }
static bool given(jv v) { return v.t != JV_MISSING; }

static jv strv(struct render *R, const char *s, size_t n) { return jv_str(R, s, n); }

static jv undef_err(struct render *R, jv v)
{
    if (v.u.o)
        return jerrv(R, "'%s' is undefined", JS(v)->s);
    return jerrv(R, "undefined value used");
}

/* Case mapping over a UTF-8 string. mode: 0 lower, 1 upper, 2 swapcase */
static jv map_case(struct render *R, jv s, int mode)
{
    struct sbuf b = {0};
    const char *p = JS(s)->s;
    size_t len = JS(s)->len, i = 0;
    while (i < len) {
        uint8_t c = (uint8_t)p[i];
        if (c < 0x80) {
            char o = (char)c;
            if (mode == 0 || (mode == 2 && c >= 'A' && c <= 'Z'))
                o = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
            else if (mode == 1 || mode == 2)
                o = (char)(c >= 'a' && c <= 'z' ? c - 32 : c);
            if (!sb_addc(R, &b, o))
                goto fail;
            i++;
            continue;
        }
        size_t n;
        uint32_t cp = utf8_decode(p + i, len - i, &n);
        uint32_t m = cp;
        unsigned fl = unicode_flags(cp);
        if (mode == 0)
            m = unicode_tolower(cp);
        else if (mode == 1)
            m = unicode_toupper(cp);
        else
            m = (fl & UCAT_UPPER) ? unicode_tolower(cp) : (fl & UCAT_LOWER) ? unicode_toupper(cp) : cp;
        if (m == cp || (cp == UNICODE_REPLACEMENT && n == 1)) {
            if (!sb_add(R, &b, p + i, n))
                goto fail;
        } else {
            char u[4];
            size_t k = utf8_encode(m, u);
            if (!sb_add(R, &b, u, k))
                goto fail;
        }
        i += n;
    }
    {
        jv r = sb_take_str(R, &b);
        r.safe = s.safe;
        return r;
    }
fail:
    sb_free(&b);
    return JV_U;
}

static bool is_cased(uint32_t cp)
{
    return (unicode_flags(cp) & (UCAT_LOWER | UCAT_UPPER | UCAT_TITLE)) != 0;
}

static bool add_cp(struct render *R, struct sbuf *b, uint32_t cp)
{
    char u[4];
    size_t k = utf8_encode(cp, u);
    return sb_add(R, b, u, k);
}

/* Python's str.title() (title_jinja false) or jinja's |title filter. */
static jv title_case(struct render *R, jv s, bool jinja_filter)
{
    struct sbuf b = {0};
    const char *p = JS(s)->s;
    size_t len = JS(s)->len, i = 0;
    bool prev_cased = false; /* str.title: previous char cased; filter: inside a word */
    while (i < len) {
        size_t n;
        uint32_t cp = utf8_decode(p + i, len - i, &n);
        uint32_t out;
        if (jinja_filter) {
            bool sep = py_isspace(cp) || cp == '-' || cp == '(' || cp == '{' || cp == '[' ||
                       cp == '<';
            if (sep) {
                out = cp;
                prev_cased = false;
            } else {
                out = prev_cased ? unicode_tolower(cp) : unicode_toupper(cp);
                prev_cased = true;
            }
        } else {
            out = prev_cased ? unicode_tolower(cp) : unicode_toupper(cp);
            prev_cased = is_cased(cp);
        }
        bool ok = (out == cp) ? sb_add(R, &b, p + i, n) : add_cp(R, &b, out);
        if (!ok) {
            sb_free(&b);
            return JV_U;
        }
        i += n;
    }
    jv r = sb_take_str(R, &b);
    r.safe = s.safe;
    return r;
}

static jv capitalize(struct render *R, jv s)
{
    struct sbuf b = {0};
    const char *p = JS(s)->s;
    size_t len = JS(s)->len, i = 0;
    bool first = true;
    while (i < len) {
        size_t n;
        uint32_t cp = utf8_decode(p + i, len - i, &n);
        uint32_t out = first ? unicode_toupper(cp) : unicode_tolower(cp);
        first = false;
        if (!((out == cp) ? sb_add(R, &b, p + i, n) : add_cp(R, &b, out))) {
            sb_free(&b);
            return JV_U;
        }
        i += n;
    }
    jv r = sb_take_str(R, &b);
    r.safe = s.safe;
    return r;
}

/* strip: which 1 left, 2 right, 3 both; chars NULL for whitespace */
static jv strip(struct render *R, jv s, int which, jv chars)
{
    const char *p = JS(s)->s;
    size_t len = JS(s)->len;
    bool ws = !given(chars) || chars.t == JV_NONE;
    if (!ws && chars.t != JV_STR)
        return jerrv(R, "strip arg must be None or str");
    const char *cs = ws ? NULL : JS(chars)->s;
    size_t cl = ws ? 0 : JS(chars)->len;
    /* character boundaries */
    size_t start = 0, end = len;
    if (which & 1) {
        while (start < len) {
            size_t n;
            uint32_t cp = utf8_decode(p + start, len - start, &n);
            bool hit;
            if (ws) {
                hit = py_isspace(cp);
            } else {
                hit = false;
                for (size_t k = 0; k < cl;) {
                    size_t m;
                    uint32_t c2 = utf8_decode(cs + k, cl - k, &m);
                    if (c2 == cp) {
                        hit = true;
                        break;
                    }
                    k += m;
                }
            }
            if (!hit)
                break;
            start += n;
        }
    }
    if (which & 2) {
        while (end > start) {
            size_t b = end - 1;
            while (b > start && ((uint8_t)p[b] & 0xC0) == 0x80)
                b--;
            size_t n;
            uint32_t cp = utf8_decode(p + b, end - b, &n);
            bool hit;
            if (ws) {
                hit = py_isspace(cp);
            } else {
                hit = false;
                for (size_t k = 0; k < cl;) {
                    size_t m;
                    uint32_t c2 = utf8_decode(cs + k, cl - k, &m);
                    if (c2 == cp) {
                        hit = true;
                        break;
                    }
                    k += m;
                }
            }
            if (!hit)
                break;
            end = b;
        }
    }
    jv r = strv(R, p + start, end - start);
    r.safe = s.safe;
    return r;
}

static jv str_replace(struct render *R, jv s, jv old, jv new_, int64_t count)
{
    const char *p = JS(s)->s, *o = JS(old)->s, *nw = JS(new_)->s;
    size_t len = JS(s)->len, ol = JS(old)->len, nl = JS(new_)->len;
    struct sbuf b = {0};
    int64_t done = 0;
    if (ol == 0) {
        /* insert new before every character and at the end */
        size_t i = 0;
        while (i <= len) {
            if (count < 0 || done < count) {
                if (!sb_add(R, &b, nw, nl))
                    goto fail;
                done++;
            }
            if (i == len)
                break;
            size_t j = i + 1;
            while (j < len && ((uint8_t)p[j] & 0xC0) == 0x80)
                j++;
            if (!sb_add(R, &b, p + i, j - i))
                goto fail;
            i = j;
            if (b.n > R->lim.max_output) {
                sb_free(&b);
                return jerrv(R, "string too long");
            }
        }
        return sb_take_str(R, &b);
    }
    size_t i = 0;
    while (i < len) {
        const char *hit = (count < 0 || done < count) ? memmem(p + i, len - i, o, ol) : NULL;
        if (hit == NULL) {
            if (!sb_add(R, &b, p + i, len - i))
                goto fail;
            break;
        }
        size_t at = (size_t)(hit - p);
        if (!sb_add(R, &b, p + i, at - i) || !sb_add(R, &b, nw, nl))
            goto fail;
        if (b.n > R->lim.max_output) {
            sb_free(&b);
            return jerrv(R, "string too long");
        }
        done++;
        i = at + ol;
    }
    return sb_take_str(R, &b);
fail:
    sb_free(&b);
    return JV_U;
}

/* str.split / rsplit. sep MISSING/None: runs of whitespace. */
static jv str_split(struct render *R, jv s, jv sep, jv maxv, bool right)
{
    int64_t maxsplit = given(maxv) && maxv.t != JV_NONE ? (is_int(maxv) ? as_i(maxv) : -1) : -1;
    if (given(maxv) && maxv.t != JV_NONE && !is_int(maxv))
        return jerrv(R, "maxsplit must be an integer");
    const char *p = JS(s)->s;
    size_t len = JS(s)->len;
    jv l = jv_list_new(R, 0, false);
    if (l.t != JV_LIST)
        return l;
    bool ws = !given(sep) || sep.t == JV_NONE;
    if (!ws && sep.t != JV_STR) {
        jv_release(l);
        return jerrv(R, "must be str or None, not %s", jv_type_name(sep));
    }
    if (!ws && JS(sep)->len == 0) {
        jv_release(l);
        return jerrv(R, "empty separator");
    }
    /* collect pieces as (start, end) pairs, then order them */
    size_t cap = 16, n = 0;
    size_t *pieces = malloc(cap * 2 * sizeof(size_t));
    if (pieces == NULL) {
        jv_release(l);
        return jerrv(R, "out of memory");
    }
#define PUSH(a, b)                                                          \
    do {                                                                    \
        if (n == cap) {                                                     \
            cap *= 2;                                                       \
            size_t *np_ = realloc(pieces, cap * 2 * sizeof(size_t));        \
            if (np_ == NULL) {                                              \
                free(pieces);                                               \
                jv_release(l);                                              \
                return jerrv(R, "out of memory");                           \
            }                                                               \
            pieces = np_;                                                   \
        }                                                                   \
        pieces[2 * n] = (a);                                                \
        pieces[2 * n + 1] = (b);                                            \
        n++;                                                                \
    } while (0)
    int64_t splits = 0;
    if (ws) {
        /* character positions of whitespace */
        if (!right) {
            size_t i = 0;
            for (;;) {
                while (i < len) {
                    size_t k;
                    uint32_t cp = utf8_decode(p + i, len - i, &k);
                    if (!py_isspace(cp))
                        break;
                    i += k;
                }
                if (i >= len)
                    break;
                if (maxsplit >= 0 && splits >= maxsplit) {
                    PUSH(i, len); /* the rest, as it is */
                    break;
                }
                size_t st = i;
                while (i < len) {
                    size_t k;
                    uint32_t cp = utf8_decode(p + i, len - i, &k);
                    if (py_isspace(cp))
                        break;
                    i += k;
                }
                PUSH(st, i);
                splits++;
            }
        } else {
            size_t e = len;
            for (;;) {
                while (e > 0) {
                    size_t b = e - 1;
                    while (b > 0 && ((uint8_t)p[b] & 0xC0) == 0x80)
                        b--;
                    size_t k;
                    if (!py_isspace(utf8_decode(p + b, e - b, &k)))
                        break;
                    e = b;
                }
                if (e == 0)
                    break;
                if (maxsplit >= 0 && splits >= maxsplit) {
                    PUSH(0, e);
                    break;
                }
                size_t en = e;
                while (e > 0) {
                    size_t b = e - 1;
                    while (b > 0 && ((uint8_t)p[b] & 0xC0) == 0x80)
                        b--;
                    size_t k;
                    if (py_isspace(utf8_decode(p + b, e - b, &k)))
                        break;
                    e = b;
                }
                PUSH(e, en);
                splits++;
            }
        }
    } else {
        const char *sp = JS(sep)->s;
        size_t sl = JS(sep)->len;
        if (!right) {
            size_t i = 0;
            for (;;) {
                const char *hit = (maxsplit < 0 || splits < maxsplit) ? memmem(p + i, len - i, sp, sl) : NULL;
                if (hit == NULL) {
                    PUSH(i, len);
                    break;
                }
                PUSH(i, (size_t)(hit - p));
                i = (size_t)(hit - p) + sl;
                splits++;
            }
        } else {
            size_t e = len;
            for (;;) {
                /* last occurrence of sep ending at or before e */
                const char *hit = NULL;
                if ((maxsplit < 0 || splits < maxsplit) && e >= sl) {
                    for (size_t k = e - sl + 1; k-- > 0;)
                        if (memcmp(p + k, sp, sl) == 0) {
                            hit = p + k;
                            break;
                        }
                }
                if (hit == NULL) {
                    PUSH(0, e);
                    break;
                }
                PUSH((size_t)(hit - p) + sl, e);
                e = (size_t)(hit - p);
                splits++;
            }
        }
    }
#undef PUSH
    for (size_t k = 0; k < n; k++) {
        size_t idx = right ? n - 1 - k : k;
        jv piece = strv(R, p + pieces[2 * idx], pieces[2 * idx + 1] - pieces[2 * idx]);
        piece.safe = s.safe;
        if (piece.t != JV_STR || !jv_list_push(R, l, piece)) {
            free(pieces);
            jv_release(l);
            return JV_U;
        }
    }
    free(pieces);
    if (!step(R, n)) {
        jv_release(l);
        return JV_U;
    }
    return l;
}

static bool is_line_break(uint32_t c)
{
    return c == '\n' || c == '\r' || c == 0x0b || c == 0x0c || c == 0x1c || c == 0x1d ||
           c == 0x1e || c == 0x85 || c == 0x2028 || c == 0x2029;
}

/* str.splitlines(keepends) */
static jv splitlines(struct render *R, jv s, bool keepends)
{
    const char *p = JS(s)->s;
    size_t len = JS(s)->len, i = 0, start = 0;
    jv l = jv_list_new(R, 0, false);
    if (l.t != JV_LIST)
        return l;
    while (i < len) {
        size_t k;
        uint32_t cp = utf8_decode(p + i, len - i, &k);
        if (is_line_break(cp)) {
            size_t eol = i;
            i += k;
            if (cp == '\r' && i < len && p[i] == '\n')
                i++;
            jv piece = strv(R, p + start, (keepends ? i : eol) - start);
            if (piece.t != JV_STR || !jv_list_push(R, l, piece)) {
                jv_release(l);
                return JV_U;
            }
            start = i;
        } else {
            i += k;
        }
    }
    if (start < len) {
        jv piece = strv(R, p + start, len - start);
        if (piece.t != JV_STR || !jv_list_push(R, l, piece)) {
            jv_release(l);
            return JV_U;
        }
    }
    return l;
}

/* character index of the first (or last) occurrence of sub, -1 if none */
static int64_t str_find(jv s, jv sub, bool last)
{
    const char *p = JS(s)->s, *q = JS(sub)->s;
    size_t len = JS(s)->len, ql = JS(sub)->len;
    if (ql > len)
        return -1;
    if (!last) {
        const char *h = memmem(p, len, q, ql);
        return h ? (int64_t)u8_count(p, (size_t)(h - p)) : -1;
    }
    for (size_t k = len - ql + 1; k-- > 0;)
        if (memcmp(p + k, q, ql) == 0)
            return (int64_t)u8_count(p, k);
    return -1;
}

static bool str_starts(jv s, jv pre, bool end)
{
    size_t len = JS(s)->len, pl = JS(pre)->len;
    if (pl > len)
        return false;
    return memcmp(JS(s)->s + (end ? len - pl : 0), JS(pre)->s, pl) == 0;
}

static jv pad(struct render *R, jv s, int64_t width, jv fillv, int where /* 0 center 1 ljust 2 rjust */)
{
    const char *fill = " ";
    size_t fl = 1;
    if (given(fillv)) {
        if (fillv.t != JV_STR || JS(fillv)->ncp != 1)
            return jerrv(R, "The fill character must be exactly one character long");
        fill = JS(fillv)->s;
        fl = JS(fillv)->len;
    }
    int64_t n = (int64_t)JS(s)->ncp;
    if (width <= n)
        return jv_retain(s);
    if (width > (int64_t)R->lim.max_output)
        return jerrv(R, "string too long");
    int64_t marg = width - n, left;
    if (where == 0)
        left = marg / 2 + (marg & width & 1);
    else if (where == 1)
        left = 0;
    else
        left = marg;
    struct sbuf b = {0};
    for (int64_t i = 0; i < left; i++)
        if (!sb_add(R, &b, fill, fl))
            goto fail;
    if (!sb_add(R, &b, JS(s)->s, JS(s)->len))
        goto fail;
    for (int64_t i = 0; i < marg - left; i++)
        if (!sb_add(R, &b, fill, fl))
            goto fail;
    return sb_take_str(R, &b);
fail:
    sb_free(&b);
    return JV_U;
}

/* ---- str.format and % formatting --------------------------------------------------------- */

/* Apply a format spec [[fill]align][sign][#][0][width][,][.precision][type] to v. */
static bool format_spec(struct render *R, struct sbuf *b, jv v, const char *spec, size_t sl)
{
    char fill = ' ', align = 0, sign = '-', type = 0;
    int64_t width = -1, prec = -1;
    size_t i = 0;
    if (sl >= 2 && strchr("<>^=", spec[1])) {
        fill = spec[0];
        align = spec[1];
        i = 2;
    } else if (sl >= 1 && strchr("<>^=", spec[0])) {
        align = spec[0];
        i = 1;
    }
    if (i < sl && strchr("+- ", spec[i]))
        sign = spec[i++];
    if (i < sl && spec[i] == '#')
        i++;
    if (i < sl && spec[i] == '0') {
        if (!align) {
            fill = '0';
            align = '=';
        }
        i++;
    }
    if (i < sl && spec[i] >= '0' && spec[i] <= '9') {
        width = 0;
        while (i < sl && spec[i] >= '0' && spec[i] <= '9' && width < 100000)
            width = width * 10 + (spec[i++] - '0');
    }
    if (i < sl && spec[i] == ',')
        i++;
    if (i < sl && spec[i] == '.') {
        i++;
        prec = 0;
        while (i < sl && spec[i] >= '0' && spec[i] <= '9' && prec < 1000)
            prec = prec * 10 + (spec[i++] - '0');
    }
    if (i < sl)
        type = spec[i++];
    if (i != sl)
        return jerr(R, "Invalid format specifier");
    struct sbuf body = {0};
    char tmp[1100];
    bool numeric = false;
    if (type == 0 && v.t == JV_STR)
        type = 's';
    if (type == 's' || (type == 0 && !is_num(v))) {
        if (is_num(v) && type == 's')
            return jerr(R, "Unknown format code 's' for object of type '%s'", jv_type_name(v));
        jv s = jv_to_str(R, v);
        if (s.t != JV_STR)
            return false;
        size_t len = JS(s)->len;
        if (prec >= 0)
            len = u8_offset(JS(s)->s, len, (size_t)prec);
        bool ok = sb_add(R, &body, JS(s)->s, len);
        jv_release(s);
        if (!ok)
            return false;
        if (!align)
            align = '<';
    } else {
        numeric = true;
        if (!is_num(v))
            return jerr(R, "Unknown format code '%c' for object of type '%s'", type ? type : '?',
                        jv_type_name(v));
        const char *sg = "";
        double f = as_f(v);
        switch (type) {
        case 'd':
            if (!is_int(v))
                return jerr(R, "Unknown format code 'd' for object of type 'float'");
            snprintf(tmp, sizeof(tmp), "%lld", (long long)llabs(as_i(v)));
            break;
        case 'x': case 'X': case 'o': case 'b':
            if (!is_int(v))
                return jerr(R, "Unknown format code '%c' for object of type 'float'", type);
            if (type == 'b') {
                uint64_t u = (uint64_t)llabs(as_i(v));
                char rev[70];
                int k = 0;
                do {
                    rev[k++] = (char)('0' + (u & 1));
                    u >>= 1;
                } while (u);
                for (int j = 0; j < k; j++)
                    tmp[j] = rev[k - 1 - j];
                tmp[k] = 0;
            } else {
                snprintf(tmp, sizeof(tmp), type == 'x' ? "%llx" : type == 'X' ? "%llX" : "%llo",
                         (unsigned long long)llabs(as_i(v)));
            }
            break;
        case 'f': case 'F': case 'e': case 'E': case 'g': case 'G': case '%': {
            double a = fabs(f) * (type == '%' ? 100 : 1);
            char fmt[16];
            snprintf(fmt, sizeof(fmt), "%%.%d%c", (int)(prec < 0 ? 6 : prec),
                     type == '%' ? 'f' : type);
            snprintf(tmp, sizeof(tmp), fmt, a);
            if (type == '%')
                strcat(tmp, "%");
            break;
        }
        case 0:
            if (v.t == JV_FLOAT) {
                if (prec >= 0) {
                    snprintf(tmp, sizeof(tmp), "%.*g", (int)(prec ? prec : 1), fabs(f));
                } else {
                    py_float_repr(fabs(f), tmp);
                }
            } else if (v.t == JV_BOOL) {
                strcpy(tmp, v.u.b ? "True" : "False");
            } else {
                snprintf(tmp, sizeof(tmp), "%lld", (long long)llabs(as_i(v)));
            }
            break;
        default:
            return jerr(R, "Unknown format code '%c'", type);
        }
        if ((v.t == JV_FLOAT ? signbit(f) : as_i(v) < 0))
            sg = "-";
        else if (sign == '+')
            sg = "+";
        else if (sign == ' ')
            sg = " ";
        if (!align)
            align = '>';
        if (align == '=') {
            if (!sb_adds(R, b, sg))
                return false;
            int64_t pad_n = width - (int64_t)strlen(sg) - (int64_t)strlen(tmp);
            for (int64_t k = 0; k < pad_n; k++)
                if (!sb_addc(R, b, fill))
                    return false;
            return sb_adds(R, b, tmp);
        }
        if (!sb_adds(R, &body, sg) || !sb_adds(R, &body, tmp)) {
            sb_free(&body);
            return false;
        }
    }
    (void)numeric;
    int64_t n = (int64_t)u8_count(body.p ? body.p : "", body.n);
    int64_t padn = width > n ? width - n : 0, left = 0;
    if (align == '>' || align == '=')
        left = padn;
    else if (align == '^')
        left = padn / 2;
    bool ok = true;
    for (int64_t k = 0; ok && k < left; k++)
        ok = sb_addc(R, b, fill);
    ok = ok && sb_add(R, b, body.p ? body.p : "", body.n);
    for (int64_t k = 0; ok && k < padn - left; k++)
        ok = sb_addc(R, b, fill);
    sb_free(&body);
    return ok;
}

static jv str_format(struct render *R, jv fmt, const struct args *a)
{
    const char *p = JS(fmt)->s;
    size_t len = JS(fmt)->len, i = 0, auto_idx = 0;
    struct sbuf b = {0};
    while (i < len) {
        char c = p[i];
        if (c == '}') {
            if (i + 1 < len && p[i + 1] == '}') {
                if (!sb_addc(R, &b, '}'))
                    goto fail;
                i += 2;
                continue;
            }
            jerr(R, "Single '}' encountered in format string");
            goto fail;
        }
        if (c != '{') {
            if (!sb_addc(R, &b, c))
                goto fail;
            i++;
            continue;
        }
        if (i + 1 < len && p[i + 1] == '{') {
            if (!sb_addc(R, &b, '{'))
                goto fail;
            i += 2;
            continue;
        }
        size_t j = i + 1;
        while (j < len && p[j] != '}')
            j++;
        if (j >= len) {
            jerr(R, "Single '{' encountered in format string");
            goto fail;
        }
        /* field: name[!conv][:spec] */
        const char *f = p + i + 1;
        size_t fl = j - i - 1, nl = 0;
        while (nl < fl && f[nl] != '!' && f[nl] != ':')
            nl++;
        char conv = 0;
        const char *spec = "";
        size_t sl = 0;
        size_t k = nl;
        if (k < fl && f[k] == '!') {
            conv = k + 1 < fl ? f[k + 1] : 0;
            k += 2;
        }
        if (k < fl && f[k] == ':') {
            spec = f + k + 1;
            sl = fl - k - 1;
        }
        jv v = JV_MISS;
        if (nl == 0) {
            if (auto_idx < a->npos)
                v = a->pos[auto_idx];
            auto_idx++;
            if (!given(v)) {
                jerr(R, "Replacement index %zu out of range for positional args tuple", auto_idx - 1);
                goto fail;
            }
        } else if (f[0] >= '0' && f[0] <= '9') {
            size_t idx = (size_t)strtoul(f, NULL, 10);
            if (idx >= a->npos) {
                jerr(R, "Replacement index %zu out of range for positional args tuple", idx);
                goto fail;
            }
            v = a->pos[idx];
        } else {
            for (size_t q = 0; q < a->nkw; q++)
                if (a->kwl[q] == nl && memcmp(a->kwn[q], f, nl) == 0)
                    v = a->kwv[q];
            if (!given(v)) {
                jerr(R, "KeyError: '%.*s'", (int)nl, f);
                goto fail;
            }
        }
        bool ok;
        if (conv == 'r') {
            struct sbuf t = {0};
            ok = jv_repr_append(R, &t, v);
            jv s = ok ? sb_take_str(R, &t) : (sb_free(&t), JV_U);
            ok = s.t == JV_STR && format_spec(R, &b, s, spec, sl);
            jv_release(s);
        } else if (conv == 's') {
            jv s = jv_to_str(R, v);
            ok = s.t == JV_STR && format_spec(R, &b, s, spec, sl);
            jv_release(s);
        } else {
            ok = format_spec(R, &b, v, spec, sl);
        }
        if (!ok)
            goto fail;
        i = j + 1;
    }
    {
        jv r = sb_take_str(R, &b);
        r.safe = fmt.safe;
        return r;
    }
fail:
    sb_free(&b);
    return JV_U;
}

jv jv_percent_format(struct render *R, jv fmt, jv args)
{
    const char *p = JS(fmt)->s;
    size_t len = JS(fmt)->len, i = 0, ai = 0;
    bool tuple = args.t == JV_LIST && JL(args)->tuple;
    bool mapping = args.t == JV_DICT;
    size_t nargs = tuple ? JL(args)->n : 1;
    struct sbuf b = {0};
    bool used_map = false;
    while (i < len) {
        if (p[i] != '%') {
            const char *nx = memchr(p + i, '%', len - i);
            size_t e = nx ? (size_t)(nx - p) : len;
            if (!sb_add(R, &b, p + i, e - i))
                goto fail;
            i = e;
            continue;
        }
        i++;
        if (i >= len) {
            jerr(R, "incomplete format");
            goto fail;
        }
        jv v = JV_MISS;
        if (p[i] == '(') {
            size_t e = i + 1;
            while (e < len && p[e] != ')')
                e++;
            if (e >= len || !mapping) {
                jerr(R, "format requires a mapping");
                goto fail;
            }
            v = jv_dict_get_str(args, p + i + 1, e - i - 1);
            if (!given(v)) {
                jerr(R, "KeyError: '%.*s'", (int)(e - i - 1), p + i + 1);
                goto fail;
            }
            used_map = true;
            i = e + 1;
        }
        char flags[8];
        int nf = 0;
        while (i < len && strchr("-+ #0", p[i]) && nf < 7)
            flags[nf++] = p[i++];
        flags[nf] = 0;
        int width = -1, prec = -1;
        while (i < len && p[i] >= '0' && p[i] <= '9')
            width = (width < 0 ? 0 : width) * 10 + (p[i++] - '0'), width = width > 10000 ? 10000 : width;
        if (i < len && p[i] == '.') {
            i++;
            prec = 0;
            while (i < len && p[i] >= '0' && p[i] <= '9')
                prec = prec * 10 + (p[i++] - '0'), prec = prec > 1000 ? 1000 : prec;
        }
        if (i >= len) {
            jerr(R, "incomplete format");
            goto fail;
        }
        char conv = p[i++];
        if (conv == '%') {
            if (!sb_addc(R, &b, '%'))
                goto fail;
            continue;
        }
        if (!given(v)) {
            if (ai >= nargs || mapping) {
                if (mapping && !tuple) {
                    v = args;
                    ai++;
                } else {
                    jerr(R, "not enough arguments for format string");
                    goto fail;
                }
            } else {
                v = tuple ? JL(args)->v[ai] : args;
                ai++;
            }
        }
        char tmp[1200], fmt2[32];
        switch (conv) {
        case 's':
        case 'r':
        case 'a': {
            struct sbuf t = {0};
            bool ok = conv == 's' ? jv_str_append(R, &t, v) : jv_repr_append(R, &t, v);
            if (!ok) {
                sb_free(&t);
                goto fail;
            }
            size_t tl = t.n;
            if (prec >= 0)
                tl = u8_offset(t.p ? t.p : "", t.n, (size_t)prec);
            int64_t n = (int64_t)u8_count(t.p ? t.p : "", tl);
            bool left = strchr(flags, '-') != NULL;
            bool ok2 = true;
            for (int64_t k = n; !left && k < width && ok2; k++)
                ok2 = sb_addc(R, &b, ' ');
            ok2 = ok2 && sb_add(R, &b, t.p ? t.p : "", tl);
            for (int64_t k = n; left && k < width && ok2; k++)
                ok2 = sb_addc(R, &b, ' ');
            sb_free(&t);
            if (!ok2)
                goto fail;
            continue;
        }
        case 'd': case 'i': case 'u': case 'x': case 'X': case 'o': case 'c': {
            int64_t x;
            if (is_int(v))
                x = as_i(v);
            else if (v.t == JV_FLOAT && conv != 'c' && conv != 'x' && conv != 'X' && conv != 'o')
                x = (int64_t)v.u.f;
            else {
                jerr(R, "%%%c format: a real number is required, not %s", conv, jv_type_name(v));
                goto fail;
            }
            if (conv == 'c') {
                if (!add_cp(R, &b, (uint32_t)x))
                    goto fail;
                continue;
            }
            snprintf(fmt2, sizeof(fmt2), "%%%s%s%s%s%s", flags,
                     width >= 0 ? "*" : "", prec >= 0 ? ".*" : "", "ll",
                     conv == 'i' || conv == 'u' ? "d" : (char[2]){conv, 0});
            if (width >= 0 && prec >= 0)
                snprintf(tmp, sizeof(tmp), fmt2, width, prec, (long long)x);
            else if (width >= 0)
                snprintf(tmp, sizeof(tmp), fmt2, width, (long long)x);
            else if (prec >= 0)
                snprintf(tmp, sizeof(tmp), fmt2, prec, (long long)x);
            else
                snprintf(tmp, sizeof(tmp), fmt2, (long long)x);
            break;
        }
        case 'f': case 'F': case 'e': case 'E': case 'g': case 'G': {
            if (!is_num(v)) {
                jerr(R, "must be real number, not %s", jv_type_name(v));
                goto fail;
            }
            snprintf(fmt2, sizeof(fmt2), "%%%s%s%s%c", flags, width >= 0 ? "*" : "",
                     prec >= 0 ? ".*" : "", conv);
            double f = as_f(v);
            if (width >= 0 && prec >= 0)
                snprintf(tmp, sizeof(tmp), fmt2, width, prec, f);
            else if (width >= 0)
                snprintf(tmp, sizeof(tmp), fmt2, width, f);
            else if (prec >= 0)
                snprintf(tmp, sizeof(tmp), fmt2, prec, f);
            else
                snprintf(tmp, sizeof(tmp), fmt2, f);
            break;
        }
        default:
            jerr(R, "unsupported format character '%c'", conv);
            goto fail;
        }
        if (!sb_adds(R, &b, tmp))
            goto fail;
    }
    if (!mapping && !used_map && ai < nargs && tuple) {
        jerr(R, "not all arguments converted during string formatting");
        goto fail;
    }
    if (!tuple && !mapping && args.t != JV_LIST && args.t != JV_UNDEF && ai == 0) {
        jerr(R, "not all arguments converted during string formatting");
        goto fail;
    }
    {
        jv r = sb_take_str(R, &b);
        r.safe = fmt.safe;
        return r;
    }
fail:
    sb_free(&b);
    return JV_U;
}

/* ---- attribute access ---------------------------------------------------------------- */

static jv method(struct render *R, jv obj, int id)
{
    return make_func(R, id, jv_retain(obj));
}

static bool in_list(const char *name, size_t len, const char *const *names)
{
    for (size_t i = 0; names[i]; i++)
        if (name_is(name, len, names[i]))
            return true;
    return false;
}

jv make_loop_attr(struct render *R, jv loop, const char *name, size_t len)
{
    struct jloop *l = (struct jloop *)loop.u.o;
    size_t n = JL(l->items)->n, i = l->index0;
    if (name_is(name, len, "index"))
        return jv_int((int64_t)i + 1);
    if (name_is(name, len, "index0"))
        return jv_int((int64_t)i);
    if (name_is(name, len, "revindex"))
        return jv_int((int64_t)(n - i));
    if (name_is(name, len, "revindex0"))
        return jv_int((int64_t)(n - i - 1));
    if (name_is(name, len, "first"))
        return jv_bool(i == 0);
    if (name_is(name, len, "last"))
        return jv_bool(i + 1 == n);
    if (name_is(name, len, "length"))
        return jv_int((int64_t)n);
    if (name_is(name, len, "depth"))
        return jv_int(l->depth0 + 1);
    if (name_is(name, len, "depth0"))
        return jv_int(l->depth0);
    if (name_is(name, len, "previtem"))
        return i > 0 ? jv_retain(JL(l->items)->v[i - 1]) : JV_U;
    if (name_is(name, len, "nextitem"))
        return i + 1 < n ? jv_retain(JL(l->items)->v[i + 1]) : JV_U;
    if (name_is(name, len, "cycle"))
        return method(R, loop, LP_CYCLE);
    if (name_is(name, len, "changed"))
        return method(R, loop, LP_CHANGED);
    return JV_U;
}

jv get_attr(struct render *R, jv obj, const char *name, size_t len)
{
    if (len >= 2 && name[0] == '_' && name[1] == '_')
        return JV_U; /* the sandbox: no dunder attributes, ever */
    switch (obj.t) {
    case JV_STR:
        for (size_t i = 0; i < sizeof(str_methods) / sizeof(str_methods[0]); i++)
            if (name_is(name, len, str_methods[i].name))
                return method(R, obj, str_methods[i].id);
        return JV_U;
    case JV_DICT: {
        if (name_is(name, len, "get"))
            return method(R, obj, D_GET);
        if (name_is(name, len, "items"))
            return method(R, obj, D_ITEMS);
        if (name_is(name, len, "keys"))
            return method(R, obj, D_KEYS);
        if (name_is(name, len, "values"))
            return method(R, obj, D_VALUES);
        if (name_is(name, len, "copy"))
            return method(R, obj, D_COPY);
        if (in_list(name, len, dict_unsafe))
            return JV_U; /* unsafe in the sandbox: an Undefined that cannot be called */
        jv v = jv_dict_get_str(obj, name, len);
        return given(v) ? jv_retain(v) : JV_U;
    }
    case JV_LIST:
        if (name_is(name, len, "index"))
            return method(R, obj, L_INDEX);
        if (name_is(name, len, "count"))
            return method(R, obj, L_COUNT);
        if (!JL(obj)->tuple && name_is(name, len, "copy"))
            return method(R, obj, L_COPY);
        if (!JL(obj)->tuple && in_list(name, len, list_unsafe))
            return JV_U; /* unsafe in the sandbox: an Undefined that cannot be called */
        return JV_U;
    case JV_NS: {
        jv v = jv_dict_get_str(obj, name, len);
        return given(v) ? jv_retain(v) : JV_U;
    }
    case JV_LOOP:
        return make_loop_attr(R, obj, name, len);
    case JV_UNDEF:
        return undef_err(R, obj);
    default:
        return JV_U;
    }
}

jv get_item(struct render *R, jv obj, jv key)
{
    switch (obj.t) {
    case JV_DICT: {
        jv v = jv_dict_get(obj, key);
        if (given(v))
            return jv_retain(v);
        break;
    }
    case JV_LIST:
        if (is_int(key)) {
            int64_t i = as_i(key), n = (int64_t)JL(obj)->n;
            if (i < 0)
                i += n;
            if (i < 0 || i >= n)
                return JV_U;
            return jv_retain(JL(obj)->v[i]);
        }
        break;
    case JV_STR:
        if (is_int(key)) {
            int64_t i = as_i(key), n = (int64_t)JS(obj)->ncp;
            if (i < 0)
                i += n;
            if (i < 0 || i >= n)
                return JV_U;
            const char *s = JS(obj)->s;
            size_t len = JS(obj)->len, a = u8_offset(s, len, (size_t)i), b = a + 1;
            while (b < len && ((uint8_t)s[b] & 0xC0) == 0x80)
                b++;
            jv r = strv(R, s + a, b - a);
            r.safe = obj.safe;
            return r;
        }
        break;
    case JV_UNDEF:
        return undef_err(R, obj);
    default:
        break;
    }
    if (key.t == JV_STR)
        return get_attr(R, obj, JS(key)->s, JS(key)->len);
    return JV_U;
}

/* The attribute path of map/selectattr/sort/...: "a.b.0" through getitem. */
static jv attr_path(struct render *R, jv item, jv attr)
{
    if (is_int(attr))
        return get_item(R, item, attr);
    if (attr.t != JV_STR)
        return get_item(R, item, attr);
    const char *p = JS(attr)->s;
    size_t len = JS(attr)->len, i = 0;
    jv cur = jv_retain(item);
    for (;;) {
        size_t j = i;
        while (j < len && p[j] != '.')
            j++;
        bool digits = j > i;
        for (size_t k = i; k < j; k++)
            if (p[k] < '0' || p[k] > '9')
                digits = false;
        jv key = digits ? jv_int(strtoll(p + i, NULL, 10)) : strv(R, p + i, j - i);
        if (R->failed) {
            jv_release(cur);
            return JV_U;
        }
        jv next = cur.t == JV_UNDEF ? JV_U : get_item(R, cur, key);
        jv_release(key);
        jv_release(cur);
        cur = next;
        if (R->failed)
            return JV_U;
        if (j >= len)
            return cur;
        i = j + 1;
    }
}

/* ---- sorting ----------------------------------------------------------------------------- */

struct sort_item {
    jv key;   /* compared */
    jv val;   /* kept */
};

static jv lower_key(struct render *R, jv v, bool case_sensitive)
{
    if (!case_sensitive && v.t == JV_STR)
        return map_case(R, v, 0);
    return jv_retain(v);
}

static void merge_sort(struct render *R, struct sort_item *a, struct sort_item *tmp, size_t n,
                       bool reverse)
{
    if (n < 2 || R->failed)
        return;
    size_t h = n / 2;
    merge_sort(R, a, tmp, h, reverse);
    merge_sort(R, a + h, tmp, n - h, reverse);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n && !R->failed) {
        bool ok;
        /* take from the right only when it is strictly smaller (stable) */
        int c = reverse ? jv_compare(R, a[i].key, a[j].key, &ok) : jv_compare(R, a[j].key, a[i].key, &ok);
        if (!ok)
            return;
        if (c < 0)
            tmp[k++] = a[j++];
        else
            tmp[k++] = a[i++];
    }
    while (i < h)
        tmp[k++] = a[i++];
    while (j < n)
        tmp[k++] = a[j++];
    memcpy(a, tmp, n * sizeof(*a));
}

/* items (list) sorted; keys computed by keyfn-like rules */
static jv sorted_list(struct render *R, jv items, jv attribute, bool case_sensitive, bool reverse,
                      int dict_by /* -1 not dictsort, 0 key, 1 value */)
{
    size_t n = JL(items)->n;
    if (!step(R, n + 1))
        return JV_U;
    struct sort_item *a = calloc(n ? n : 1, sizeof(*a)), *tmp = calloc(n ? n : 1, sizeof(*a));
    if (a == NULL || tmp == NULL) {
        free(a);
        free(tmp);
        return jerrv(R, "out of memory");
    }
    size_t made = 0;
    for (; made < n && !R->failed; made++) {
        jv it = JL(items)->v[made];
        jv k;
        if (dict_by >= 0)
            k = jv_retain(JL(it)->v[dict_by]);
        else if (given(attribute) && attribute.t != JV_NONE)
            k = attr_path(R, it, attribute);
        else
            k = jv_retain(it);
        jv lk = R->failed ? JV_U : lower_key(R, k, case_sensitive);
        jv_release(k);
        a[made].key = lk;
        a[made].val = it;
    }
    if (!R->failed)
        merge_sort(R, a, tmp, n, reverse);
    jv out = R->failed ? JV_U : jv_list_new(R, n, false);
    for (size_t i = 0; i < made; i++) {
        if (out.t == JV_LIST && !R->failed)
            jv_list_push(R, out, jv_retain(a[i].val));
        jv_release(a[i].key);
    }
    free(a);
    free(tmp);
    if (R->failed) {
        jv_release(out);
        return JV_U;
    }
    return out;
}

/* ---- filters ------------------------------------------------------------------------------ */

#define BIND(fname, ...)                                                              \
    static const char *const params_[] = {__VA_ARGS__};                               \
    jv p[sizeof(params_) / sizeof(params_[0])];                                       \
    if (!bind_args(R, a, fname, params_, sizeof(params_) / sizeof(params_[0]), nreq_, p)) \
        return JV_U;

static jv list_of(struct render *R, jv v)
{
    jv l = jv_iter_list(R, v);
    if (l.t == JV_LIST && (JL(l)->tuple || JL(l)->gen)) {
        jv c = jv_list_new(R, JL(l)->n, false);
        for (size_t i = 0; c.t == JV_LIST && i < JL(l)->n; i++)
            if (!jv_list_push(R, c, jv_retain(JL(l)->v[i]))) {
                jv_release(c);
                c = JV_U;
                break;
            }
        jv_release(l);
        return c;
    }
    return l;
}

static jv select_common(struct render *R, jv v, const struct args *a, bool attr, bool want)
{
    /* select(test, *args) / selectattr(attr, test, *args) */
    size_t off = attr ? 1 : 0;
    if (!jv_truthy(v))
        return jv_list_new(R, 0, false);
    if (attr && a->npos < 1)
        return jerrv(R, "Missing parameter for attribute name");
    jv items = list_of(R, v);
    if (items.t != JV_LIST)
        return JV_U;
    jv out = jv_list_new(R, 0, false);
    struct args ta = {0};
    if (a->npos > off + 1) {
        ta.pos = a->pos + off + 1;
        ta.npos = a->npos - off - 1;
    }
    ta.kwn = a->kwn;
    ta.kwl = a->kwl;
    ta.kwv = a->kwv;
    ta.nkw = a->nkw;
    jv testname = a->npos > off ? a->pos[off] : JV_MISS;
    if (given(testname) && testname.t != JV_STR) {
        jv_release(items);
        jv_release(out);
        return jerrv(R, "test name must be a string");
    }
    for (size_t i = 0; out.t == JV_LIST && i < JL(items)->n && !R->failed; i++) {
        if (!step(R, 1))
            break;
        jv it = JL(items)->v[i];
        jv x = attr ? attr_path(R, it, a->pos[0]) : jv_retain(it);
        if (R->failed) {
            jv_release(x);
            break;
        }
        int t;
        if (given(testname))
            t = apply_test_by_name(R, JS(testname)->s, JS(testname)->len, x, &ta);
        else
            t = jv_truthy(x);
        jv_release(x);
        if (t < 0)
            break;
        if ((t != 0) == want)
            jv_list_push(R, out, jv_retain(it));
    }
    jv_release(items);
    if (R->failed) {
        jv_release(out);
        return JV_U;
    }
    return out;
}

static jv do_map(struct render *R, jv v, const struct args *a)
{
    if (!jv_truthy(v))
        return jv_list_new(R, 0, false);
    jv items = list_of(R, v);
    if (items.t != JV_LIST)
        return JV_U;
    jv attribute = JV_MISS, deflt = JV_MISS;
    bool by_attr = false;
    for (size_t k = 0; k < a->nkw; k++) {
        if (name_is(a->kwn[k], a->kwl[k], "attribute")) {
            attribute = a->kwv[k];
            by_attr = true;
        } else if (name_is(a->kwn[k], a->kwl[k], "default")) {
            deflt = a->kwv[k];
        }
    }
    if (!by_attr && a->npos < 1) {
        jv_release(items);
        return jerrv(R, "map requires a filter argument");
    }
    struct args fa = {0};
    if (!by_attr) {
        fa.pos = a->pos + 1;
        fa.npos = a->npos - 1;
        fa.kwn = a->kwn;
        fa.kwl = a->kwl;
        fa.kwv = a->kwv;
        fa.nkw = a->nkw;
        if (a->pos[0].t != JV_STR) {
            jv_release(items);
            return jerrv(R, "map: filter name must be a string");
        }
    }
    jv out = jv_list_new(R, JL(items)->n, false);
    for (size_t i = 0; out.t == JV_LIST && i < JL(items)->n && !R->failed; i++) {
        if (!step(R, 1))
            break;
        jv it = JL(items)->v[i];
        jv x;
        if (by_attr) {
            x = attr_path(R, it, attribute);
            if (x.t == JV_UNDEF && given(deflt)) {
                jv_release(x);
                x = jv_retain(deflt);
            }
        } else {
            x = apply_filter_by_name(R, JS(a->pos[0])->s, JS(a->pos[0])->len, it, &fa);
        }
        if (R->failed) {
            jv_release(x);
            break;
        }
        jv_list_push(R, out, x);
    }
    jv_release(items);
    if (R->failed) {
        jv_release(out);
        return JV_U;
    }
    return out;
}

static jv do_int(struct render *R, jv v, jv deflt, jv basev)
{
    jv d = given(deflt) ? jv_retain(deflt) : jv_int(0);
    int base = given(basev) && is_int(basev) ? (int)as_i(basev) : 10;
    if (is_int(v)) {
        jv_release(d);
        return jv_int(as_i(v));
    }
    if (v.t == JV_FLOAT) {
        jv_release(d);
        if (!isfinite(v.u.f))
            return jerrv(R, "cannot convert float infinity or NaN to integer");
        if (fabs(v.u.f) >= 9.2e18)
            return jerrv(R, "integer overflow");
        return jv_int((int64_t)v.u.f);
    }
    if (v.t == JV_STR) {
        /* int(s, base) with Python's syntax: spaces, sign, underscores */
        char buf[128];
        size_t o = 0;
        const char *s = JS(v)->s;
        size_t len = JS(v)->len, i = 0;
        while (i < len && py_isspace((uint8_t)s[i]))
            i++;
        size_t e = len;
        while (e > i && py_isspace((uint8_t)s[e - 1]))
            e--;
        bool ok = e > i && e - i < sizeof(buf);
        for (size_t k = i; ok && k < e; k++) {
            if (s[k] == '_') {
                if (k == i || k + 1 == e || s[k + 1] == '_')
                    ok = false;
                continue;
            }
            buf[o++] = s[k];
        }
        buf[o] = 0;
        if (ok) {
            char *end;
            errno = 0;
            long long x = strtoll(buf, &end, base);
            if (*end == 0 && o > 0 && errno == 0 && strchr(" \t", buf[0]) == NULL) {
                jv_release(d);
                return jv_int(x);
            }
            /* float(value) then int */
            double f = strtod(buf, &end);
            if (*end == 0 && o > 0 && isfinite(f) && fabs(f) < 9.2e18) {
                jv_release(d);
                return jv_int((int64_t)f);
            }
        }
        return d;
    }
    return d;
}

static bool parse_py_float(jv v, double *out)
{
    if (is_num(v)) {
        *out = as_f(v);
        return true;
    }
    if (v.t != JV_STR)
        return false;
    const char *s = JS(v)->s;
    size_t len = JS(v)->len, i = 0;
    while (i < len && py_isspace((uint8_t)s[i]))
        i++;
    size_t e = len;
    while (e > i && py_isspace((uint8_t)s[e - 1]))
        e--;
    if (e == i || e - i > 100)
        return false;
    char buf[128];
    size_t o = 0;
    for (size_t k = i; k < e; k++)
        if (s[k] != '_')
            buf[o++] = s[k];
    buf[o] = 0;
    char *end;
    double f = strtod(buf, &end);
    if (*end != 0)
        return false;
    *out = f;
    return true;
}

static jv do_round(struct render *R, jv v, jv precv, jv methodv)
{
    int64_t prec = given(precv) ? (is_int(precv) ? as_i(precv) : 0) : 0;
    const char *m = "common";
    if (given(methodv)) {
        if (methodv.t != JV_STR)
            return jerrv(R, "method must be common, ceil or floor");
        m = JS(methodv)->s;
    }
    if (strcmp(m, "common") && strcmp(m, "ceil") && strcmp(m, "floor"))
        return jerrv(R, "method must be common, ceil or floor");
    if (!is_num(v))
        return jerrv(R, "type %s doesn't define __round__ method", jv_type_name(v));
    if (strcmp(m, "common") == 0) {
        if (is_int(v))
            return jv_int(as_i(v));
        double x = v.u.f;
        if (!isfinite(x))
            return jv_float(x);
        if (prec >= 0 && prec <= 300) {
            char buf[400];
            snprintf(buf, sizeof(buf), "%.*f", (int)prec, x);
            return jv_float(strtod(buf, NULL));
        }
        double p10 = pow(10.0, (double)-prec);
        return jv_float(nearbyint(x / p10) * p10);
    }
    double p10 = pow(10.0, (double)prec);
    double x = as_f(v) * p10;
    x = strcmp(m, "ceil") == 0 ? ceil(x) : floor(x);
    return jv_float(x / p10);
}

static jv do_indent(struct render *R, jv s, jv widthv, jv firstv, jv blankv)
{
    char spaces[256];
    const char *ind = "    ";
    size_t il = 4;
    if (given(widthv)) {
        if (widthv.t == JV_STR) {
            ind = JS(widthv)->s;
            il = JS(widthv)->len;
        } else if (is_int(widthv)) {
            int64_t w = as_i(widthv);
            if (w < 0)
                w = 0;
            if (w > 255)
                return jerrv(R, "indent width too large");
            memset(spaces, ' ', (size_t)w);
            ind = spaces;
            il = (size_t)w;
        } else {
            return jerrv(R, "indent width must be an integer or a string");
        }
    }
    bool first = given(firstv) && jv_truthy(firstv), blank = given(blankv) && jv_truthy(blankv);
    /* s += "\n"; lines = s.splitlines() */
    jv withnl;
    {
        struct sbuf t = {0};
        if (!sb_add(R, &t, JS(s)->s, JS(s)->len) || !sb_addc(R, &t, '\n')) {
            sb_free(&t);
            return JV_U;
        }
        withnl = sb_take_str(R, &t);
    }
    if (withnl.t != JV_STR)
        return JV_U;
    jv lines = splitlines(R, withnl, false);
    jv_release(withnl);
    if (lines.t != JV_LIST)
        return JV_U;
    struct sbuf b = {0};
    bool ok = true;
    struct jlist *L = JL(lines);
    if (first)
        ok = sb_add(R, &b, ind, il);
    if (blank) {
        for (size_t i = 0; ok && i < L->n; i++) {
            if (i)
                ok = sb_addc(R, &b, '\n') && sb_add(R, &b, ind, il);
            ok = ok && sb_add(R, &b, JS(L->v[i])->s, JS(L->v[i])->len);
        }
    } else {
        for (size_t i = 0; ok && i < L->n; i++) {
            if (i) {
                ok = sb_addc(R, &b, '\n');
                if (ok && JS(L->v[i])->len)
                    ok = sb_add(R, &b, ind, il);
            }
            ok = ok && sb_add(R, &b, JS(L->v[i])->s, JS(L->v[i])->len);
        }
    }
    jv_release(lines);
    if (!ok) {
        sb_free(&b);
        return JV_U;
    }
    jv r = sb_take_str(R, &b);
    r.safe = s.safe;
    return r;
}

static jv do_tojson(struct render *R, jv v, const struct args *a)
{
    /* transformers: json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False) */
    static const char *const params[] = {"ensure_ascii", "indent", "separators", "sort_keys"};
    jv p[4];
    if (!bind_args(R, a, "tojson", params, 4, 0, p))
        return JV_U;
    struct tojson_opts o = {.item_sep = ", ", .key_sep = ": "};
    o.ensure_ascii = given(p[0]) && jv_truthy(p[0]);
    o.sort_keys = given(p[3]) && jv_truthy(p[3]);
    char spaces[256];
    if (given(p[1]) && p[1].t != JV_NONE) {
        if (p[1].t == JV_STR) {
            o.indent = JS(p[1])->s;
        } else if (is_int(p[1])) {
            int64_t w = as_i(p[1]);
            if (w < 0)
                w = 0;
            if (w > 255)
                return jerrv(R, "indent too large");
            memset(spaces, ' ', (size_t)w);
            spaces[w] = 0;
            o.indent = spaces;
        } else {
            return jerrv(R, "indent must be an integer or a string");
        }
        o.item_sep = ",";
    }
    if (given(p[2]) && p[2].t != JV_NONE) {
        if (p[2].t != JV_LIST || JL(p[2])->n != 2 || JL(p[2])->v[0].t != JV_STR ||
            JL(p[2])->v[1].t != JV_STR)
            return jerrv(R, "separators must be a pair of strings");
        o.item_sep = JS(JL(p[2])->v[0])->s;
        o.key_sep = JS(JL(p[2])->v[1])->s;
    }
    struct sbuf b = {0};
    if (!jv_tojson(R, &b, v, &o, 0)) {
        sb_free(&b);
        return JV_U;
    }
    return sb_take_str(R, &b);
}

static int64_t length_of(struct render *R, jv v, bool *ok)
{
    *ok = true;
    switch (v.t) {
    case JV_STR: return (int64_t)JS(v)->ncp;
    case JV_LIST: return (int64_t)JL(v)->n;
    case JV_DICT: return (int64_t)JD(v)->n;
    case JV_UNDEF: return 0;
    case JV_LOOP: return (int64_t)JL(((struct jloop *)v.u.o)->items)->n;
    default:
        *ok = false;
        jerr(R, "object of type '%s' has no len()", jv_type_name(v));
        return 0;
    }
}

static jv minmax(struct render *R, jv v, const struct args *a, bool want_max)
{
    static const char *const params[] = {"case_sensitive", "attribute"};
    jv p[2];
    if (!bind_args(R, a, want_max ? "max" : "min", params, 2, 0, p))
        return JV_U;
    jv items = list_of(R, v);
    if (items.t != JV_LIST)
        return JV_U;
    bool cs = given(p[0]) && jv_truthy(p[0]);
    jv best = JV_MISS, bestk = JV_MISS;
    for (size_t i = 0; i < JL(items)->n && !R->failed; i++) {
        jv it = JL(items)->v[i];
        jv k0 = given(p[1]) && p[1].t != JV_NONE ? attr_path(R, it, p[1]) : jv_retain(it);
        jv k = R->failed ? JV_U : lower_key(R, k0, cs);
        jv_release(k0);
        if (R->failed) {
            jv_release(k);
            break;
        }
        bool ok = true;
        if (!given(best) || (want_max ? jv_compare(R, k, bestk, &ok) > 0 : jv_compare(R, k, bestk, &ok) < 0)) {
            if (ok) {
                best = it;
                jv_release(bestk);
                bestk = k;
                continue;
            }
        }
        jv_release(k);
    }
    jv r = given(best) && !R->failed ? jv_retain(best) : JV_U;
    if (given(bestk))
        jv_release(bestk);
    jv_release(items);
    return R->failed ? JV_U : r;
}

/* jinja2 returns generators from these filters: always true, even when empty */
static jv as_gen(jv l)
{
    if (l.t == JV_LIST && l.u.o->rc == 1)
        JL(l)->gen = true;
    return l;
}

jv call_filter(struct render *R, int id, const char *name, jv v, const struct args *a)
{
    size_t nreq_ = 0;
    if (!step(R, 1))
        return JV_U;
    switch (id) {
    case F_ABS:
        if (v.t == JV_FLOAT)
            return jv_float(fabs(v.u.f));
        if (is_int(v)) {
            if (as_i(v) == INT64_MIN)
                return jerrv(R, "integer overflow");
            return jv_int(llabs(as_i(v)));
        }
        return jerrv(R, "bad operand type for abs(): '%s'", jv_type_name(v));
    case F_ATTR: {
        BIND("attr", "name");
        if (p[0].t != JV_STR)
            return JV_U;
        if (v.t == JV_DICT) {
            /* Python attributes only: methods, not keys */
            if (name_is(JS(p[0])->s, JS(p[0])->len, "items") || name_is(JS(p[0])->s, JS(p[0])->len, "keys") ||
                name_is(JS(p[0])->s, JS(p[0])->len, "values") || name_is(JS(p[0])->s, JS(p[0])->len, "get"))
                return get_attr(R, v, JS(p[0])->s, JS(p[0])->len);
            return JV_U;
        }
        if (v.t == JV_UNDEF)
            return JV_U;
        return get_attr(R, v, JS(p[0])->s, JS(p[0])->len);
    }
    case F_BATCH: {
        nreq_ = 1;
        BIND("batch", "linecount", "fill_with");
        if (!is_int(p[0]) || as_i(p[0]) <= 0)
            return jerrv(R, "batch: linecount must be a positive integer");
        int64_t lc = as_i(p[0]);
        jv items = list_of(R, v);
        if (items.t != JV_LIST)
            return JV_U;
        jv out = jv_list_new(R, 0, false);
        jv cur = JV_MISS;
        for (size_t i = 0; out.t == JV_LIST && i < JL(items)->n && !R->failed; i++) {
            if (!given(cur))
                cur = jv_list_new(R, (size_t)lc, false);
            if (cur.t != JV_LIST)
                break;
            jv_list_push(R, cur, jv_retain(JL(items)->v[i]));
            if ((int64_t)JL(cur)->n == lc) {
                jv_list_push(R, out, cur);
                cur = JV_MISS;
            }
        }
        if (given(cur) && cur.t == JV_LIST) {
            while (given(p[1]) && p[1].t != JV_NONE && (int64_t)JL(cur)->n < lc && !R->failed)
                jv_list_push(R, cur, jv_retain(p[1]));
            jv_list_push(R, out, cur);
        }
        jv_release(items);
        if (R->failed) {
            jv_release(out);
            return JV_U;
        }
        return out;
    }
    case F_CAPITALIZE: {
        jv s = jv_to_str(R, v);
        if (s.t != JV_STR)
            return JV_U;
        jv r = capitalize(R, s);
        jv_release(s);
        return r;
    }
    case F_CENTER: {
        BIND("center", "width");
        jv s = jv_to_str(R, v);
        if (s.t != JV_STR)
            return JV_U;
        jv r = pad(R, s, given(p[0]) && is_int(p[0]) ? as_i(p[0]) : 80, JV_MISS, 0);
        jv_release(s);
        return r;
    }
    case F_COUNT:
    case F_LENGTH: {
        bool ok;
        int64_t n = length_of(R, v, &ok);
        return ok ? jv_int(n) : JV_U;
    }
    case F_DEFAULT: {
        BIND("default", "default_value", "boolean");
        bool boolean = given(p[1]) && jv_truthy(p[1]);
        if (v.t == JV_UNDEF || (boolean && !jv_truthy(v)))
            return given(p[0]) ? jv_retain(p[0]) : jv_str(R, "", 0);
        return jv_retain(v);
    }
    case F_DICTSORT: {
        BIND("dictsort", "case_sensitive", "by", "reverse");
        if (v.t != JV_DICT)
            return jerrv(R, "dictsort: expected a mapping, got '%s'", jv_type_name(v));
        int by = 0;
        if (given(p[1])) {
            if (p[1].t == JV_STR && name_is(JS(p[1])->s, JS(p[1])->len, "value"))
                by = 1;
            else if (!(p[1].t == JV_STR && name_is(JS(p[1])->s, JS(p[1])->len, "key")))
                return jerrv(R, "You can only sort by either \"key\" or \"value\"");
        }
        jv items = jv_list_new(R, JD(v)->n, false);
        for (size_t i = 0; items.t == JV_LIST && i < JD(v)->n; i++) {
            jv t = jv_list_new(R, 2, true);
            if (t.t != JV_LIST || !jv_list_push(R, t, jv_retain(JD(v)->k[i])) ||
                !jv_list_push(R, t, jv_retain(JD(v)->v[i])) || !jv_list_push(R, items, t)) {
                jv_release(t);
                break;
            }
        }
        if (R->failed) {
            jv_release(items);
            return JV_U;
        }
        jv r = sorted_list(R, items, JV_MISS, given(p[0]) && jv_truthy(p[0]),
                           given(p[2]) && jv_truthy(p[2]), by);
        jv_release(items);
        return r;
    }
    case F_ESCAPE:
        return jv_escape(R, v);
    case F_FORCEESCAPE: {
        jv s = jv_to_str(R, v);
        if (s.t != JV_STR)
            return JV_U;
        s.safe = 0;
        jv r = jv_escape(R, s);
        jv_release(s);
        return r;
    }
    case F_FIRST:
    case F_LAST: {
        jv items = list_of(R, v);
        if (items.t != JV_LIST)
            return JV_U;
        jv r = JV_U;
        if (JL(items)->n)
            r = jv_retain(JL(items)->v[id == F_FIRST ? 0 : JL(items)->n - 1]);
        jv_release(items);
        return r;
    }
    case F_FLOAT: {
        BIND("float", "default");
        if (v.t == JV_UNDEF)
            return undef_err(R, v);
        double f;
        if (parse_py_float(v, &f))
            return jv_float(f);
        return given(p[0]) ? jv_retain(p[0]) : jv_float(0.0);
    }
    case F_FORMAT: {
        jv s = jv_to_str(R, v);
        if (s.t != JV_STR)
            return JV_U;
        jv r;
        if (a->nkw) {
            jv d = jv_dict_new(R, a->nkw);
            for (size_t k = 0; d.t == JV_DICT && k < a->nkw; k++)
                jv_dict_set(R, d, jv_str(R, a->kwn[k], a->kwl[k]), jv_retain(a->kwv[k]));
            r = R->failed ? JV_U : jv_percent_format(R, s, d);
            jv_release(d);
        } else {
            jv t = jv_list_new(R, a->npos, true);
            for (size_t k = 0; t.t == JV_LIST && k < a->npos; k++)
                jv_list_push(R, t, jv_retain(a->pos[k]));
            r = R->failed ? JV_U : jv_percent_format(R, s, t);
            jv_release(t);
        }
        jv_release(s);
        return r;
    }
    case F_INDENT: {
        BIND("indent", "width", "first", "blank");
        if (v.t == JV_UNDEF) /* s += "\n" on an Undefined */
            return undef_err(R, v);
        if (v.t != JV_STR)
            return jerrv(R, "unsupported operand type(s) for +=: '%s' and 'str'", jv_type_name(v));
        jv s = jv_to_str(R, v);
        if (s.t != JV_STR)
            return JV_U;
        jv r = do_indent(R, s, p[0], p[1], p[2]);
        jv_release(s);
        return r;
    }
    case F_INT: {
        BIND("int", "default", "base");
        if (v.t == JV_UNDEF) /* int(Undefined) raises */
            return undef_err(R, v);
        return do_int(R, v, p[0], p[1]);
    }
    case F_ITEMS: {
        if (v.t == JV_UNDEF)
            return as_gen(jv_list_new(R, 0, false));
        if (v.t != JV_DICT)
            return jerrv(R, "Can only get item pairs from a mapping.");
        jv l = jv_list_new(R, JD(v)->n, false);
        for (size_t i = 0; l.t == JV_LIST && i < JD(v)->n; i++) {
            jv t = jv_list_new(R, 2, true);
            if (t.t != JV_LIST || !jv_list_push(R, t, jv_retain(JD(v)->k[i])) ||
                !jv_list_push(R, t, jv_retain(JD(v)->v[i])) || !jv_list_push(R, l, t)) {
                jv_release(l);
                return JV_U;
            }
        }
        return as_gen(l);
    }
    case F_JOIN: {
        BIND("join", "d", "attribute");
        jv items = list_of(R, v);
        if (items.t != JV_LIST)
            return JV_U;
        jv sep = given(p[0]) ? jv_to_str(R, p[0]) : jv_str(R, "", 0);
        struct sbuf b = {0};
        bool ok = sep.t == JV_STR && step(R, JL(items)->n);
        for (size_t i = 0; ok && i < JL(items)->n; i++) {
            if (i)
                ok = sb_add(R, &b, JS(sep)->s, JS(sep)->len);
            jv x = given(p[1]) && p[1].t != JV_NONE ? attr_path(R, JL(items)->v[i], p[1])
                                                   : jv_retain(JL(items)->v[i]);
            ok = ok && !R->failed && jv_str_append(R, &b, x);
            jv_release(x);
            if (ok && b.n > R->lim.max_output)
                ok = jerr(R, "string too long");
        }
        jv_release(sep);
        jv_release(items);
        if (!ok) {
            sb_free(&b);
            return JV_U;
        }
        return sb_take_str(R, &b);
    }
    case F_LIST:
        return list_of(R, v);
    case F_LOWER:
    case F_UPPER: {
        jv s = jv_to_str(R, v);
        if (s.t != JV_STR)
            return JV_U;
        jv r = map_case(R, s, id == F_UPPER);
        jv_release(s);
        return r;
    }
    case F_MAP:
        return as_gen(do_map(R, v, a));
    case F_MAX:
    case F_MIN:
        return minmax(R, v, a, id == F_MAX);
    case F_PPRINT: {
        struct sbuf b = {0};
        if (!jv_repr_append(R, &b, v)) {
            sb_free(&b);
            return JV_U;
        }
        return sb_take_str(R, &b);
    }
    case F_SELECT:
        return as_gen(select_common(R, v, a, false, true));
    case F_REJECT:
        return as_gen(select_common(R, v, a, false, false));
    case F_SELECTATTR:
        return as_gen(select_common(R, v, a, true, true));
    case F_REJECTATTR:
        return as_gen(select_common(R, v, a, true, false));
    case F_REPLACE: {
        nreq_ = 2;
        BIND("replace", "old", "new", "count");
        jv s = jv_to_str(R, v), o = jv_to_str(R, p[0]), n = jv_to_str(R, p[1]);
        jv r = JV_U;
        if (!R->failed) {
            int64_t count = given(p[2]) && p[2].t != JV_NONE ? (is_int(p[2]) ? as_i(p[2]) : -1) : -1;
            r = str_replace(R, s, o, n, count);
        }
        jv_release(s);
        jv_release(o);
        jv_release(n);
        return r;
    }
    case F_REVERSE: {
        if (v.t == JV_STR) {
            jv chars = jv_iter_list(R, v);
            if (chars.t != JV_LIST)
                return JV_U;
            struct sbuf b = {0};
            bool ok = true;
            for (size_t i = JL(chars)->n; ok && i-- > 0;)
                ok = sb_add(R, &b, JS(JL(chars)->v[i])->s, JS(JL(chars)->v[i])->len);
            jv_release(chars);
            if (!ok) {
                sb_free(&b);
                return JV_U;
            }
            return sb_take_str(R, &b);
        }
        jv items = list_of(R, v);
        if (items.t != JV_LIST)
            return JV_U;
        jv out = jv_list_new(R, JL(items)->n, false);
        for (size_t i = JL(items)->n; out.t == JV_LIST && i-- > 0;)
            if (!jv_list_push(R, out, jv_retain(JL(items)->v[i]))) {
                jv_release(out);
                out = JV_U;
                break;
            }
        jv_release(items);
        return as_gen(out);
    }
    case F_ROUND: {
        BIND("round", "precision", "method");
        return do_round(R, v, p[0], p[1]);
    }
    case F_SAFE: {
        jv s = jv_to_str(R, v);
        if (s.t == JV_STR)
            s.safe = 1;
        return s;
    }
    case F_SORT: {
        BIND("sort", "reverse", "case_sensitive", "attribute");
        jv items = list_of(R, v);
        if (items.t != JV_LIST)
            return JV_U;
        jv r = sorted_list(R, items, p[2], given(p[1]) && jv_truthy(p[1]),
                           given(p[0]) && jv_truthy(p[0]), -1);
        jv_release(items);
        return r;
    }
    case F_STRING:
        if (v.t == JV_STR)
            return jv_retain(v);
        return jv_to_str(R, v);
    case F_SUM: {
        BIND("sum", "attribute", "start");
        jv items = list_of(R, v);
        if (items.t != JV_LIST)
            return JV_U;
        jv acc = given(p[1]) ? jv_retain(p[1]) : jv_int(0);
        for (size_t i = 0; i < JL(items)->n && !R->failed; i++) {
            jv x = given(p[0]) && p[0].t != JV_NONE ? attr_path(R, JL(items)->v[i], p[0])
                                                   : jv_retain(JL(items)->v[i]);
            if (R->failed) {
                jv_release(x);
                break;
            }
            jv s;
            if (is_num(acc) && is_num(x)) {
                if (acc.t == JV_FLOAT || x.t == JV_FLOAT) {
                    s = jv_float(as_f(acc) + as_f(x));
                } else {
                    int64_t r;
                    s = __builtin_add_overflow(as_i(acc), as_i(x), &r) ? jerrv(R, "integer overflow")
                                                                       : jv_int(r);
                }
            } else {
                s = jerrv(R, "unsupported operand type(s) for +: '%s' and '%s'",
                          jv_type_name(acc), jv_type_name(x));
            }
            jv_release(x);
            jv_release(acc);
            acc = s;
        }
        jv_release(items);
        if (R->failed) {
            jv_release(acc);
            return JV_U;
        }
        return acc;
    }
    case F_TITLE: {
        jv s = jv_to_str(R, v);
        if (s.t != JV_STR)
            return JV_U;
        jv r = title_case(R, s, true);
        jv_release(s);
        return r;
    }
    case F_TOJSON:
        return do_tojson(R, v, a);
    case F_TRIM: {
        BIND("trim", "chars");
        jv s = jv_to_str(R, v);
        if (s.t != JV_STR)
            return JV_U;
        jv r = strip(R, s, 3, p[0]);
        jv_release(s);
        return r;
    }
    case F_TRUNCATE: {
        BIND("truncate", "length", "killwords", "end", "leeway");
        jv s = jv_to_str(R, v);
        if (s.t != JV_STR)
            return JV_U;
        int64_t length = given(p[0]) && is_int(p[0]) ? as_i(p[0]) : 255;
        bool kill = given(p[1]) && jv_truthy(p[1]);
        jv end = given(p[2]) && p[2].t == JV_STR ? p[2] : JV_MISS;
        const char *es = given(end) ? JS(end)->s : "...";
        size_t el = given(end) ? JS(end)->len : 3, en = given(end) ? JS(end)->ncp : 3;
        int64_t leeway = given(p[3]) && is_int(p[3]) ? as_i(p[3]) : 5;
        if (length < (int64_t)en) {
            jv_release(s);
            return jerrv(R, "expected length >= %zu, got %lld", en, (long long)length);
        }
        if ((int64_t)JS(s)->ncp <= length + leeway)
            return s;
        size_t cut = u8_offset(JS(s)->s, JS(s)->len, (size_t)(length - (int64_t)en));
        if (!kill) {
            /* rsplit(" ", 1)[0] */
            const char *sp = NULL;
            for (size_t k = cut; k-- > 0;)
                if (JS(s)->s[k] == ' ') {
                    sp = JS(s)->s + k;
                    break;
                }
            if (sp)
                cut = (size_t)(sp - JS(s)->s);
        }
        struct sbuf b = {0};
        bool ok = sb_add(R, &b, JS(s)->s, cut) && sb_add(R, &b, es, el);
        jv_release(s);
        if (!ok) {
            sb_free(&b);
            return JV_U;
        }
        return sb_take_str(R, &b);
    }
    case F_UNIQUE: {
        BIND("unique", "case_sensitive", "attribute");
        jv items = list_of(R, v);
        if (items.t != JV_LIST)
            return JV_U;
        bool cs = given(p[0]) && jv_truthy(p[0]);
        jv seen = jv_list_new(R, 0, false), out = jv_list_new(R, 0, false);
        for (size_t i = 0; out.t == JV_LIST && seen.t == JV_LIST && i < JL(items)->n && !R->failed; i++) {
            if (!step(R, JL(seen)->n / 16 + 1))
                break;
            jv it = JL(items)->v[i];
            jv k0 = given(p[1]) && p[1].t != JV_NONE ? attr_path(R, it, p[1]) : jv_retain(it);
            jv k = R->failed ? JV_U : lower_key(R, k0, cs);
            jv_release(k0);
            if (R->failed) {
                jv_release(k);
                break;
            }
            if ((k.t == JV_LIST && !JL(k)->tuple) || k.t == JV_DICT || k.t == JV_NS) {
                jerr(R, "unhashable type: '%s'", jv_type_name(k));
                jv_release(k);
                break;
            }
            int c = jv_contains(R, seen, k);
            if (c == 0) {
                jv_list_push(R, seen, k);
                jv_list_push(R, out, jv_retain(it));
            } else {
                jv_release(k);
            }
        }
        jv_release(seen);
        jv_release(items);
        if (R->failed) {
            jv_release(out);
            return JV_U;
        }
        return out;
    }
    case F_WORDCOUNT: {
        jv s = jv_to_str(R, v);
        if (s.t != JV_STR)
            return JV_U;
        int64_t n = 0;
        bool in = false;
        const char *p = JS(s)->s;
        size_t len = JS(s)->len, i = 0;
        while (i < len) {
            size_t k;
            uint32_t cp = utf8_decode(p + i, len - i, &k);
            bool w = cp == '_' || (unicode_flags(cp) & (UCAT_LETTER | UCAT_NUMBER));
            if (w && !in)
                n++;
            in = w;
            i += k;
        }
        jv_release(s);
        return jv_int(n);
    }
    case F_STRIPTAGS: {
        jv s = jv_to_str(R, v);
        if (s.t != JV_STR)
            return JV_U;
        /* remove <...> tags, then collapse whitespace */
        struct sbuf b = {0};
        const char *p = JS(s)->s;
        size_t len = JS(s)->len;
        bool ok = true, space = false, any = false;
        for (size_t i = 0; ok && i < len;) {
            if (p[i] == '<') {
                const char *e = memchr(p + i, '>', len - i);
                if (e) {
                    i = (size_t)(e - p) + 1;
                    continue;
                }
            }
            size_t k;
            uint32_t cp = utf8_decode(p + i, len - i, &k);
            if (py_isspace(cp)) {
                space = any;
            } else {
                if (space)
                    ok = sb_addc(R, &b, ' ');
                space = false;
                any = true;
                ok = ok && sb_add(R, &b, p + i, k);
            }
            i += k;
        }
        jv_release(s);
        if (!ok) {
            sb_free(&b);
            return JV_U;
        }
        return sb_take_str(R, &b);
    }
    default:
        return jerrv(R, "No filter named '%s'", name ? name : "?");
    }
}

/* ---- tests --------------------------------------------------------------------------------- */

int call_test(struct render *R, int id, const char *name, jv v, const struct args *a)
{
    if (!step(R, 1))
        return -1;
    jv arg = a->npos ? a->pos[0] : (a->nkw ? a->kwv[0] : JV_MISS);
    switch (id) {
    case TT_DEFINED: return v.t != JV_UNDEF;
    case TT_UNDEFINED: return v.t == JV_UNDEF;
    case TT_NONE: return v.t == JV_NONE;
    case TT_BOOLEAN: return v.t == JV_BOOL;
    case TT_FALSE: return v.t == JV_BOOL && !v.u.b;
    case TT_TRUE: return v.t == JV_BOOL && v.u.b;
    case TT_INTEGER: return v.t == JV_INT;
    case TT_FLOATT: return v.t == JV_FLOAT;
    case TT_NUMBER: return is_num(v);
    case TT_STRING: return v.t == JV_STR;
    case TT_MAPPING: return v.t == JV_DICT;
    case TT_ITERABLE:
        return v.t == JV_STR || v.t == JV_LIST || v.t == JV_DICT || v.t == JV_UNDEF || v.t == JV_LOOP;
    case TT_SEQUENCE:
        return v.t == JV_STR || v.t == JV_LIST || v.t == JV_DICT || v.t == JV_UNDEF;
    case TT_CALLABLE: return v.t == JV_FUNC || v.t == JV_MACRO || v.t == JV_LOOP;
    case TT_SAMEAS:
        if (!given(arg))
            return jerr(R, "sameas() missing required argument"), -1;
        if (v.t != arg.t)
            return is_int(v) && is_int(arg) && v.t == arg.t;
        switch (v.t) {
        case JV_NONE: case JV_UNDEF: return v.t == JV_NONE || v.u.o == arg.u.o;
        case JV_BOOL: return v.u.b == arg.u.b;
        case JV_INT: return v.u.i == arg.u.i && v.u.i >= -5 && v.u.i <= 256;
        case JV_FLOAT: return 0;
        default: return v.u.o == arg.u.o;
        }
    case TT_ESCAPED: return v.t == JV_STR && v.safe;
    case TT_EVEN:
    case TT_ODD:
    case TT_DIVISIBLEBY: {
        jv d = id == TT_DIVISIBLEBY ? arg : jv_int(2);
        if (!given(d))
            return jerr(R, "divisibleby() missing required argument 'num'"), -1;
        if (v.t == JV_UNDEF)
            return undef_err(R, v), -1;
        if (!is_num(v) || !is_num(d))
            return jerr(R, "unsupported operand type(s) for %%: '%s' and '%s'", jv_type_name(v),
                        jv_type_name(d)), -1;
        /* value % num == 0 (odd: value % 2 == 1), with Python's modulo */
        double m;
        if (v.t == JV_FLOAT || d.t == JV_FLOAT) {
            double x = as_f(v), y = as_f(d);
            if (y == 0)
                return jerr(R, "float modulo"), -1;
            m = fmod(x, y);
            if (m != 0 && ((m < 0) != (y < 0)))
                m += y;
        } else {
            int64_t x = as_i(v), y = as_i(d);
            if (y == 0)
                return jerr(R, "integer division or modulo by zero"), -1;
            int64_t r = y == -1 ? 0 : x % y;
            if (r != 0 && ((r < 0) != (y < 0)))
                r += y;
            m = (double)r;
        }
        return id == TT_ODD ? m == 1 : m == 0;
    }
    case TT_EQ: case TT_NE: case TT_LT: case TT_LE: case TT_GT: case TT_GE: case TT_IN: {
        if (!given(arg))
            return jerr(R, "test '%s' requires an argument", name), -1;
        static const int ops[] = {[TT_EQ] = OP_EQ, [TT_NE] = OP_NE, [TT_LT] = OP_LT, [TT_LE] = OP_LE,
                                  [TT_GT] = OP_GT, [TT_GE] = OP_GE, [TT_IN] = OP_IN};
        return jv_compare_op(R, ops[id], v, arg);
    }
    case TT_LOWER:
    case TT_UPPER: {
        /* str(value).islower() */
        jv sv = jv_to_str(R, v);
        if (sv.t != JV_STR)
            return -1;
        bool cased = false;
        const char *p = JS(sv)->s;
        size_t len = JS(sv)->len, i = 0;
        int r = -2;
        while (i < len) {
            size_t k;
            unsigned f = unicode_flags(utf8_decode(p + i, len - i, &k));
            i += k;
            if (f & (id == TT_LOWER ? (UCAT_UPPER | UCAT_TITLE) : (UCAT_LOWER | UCAT_TITLE))) {
                r = 0;
                break;
            }
            if (f & (id == TT_LOWER ? UCAT_LOWER : UCAT_UPPER))
                cased = true;
        }
        jv_release(sv);
        return r == 0 ? 0 : cased;
    }
    case TT_FILTER:
        return v.t == JV_STR && builtin_filter_id(JS(v)->s, JS(v)->len) >= 0;
    case TT_TEST:
        return v.t == JV_STR && builtin_test_id(JS(v)->s, JS(v)->len) >= 0;
    default:
        jerr(R, "No test named '%s'", name ? name : "?");
        return -1;
    }
}

/* ---- callables ------------------------------------------------------------------------------- */

static jv do_range(struct render *R, const struct args *a)
{
    if (a->nkw)
        return jerrv(R, "range() takes no keyword arguments");
    int64_t start = 0, stop, stp = 1;
    for (size_t i = 0; i < a->npos; i++)
        if (!is_int(a->pos[i]))
            return jerrv(R, "'%s' object cannot be interpreted as an integer", jv_type_name(a->pos[i]));
    if (a->npos == 1) {
        stop = as_i(a->pos[0]);
    } else if (a->npos == 2 || a->npos == 3) {
        start = as_i(a->pos[0]);
        stop = as_i(a->pos[1]);
        if (a->npos == 3)
            stp = as_i(a->pos[2]);
    } else {
        return jerrv(R, "range expected 1 to 3 arguments, got %zu", a->npos);
    }
    if (stp == 0)
        return jerrv(R, "range() arg 3 must not be zero");
    int64_t n = 0;
    if (stp > 0 && stop > start)
        n = (int64_t)(((__int128)stop - start + stp - 1) / stp);
    else if (stp < 0 && stop < start)
        n = (int64_t)(((__int128)start - stop - stp - 1) / -stp);
    if (n > 100000)
        return jerrv(R, "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
    if (!step(R, (uint64_t)n))
        return JV_U;
    jv l = jv_list_new(R, (size_t)n, false);
    for (int64_t i = 0; l.t == JV_LIST && i < n; i++)
        if (!jv_list_push(R, l, jv_int(start + i * stp))) {
            jv_release(l);
            return JV_U;
        }
    return l;
}

/* dict(*args, **kwargs) into d */
static bool fill_dict(struct render *R, jv d, const struct args *a, const char *fname)
{
    if (a->npos > 1)
        return jerr(R, "%s expected at most 1 argument, got %zu", fname, a->npos);
    if (a->npos == 1) {
        jv src = a->pos[0];
        if (src.t == JV_DICT || src.t == JV_NS) {
            for (size_t i = 0; i < JD(src)->n; i++)
                if (!jv_dict_set(R, d, jv_retain(JD(src)->k[i]), jv_retain(JD(src)->v[i])))
                    return false;
        } else if (src.t == JV_LIST) {
            for (size_t i = 0; i < JL(src)->n; i++) {
                jv pr = JL(src)->v[i];
                if (pr.t != JV_LIST || JL(pr)->n != 2)
                    return jerr(R, "dictionary update sequence element #%zu has the wrong length", i);
                if (!jv_dict_set(R, d, jv_retain(JL(pr)->v[0]), jv_retain(JL(pr)->v[1])))
                    return false;
            }
        } else if (src.t != JV_UNDEF) {
            return jerr(R, "'%s' object is not iterable", jv_type_name(src));
        }
    }
    for (size_t k = 0; k < a->nkw; k++) {
        jv key = jv_str(R, a->kwn[k], a->kwl[k]);
        if (key.t != JV_STR || !jv_dict_set(R, d, key, jv_retain(a->kwv[k])))
            return false;
    }
    return true;
}

static jv do_strftime(struct render *R, const struct args *a)
{
    static const char *const params[] = {"format"};
    jv p[1];
    if (!bind_args(R, a, "strftime_now", params, 1, 1, p))
        return JV_U;
    if (p[0].t != JV_STR)
        return jerrv(R, "strftime_now: format must be a string");
    struct tm tm;
    time_t t;
    if (R->now) {
        t = (time_t)R->now;
        gmtime_r(&t, &tm);
    } else {
        t = time(NULL);
        localtime_r(&t, &tm);
    }
    char buf[1024];
    size_t n = JS(p[0])->len ? strftime(buf, sizeof(buf), JS(p[0])->s, &tm) : 0;
    if (n == 0 && JS(p[0])->len)
        return jerrv(R, "strftime_now: the formatted date is too long");
    return jv_str(R, buf, n);
}

jv call_func(struct render *R, jv fn, const struct args *a)
{
    struct jfunc *f = (struct jfunc *)fn.u.o;
    jv self = f->self;
    size_t nreq_ = 0;
    if (!step(R, 1))
        return JV_U;
    switch (f->id) {
    case G_RANGE:
        return do_range(R, a);
    case G_NAMESPACE: {
        jv ns = jv_ns_new(R);
        if (ns.t != JV_NS)
            return JV_U;
        if (!register_namespace(R, ns) || !fill_dict(R, ns, a, "namespace")) {
            jv_release(ns);
            return JV_U;
        }
        return ns;
    }
    case G_DICT: {
        jv d = jv_dict_new(R, 0);
        if (d.t != JV_DICT)
            return JV_U;
        if (!fill_dict(R, d, a, "dict")) {
            jv_release(d);
            return JV_U;
        }
        return d;
    }
    case G_RAISE: {
        if (a->npos < 1)
            return jerrv(R, "raise_exception() called");
        struct sbuf b = {0};
        jv_str_append(R, &b, a->pos[0]);
        jerr(R, "%s", b.p ? b.p : "");
        sb_free(&b);
        return JV_U;
    }
    case G_STRFTIME:
        return do_strftime(R, a);
    case G_JOINER: {
        BIND("joiner", "sep");
        jv sep = given(p[0]) ? jv_retain(p[0]) : jv_str(R, ", ", 2);
        return make_func(R, G_JOINER_CALL, sep);
    }
    case G_JOINER_CALL:
        if (f->state == 0) {
            f->state = 1;
            return jv_str(R, "", 0);
        }
        return jv_retain(self);

    /* ---- str methods ---- */
    case S_CAPITALIZE:
        return capitalize(R, self);
    case S_LOWER:
        return map_case(R, self, 0);
    case S_UPPER:
        return map_case(R, self, 1);
    case S_SWAPCASE:
        return map_case(R, self, 2);
    case S_CASEFOLD:
        return map_case(R, self, 0);
    case S_TITLE:
        return title_case(R, self, false);
    case S_STRIP:
    case S_LSTRIP:
    case S_RSTRIP: {
        BIND("strip", "chars");
        return strip(R, self, f->id == S_STRIP ? 3 : f->id == S_LSTRIP ? 1 : 2, p[0]);
    }
    case S_SPLIT:
    case S_RSPLIT: {
        BIND("split", "sep", "maxsplit");
        return str_split(R, self, p[0], p[1], f->id == S_RSPLIT);
    }
    case S_SPLITLINES: {
        BIND("splitlines", "keepends");
        return splitlines(R, self, given(p[0]) && jv_truthy(p[0]));
    }
    case S_STARTSWITH:
    case S_ENDSWITH: {
        nreq_ = 1;
        BIND("startswith", "prefix", "start", "end");
        jv s = self;
        jv sub = JV_U;
        if (given(p[1]) || given(p[2])) {
            sub = jv_slice(R, self, given(p[1]) ? p[1] : JV_NONEV, given(p[2]) ? p[2] : JV_NONEV, JV_NONEV);
            if (R->failed)
                return JV_U;
            s = sub;
        }
        int r = -1;
        if (p[0].t == JV_STR) {
            r = str_starts(s, p[0], f->id == S_ENDSWITH);
        } else if (p[0].t == JV_LIST && JL(p[0])->tuple) {
            r = 0;
            for (size_t i = 0; i < JL(p[0])->n; i++) {
                if (JL(p[0])->v[i].t != JV_STR) {
                    r = -1;
                    break;
                }
                if (str_starts(s, JL(p[0])->v[i], f->id == S_ENDSWITH)) {
                    r = 1;
                    break;
                }
            }
        }
        jv_release(sub);
        if (r < 0)
            return jerrv(R, "%s first arg must be str or a tuple of str, not %s",
                         f->id == S_ENDSWITH ? "endswith" : "startswith", jv_type_name(p[0]));
        return jv_bool(r);
    }
    case S_FIND:
    case S_RFIND:
    case S_INDEX:
    case S_COUNT: {
        nreq_ = 1;
        BIND("find", "sub", "start", "end");
        if (p[0].t != JV_STR)
            return jerrv(R, "must be str, not %s", jv_type_name(p[0]));
        int64_t off = 0;
        jv s = jv_retain(self);
        if (given(p[1]) || given(p[2])) {
            jv_release(s);
            s = jv_slice(R, self, given(p[1]) ? p[1] : JV_NONEV, given(p[2]) ? p[2] : JV_NONEV, JV_NONEV);
            if (R->failed)
                return JV_U;
            if (given(p[1]) && is_int(p[1])) {
                int64_t st = as_i(p[1]), n = (int64_t)JS(self)->ncp;
                if (st < 0)
                    st += n;
                off = st < 0 ? 0 : st > n ? n : st;
            }
        }
        jv r;
        if (f->id == S_COUNT) {
            int64_t c = 0;
            if (JS(p[0])->len == 0) {
                c = (int64_t)JS(s)->ncp + 1;
            } else {
                const char *q = JS(s)->s;
                size_t len = JS(s)->len;
                for (;;) {
                    const char *h = memmem(q, len - (size_t)(q - JS(s)->s), JS(p[0])->s, JS(p[0])->len);
                    if (!h)
                        break;
                    c++;
                    q = h + JS(p[0])->len;
                }
            }
            r = jv_int(c);
        } else {
            int64_t i = str_find(s, p[0], f->id == S_RFIND);
            if (i < 0 && f->id == S_INDEX)
                r = jerrv(R, "substring not found");
            else
                r = jv_int(i < 0 ? -1 : i + off);
        }
        jv_release(s);
        return r;
    }
    case S_REPLACE: {
        nreq_ = 2;
        BIND("replace", "old", "new", "count");
        if (p[0].t != JV_STR || p[1].t != JV_STR)
            return jerrv(R, "replace() arguments must be str");
        int64_t count = given(p[2]) && is_int(p[2]) ? as_i(p[2]) : -1;
        jv r = str_replace(R, self, p[0], p[1], count);
        if (r.t == JV_STR)
            r.safe = self.safe;
        return r;
    }
    case S_JOIN: {
        nreq_ = 1;
        BIND("join", "iterable");
        jv items = list_of(R, p[0]);
        if (items.t != JV_LIST)
            return JV_U;
        struct sbuf b = {0};
        bool ok = step(R, JL(items)->n);
        for (size_t i = 0; ok && i < JL(items)->n; i++) {
            jv x = JL(items)->v[i];
            if (x.t != JV_STR) {
                ok = jerr(R, "sequence item %zu: expected str instance, %s found", i, jv_type_name(x));
                break;
            }
            if (i)
                ok = sb_add(R, &b, JS(self)->s, JS(self)->len);
            ok = ok && sb_add(R, &b, JS(x)->s, JS(x)->len);
            if (ok && b.n > R->lim.max_output)
                ok = jerr(R, "string too long");
        }
        jv_release(items);
        if (!ok) {
            sb_free(&b);
            return JV_U;
        }
        return sb_take_str(R, &b);
    }
    case S_FORMAT:
        return str_format(R, self, a);
    case S_CENTER:
    case S_LJUST:
    case S_RJUST: {
        nreq_ = 1;
        BIND("center", "width", "fillchar");
        if (!is_int(p[0]))
            return jerrv(R, "'%s' object cannot be interpreted as an integer", jv_type_name(p[0]));
        return pad(R, self, as_i(p[0]), p[1], f->id == S_CENTER ? 0 : f->id == S_LJUST ? 1 : 2);
    }
    case S_ZFILL: {
        nreq_ = 1;
        BIND("zfill", "width");
        if (!is_int(p[0]))
            return jerrv(R, "'%s' object cannot be interpreted as an integer", jv_type_name(p[0]));
        int64_t w = as_i(p[0]), n = (int64_t)JS(self)->ncp;
        if (w <= n)
            return jv_retain(self);
        if (w > (int64_t)R->lim.max_output)
            return jerrv(R, "string too long");
        struct sbuf b = {0};
        const char *s = JS(self)->s;
        size_t len = JS(self)->len, i = 0;
        bool ok = true;
        if (len && (s[0] == '+' || s[0] == '-')) {
            ok = sb_addc(R, &b, s[0]);
            i = 1;
        }
        for (int64_t k = 0; ok && k < w - n; k++)
            ok = sb_addc(R, &b, '0');
        ok = ok && sb_add(R, &b, s + i, len - i);
        if (!ok) {
            sb_free(&b);
            return JV_U;
        }
        return sb_take_str(R, &b);
    }
    case S_REMOVEPREFIX:
    case S_REMOVESUFFIX: {
        nreq_ = 1;
        BIND("removeprefix", "prefix");
        if (p[0].t != JV_STR)
            return jerrv(R, "removeprefix() argument must be str");
        bool suf = f->id == S_REMOVESUFFIX;
        if (!str_starts(self, p[0], suf))
            return jv_retain(self);
        size_t pl = JS(p[0])->len;
        jv r = strv(R, JS(self)->s + (suf ? 0 : pl), JS(self)->len - pl);
        r.safe = self.safe;
        return r;
    }
    case S_ISALNUM: case S_ISALPHA: case S_ISDIGIT: case S_ISSPACE: case S_ISLOWER:
    case S_ISUPPER: case S_ISNUMERIC: case S_ISDECIMAL: {
        const char *s = JS(self)->s;
        size_t len = JS(self)->len, i = 0;
        if (len == 0)
            return jv_bool(false);
        if (f->id == S_ISLOWER || f->id == S_ISUPPER) {
            struct args none = {0};
            int r = call_test(R, f->id == S_ISLOWER ? TT_LOWER : TT_UPPER, NULL, self, &none);
            return r < 0 ? JV_U : jv_bool(r);
        }
        while (i < len) {
            size_t k;
            uint32_t cp = utf8_decode(s + i, len - i, &k);
            unsigned fl = unicode_flags(cp);
            bool ok;
            switch (f->id) {
            case S_ISALNUM: ok = (fl & (UCAT_LETTER | UCAT_NUMBER)) != 0; break;
            case S_ISALPHA: ok = (fl & UCAT_LETTER) != 0; break;
            case S_ISSPACE: ok = py_isspace(cp); break;
            case S_ISNUMERIC: ok = (fl & UCAT_NUMBER) != 0; break;
            default: ok = (fl & UCAT_NUMBER_DECIMAL) != 0; break;
            }
            if (!ok)
                return jv_bool(false);
            i += k;
        }
        return jv_bool(true);
    }

    /* ---- dict methods ---- */
    case D_GET: {
        nreq_ = 1;
        BIND("get", "key", "default");
        jv v = jv_dict_get(self, p[0]);
        if (given(v))
            return jv_retain(v);
        return given(p[1]) ? jv_retain(p[1]) : JV_NONEV;
    }
    case D_ITEMS: {
        struct args none = {0};
        jv l = call_filter(R, F_ITEMS, "items", self, &none);
        if (l.t == JV_LIST)
            JL(l)->gen = false; /* a dict view: false when empty */
        return l;
    }
    case D_KEYS:
    case D_VALUES: {
        jv l = jv_list_new(R, JD(self)->n, false);
        for (size_t i = 0; l.t == JV_LIST && i < JD(self)->n; i++)
            if (!jv_list_push(R, l, jv_retain(f->id == D_KEYS ? JD(self)->k[i] : JD(self)->v[i]))) {
                jv_release(l);
                return JV_U;
            }
        return l;
    }
    case D_COPY: {
        jv d = jv_dict_new(R, JD(self)->n);
        for (size_t i = 0; d.t == JV_DICT && i < JD(self)->n; i++)
            if (!jv_dict_set(R, d, jv_retain(JD(self)->k[i]), jv_retain(JD(self)->v[i]))) {
                jv_release(d);
                return JV_U;
            }
        return d;
    }

    /* ---- list methods ---- */
    case L_INDEX:
    case L_COUNT: {
        nreq_ = 1;
        BIND("index", "value");
        int64_t c = 0;
        for (size_t i = 0; i < JL(self)->n; i++)
            if (jv_equal(JL(self)->v[i], p[0])) {
                if (f->id == L_INDEX)
                    return jv_int((int64_t)i);
                c++;
            }
        if (f->id == L_INDEX)
            return jerrv(R, "value is not in list");
        return jv_int(c);
    }
    case L_COPY:
        return list_of(R, self);

    /* ---- loop ---- */
    case LP_CYCLE: {
        if (a->npos == 0)
            return jerrv(R, "no items for cycling given");
        struct jloop *l = (struct jloop *)self.u.o;
        return jv_retain(a->pos[l->index0 % a->npos]);
    }
    case LP_CHANGED: {
        struct jloop *l = (struct jloop *)self.u.o;
        jv t = jv_list_new(R, a->npos, true);
        for (size_t i = 0; t.t == JV_LIST && i < a->npos; i++)
            jv_list_push(R, t, jv_retain(a->pos[i]));
        if (R->failed) {
            jv_release(t);
            return JV_U;
        }
        if (l->has_last && jv_equal(l->last, t)) {
            jv_release(t);
            return jv_bool(false);
        }
        if (l->has_last)
            jv_release(l->last);
        l->last = t;
        l->has_last = true;
        return jv_bool(true);
    }
    default:
        return jerrv(R, "internal error: unknown function %d", f->id);
    }
}
