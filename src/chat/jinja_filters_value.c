/*
 * jinja_filters_value.c - the filters over single values: |int (with a base),
 * Python float parsing, |round, |indent and |tojson.
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

jv jinja_to_int(struct render *R, jv v, jv deflt, jv basev)
{
    jv d = given(deflt) ? jinja_jv_retain(deflt) : jv_int(0);
    int base = given(basev) && is_int(basev) ? (int)as_i(basev) : 10;
    if (is_int(v)) {
        jinja_jv_release(d);
        return jv_int(as_i(v));
    }
    if (v.t == JV_FLOAT) {
        jinja_jv_release(d);
        if (!isfinite(v.u.f))
            return jinja_errv(R, "cannot convert float infinity or NaN to integer");
        if (fabs(v.u.f) >= 9.2e18)
            return jinja_errv(R, "integer overflow");
        return jv_int((int64_t)v.u.f);
    }
    if (v.t == JV_STR) {
        /* int(s, base) with Python's syntax: spaces, sign, underscores */
        char buf[128];
        size_t o = 0;
        const char *s = JS(v)->s;
        size_t len = JS(v)->len, i = 0;
        while (i < len && jinja_py_isspace((uint8_t)s[i]))
            i++;
        size_t e = len;
        while (e > i && jinja_py_isspace((uint8_t)s[e - 1]))
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
                jinja_jv_release(d);
                return jv_int(x);
            }
            /* float(value) then int */
            double f = strtod(buf, &end);
            if (*end == 0 && o > 0 && isfinite(f) && fabs(f) < 9.2e18) {
                jinja_jv_release(d);
                return jv_int((int64_t)f);
            }
        }
        return d;
    }
    return d;
}

bool jinja_parse_py_float(jv v, double *out)
{
    if (is_num(v)) {
        *out = as_f(v);
        return true;
    }
    if (v.t != JV_STR)
        return false;
    const char *s = JS(v)->s;
    size_t len = JS(v)->len, i = 0;
    while (i < len && jinja_py_isspace((uint8_t)s[i]))
        i++;
    size_t e = len;
    while (e > i && jinja_py_isspace((uint8_t)s[e - 1]))
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

jv jinja_round(struct render *R, jv v, jv precv, jv methodv)
{
    int64_t prec = given(precv) ? (is_int(precv) ? as_i(precv) : 0) : 0;
    const char *m = "common";
    if (given(methodv)) {
        if (methodv.t != JV_STR)
            return jinja_errv(R, "method must be common, ceil or floor");
        m = JS(methodv)->s;
    }
    if (strcmp(m, "common") && strcmp(m, "ceil") && strcmp(m, "floor"))
        return jinja_errv(R, "method must be common, ceil or floor");
    if (!is_num(v))
        return jinja_errv(R, "type %s doesn't define __round__ method", jinja_jv_type_name(v));
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

jv jinja_indent(struct render *R, jv s, jv widthv, jv firstv, jv blankv)
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
                return jinja_errv(R, "indent width too large");
            memset(spaces, ' ', (size_t)w);
            ind = spaces;
            il = (size_t)w;
        } else {
            return jinja_errv(R, "indent width must be an integer or a string");
        }
    }
    bool first = given(firstv) && jinja_jv_truthy(firstv), blank = given(blankv) && jinja_jv_truthy(blankv);
    /* s += "\n"; lines = s.splitlines() */
    jv withnl;
    {
        struct sbuf t = {0};
        if (!jinja_sb_add(R, &t, JS(s)->s, JS(s)->len) || !jinja_sb_addc(R, &t, '\n')) {
            sbuf_free(&t);
            return JV_U;
        }
        withnl = jinja_sb_take_str(R, &t);
    }
    if (withnl.t != JV_STR)
        return JV_U;
    jv lines = jinja_splitlines(R, withnl, false);
    jinja_jv_release(withnl);
    if (lines.t != JV_LIST)
        return JV_U;
    struct sbuf b = {0};
    bool ok = true;
    struct jlist *L = JL(lines);
    if (first)
        ok = jinja_sb_add(R, &b, ind, il);
    if (blank) {
        for (size_t i = 0; ok && i < L->n; i++) {
            if (i)
                ok = jinja_sb_addc(R, &b, '\n') && jinja_sb_add(R, &b, ind, il);
            ok = ok && jinja_sb_add(R, &b, JS(L->v[i])->s, JS(L->v[i])->len);
        }
    } else {
        for (size_t i = 0; ok && i < L->n; i++) {
            if (i) {
                ok = jinja_sb_addc(R, &b, '\n');
                if (ok && JS(L->v[i])->len)
                    ok = jinja_sb_add(R, &b, ind, il);
            }
            ok = ok && jinja_sb_add(R, &b, JS(L->v[i])->s, JS(L->v[i])->len);
        }
    }
    jinja_jv_release(lines);
    if (!ok) {
        sbuf_free(&b);
        return JV_U;
    }
    jv r = jinja_sb_take_str(R, &b);
    r.safe = s.safe;
    return r;
}

jv jinja_tojson(struct render *R, jv v, const struct args *a)
{
    /* transformers: json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False) */
    static const char *const params[] = {"ensure_ascii", "indent", "separators", "sort_keys"};
    jv p[4];
    if (!jinja_bind_args(R, a, "tojson", params, 4, 0, p))
        return JV_U;
    struct tojson_opts o = {.item_sep = ", ", .key_sep = ": "};
    o.ensure_ascii = given(p[0]) && jinja_jv_truthy(p[0]);
    o.sort_keys = given(p[3]) && jinja_jv_truthy(p[3]);
    char spaces[256];
    if (given(p[1]) && p[1].t != JV_NONE) {
        if (p[1].t == JV_STR) {
            o.indent = JS(p[1])->s;
        } else if (is_int(p[1])) {
            int64_t w = as_i(p[1]);
            if (w < 0)
                w = 0;
            if (w > 255)
                return jinja_errv(R, "indent too large");
            memset(spaces, ' ', (size_t)w);
            spaces[w] = 0;
            o.indent = spaces;
        } else {
            return jinja_errv(R, "indent must be an integer or a string");
        }
        o.item_sep = ",";
    }
    if (given(p[2]) && p[2].t != JV_NONE) {
        if (p[2].t != JV_LIST || JL(p[2])->n != 2 || JL(p[2])->v[0].t != JV_STR ||
            JL(p[2])->v[1].t != JV_STR)
            return jinja_errv(R, "separators must be a pair of strings");
        o.item_sep = JS(JL(p[2])->v[0])->s;
        o.key_sep = JS(JL(p[2])->v[1])->s;
    }
    struct sbuf b = {0};
    if (!jinja_jv_tojson(R, &b, v, &o, 0)) {
        sbuf_free(&b);
        return JV_U;
    }
    return jinja_sb_take_str(R, &b);
}
