/*
 * jinja_filters.c - call_filter: the dispatch of every jinja2 filter by id, binding
 * its arguments by position and name.
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

jv jinja_call_filter(struct render *R, int id, const char *name, jv v, const struct args *a)
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
                return jinja_errv(R, "integer overflow");
            return jv_int(llabs(as_i(v)));
        }
        return jinja_errv(R, "bad operand type for abs(): '%s'", jinja_jv_type_name(v));
    case F_ATTR: {
        BIND("attr", "name");
        if (p[0].t != JV_STR)
            return JV_U;
        if (v.t == JV_DICT) {
            /* Python attributes only: methods, not keys */
            if (name_is(JS(p[0])->s, JS(p[0])->len, "items") || name_is(JS(p[0])->s, JS(p[0])->len, "keys") ||
                name_is(JS(p[0])->s, JS(p[0])->len, "values") || name_is(JS(p[0])->s, JS(p[0])->len, "get"))
                return jinja_get_attr(R, v, JS(p[0])->s, JS(p[0])->len);
            return JV_U;
        }
        if (v.t == JV_UNDEF)
            return JV_U;
        return jinja_get_attr(R, v, JS(p[0])->s, JS(p[0])->len);
    }
    case F_BATCH: {
        nreq_ = 1;
        BIND("batch", "linecount", "fill_with");
        if (!is_int(p[0]) || as_i(p[0]) <= 0)
            return jinja_errv(R, "batch: linecount must be a positive integer");
        int64_t lc = as_i(p[0]);
        jv items = jinja_list_of(R, v);
        if (items.t != JV_LIST)
            return JV_U;
        jv out = jinja_jv_list_new(R, 0, false);
        jv cur = JV_MISS;
        for (size_t i = 0; out.t == JV_LIST && i < JL(items)->n && !R->failed; i++) {
            if (!given(cur))
                cur = jinja_jv_list_new(R, (size_t)lc, false);
            if (cur.t != JV_LIST)
                break;
            jinja_jv_list_push(R, cur, jinja_jv_retain(JL(items)->v[i]));
            if ((int64_t)JL(cur)->n == lc) {
                jinja_jv_list_push(R, out, cur);
                cur = JV_MISS;
            }
        }
        if (given(cur) && cur.t == JV_LIST) {
            while (given(p[1]) && p[1].t != JV_NONE && (int64_t)JL(cur)->n < lc && !R->failed)
                jinja_jv_list_push(R, cur, jinja_jv_retain(p[1]));
            jinja_jv_list_push(R, out, cur);
        }
        return jinja_list_done(R, items, out);
    }
    case F_CAPITALIZE: {
        jv s = jinja_jv_to_str(R, v);
        if (s.t != JV_STR)
            return JV_U;
        jv r = jinja_capitalize(R, s);
        jinja_jv_release(s);
        return r;
    }
    case F_CENTER: {
        BIND("center", "width");
        jv s = jinja_jv_to_str(R, v);
        if (s.t != JV_STR)
            return JV_U;
        jv r = jinja_pad(R, s, given(p[0]) && is_int(p[0]) ? as_i(p[0]) : 80, JV_MISS, 0);
        jinja_jv_release(s);
        return r;
    }
    case F_COUNT:
    case F_LENGTH: {
        bool ok;
        int64_t n = jinja_length_of(R, v, &ok);
        return ok ? jv_int(n) : JV_U;
    }
    case F_DEFAULT: {
        BIND("default", "default_value", "boolean");
        bool boolean = given(p[1]) && jinja_jv_truthy(p[1]);
        if (v.t == JV_UNDEF || (boolean && !jinja_jv_truthy(v)))
            return given(p[0]) ? jinja_jv_retain(p[0]) : jinja_jv_str(R, "", 0);
        return jinja_jv_retain(v);
    }
    case F_DICTSORT: {
        BIND("dictsort", "case_sensitive", "by", "reverse");
        if (v.t != JV_DICT)
            return jinja_errv(R, "dictsort: expected a mapping, got '%s'", jinja_jv_type_name(v));
        int by = 0;
        if (given(p[1])) {
            if (p[1].t == JV_STR && name_is(JS(p[1])->s, JS(p[1])->len, "value"))
                by = 1;
            else if (!(p[1].t == JV_STR && name_is(JS(p[1])->s, JS(p[1])->len, "key")))
                return jinja_errv(R, "You can only sort by either \"key\" or \"value\"");
        }
        jv items = jinja_jv_list_new(R, JD(v)->n, false);
        for (size_t i = 0; items.t == JV_LIST && i < JD(v)->n; i++) {
            jv t = jinja_jv_list_new(R, 2, true);
            if (t.t != JV_LIST || !jinja_jv_list_push(R, t, jinja_jv_retain(JD(v)->k[i])) ||
                !jinja_jv_list_push(R, t, jinja_jv_retain(JD(v)->v[i])) || !jinja_jv_list_push(R, items, t)) {
                jinja_jv_release(t);
                break;
            }
        }
        if (R->failed) {
            jinja_jv_release(items);
            return JV_U;
        }
        jv r = jinja_sorted_list(R, items, JV_MISS, given(p[0]) && jinja_jv_truthy(p[0]),
                           given(p[2]) && jinja_jv_truthy(p[2]), by);
        jinja_jv_release(items);
        return r;
    }
    case F_ESCAPE:
        return jinja_jv_escape(R, v);
    case F_FORCEESCAPE: {
        jv s = jinja_jv_to_str(R, v);
        if (s.t != JV_STR)
            return JV_U;
        s.safe = 0;
        jv r = jinja_jv_escape(R, s);
        jinja_jv_release(s);
        return r;
    }
    case F_FIRST:
    case F_LAST: {
        jv items = jinja_list_of(R, v);
        if (items.t != JV_LIST)
            return JV_U;
        jv r = JV_U;
        if (JL(items)->n)
            r = jinja_jv_retain(JL(items)->v[id == F_FIRST ? 0 : JL(items)->n - 1]);
        jinja_jv_release(items);
        return r;
    }
    case F_FLOAT: {
        BIND("float", "default");
        if (v.t == JV_UNDEF)
            return undef_err(R, v);
        double f;
        if (jinja_parse_py_float(v, &f))
            return jv_float(f);
        return given(p[0]) ? jinja_jv_retain(p[0]) : jv_float(0.0);
    }
    case F_FORMAT: {
        jv s = jinja_jv_to_str(R, v);
        if (s.t != JV_STR)
            return JV_U;
        jv r;
        if (a->nkw) {
            jv d = jinja_jv_dict_new(R, a->nkw);
            for (size_t k = 0; d.t == JV_DICT && k < a->nkw; k++)
                jinja_jv_dict_set(R, d, jinja_jv_str(R, a->kwn[k], a->kwl[k]), jinja_jv_retain(a->kwv[k]));
            r = R->failed ? JV_U : jinja_jv_percent_format(R, s, d);
            jinja_jv_release(d);
        } else {
            jv t = jinja_jv_list_new(R, a->npos, true);
            for (size_t k = 0; t.t == JV_LIST && k < a->npos; k++)
                jinja_jv_list_push(R, t, jinja_jv_retain(a->pos[k]));
            r = R->failed ? JV_U : jinja_jv_percent_format(R, s, t);
            jinja_jv_release(t);
        }
        jinja_jv_release(s);
        return r;
    }
    case F_INDENT: {
        BIND("indent", "width", "first", "blank");
        if (v.t == JV_UNDEF) /* s += "\n" on an Undefined */
            return undef_err(R, v);
        if (v.t != JV_STR)
            return jinja_errv(R, "unsupported operand type(s) for +=: '%s' and 'str'", jinja_jv_type_name(v));
        jv s = jinja_jv_to_str(R, v);
        if (s.t != JV_STR)
            return JV_U;
        jv r = jinja_indent(R, s, p[0], p[1], p[2]);
        jinja_jv_release(s);
        return r;
    }
    case F_INT: {
        BIND("int", "default", "base");
        if (v.t == JV_UNDEF) /* int(Undefined) raises */
            return undef_err(R, v);
        return jinja_to_int(R, v, p[0], p[1]);
    }
    case F_ITEMS: {
        if (v.t == JV_UNDEF)
            return jinja_as_gen(jinja_jv_list_new(R, 0, false));
        if (v.t != JV_DICT)
            return jinja_errv(R, "Can only get item pairs from a mapping.");
        jv l = jinja_jv_list_new(R, JD(v)->n, false);
        for (size_t i = 0; l.t == JV_LIST && i < JD(v)->n; i++) {
            jv t = jinja_jv_list_new(R, 2, true);
            if (t.t != JV_LIST || !jinja_jv_list_push(R, t, jinja_jv_retain(JD(v)->k[i])) ||
                !jinja_jv_list_push(R, t, jinja_jv_retain(JD(v)->v[i])) || !jinja_jv_list_push(R, l, t)) {
                jinja_jv_release(l);
                return JV_U;
            }
        }
        return jinja_as_gen(l);
    }
    case F_JOIN: {
        BIND("join", "d", "attribute");
        jv items = jinja_list_of(R, v);
        if (items.t != JV_LIST)
            return JV_U;
        jv sep = given(p[0]) ? jinja_jv_to_str(R, p[0]) : jinja_jv_str(R, "", 0);
        struct sbuf b = {0};
        bool ok = sep.t == JV_STR && step(R, JL(items)->n);
        for (size_t i = 0; ok && i < JL(items)->n; i++) {
            if (i)
                ok = jinja_sb_add(R, &b, JS(sep)->s, JS(sep)->len);
            jv x = given(p[1]) && p[1].t != JV_NONE ? jinja_attr_path(R, JL(items)->v[i], p[1])
                                                   : jinja_jv_retain(JL(items)->v[i]);
            ok = ok && !R->failed && jinja_jv_str_append(R, &b, x);
            jinja_jv_release(x);
            if (ok && b.len > R->lim.max_output)
                ok = jinja_err(R, "string too long");
        }
        jinja_jv_release(sep);
        jinja_jv_release(items);
        if (!ok) {
            sbuf_free(&b);
            return JV_U;
        }
        return jinja_sb_take_str(R, &b);
    }
    case F_LIST:
        return jinja_list_of(R, v);
    case F_LOWER:
    case F_UPPER: {
        jv s = jinja_jv_to_str(R, v);
        if (s.t != JV_STR)
            return JV_U;
        jv r = jinja_map_case(R, s, id == F_UPPER);
        jinja_jv_release(s);
        return r;
    }
    case F_MAP:
        return jinja_as_gen(jinja_map(R, v, a));
    case F_MAX:
    case F_MIN:
        return jinja_minmax(R, v, a, id == F_MAX);
    case F_PPRINT: {
        struct sbuf b = {0};
        if (!jinja_jv_repr_append(R, &b, v)) {
            sbuf_free(&b);
            return JV_U;
        }
        return jinja_sb_take_str(R, &b);
    }
    case F_SELECT:
        return jinja_as_gen(jinja_select_common(R, v, a, false, true));
    case F_REJECT:
        return jinja_as_gen(jinja_select_common(R, v, a, false, false));
    case F_SELECTATTR:
        return jinja_as_gen(jinja_select_common(R, v, a, true, true));
    case F_REJECTATTR:
        return jinja_as_gen(jinja_select_common(R, v, a, true, false));
    case F_REPLACE: {
        nreq_ = 2;
        BIND("replace", "old", "new", "count");
        jv s = jinja_jv_to_str(R, v), o = jinja_jv_to_str(R, p[0]), n = jinja_jv_to_str(R, p[1]);
        jv r = JV_U;
        if (!R->failed) {
            int64_t count = given(p[2]) && p[2].t != JV_NONE ? (is_int(p[2]) ? as_i(p[2]) : -1) : -1;
            r = jinja_str_replace(R, s, o, n, count);
        }
        jinja_jv_release(s);
        jinja_jv_release(o);
        jinja_jv_release(n);
        return r;
    }
    case F_REVERSE: {
        if (v.t == JV_STR) {
            jv chars = jinja_jv_iter_list(R, v);
            if (chars.t != JV_LIST)
                return JV_U;
            struct sbuf b = {0};
            bool ok = true;
            for (size_t i = JL(chars)->n; ok && i-- > 0;)
                ok = jinja_sb_add(R, &b, JS(JL(chars)->v[i])->s, JS(JL(chars)->v[i])->len);
            jinja_jv_release(chars);
            if (!ok) {
                sbuf_free(&b);
                return JV_U;
            }
            return jinja_sb_take_str(R, &b);
        }
        jv items = jinja_list_of(R, v);
        if (items.t != JV_LIST)
            return JV_U;
        jv out = jinja_jv_list_new(R, JL(items)->n, false);
        for (size_t i = JL(items)->n; out.t == JV_LIST && i-- > 0;)
            if (!jinja_jv_list_push(R, out, jinja_jv_retain(JL(items)->v[i]))) {
                jinja_jv_release(out);
                out = JV_U;
                break;
            }
        jinja_jv_release(items);
        return jinja_as_gen(out);
    }
    case F_ROUND: {
        BIND("round", "precision", "method");
        return jinja_round(R, v, p[0], p[1]);
    }
    case F_SAFE: {
        jv s = jinja_jv_to_str(R, v);
        if (s.t == JV_STR)
            s.safe = 1;
        return s;
    }
    case F_SORT: {
        BIND("sort", "reverse", "case_sensitive", "attribute");
        jv items = jinja_list_of(R, v);
        if (items.t != JV_LIST)
            return JV_U;
        jv r = jinja_sorted_list(R, items, p[2], given(p[1]) && jinja_jv_truthy(p[1]),
                           given(p[0]) && jinja_jv_truthy(p[0]), -1);
        jinja_jv_release(items);
        return r;
    }
    case F_STRING:
        if (v.t == JV_STR)
            return jinja_jv_retain(v);
        return jinja_jv_to_str(R, v);
    case F_SUM: {
        BIND("sum", "attribute", "start");
        jv items = jinja_list_of(R, v);
        if (items.t != JV_LIST)
            return JV_U;
        jv acc = given(p[1]) ? jinja_jv_retain(p[1]) : jv_int(0);
        for (size_t i = 0; i < JL(items)->n && !R->failed; i++) {
            jv x = given(p[0]) && p[0].t != JV_NONE ? jinja_attr_path(R, JL(items)->v[i], p[0])
                                                   : jinja_jv_retain(JL(items)->v[i]);
            if (R->failed) {
                jinja_jv_release(x);
                break;
            }
            jv s;
            if (is_num(acc) && is_num(x)) {
                if (acc.t == JV_FLOAT || x.t == JV_FLOAT) {
                    s = jv_float(as_f(acc) + as_f(x));
                } else {
                    int64_t r;
                    s = __builtin_add_overflow(as_i(acc), as_i(x), &r) ? jinja_errv(R, "integer overflow")
                                                                       : jv_int(r);
                }
            } else {
                s = jinja_errv(R, "unsupported operand type(s) for +: '%s' and '%s'",
                          jinja_jv_type_name(acc), jinja_jv_type_name(x));
            }
            jinja_jv_release(x);
            jinja_jv_release(acc);
            acc = s;
        }
        return jinja_list_done(R, items, acc);
    }
    case F_TITLE: {
        jv s = jinja_jv_to_str(R, v);
        if (s.t != JV_STR)
            return JV_U;
        jv r = jinja_title_case(R, s, true);
        jinja_jv_release(s);
        return r;
    }
    case F_TOJSON:
        return jinja_tojson(R, v, a);
    case F_TRIM: {
        BIND("trim", "chars");
        jv s = jinja_jv_to_str(R, v);
        if (s.t != JV_STR)
            return JV_U;
        jv r = jinja_strip(R, s, 3, p[0]);
        jinja_jv_release(s);
        return r;
    }
    case F_TRUNCATE: {
        BIND("truncate", "length", "killwords", "end", "leeway");
        jv s = jinja_jv_to_str(R, v);
        if (s.t != JV_STR)
            return JV_U;
        int64_t length = given(p[0]) && is_int(p[0]) ? as_i(p[0]) : 255;
        bool kill = given(p[1]) && jinja_jv_truthy(p[1]);
        jv end = given(p[2]) && p[2].t == JV_STR ? p[2] : JV_MISS;
        const char *es = given(end) ? JS(end)->s : "...";
        size_t el = given(end) ? JS(end)->len : 3, en = given(end) ? JS(end)->ncp : 3;
        int64_t leeway = given(p[3]) && is_int(p[3]) ? as_i(p[3]) : 5;
        if (length < (int64_t)en) {
            jinja_jv_release(s);
            return jinja_errv(R, "expected length >= %zu, got %lld", en, (long long)length);
        }
        if ((int64_t)JS(s)->ncp <= length + leeway)
            return s;
        size_t cut = utf8_offset(JS(s)->s, JS(s)->len, (size_t)(length - (int64_t)en));
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
        bool ok = jinja_sb_add(R, &b, JS(s)->s, cut) && jinja_sb_add(R, &b, es, el);
        jinja_jv_release(s);
        if (!ok) {
            sbuf_free(&b);
            return JV_U;
        }
        return jinja_sb_take_str(R, &b);
    }
    case F_UNIQUE: {
        BIND("unique", "case_sensitive", "attribute");
        jv items = jinja_list_of(R, v);
        if (items.t != JV_LIST)
            return JV_U;
        bool cs = given(p[0]) && jinja_jv_truthy(p[0]);
        jv seen = jinja_jv_list_new(R, 0, false), out = jinja_jv_list_new(R, 0, false);
        for (size_t i = 0; out.t == JV_LIST && seen.t == JV_LIST && i < JL(items)->n && !R->failed; i++) {
            if (!step(R, JL(seen)->n / 16 + 1))
                break;
            jv it = JL(items)->v[i];
            jv k0 = given(p[1]) && p[1].t != JV_NONE ? jinja_attr_path(R, it, p[1]) : jinja_jv_retain(it);
            jv k = R->failed ? JV_U : jinja_lower_key(R, k0, cs);
            jinja_jv_release(k0);
            if (R->failed) {
                jinja_jv_release(k);
                break;
            }
            if ((k.t == JV_LIST && !JL(k)->tuple) || k.t == JV_DICT || k.t == JV_NS) {
                jinja_err(R, "unhashable type: '%s'", jinja_jv_type_name(k));
                jinja_jv_release(k);
                break;
            }
            int c = jinja_jv_contains(R, seen, k);
            if (c == 0) {
                jinja_jv_list_push(R, seen, k);
                jinja_jv_list_push(R, out, jinja_jv_retain(it));
            } else {
                jinja_jv_release(k);
            }
        }
        jinja_jv_release(seen);
        return jinja_list_done(R, items, out);
    }
    case F_WORDCOUNT: {
        jv s = jinja_jv_to_str(R, v);
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
        jinja_jv_release(s);
        return jv_int(n);
    }
    case F_STRIPTAGS: {
        jv s = jinja_jv_to_str(R, v);
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
            if (jinja_py_isspace(cp)) {
                space = any;
            } else {
                if (space)
                    ok = jinja_sb_addc(R, &b, ' ');
                space = false;
                any = true;
                ok = ok && jinja_sb_add(R, &b, p + i, k);
            }
            i += k;
        }
        jinja_jv_release(s);
        if (!ok) {
            sbuf_free(&b);
            return JV_U;
        }
        return jinja_sb_take_str(R, &b);
    }
    default:
        return jinja_errv(R, "No filter named '%s'", name ? name : "?");
    }
}
