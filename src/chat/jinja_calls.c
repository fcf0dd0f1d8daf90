/*
 * jinja_calls.c - callables: the globals (range, namespace, dict, joiner,
 * raise_exception, strftime_now) and the methods of str, dict and list.
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

/* ---- callables ------------------------------------------------------------------------------- */

static jv do_range(struct render *R, const struct args *a)
{
    if (a->nkw)
        return jinja_errv(R, "range() takes no keyword arguments");
    int64_t start = 0, stop, stp = 1;
    for (size_t i = 0; i < a->npos; i++)
        if (!is_int(a->pos[i]))
            return jinja_errv(R, "'%s' object cannot be interpreted as an integer", jinja_jv_type_name(a->pos[i]));
    if (a->npos == 1) {
        stop = as_i(a->pos[0]);
    } else if (a->npos == 2 || a->npos == 3) {
        start = as_i(a->pos[0]);
        stop = as_i(a->pos[1]);
        if (a->npos == 3)
            stp = as_i(a->pos[2]);
    } else {
        return jinja_errv(R, "range expected 1 to 3 arguments, got %zu", a->npos);
    }
    if (stp == 0)
        return jinja_errv(R, "range() arg 3 must not be zero");
    int64_t n = 0;
    if (stp > 0 && stop > start)
        n = (int64_t)(((__int128)stop - start + stp - 1) / stp);
    else if (stp < 0 && stop < start)
        n = (int64_t)(((__int128)start - stop - stp - 1) / -stp);
    if (n > 100000)
        return jinja_errv(R, "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
    if (!step(R, (uint64_t)n))
        return JV_U;
    jv l = jinja_jv_list_new(R, (size_t)n, false);
    for (int64_t i = 0; l.t == JV_LIST && i < n; i++)
        if (!jinja_jv_list_push(R, l, jv_int(start + i * stp))) {
            jinja_jv_release(l);
            return JV_U;
        }
    return l;
}

/* dict(*args, **kwargs) into d */
static bool fill_dict(struct render *R, jv d, const struct args *a, const char *fname)
{
    if (a->npos > 1)
        return jinja_err(R, "%s expected at most 1 argument, got %zu", fname, a->npos);
    if (a->npos == 1) {
        jv src = a->pos[0];
        if (src.t == JV_DICT || src.t == JV_NS) {
            for (size_t i = 0; i < JD(src)->n; i++)
                if (!jinja_jv_dict_set(R, d, jinja_jv_retain(JD(src)->k[i]), jinja_jv_retain(JD(src)->v[i])))
                    return false;
        } else if (src.t == JV_LIST) {
            for (size_t i = 0; i < JL(src)->n; i++) {
                jv pr = JL(src)->v[i];
                if (pr.t != JV_LIST || JL(pr)->n != 2)
                    return jinja_err(R, "dictionary update sequence element #%zu has the wrong length", i);
                if (!jinja_jv_dict_set(R, d, jinja_jv_retain(JL(pr)->v[0]), jinja_jv_retain(JL(pr)->v[1])))
                    return false;
            }
        } else if (src.t != JV_UNDEF) {
            return jinja_err(R, "'%s' object is not iterable", jinja_jv_type_name(src));
        }
    }
    for (size_t k = 0; k < a->nkw; k++) {
        jv key = jinja_jv_str(R, a->kwn[k], a->kwl[k]);
        if (key.t != JV_STR || !jinja_jv_dict_set(R, d, key, jinja_jv_retain(a->kwv[k])))
            return false;
    }
    return true;
}

static jv do_strftime(struct render *R, const struct args *a)
{
    static const char *const params[] = {"format"};
    jv p[1];
    if (!jinja_bind_args(R, a, "strftime_now", params, 1, 1, p))
        return JV_U;
    if (p[0].t != JV_STR)
        return jinja_errv(R, "strftime_now: format must be a string");
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
        return jinja_errv(R, "strftime_now: the formatted date is too long");
    return jinja_jv_str(R, buf, n);
}

jv jinja_call_func(struct render *R, jv fn, const struct args *a)
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
        jv ns = jinja_jv_ns_new(R);
        if (ns.t != JV_NS)
            return JV_U;
        if (!jinja_register_namespace(R, ns) || !fill_dict(R, ns, a, "namespace")) {
            jinja_jv_release(ns);
            return JV_U;
        }
        return ns;
    }
    case G_DICT: {
        jv d = jinja_jv_dict_new(R, 0);
        if (d.t != JV_DICT)
            return JV_U;
        if (!fill_dict(R, d, a, "dict")) {
            jinja_jv_release(d);
            return JV_U;
        }
        return d;
    }
    case G_RAISE: {
        if (a->npos < 1)
            return jinja_errv(R, "raise_exception() called");
        struct sbuf b = {0};
        jinja_jv_str_append(R, &b, a->pos[0]);
        jinja_err(R, "%s", b.s ? b.s : "");
        sbuf_free(&b);
        return JV_U;
    }
    case G_STRFTIME:
        return do_strftime(R, a);
    case G_JOINER: {
        BIND("joiner", "sep");
        jv sep = given(p[0]) ? jinja_jv_retain(p[0]) : jinja_jv_str(R, ", ", 2);
        return jinja_make_func(R, G_JOINER_CALL, sep);
    }
    case G_JOINER_CALL:
        if (f->state == 0) {
            f->state = 1;
            return jinja_jv_str(R, "", 0);
        }
        return jinja_jv_retain(self);

    /* ---- str methods ---- */
    case S_CAPITALIZE:
        return jinja_capitalize(R, self);
    case S_LOWER:
        return jinja_map_case(R, self, 0);
    case S_UPPER:
        return jinja_map_case(R, self, 1);
    case S_SWAPCASE:
        return jinja_map_case(R, self, 2);
    case S_CASEFOLD:
        return jinja_map_case(R, self, 0);
    case S_TITLE:
        return jinja_title_case(R, self, false);
    case S_STRIP:
    case S_LSTRIP:
    case S_RSTRIP: {
        BIND("strip", "chars");
        return jinja_strip(R, self, f->id == S_STRIP ? 3 : f->id == S_LSTRIP ? 1 : 2, p[0]);
    }
    case S_SPLIT:
    case S_RSPLIT: {
        BIND("split", "sep", "maxsplit");
        return jinja_str_split(R, self, p[0], p[1], f->id == S_RSPLIT);
    }
    case S_SPLITLINES: {
        BIND("splitlines", "keepends");
        return jinja_splitlines(R, self, given(p[0]) && jinja_jv_truthy(p[0]));
    }
    case S_STARTSWITH:
    case S_ENDSWITH: {
        nreq_ = 1;
        BIND("startswith", "prefix", "start", "end");
        jv s = self;
        jv sub = JV_U;
        if (given(p[1]) || given(p[2])) {
            sub = jinja_jv_slice(R, self, given(p[1]) ? p[1] : JV_NONEV, given(p[2]) ? p[2] : JV_NONEV, JV_NONEV);
            if (R->failed)
                return JV_U;
            s = sub;
        }
        int r = -1;
        if (p[0].t == JV_STR) {
            r = jinja_str_starts(s, p[0], f->id == S_ENDSWITH);
        } else if (p[0].t == JV_LIST && JL(p[0])->tuple) {
            r = 0;
            for (size_t i = 0; i < JL(p[0])->n; i++) {
                if (JL(p[0])->v[i].t != JV_STR) {
                    r = -1;
                    break;
                }
                if (jinja_str_starts(s, JL(p[0])->v[i], f->id == S_ENDSWITH)) {
                    r = 1;
                    break;
                }
            }
        }
        jinja_jv_release(sub);
        if (r < 0)
            return jinja_errv(R, "%s first arg must be str or a tuple of str, not %s",
                         f->id == S_ENDSWITH ? "endswith" : "startswith", jinja_jv_type_name(p[0]));
        return jv_bool(r);
    }
    case S_FIND:
    case S_RFIND:
    case S_INDEX:
    case S_COUNT: {
        nreq_ = 1;
        BIND("find", "sub", "start", "end");
        if (p[0].t != JV_STR)
            return jinja_errv(R, "must be str, not %s", jinja_jv_type_name(p[0]));
        int64_t off = 0;
        jv s = jinja_jv_retain(self);
        if (given(p[1]) || given(p[2])) {
            jinja_jv_release(s);
            s = jinja_jv_slice(R, self, given(p[1]) ? p[1] : JV_NONEV, given(p[2]) ? p[2] : JV_NONEV, JV_NONEV);
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
            int64_t i = jinja_str_find(s, p[0], f->id == S_RFIND);
            if (i < 0 && f->id == S_INDEX)
                r = jinja_errv(R, "substring not found");
            else
                r = jv_int(i < 0 ? -1 : i + off);
        }
        jinja_jv_release(s);
        return r;
    }
    case S_REPLACE: {
        nreq_ = 2;
        BIND("replace", "old", "new", "count");
        if (p[0].t != JV_STR || p[1].t != JV_STR)
            return jinja_errv(R, "replace() arguments must be str");
        int64_t count = given(p[2]) && is_int(p[2]) ? as_i(p[2]) : -1;
        jv r = jinja_str_replace(R, self, p[0], p[1], count);
        if (r.t == JV_STR)
            r.safe = self.safe;
        return r;
    }
    case S_JOIN: {
        nreq_ = 1;
        BIND("join", "iterable");
        jv items = jinja_list_of(R, p[0]);
        if (items.t != JV_LIST)
            return JV_U;
        struct sbuf b = {0};
        bool ok = step(R, JL(items)->n);
        for (size_t i = 0; ok && i < JL(items)->n; i++) {
            jv x = JL(items)->v[i];
            if (x.t != JV_STR) {
                ok = jinja_err(R, "sequence item %zu: expected str instance, %s found", i, jinja_jv_type_name(x));
                break;
            }
            if (i)
                ok = jinja_sb_add(R, &b, JS(self)->s, JS(self)->len);
            ok = ok && jinja_sb_add(R, &b, JS(x)->s, JS(x)->len);
            if (ok && b.len > R->lim.max_output)
                ok = jinja_err(R, "string too long");
        }
        jinja_jv_release(items);
        if (!ok) {
            sbuf_free(&b);
            return JV_U;
        }
        return jinja_sb_take_str(R, &b);
    }
    case S_FORMAT:
        return jinja_str_format(R, self, a);
    case S_CENTER:
    case S_LJUST:
    case S_RJUST: {
        nreq_ = 1;
        BIND("center", "width", "fillchar");
        if (!is_int(p[0]))
            return jinja_errv(R, "'%s' object cannot be interpreted as an integer", jinja_jv_type_name(p[0]));
        return jinja_pad(R, self, as_i(p[0]), p[1], f->id == S_CENTER ? 0 : f->id == S_LJUST ? 1 : 2);
    }
    case S_ZFILL: {
        nreq_ = 1;
        BIND("zfill", "width");
        if (!is_int(p[0]))
            return jinja_errv(R, "'%s' object cannot be interpreted as an integer", jinja_jv_type_name(p[0]));
        int64_t w = as_i(p[0]), n = (int64_t)JS(self)->ncp;
        if (w <= n)
            return jinja_jv_retain(self);
        if (w > (int64_t)R->lim.max_output)
            return jinja_errv(R, "string too long");
        struct sbuf b = {0};
        const char *s = JS(self)->s;
        size_t len = JS(self)->len, i = 0;
        bool ok = true;
        if (len && (s[0] == '+' || s[0] == '-')) {
            ok = jinja_sb_addc(R, &b, s[0]);
            i = 1;
        }
        for (int64_t k = 0; ok && k < w - n; k++)
            ok = jinja_sb_addc(R, &b, '0');
        ok = ok && jinja_sb_add(R, &b, s + i, len - i);
        if (!ok) {
            sbuf_free(&b);
            return JV_U;
        }
        return jinja_sb_take_str(R, &b);
    }
    case S_REMOVEPREFIX:
    case S_REMOVESUFFIX: {
        nreq_ = 1;
        BIND("removeprefix", "prefix");
        if (p[0].t != JV_STR)
            return jinja_errv(R, "removeprefix() argument must be str");
        bool suf = f->id == S_REMOVESUFFIX;
        if (!jinja_str_starts(self, p[0], suf))
            return jinja_jv_retain(self);
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
            int r = jinja_call_test(R, f->id == S_ISLOWER ? TT_LOWER : TT_UPPER, NULL, self, &none);
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
            case S_ISSPACE: ok = jinja_py_isspace(cp); break;
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
        jv v = jinja_jv_dict_get(self, p[0]);
        if (given(v))
            return jinja_jv_retain(v);
        return given(p[1]) ? jinja_jv_retain(p[1]) : JV_NONEV;
    }
    case D_ITEMS: {
        struct args none = {0};
        jv l = jinja_call_filter(R, F_ITEMS, "items", self, &none);
        if (l.t == JV_LIST)
            JL(l)->gen = false; /* a dict view: false when empty */
        return l;
    }
    case D_KEYS:
    case D_VALUES: {
        jv l = jinja_jv_list_new(R, JD(self)->n, false);
        for (size_t i = 0; l.t == JV_LIST && i < JD(self)->n; i++)
            if (!jinja_jv_list_push(R, l, jinja_jv_retain(f->id == D_KEYS ? JD(self)->k[i] : JD(self)->v[i]))) {
                jinja_jv_release(l);
                return JV_U;
            }
        return l;
    }
    case D_COPY: {
        jv d = jinja_jv_dict_new(R, JD(self)->n);
        for (size_t i = 0; d.t == JV_DICT && i < JD(self)->n; i++)
            if (!jinja_jv_dict_set(R, d, jinja_jv_retain(JD(self)->k[i]), jinja_jv_retain(JD(self)->v[i]))) {
                jinja_jv_release(d);
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
            if (jinja_jv_equal(JL(self)->v[i], p[0])) {
                if (f->id == L_INDEX)
                    return jv_int((int64_t)i);
                c++;
            }
        if (f->id == L_INDEX)
            return jinja_errv(R, "value is not in list");
        return jv_int(c);
    }
    case L_COPY:
        return jinja_list_of(R, self);

    /* ---- loop ---- */
    case LP_CYCLE: {
        if (a->npos == 0)
            return jinja_errv(R, "no items for cycling given");
        struct jloop *l = (struct jloop *)self.u.o;
        return jinja_jv_retain(a->pos[l->index0 % a->npos]);
    }
    case LP_CHANGED: {
        struct jloop *l = (struct jloop *)self.u.o;
        jv t = jinja_jv_list_new(R, a->npos, true);
        for (size_t i = 0; t.t == JV_LIST && i < a->npos; i++)
            jinja_jv_list_push(R, t, jinja_jv_retain(a->pos[i]));
        if (R->failed) {
            jinja_jv_release(t);
            return JV_U;
        }
        if (l->has_last && jinja_jv_equal(l->last, t)) {
            jinja_jv_release(t);
            return jv_bool(false);
        }
        if (l->has_last)
            jinja_jv_release(l->last);
        l->last = t;
        l->has_last = true;
        return jv_bool(true);
    }
    default:
        return jinja_errv(R, "internal error: unknown function %d", f->id);
    }
}
