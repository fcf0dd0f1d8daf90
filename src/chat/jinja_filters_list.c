/*
 * jinja_filters_list.c - the filters over sequences: sorting (|sort, |dictsort,
 * |unique; case-insensitive by default), select/reject(attr), map,
 * min/max, length, and lists out of any iterable.
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

/* ---- sorting ----------------------------------------------------------------------------- */

struct sort_item {
    jv key;   /* compared */
    jv val;   /* kept */
};

jv jinja_lower_key(struct render *R, jv v, bool case_sensitive)
{
    if (!case_sensitive && v.t == JV_STR)
        return jinja_map_case(R, v, 0);
    return jinja_jv_retain(v);
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
        int c = reverse ? jinja_jv_compare(R, a[i].key, a[j].key, &ok) : jinja_jv_compare(R, a[j].key, a[i].key, &ok);
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
jv jinja_sorted_list(struct render *R, jv items, jv attribute, bool case_sensitive, bool reverse,
                      int dict_by /* -1 not dictsort, 0 key, 1 value */)
{
    size_t n = JL(items)->n;
    if (!step(R, n + 1))
        return JV_U;
    struct sort_item *a = calloc(n ? n : 1, sizeof(*a)), *tmp = calloc(n ? n : 1, sizeof(*a));
    if (a == NULL || tmp == NULL) {
        free(a);
        free(tmp);
        return jinja_errv(R, "out of memory");
    }
    size_t made = 0;
    for (; made < n && !R->failed; made++) {
        jv it = JL(items)->v[made];
        jv k;
        if (dict_by >= 0)
            k = jinja_jv_retain(JL(it)->v[dict_by]);
        else if (given(attribute) && attribute.t != JV_NONE)
            k = jinja_attr_path(R, it, attribute);
        else
            k = jinja_jv_retain(it);
        jv lk = R->failed ? JV_U : jinja_lower_key(R, k, case_sensitive);
        jinja_jv_release(k);
        a[made].key = lk;
        a[made].val = it;
    }
    if (!R->failed)
        merge_sort(R, a, tmp, n, reverse);
    jv out = R->failed ? JV_U : jinja_jv_list_new(R, n, false);
    for (size_t i = 0; i < made; i++) {
        if (out.t == JV_LIST && !R->failed)
            jinja_jv_list_push(R, out, jinja_jv_retain(a[i].val));
        jinja_jv_release(a[i].key);
    }
    free(a);
    free(tmp);
    if (R->failed) {
        jinja_jv_release(out);
        return JV_U;
    }
    return out;
}

jv jinja_list_of(struct render *R, jv v)
{
    jv l = jinja_jv_iter_list(R, v);
    if (l.t == JV_LIST && (JL(l)->tuple || JL(l)->gen)) {
        jv c = jinja_jv_list_new(R, JL(l)->n, false);
        for (size_t i = 0; c.t == JV_LIST && i < JL(l)->n; i++)
            if (!jinja_jv_list_push(R, c, jinja_jv_retain(JL(l)->v[i]))) {
                jinja_jv_release(c);
                c = JV_U;
                break;
            }
        jinja_jv_release(l);
        return c;
    }
    return l;
}

jv jinja_select_common(struct render *R, jv v, const struct args *a, bool attr, bool want)
{
    /* select(test, *args) / selectattr(attr, test, *args) */
    size_t off = attr ? 1 : 0;
    if (!jinja_jv_truthy(v))
        return jinja_jv_list_new(R, 0, false);
    if (attr && a->npos < 1)
        return jinja_errv(R, "Missing parameter for attribute name");
    jv items = jinja_list_of(R, v);
    if (items.t != JV_LIST)
        return JV_U;
    jv out = jinja_jv_list_new(R, 0, false);
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
        jinja_jv_release(items);
        jinja_jv_release(out);
        return jinja_errv(R, "test name must be a string");
    }
    for (size_t i = 0; out.t == JV_LIST && i < JL(items)->n && !R->failed; i++) {
        if (!step(R, 1))
            break;
        jv it = JL(items)->v[i];
        jv x = attr ? jinja_attr_path(R, it, a->pos[0]) : jinja_jv_retain(it);
        if (R->failed) {
            jinja_jv_release(x);
            break;
        }
        int t;
        if (given(testname))
            t = jinja_apply_test(R, JS(testname)->s, JS(testname)->len, x, &ta);
        else
            t = jinja_jv_truthy(x);
        jinja_jv_release(x);
        if (t < 0)
            break;
        if ((t != 0) == want)
            jinja_jv_list_push(R, out, jinja_jv_retain(it));
    }
    return jinja_list_done(R, items, out);
}

