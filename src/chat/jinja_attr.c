/*
 * jinja_attr.c - attribute and item access: obj.name (the loop variable's
 * attributes, bound methods of str/dict/list, the sandbox's refusals) and
 * obj[key], and the attribute paths of map/selectattr/sort ("a.b.0").
 * Part of jinja2's built-ins (jinja_builtins_impl.h); each follows what
 * Python's jinja2 3.1 does, quirks included.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/unicode.h"
#include "chat/jinja_builtins_impl.h"

/* ---- attribute access ---------------------------------------------------------------- */

static const char *const list_unsafe[] = {"append", "clear", "extend", "insert", "pop",
                                          "remove", "reverse", "sort", NULL};

static const char *const dict_unsafe[] = {"clear", "pop", "popitem", "setdefault", "update", NULL};

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

static jv method(struct render *R, jv obj, int id)
{
    return jinja_make_func(R, id, jinja_jv_retain(obj));
}

static bool in_list(const char *name, size_t len, const char *const *names)
{
    for (size_t i = 0; names[i]; i++)
        if (name_is(name, len, names[i]))
            return true;
    return false;
}

jv jinja_loop_attr(struct render *R, jv loop, const char *name, size_t len)
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
        return i > 0 ? jinja_jv_retain(JL(l->items)->v[i - 1]) : JV_U;
    if (name_is(name, len, "nextitem"))
        return i + 1 < n ? jinja_jv_retain(JL(l->items)->v[i + 1]) : JV_U;
    if (name_is(name, len, "cycle"))
        return method(R, loop, LP_CYCLE);
    if (name_is(name, len, "changed"))
        return method(R, loop, LP_CHANGED);
    return JV_U;
}

jv jinja_get_attr(struct render *R, jv obj, const char *name, size_t len)
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
        jv v = jinja_jv_dict_get_str(obj, name, len);
        return given(v) ? jinja_jv_retain(v) : JV_U;
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
        jv v = jinja_jv_dict_get_str(obj, name, len);
        return given(v) ? jinja_jv_retain(v) : JV_U;
    }
    case JV_LOOP:
        return jinja_loop_attr(R, obj, name, len);
    case JV_UNDEF:
        return undef_err(R, obj);
    default:
        return JV_U;
    }
}

jv jinja_get_item(struct render *R, jv obj, jv key)
{
    switch (obj.t) {
    case JV_DICT: {
        jv v = jinja_jv_dict_get(obj, key);
        if (given(v))
            return jinja_jv_retain(v);
        break;
    }
    case JV_LIST:
        if (is_int(key)) {
            int64_t i = as_i(key), n = (int64_t)JL(obj)->n;
            if (i < 0)
                i += n;
            if (i < 0 || i >= n)
                return JV_U;
            return jinja_jv_retain(JL(obj)->v[i]);
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
            size_t len = JS(obj)->len, a = utf8_offset(s, len, (size_t)i), b = a + 1;
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
        return jinja_get_attr(R, obj, JS(key)->s, JS(key)->len);
    return JV_U;
}

/* The attribute path of map/selectattr/sort/...: "a.b.0" through getitem. */
jv jinja_attr_path(struct render *R, jv item, jv attr)
{
    if (is_int(attr))
        return jinja_get_item(R, item, attr);
    if (attr.t != JV_STR)
        return jinja_get_item(R, item, attr);
    const char *p = JS(attr)->s;
    size_t len = JS(attr)->len, i = 0;
    jv cur = jinja_jv_retain(item);
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
            jinja_jv_release(cur);
            return JV_U;
        }
        jv next = cur.t == JV_UNDEF ? JV_U : jinja_get_item(R, cur, key);
        jinja_jv_release(key);
        jinja_jv_release(cur);
        cur = next;
        if (R->failed)
            return JV_U;
        if (j >= len)
            return cur;
        i = j + 1;
    }
}
