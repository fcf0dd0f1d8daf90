/*
 * jinja_str.c - Python's str methods over UTF-8 that filters and methods share: case
 * mapping (lower/upper/swapcase, title, capitalize), strip, replace, split
 * and rsplit, splitlines, find, startswith/endswith, center/ljust/rjust.
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
#include "base/vec.h"
#include "chat/jinja_builtins_impl.h"

/* Case mapping over a UTF-8 string. mode: 0 lower, 1 upper, 2 swapcase */
jv jinja_map_case(struct render *R, jv s, int mode)
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
            if (!jinja_sb_addc(R, &b, o))
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
            if (!jinja_sb_add(R, &b, p + i, n))
                goto fail;
        } else {
            char u[4];
            size_t k = utf8_encode(m, u);
            if (!jinja_sb_add(R, &b, u, k))
                goto fail;
        }
        i += n;
    }
    return jinja_sb_take_safe(R, &b, s.safe);
fail:
    sbuf_free(&b);
    return JV_U;
}

static bool is_cased(uint32_t cp)
{
    return (unicode_flags(cp) & (UCAT_LOWER | UCAT_UPPER | UCAT_TITLE)) != 0;
}

bool jinja_add_cp(struct render *R, struct sbuf *b, uint32_t cp)
{
    char u[4];
    size_t k = utf8_encode(cp, u);
    return jinja_sb_add(R, b, u, k);
}

/* Python's str.title() (title_jinja false) or jinja's |title filter. */
jv jinja_title_case(struct render *R, jv s, bool jinja_filter)
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
            bool sep = jinja_py_isspace(cp) || cp == '-' || cp == '(' || cp == '{' || cp == '[' ||
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
        bool ok = (out == cp) ? jinja_sb_add(R, &b, p + i, n) : jinja_add_cp(R, &b, out);
        if (!ok) {
            sbuf_free(&b);
            return JV_U;
        }
        i += n;
    }
    jv r = jinja_sb_take_str(R, &b);
    r.safe = s.safe;
    return r;
}

jv jinja_capitalize(struct render *R, jv s)
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
        if (!((out == cp) ? jinja_sb_add(R, &b, p + i, n) : jinja_add_cp(R, &b, out))) {
            sbuf_free(&b);
            return JV_U;
        }
        i += n;
    }
    jv r = jinja_sb_take_str(R, &b);
    r.safe = s.safe;
    return r;
}

/* Whether strip() removes code point cp: whitespace when ws, else any code
   point of the cl-byte UTF-8 string cs. */
static bool strip_hit(uint32_t cp, bool ws, const char *cs, size_t cl)
{
    if (ws)
        return jinja_py_isspace(cp);
    for (size_t k = 0; k < cl;) {
        size_t m;
        if (utf8_decode(cs + k, cl - k, &m) == cp)
            return true;
        k += m;
    }
    return false;
}

/* strip: which 1 left, 2 right, 3 both; chars NULL for whitespace */
jv jinja_strip(struct render *R, jv s, int which, jv chars)
{
    const char *p = JS(s)->s;
    size_t len = JS(s)->len;
    bool ws = !given(chars) || chars.t == JV_NONE;
    if (!ws && chars.t != JV_STR)
        return jinja_errv(R, "strip arg must be None or str");
    const char *cs = ws ? NULL : JS(chars)->s;
    size_t cl = ws ? 0 : JS(chars)->len;
    /* character boundaries */
    size_t start = 0, end = len;
    if (which & 1) {
        while (start < len) {
            size_t n;
            uint32_t cp = utf8_decode(p + start, len - start, &n);
            if (!strip_hit(cp, ws, cs, cl))
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
            if (!strip_hit(cp, ws, cs, cl))
                break;
            end = b;
        }
    }
    jv r = strv(R, p + start, end - start);
    r.safe = s.safe;
    return r;
}

jv jinja_str_replace(struct render *R, jv s, jv old, jv new_, int64_t count)
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
                if (!jinja_sb_add(R, &b, nw, nl))
                    goto fail;
                done++;
            }
            if (i == len)
                break;
            size_t j = i + 1;
            while (j < len && ((uint8_t)p[j] & 0xC0) == 0x80)
                j++;
            if (!jinja_sb_add(R, &b, p + i, j - i))
                goto fail;
            i = j;
            if (b.len > R->lim.max_output) {
                sbuf_free(&b);
                return jinja_errv(R, "string too long");
            }
        }
        return jinja_sb_take_str(R, &b);
    }
    size_t i = 0;
    while (i < len) {
        const char *hit = (count < 0 || done < count) ? memmem(p + i, len - i, o, ol) : NULL;
        if (hit == NULL) {
            if (!jinja_sb_add(R, &b, p + i, len - i))
                goto fail;
            break;
        }
        size_t at = (size_t)(hit - p);
        if (!jinja_sb_add(R, &b, p + i, at - i) || !jinja_sb_add(R, &b, nw, nl))
            goto fail;
        if (b.len > R->lim.max_output) {
            sbuf_free(&b);
            return jinja_errv(R, "string too long");
        }
        done++;
        i = at + ol;
    }
    return jinja_sb_take_str(R, &b);
fail:
    sbuf_free(&b);
    return JV_U;
}

