/*
 * jinja_format.c - str.format() with Python's format spec mini-language, and the %
 * operator (printf-style formatting) on strings.
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
        return jinja_err(R, "Invalid format specifier");
    struct sbuf body = {0};
    char tmp[1100];
    bool numeric = false;
    if (type == 0 && v.t == JV_STR)
        type = 's';
    if (type == 's' || (type == 0 && !is_num(v))) {
        if (is_num(v) && type == 's')
            return jinja_err(R, "Unknown format code 's' for object of type '%s'", jinja_jv_type_name(v));
        jv s = jinja_jv_to_str(R, v);
        if (s.t != JV_STR)
            return false;
        size_t len = JS(s)->len;
        if (prec >= 0)
            len = utf8_offset(JS(s)->s, len, (size_t)prec);
        bool ok = jinja_sb_add(R, &body, JS(s)->s, len);
        jinja_jv_release(s);
        if (!ok)
            return false;
        if (!align)
            align = '<';
    } else {
        numeric = true;
        if (!is_num(v))
            return jinja_err(R, "Unknown format code '%c' for object of type '%s'", type ? type : '?',
                        jinja_jv_type_name(v));
        const char *sg = "";
        double f = as_f(v);
        switch (type) {
        case 'd':
            if (!is_int(v))
                return jinja_err(R, "Unknown format code 'd' for object of type 'float'");
            snprintf(tmp, sizeof(tmp), "%lld", (long long)llabs(as_i(v)));
            break;
        case 'x': case 'X': case 'o': case 'b':
            if (!is_int(v))
                return jinja_err(R, "Unknown format code '%c' for object of type 'float'", type);
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
                    jinja_py_float_repr(fabs(f), tmp);
                }
            } else if (v.t == JV_BOOL) {
                strcpy(tmp, v.u.b ? "True" : "False");
            } else {
                snprintf(tmp, sizeof(tmp), "%lld", (long long)llabs(as_i(v)));
            }
            break;
        default:
            return jinja_err(R, "Unknown format code '%c'", type);
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
            if (!jinja_sb_adds(R, b, sg))
                return false;
            int64_t pad_n = width - (int64_t)strlen(sg) - (int64_t)strlen(tmp);
            for (int64_t k = 0; k < pad_n; k++)
                if (!jinja_sb_addc(R, b, fill))
                    return false;
            return jinja_sb_adds(R, b, tmp);
        }
        if (!jinja_sb_adds(R, &body, sg) || !jinja_sb_adds(R, &body, tmp)) {
            sbuf_free(&body);
            return false;
        }
    }
    (void)numeric;
    int64_t n = (int64_t)utf8_count(body.s ? body.s : "", body.len);
    int64_t padn = width > n ? width - n : 0, left = 0;
    if (align == '>' || align == '=')
        left = padn;
    else if (align == '^')
        left = padn / 2;
    bool ok = true;
    for (int64_t k = 0; ok && k < left; k++)
        ok = jinja_sb_addc(R, b, fill);
    ok = ok && jinja_sb_add(R, b, body.s ? body.s : "", body.len);
    for (int64_t k = 0; ok && k < padn - left; k++)
        ok = jinja_sb_addc(R, b, fill);
    sbuf_free(&body);
    return ok;
}

jv jinja_str_format(struct render *R, jv fmt, const struct args *a)
{
    const char *p = JS(fmt)->s;
    size_t len = JS(fmt)->len, i = 0, auto_idx = 0;
    struct sbuf b = {0};
    while (i < len) {
        char c = p[i];
        if (c == '}') {
            if (i + 1 < len && p[i + 1] == '}') {
                if (!jinja_sb_addc(R, &b, '}'))
                    goto fail;
                i += 2;
                continue;
            }
            jinja_err(R, "Single '}' encountered in format string");
            goto fail;
        }
        if (c != '{') {
            if (!jinja_sb_addc(R, &b, c))
                goto fail;
            i++;
            continue;
        }
        if (i + 1 < len && p[i + 1] == '{') {
            if (!jinja_sb_addc(R, &b, '{'))
                goto fail;
            i += 2;
            continue;
        }
        size_t j = i + 1;
        while (j < len && p[j] != '}')
            j++;
        if (j >= len) {
            jinja_err(R, "Single '{' encountered in format string");
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
                jinja_err(R, "Replacement index %zu out of range for positional args tuple", auto_idx - 1);
                goto fail;
            }
        } else if (f[0] >= '0' && f[0] <= '9') {
            size_t idx = (size_t)strtoul(f, NULL, 10);
            if (idx >= a->npos) {
                jinja_err(R, "Replacement index %zu out of range for positional args tuple", idx);
                goto fail;
            }
            v = a->pos[idx];
        } else {
            for (size_t q = 0; q < a->nkw; q++)
                if (a->kwl[q] == nl && memcmp(a->kwn[q], f, nl) == 0)
                    v = a->kwv[q];
            if (!given(v)) {
                jinja_err(R, "KeyError: '%.*s'", (int)nl, f);
                goto fail;
            }
        }
        bool ok;
        if (conv == 'r') {
            struct sbuf t = {0};
            ok = jinja_jv_repr_append(R, &t, v);
            jv s = ok ? jinja_sb_take_str(R, &t) : (sbuf_free(&t), JV_U);
            ok = s.t == JV_STR && format_spec(R, &b, s, spec, sl);
            jinja_jv_release(s);
        } else if (conv == 's') {
            jv s = jinja_jv_to_str(R, v);
            ok = s.t == JV_STR && format_spec(R, &b, s, spec, sl);
            jinja_jv_release(s);
        } else {
            ok = format_spec(R, &b, v, spec, sl);
        }
        if (!ok)
            goto fail;
        i = j + 1;
    }
    return jinja_sb_take_safe(R, &b, fmt.safe);
fail:
    sbuf_free(&b);
    return JV_U;
}

jv jinja_jv_percent_format(struct render *R, jv fmt, jv args)
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
            if (!jinja_sb_add(R, &b, p + i, e - i))
                goto fail;
            i = e;
            continue;
        }
        i++;
        if (i >= len) {
            jinja_err(R, "incomplete format");
            goto fail;
        }
        jv v = JV_MISS;
        if (p[i] == '(') {
            size_t e = i + 1;
            while (e < len && p[e] != ')')
                e++;
            if (e >= len || !mapping) {
                jinja_err(R, "format requires a mapping");
                goto fail;
            }
            v = jinja_jv_dict_get_str(args, p + i + 1, e - i - 1);
            if (!given(v)) {
                jinja_err(R, "KeyError: '%.*s'", (int)(e - i - 1), p + i + 1);
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
            jinja_err(R, "incomplete format");
            goto fail;
        }
        char conv = p[i++];
        if (conv == '%') {
            if (!jinja_sb_addc(R, &b, '%'))
                goto fail;
            continue;
        }
        if (!given(v)) {
            if (ai >= nargs || mapping) {
                if (mapping && !tuple) {
                    v = args;
                    ai++;
                } else {
                    jinja_err(R, "not enough arguments for format string");
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
            bool ok = conv == 's' ? jinja_jv_str_append(R, &t, v) : jinja_jv_repr_append(R, &t, v);
            if (!ok) {
                sbuf_free(&t);
                goto fail;
            }
            size_t tl = t.len;
            if (prec >= 0)
                tl = utf8_offset(t.s ? t.s : "", t.len, (size_t)prec);
            int64_t n = (int64_t)utf8_count(t.s ? t.s : "", tl);
            bool left = strchr(flags, '-') != NULL;
            bool ok2 = true;
            for (int64_t k = n; !left && k < width && ok2; k++)
                ok2 = jinja_sb_addc(R, &b, ' ');
            ok2 = ok2 && jinja_sb_add(R, &b, t.s ? t.s : "", tl);
            for (int64_t k = n; left && k < width && ok2; k++)
                ok2 = jinja_sb_addc(R, &b, ' ');
            sbuf_free(&t);
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
                jinja_err(R, "%%%c format: a real number is required, not %s", conv, jinja_jv_type_name(v));
                goto fail;
            }
            if (conv == 'c') {
                if (!jinja_add_cp(R, &b, (uint32_t)x))
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
                jinja_err(R, "must be real number, not %s", jinja_jv_type_name(v));
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
            jinja_err(R, "unsupported format character '%c'", conv);
            goto fail;
        }
        if (!jinja_sb_adds(R, &b, tmp))
            goto fail;
    }
    if (!mapping && !used_map && ai < nargs && tuple) {
        jinja_err(R, "not all arguments converted during string formatting");
        goto fail;
    }
    if (!tuple && !mapping && args.t != JV_LIST && args.t != JV_UNDEF && ai == 0) {
        jinja_err(R, "not all arguments converted during string formatting");
        goto fail;
    }
    return jinja_sb_take_safe(R, &b, fmt.safe);
fail:
    sbuf_free(&b);
    return JV_U;
}