jv jinja_map(struct render *R, jv v, const struct args *a)
{
    if (!jinja_jv_truthy(v))
        return jinja_jv_list_new(R, 0, false);
    jv items = jinja_list_of(R, v);
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
        jinja_jv_release(items);
        return jinja_errv(R, "map requires a filter argument");
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
            jinja_jv_release(items);
            return jinja_errv(R, "map: filter name must be a string");
        }
    }
    jv out = jinja_jv_list_new(R, JL(items)->n, false);
    for (size_t i = 0; out.t == JV_LIST && i < JL(items)->n && !R->failed; i++) {
        if (!step(R, 1))
            break;
        jv it = JL(items)->v[i];
        jv x;
        if (by_attr) {
            x = jinja_attr_path(R, it, attribute);
            if (x.t == JV_UNDEF && given(deflt)) {
                jinja_jv_release(x);
                x = jinja_jv_retain(deflt);
            }
        } else {
            x = jinja_apply_filter(R, JS(a->pos[0])->s, JS(a->pos[0])->len, it, &fa);
        }
        if (R->failed) {
            jinja_jv_release(x);
            break;
        }
        jinja_jv_list_push(R, out, x);
    }
    return jinja_list_done(R, items, out);
}

int64_t jinja_length_of(struct render *R, jv v, bool *ok)
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
        jinja_err(R, "object of type '%s' has no len()", jinja_jv_type_name(v));
        return 0;
    }
}

jv jinja_minmax(struct render *R, jv v, const struct args *a, bool want_max)
{
    static const char *const params[] = {"case_sensitive", "attribute"};
    jv p[2];
    if (!jinja_bind_args(R, a, want_max ? "max" : "min", params, 2, 0, p))
        return JV_U;
    jv items = jinja_list_of(R, v);
    if (items.t != JV_LIST)
        return JV_U;
    bool cs = given(p[0]) && jinja_jv_truthy(p[0]);
    jv best = JV_MISS, bestk = JV_MISS;
    for (size_t i = 0; i < JL(items)->n && !R->failed; i++) {
        jv it = JL(items)->v[i];
        jv k0 = given(p[1]) && p[1].t != JV_NONE ? jinja_attr_path(R, it, p[1]) : jinja_jv_retain(it);
        jv k = R->failed ? JV_U : jinja_lower_key(R, k0, cs);
        jinja_jv_release(k0);
        if (R->failed) {
            jinja_jv_release(k);
            break;
        }
        bool ok = true;
        if (!given(best) || (want_max ? jinja_jv_compare(R, k, bestk, &ok) > 0 : jinja_jv_compare(R, k, bestk, &ok) < 0)) {
            if (ok) {
                best = it;
                jinja_jv_release(bestk);
                bestk = k;
                continue;
            }
        }
        jinja_jv_release(k);
    }
    jv r = given(best) && !R->failed ? jinja_jv_retain(best) : JV_U;
    if (given(bestk))
        jinja_jv_release(bestk);
    jinja_jv_release(items);
    return R->failed ? JV_U : r;
}

/* jinja2 returns generators from these filters: always true, even when empty */
jv jinja_as_gen(jv l)
{
    if (l.t == JV_LIST && l.u.o->rc == 1)
        JL(l)->gen = true;
    return l;
}