/* str.split / rsplit. sep MISSING/None: runs of whitespace. */
jv jinja_str_split(struct render *R, jv s, jv sep, jv maxv, bool right)
{
    int64_t maxsplit = given(maxv) && maxv.t != JV_NONE ? (is_int(maxv) ? as_i(maxv) : -1) : -1;
    if (given(maxv) && maxv.t != JV_NONE && !is_int(maxv))
        return jinja_errv(R, "maxsplit must be an integer");
    const char *p = JS(s)->s;
    size_t len = JS(s)->len;
    jv l = jinja_jv_list_new(R, 0, false);
    if (l.t != JV_LIST)
        return l;
    bool ws = !given(sep) || sep.t == JV_NONE;
    if (!ws && sep.t != JV_STR) {
        jinja_jv_release(l);
        return jinja_errv(R, "must be str or None, not %s", jinja_jv_type_name(sep));
    }
    if (!ws && JS(sep)->len == 0) {
        jinja_jv_release(l);
        return jinja_errv(R, "empty separator");
    }
    /* collect pieces as (start, end) pairs, then order them */
    size_t cap = 16, n = 0;
    size_t *pieces = malloc(cap * 2 * sizeof(size_t));
    if (pieces == NULL) {
        jinja_jv_release(l);
        return jinja_errv(R, "out of memory");
    }
#define PUSH(a, b)                                                                     \
    do {                                                                               \
        if (vec_reserve((void **)&pieces, &cap, n + 1, 2 * sizeof(size_t)) != 0) {     \
            free(pieces);                                                              \
            jinja_jv_release(l);                                                       \
            return jinja_errv(R, "out of memory");                                     \
        }                                                                              \
        pieces[2 * n] = (a);                                                           \
        pieces[2 * n + 1] = (b);                                                       \
        n++;                                                                           \
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
                    if (!jinja_py_isspace(cp))
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
                    if (jinja_py_isspace(cp))
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
                    if (!jinja_py_isspace(utf8_decode(p + b, e - b, &k)))
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
                    if (jinja_py_isspace(utf8_decode(p + b, e - b, &k)))
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
        if (piece.t != JV_STR || !jinja_jv_list_push(R, l, piece)) {
            free(pieces);
            jinja_jv_release(l);
            return JV_U;
        }
    }
    free(pieces);
    if (!step(R, n)) {
        jinja_jv_release(l);
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
jv jinja_splitlines(struct render *R, jv s, bool keepends)
{
    const char *p = JS(s)->s;
    size_t len = JS(s)->len, i = 0, start = 0;
    jv l = jinja_jv_list_new(R, 0, false);
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
            if (piece.t != JV_STR || !jinja_jv_list_push(R, l, piece)) {
                jinja_jv_release(l);
                return JV_U;
            }
            start = i;
        } else {
            i += k;
        }
    }
    if (start < len) {
        jv piece = strv(R, p + start, len - start);
        if (piece.t != JV_STR || !jinja_jv_list_push(R, l, piece)) {
            jinja_jv_release(l);
            return JV_U;
        }
    }
    return l;
}

/* character index of the first (or last) occurrence of sub, -1 if none */
int64_t jinja_str_find(jv s, jv sub, bool last)
{
    const char *p = JS(s)->s, *q = JS(sub)->s;
    size_t len = JS(s)->len, ql = JS(sub)->len;
    if (ql > len)
        return -1;
    if (!last) {
        const char *h = memmem(p, len, q, ql);
        return h ? (int64_t)utf8_count(p, (size_t)(h - p)) : -1;
    }
    for (size_t k = len - ql + 1; k-- > 0;)
        if (memcmp(p + k, q, ql) == 0)
            return (int64_t)utf8_count(p, k);
    return -1;
}

bool jinja_str_starts(jv s, jv pre, bool end)
{
    size_t len = JS(s)->len, pl = JS(pre)->len;
    if (pl > len)
        return false;
    return memcmp(JS(s)->s + (end ? len - pl : 0), JS(pre)->s, pl) == 0;
}

jv jinja_pad(struct render *R, jv s, int64_t width, jv fillv, int where /* 0 center 1 ljust 2 rjust */)
{
    const char *fill = " ";
    size_t fl = 1;
    if (given(fillv)) {
        if (fillv.t != JV_STR || JS(fillv)->ncp != 1)
            return jinja_errv(R, "The fill character must be exactly one character long");
        fill = JS(fillv)->s;
        fl = JS(fillv)->len;
    }
    int64_t n = (int64_t)JS(s)->ncp;
    if (width <= n)
        return jinja_jv_retain(s);
    if (width > (int64_t)R->lim.max_output)
        return jinja_errv(R, "string too long");
    int64_t marg = width - n, left;
    if (where == 0)
        left = marg / 2 + (marg & width & 1);
    else if (where == 1)
        left = 0;
    else
        left = marg;
    struct sbuf b = {0};
    for (int64_t i = 0; i < left; i++)
        if (!jinja_sb_add(R, &b, fill, fl))
            goto fail;
    if (!jinja_sb_add(R, &b, JS(s)->s, JS(s)->len))
        goto fail;
    for (int64_t i = 0; i < marg - left; i++)
        if (!jinja_sb_add(R, &b, fill, fl))
            goto fail;
    return jinja_sb_take_str(R, &b);
fail:
    sbuf_free(&b);
    return JV_U;
}
