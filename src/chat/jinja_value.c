/*
 * jinja_value.c - the values of the Jinja interpreter and their Python
 * semantics: reference counting, strings, lists, dicts, truth, equality,
 * ordering, str() and repr() as Python prints them, JSON in (jansson) and out
 * (json.dumps as transformers' tojson calls it).
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "chat/jinja_internal.h"
#include "base/unicode.h"
#include "base/err.h"

#define JV_MAX_DEPTH 512

/* ---- arena (syntax tree) ------------------------------------------------ */

struct arena_chunk {
    struct arena_chunk *next;
    size_t used, size;
    max_align_t data[];
};

struct arena {
    struct arena_chunk *head;
};

void *jinja_arena_alloc(struct arena *a, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    struct arena_chunk *c = a->head;
    if (c == NULL || c->size - c->used < n) {
        size_t size = n > 16384 ? n : 16384;
        c = malloc(sizeof(*c) + size);
        if (c == NULL)
            return NULL;
        c->size = size;
        c->used = 0;
        c->next = a->head;
        a->head = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

char *jinja_arena_strdup(struct arena *a, const char *s, size_t n)
{
    char *p = jinja_arena_alloc(a, n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

struct arena *jinja_arena_new(void)
{
    return calloc(1, sizeof(struct arena));
}

void jinja_arena_destroy(struct arena *a)
{
    if (a == NULL)
        return;
    for (struct arena_chunk *c = a->head, *n; c; c = n) {
        n = c->next;
        free(c);
    }
    free(a);
}

/* ---- errors and accounting ----------------------------------------------- */

static void verr(struct render *R, const char *fmt, va_list ap)
{
    if (R == NULL || R->failed)
        return;
    R->failed = true;
    err_vset(R->err, R->err_size, fmt, ap);
}

bool jinja_err(struct render *R, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verr(R, fmt, ap);
    va_end(ap);
    return false;
}

jv jinja_errv(struct render *R, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verr(R, fmt, ap);
    va_end(ap);
    return JV_U;
}

bool jinja_charge(struct render *R, size_t bytes)
{
    if (R == NULL)
        return true;
    if (R->failed)
        return false;
    R->alloc += bytes;
    if (R->alloc > R->lim.max_alloc)
        return jinja_err(R, "memory limit exceeded (%zu bytes allocated)", R->lim.max_alloc);
    return true;
}

/* ---- reference counting ---------------------------------------------------- */

static struct jobj *heap_of(jv v)
{
    switch (v.t) {
    case JV_STR: case JV_LIST: case JV_DICT: case JV_NS: case JV_FUNC: case JV_MACRO:
    case JV_LOOP: case JV_UNDEF:
        return v.u.o;
    default:
        return NULL;
    }
}

jv jinja_jv_retain(jv v)
{
    struct jobj *o = heap_of(v);
    if (o && o->rc >= 0)
        o->rc++;
    return v;
}

static void obj_free(jv v)
{
    switch (v.t) {
    case JV_LIST: {
        struct jlist *l = JL(v);
        for (size_t i = 0; i < l->n; i++)
            jinja_jv_release(l->v[i]);
        free(l->v);
        break;
    }
    case JV_DICT:
    case JV_NS: {
        struct jdict *d = JD(v);
        for (size_t i = 0; i < d->n; i++) {
            jinja_jv_release(d->k[i]);
            jinja_jv_release(d->v[i]);
        }
        free(d->k);
        free(d->v);
        break;
    }
    case JV_FUNC:
        jinja_jv_release(((struct jfunc *)v.u.o)->self);
        break;
    case JV_LOOP: {
        struct jloop *l = (struct jloop *)v.u.o;
        jinja_jv_release(l->items);
        if (l->has_last)
            jinja_jv_release(l->last);
        break;
    }
    default:
        break;
    }
    free(v.u.o);
}

void jinja_jv_release(jv v)
{
    struct jobj *o = heap_of(v);
    if (o == NULL || o->rc < 0)
        return;
    if (--o->rc == 0)
        obj_free(v);
}

void jinja_jv_make_immortal(jv v)
{
    struct jobj *o = heap_of(v);
    if (o == NULL)
        return;
    o->rc = -1;
    if (v.t == JV_LIST)
        for (size_t i = 0; i < JL(v)->n; i++)
            jinja_jv_make_immortal(JL(v)->v[i]);
}

/* ---- strings ------------------------------------------------------------- */

jv jinja_jv_str(struct render *R, const char *s, size_t len)
{
    if (!jinja_charge(R, len + sizeof(struct jstr) + 1))
        return JV_U;
    struct jstr *p = malloc(sizeof(struct jstr) + len + 1);
    if (p == NULL)
        return jinja_errv(R, "out of memory");
    p->h.rc = 1;
    p->h.kind = JV_STR;
    p->len = len;
    if (len)
        memcpy(p->s, s, len);
    p->s[len] = 0;
    p->ncp = utf8_count(s, len);
    return (jv){.t = JV_STR, .u.o = &p->h};
}

jv jinja_jv_cstr(struct render *R, const char *s)
{
    return jinja_jv_str(R, s, strlen(s));
}

const char *jinja_jv_s(jv v)
{
    return JS(v)->s;
}

size_t jinja_jv_len(jv v)
{
    return JS(v)->len;
}

/* ---- growable buffer --------------------------------------------------------- */

/* Charge the render for what the buffer grew by since it held old_cap. */
static bool charge_growth(struct render *R, const struct sbuf *b, size_t old_cap)
{
    if (b->oom)
        return jinja_err(R, "out of memory");
    return b->cap == old_cap || jinja_charge(R, b->cap - old_cap);
}

bool jinja_sb_add(struct render *R, struct sbuf *b, const char *s, size_t n)
{
    if (R && R->failed)
        return false;
    size_t cap = b->cap;
    sbuf_append(b, s, n);
    return charge_growth(R, b, cap);
}

bool jinja_sb_addc(struct render *R, struct sbuf *b, char c)
{
    return jinja_sb_add(R, b, &c, 1);
}

bool jinja_sb_adds(struct render *R, struct sbuf *b, const char *s)
{
    return jinja_sb_add(R, b, s, strlen(s));
}

bool jinja_sb_printf(struct render *R, struct sbuf *b, const char *fmt, ...)
{
    if (R && R->failed)
        return false;
    size_t cap = b->cap;
    va_list ap;
    va_start(ap, fmt);
    sbuf_vprintf(b, fmt, ap);
    va_end(ap);
    return charge_growth(R, b, cap);
}

jv jinja_sb_take_str(struct render *R, struct sbuf *b)
{
    jv v = b->oom ? jinja_errv(R, "out of memory") : jinja_jv_str(R, sbuf_str(b), b->len);
    sbuf_free(b);
    return v;
}

jv jinja_sb_take_safe(struct render *R, struct sbuf *b, bool safe)
{
    jv r = jinja_sb_take_str(R, b);
    r.safe = safe;
    return r;
}

jv jinja_list_done(struct render *R, jv items, jv out)
{
    jinja_jv_release(items);
    if (R->failed) {
        jinja_jv_release(out);
        return JV_U;
    }
    return out;
}

/* ---- lists and dicts ---------------------------------------------------------- */

static uint16_t depth_of(jv v)
{
    if (v.t == JV_LIST)
        return JL(v)->depth;
    if (v.t == JV_DICT)
        return JD(v)->depth;
    return 0;
}

jv jinja_jv_list_new(struct render *R, size_t cap, bool tuple)
{
    if (!jinja_charge(R, sizeof(struct jlist) + cap * sizeof(jv)))
        return JV_U;
    struct jlist *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return jinja_errv(R, "out of memory");
    if (cap) {
        l->v = malloc(cap * sizeof(jv));
        if (l->v == NULL) {
            free(l);
            return jinja_errv(R, "out of memory");
        }
    }
    l->h.rc = 1;
    l->h.kind = JV_LIST;
    l->cap = cap;
    l->tuple = tuple;
    l->depth = 1;
    return (jv){.t = JV_LIST, .u.o = &l->h};
}

bool jinja_jv_list_push(struct render *R, jv list, jv item)
{
    struct jlist *l = JL(list);
    uint16_t d = depth_of(item);
    if (d + 1 > JV_MAX_DEPTH) {
        jinja_jv_release(item);
        return jinja_err(R, "values nested too deeply (more than %d levels)", JV_MAX_DEPTH);
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        if (!jinja_charge(R, (cap - l->cap) * sizeof(jv))) {
            jinja_jv_release(item);
            return false;
        }
        jv *p = realloc(l->v, cap * sizeof(jv));
        if (p == NULL) {
            jinja_jv_release(item);
            return jinja_err(R, "out of memory");
        }
        l->v = p;
        l->cap = cap;
    }
    l->v[l->n++] = item;
    if (d + 1 > l->depth)
        l->depth = d + 1;
    return true;
}

jv jinja_jv_dict_new(struct render *R, size_t cap)
{
    (void)cap;
    if (!jinja_charge(R, sizeof(struct jdict)))
        return JV_U;
    struct jdict *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return jinja_errv(R, "out of memory");
    d->h.rc = 1;
    d->h.kind = JV_DICT;
    d->depth = 1;
    return (jv){.t = JV_DICT, .u.o = &d->h};
}

jv jinja_jv_ns_new(struct render *R)
{
    jv v = jinja_jv_dict_new(R, 0);
    if (v.t == JV_DICT) {
        v.t = JV_NS;
        v.u.o->kind = JV_NS;
    }
    return v;
}

static bool key_eq(jv a, jv b)
{
    if (a.t == JV_STR && b.t == JV_STR)
        return JS(a)->len == JS(b)->len && memcmp(JS(a)->s, JS(b)->s, JS(a)->len) == 0;
    return jinja_jv_equal(a, b);
}

static ssize_t dict_find(struct jdict *d, jv key)
{
    for (size_t i = 0; i < d->n; i++)
        if (key_eq(d->k[i], key))
            return (ssize_t)i;
    return -1;
}

bool jinja_jv_dict_set(struct render *R, jv dict, jv key, jv val)
{
    struct jdict *d = JD(dict);
    uint16_t dep = depth_of(val);
    if (dep + 1 > JV_MAX_DEPTH) {
        jinja_jv_release(key);
        jinja_jv_release(val);
        return jinja_err(R, "values nested too deeply (more than %d levels)", JV_MAX_DEPTH);
    }
    ssize_t at = dict_find(d, key);
    if (at >= 0) {
        jinja_jv_release(key);
        jinja_jv_release(d->v[at]);
        d->v[at] = val;
    } else {
        if (d->n == d->cap) {
            size_t cap = d->cap ? d->cap * 2 : 4;
            if (!jinja_charge(R, (cap - d->cap) * 2 * sizeof(jv))) {
                jinja_jv_release(key);
                jinja_jv_release(val);
                return false;
            }
            jv *k = realloc(d->k, cap * sizeof(jv));
            if (k)
                d->k = k;
            jv *v = realloc(d->v, cap * sizeof(jv));
            if (v)
                d->v = v;
            if (k == NULL || v == NULL) {
                jinja_jv_release(key);
                jinja_jv_release(val);
                return jinja_err(R, "out of memory");
            }
            d->cap = cap;
        }
        d->k[d->n] = key;
        d->v[d->n] = val;
        d->n++;
    }
    if (dict.t == JV_DICT && dep + 1 > d->depth)
        d->depth = dep + 1;
    return true;
}

jv jinja_jv_dict_get(jv dict, jv key)
{
    ssize_t at = dict_find(JD(dict), key);
    return at >= 0 ? JD(dict)->v[at] : JV_MISS;
}

jv jinja_jv_dict_get_str(jv dict, const char *key, size_t klen)
{
    struct jdict *d = JD(dict);
    for (size_t i = 0; i < d->n; i++) {
        jv k = d->k[i];
        if (k.t == JV_STR && JS(k)->len == klen && memcmp(JS(k)->s, key, klen) == 0)
            return d->v[i];
    }
    return JV_MISS;
}

/* ---- Python semantics ------------------------------------------------------------- */

bool jinja_jv_truthy(jv v)
{
    switch (v.t) {
    case JV_UNDEF: case JV_NONE: case JV_MISSING:
        return false;
    case JV_BOOL:
        return v.u.b;
    case JV_INT:
        return v.u.i != 0;
    case JV_FLOAT:
        return v.u.f != 0;
    case JV_STR:
        return JS(v)->len != 0;
    case JV_LIST:
        return JL(v)->n != 0 || JL(v)->gen;
    case JV_DICT:
        return JD(v)->n != 0;
    default:
        return true;
    }
}

static bool is_num(jv v)
{
    return v.t == JV_INT || v.t == JV_FLOAT || v.t == JV_BOOL;
}

static double num_f(jv v)
{
    return v.t == JV_FLOAT ? v.u.f : v.t == JV_INT ? (double)v.u.i : (double)v.u.b;
}

static int64_t num_i(jv v)
{
    return v.t == JV_INT ? v.u.i : (int64_t)v.u.b;
}

bool jinja_jv_equal(jv a, jv b)
{
    if (is_num(a) && is_num(b)) {
        if (a.t == JV_FLOAT || b.t == JV_FLOAT)
            return num_f(a) == num_f(b);
        return num_i(a) == num_i(b);
    }
    if (a.t != b.t)
        return false;
    switch (a.t) {
    case JV_UNDEF: case JV_NONE: case JV_MISSING:
        return true;
    case JV_STR:
        return key_eq(a, b);
    case JV_LIST: {
        struct jlist *x = JL(a), *y = JL(b);
        if (x->tuple != y->tuple || x->n != y->n)
            return false;
        for (size_t i = 0; i < x->n; i++)
            if (!jinja_jv_equal(x->v[i], y->v[i]))
                return false;
        return true;
    }
    case JV_DICT: {
        struct jdict *x = JD(a), *y = JD(b);
        if (x->n != y->n)
            return false;
        for (size_t i = 0; i < x->n; i++) {
            jv o = jinja_jv_dict_get(b, x->k[i]);
            if (o.t == JV_MISSING || !jinja_jv_equal(x->v[i], o))
                return false;
        }
        (void)y;
        return true;
    }
    default:
        return a.u.o == b.u.o;
    }
}

const char *jinja_jv_type_name(jv v)
{
    switch (v.t) {
    case JV_UNDEF: case JV_MISSING: return "Undefined";
    case JV_NONE: return "NoneType";
    case JV_BOOL: return "bool";
    case JV_INT: return "int";
    case JV_FLOAT: return "float";
    case JV_STR: return v.safe ? "Markup" : "str";
    case JV_LIST: return JL(v)->tuple ? "tuple" : "list";
    case JV_DICT: return "dict";
    case JV_NS: return "Namespace";
    case JV_FUNC: return "builtin_function_or_method";
    case JV_MACRO: return "Macro";
    case JV_LOOP: return "LoopContext";
    }
    return "object";
}

static int undef_error(struct render *R, jv v)
{
    if (v.u.o)
        jinja_err(R, "'%s' is undefined", JS(v)->s);
    else
        jinja_err(R, "undefined value used");
    return 0;
}

int jinja_jv_compare(struct render *R, jv a, jv b, bool *ok)
{
    *ok = true;
    if (a.t == JV_UNDEF || b.t == JV_UNDEF) {
        *ok = false;
        return undef_error(R, a.t == JV_UNDEF ? a : b);
    }
    if (is_num(a) && is_num(b)) {
        if (a.t == JV_FLOAT || b.t == JV_FLOAT) {
            double x = num_f(a), y = num_f(b);
            return x < y ? -1 : x > y ? 1 : 0;
        }
        int64_t x = num_i(a), y = num_i(b);
        return x < y ? -1 : x > y ? 1 : 0;
    }
    if (a.t == JV_STR && b.t == JV_STR) {
        size_t n = JS(a)->len < JS(b)->len ? JS(a)->len : JS(b)->len;
        int c = memcmp(JS(a)->s, JS(b)->s, n);
        if (c)
            return c < 0 ? -1 : 1;
        return JS(a)->len < JS(b)->len ? -1 : JS(a)->len > JS(b)->len ? 1 : 0;
    }
    if (a.t == JV_LIST && b.t == JV_LIST && JL(a)->tuple == JL(b)->tuple) {
        struct jlist *x = JL(a), *y = JL(b);
        for (size_t i = 0; i < x->n && i < y->n; i++) {
            if (jinja_jv_equal(x->v[i], y->v[i]))
                continue;
            return jinja_jv_compare(R, x->v[i], y->v[i], ok);
        }
        return x->n < y->n ? -1 : x->n > y->n ? 1 : 0;
    }
    *ok = false;
    jinja_err(R, "'<' not supported between instances of '%s' and '%s'", jinja_jv_type_name(a),
         jinja_jv_type_name(b));
    return 0;
}

bool jinja_py_isspace(uint32_t c)
{
    return (c >= 9 && c <= 13) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 ||
           c == 0x202f || c == 0x205f || c == 0x3000;
}

static bool py_isprintable(uint32_t c)
{
    if (c == ' ')
        return true;
    if (c < 0x80)
        return c > 0x20 && c < 0x7f;
    const char *cat = unicode_category_name(c);
    if (cat[0] == 'C')
        return false; /* Cc Cf Cs Co Cn */
    if (cat[0] == 'Z')
        return false; /* Zs Zl Zp */
    return true;
}

void jinja_py_float_repr(double d, char out[40])
{
    if (isnan(d)) {
        strcpy(out, "nan");
        return;
    }
    if (isinf(d)) {
        strcpy(out, d < 0 ? "-inf" : "inf");
        return;
    }
    if (d == 0) {
        strcpy(out, signbit(d) ? "-0.0" : "0.0");
        return;
    }
    /* shortest round-tripping digits */
    char buf[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*e", prec - 1, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    /* buf: [-]D[.DDD]e[+-]XX */
    char digits[24];
    int nd = 0;
    const char *p = buf;
    bool neg = false;
    if (*p == '-') {
        neg = true;
        p++;
    }
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            digits[nd++] = *p;
    int exp10 = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = 0;
    int decpt = exp10 + 1; /* value = 0.DIGITS * 10^decpt */
    char *o = out;
    if (neg)
        *o++ = '-';
    if (decpt > -4 && decpt <= 16) {
        if (decpt <= 0) {
            *o++ = '0';
            *o++ = '.';
            for (int i = 0; i < -decpt; i++)
                *o++ = '0';
            for (int i = 0; i < nd; i++)
                *o++ = digits[i];
        } else {
            for (int i = 0; i < decpt; i++)
                *o++ = i < nd ? digits[i] : '0';
            *o++ = '.';
            if (nd > decpt)
                for (int i = decpt; i < nd; i++)
                    *o++ = digits[i];
            else
                *o++ = '0';
        }
        *o = 0;
    } else {
        *o++ = digits[0];
        if (nd > 1) {
            *o++ = '.';
            for (int i = 1; i < nd; i++)
                *o++ = digits[i];
        }
        int ae = exp10 < 0 ? -exp10 : exp10;
        *o++ = 'e';
        *o++ = exp10 < 0 ? '-' : '+';
        if (ae >= 100)
            *o++ = (char)('0' + ae / 100);
        *o++ = (char)('0' + ae / 10 % 10);
        *o++ = (char)('0' + ae % 10);
        *o = 0;
    }
}

static bool repr_str(struct render *R, struct sbuf *b, const char *s, size_t len)
{
    bool has_sq = memchr(s, '\'', len) != NULL, has_dq = memchr(s, '"', len) != NULL;
    char q = has_sq && !has_dq ? '"' : '\'';
    if (!jinja_sb_addc(R, b, q))
        return false;
    size_t i = 0;
    while (i < len) {
        uint8_t c = (uint8_t)s[i];
        char tmp[16];
        if (c < 0x80) {
            i++;
            if (c == (uint8_t)q || c == '\\') {
                tmp[0] = '\\';
                tmp[1] = (char)c;
                if (!jinja_sb_add(R, b, tmp, 2))
                    return false;
            } else if (c == '\n') {
                if (!jinja_sb_add(R, b, "\\n", 2))
                    return false;
            } else if (c == '\r') {
                if (!jinja_sb_add(R, b, "\\r", 2))
                    return false;
            } else if (c == '\t') {
                if (!jinja_sb_add(R, b, "\\t", 2))
                    return false;
            } else if (c < 0x20 || c == 0x7f) {
                snprintf(tmp, sizeof(tmp), "\\x%02x", c);
                if (!jinja_sb_adds(R, b, tmp))
                    return false;
            } else if (!jinja_sb_addc(R, b, (char)c)) {
                return false;
            }
            continue;
        }
        size_t n;
        uint32_t cp = utf8_decode(s + i, len - i, &n);
        if (cp == UNICODE_REPLACEMENT && n == 1 && (uint8_t)s[i] != 0xEF) {
            /* an invalid byte: keep it as is */
            if (!jinja_sb_add(R, b, s + i, 1))
                return false;
        } else if (py_isprintable(cp)) {
            if (!jinja_sb_add(R, b, s + i, n))
                return false;
        } else {
            if (cp < 0x100)
                snprintf(tmp, sizeof(tmp), "\\x%02x", cp);
            else if (cp < 0x10000)
                snprintf(tmp, sizeof(tmp), "\\u%04x", cp);
            else
                snprintf(tmp, sizeof(tmp), "\\U%08x", cp);
            if (!jinja_sb_adds(R, b, tmp))
                return false;
        }
        i += n;
    }
    return jinja_sb_addc(R, b, q);
}

static bool str_or_repr(struct render *R, struct sbuf *b, jv v, bool repr, int depth)
{
    if (depth > JV_MAX_DEPTH + 8)
        return jinja_err(R, "values nested too deeply to print");
    char tmp[48];
    switch (v.t) {
    case JV_UNDEF: case JV_MISSING:
        return repr ? jinja_sb_adds(R, b, "Undefined") : true;
    case JV_NONE:
        return jinja_sb_adds(R, b, "None");
    case JV_BOOL:
        return jinja_sb_adds(R, b, v.u.b ? "True" : "False");
    case JV_INT:
        snprintf(tmp, sizeof(tmp), "%lld", (long long)v.u.i);
        return jinja_sb_adds(R, b, tmp);
    case JV_FLOAT:
        jinja_py_float_repr(v.u.f, tmp);
        return jinja_sb_adds(R, b, tmp);
    case JV_STR:
        if (!repr)
            return jinja_sb_add(R, b, JS(v)->s, JS(v)->len);
        if (v.safe) {
            if (!jinja_sb_adds(R, b, "Markup("))
                return false;
            if (!repr_str(R, b, JS(v)->s, JS(v)->len))
                return false;
            return jinja_sb_addc(R, b, ')');
        }
        return repr_str(R, b, JS(v)->s, JS(v)->len);
    case JV_LIST: {
        struct jlist *l = JL(v);
        if (!jinja_sb_addc(R, b, l->tuple ? '(' : '['))
            return false;
        for (size_t i = 0; i < l->n; i++) {
            if (i && !jinja_sb_add(R, b, ", ", 2))
                return false;
            if (!str_or_repr(R, b, l->v[i], true, depth + 1))
                return false;
        }
        if (l->tuple && l->n == 1 && !jinja_sb_addc(R, b, ','))
            return false;
        return jinja_sb_addc(R, b, l->tuple ? ')' : ']');
    }
    case JV_DICT:
    case JV_NS: {
        struct jdict *d = JD(v);
        if (v.t == JV_NS && !jinja_sb_adds(R, b, "<Namespace "))
            return false;
        if (!jinja_sb_addc(R, b, '{'))
            return false;
        for (size_t i = 0; i < d->n; i++) {
            if (i && !jinja_sb_add(R, b, ", ", 2))
                return false;
            if (!str_or_repr(R, b, d->k[i], true, depth + 1) || !jinja_sb_add(R, b, ": ", 2) ||
                !str_or_repr(R, b, d->v[i], true, depth + 1))
                return false;
        }
        if (!jinja_sb_addc(R, b, '}'))
            return false;
        return v.t == JV_NS ? jinja_sb_addc(R, b, '>') : true;
    }
    case JV_FUNC:
        return jinja_sb_adds(R, b, "<built-in function>");
    case JV_MACRO:
        return jinja_sb_adds(R, b, "<Macro>");
    case JV_LOOP:
        return jinja_sb_adds(R, b, "<LoopContext>");
    }
    return true;
}

bool jinja_jv_str_append(struct render *R, struct sbuf *b, jv v)
{
    return str_or_repr(R, b, v, false, 0);
}

bool jinja_jv_repr_append(struct render *R, struct sbuf *b, jv v)
{
    return str_or_repr(R, b, v, true, 0);
}

jv jinja_jv_to_str(struct render *R, jv v)
{
    if (v.t == JV_STR)
        return jinja_jv_retain(v);
    struct sbuf b = {0};
    if (!jinja_jv_str_append(R, &b, v)) {
        sbuf_free(&b);
        return JV_U;
    }
    return jinja_sb_take_str(R, &b);
}

/* ---- JSON ------------------------------------------------------------------------- */

jv jinja_jv_from_json(struct render *R, const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_NULL:
        return JV_NONEV;
    case JSON_TRUE:
        return jv_bool(true);
    case JSON_FALSE:
        return jv_bool(false);
    case JSON_INTEGER:
        return jv_int((int64_t)json_integer_value(j));
    case JSON_REAL:
        return jv_float(json_real_value(j));
    case JSON_STRING:
        return jinja_jv_str(R, json_string_value(j), json_string_length(j));
    case JSON_ARRAY: {
        size_t n = json_array_size(j);
        jv l = jinja_jv_list_new(R, n, false);
        if (l.t != JV_LIST)
            return l;
        for (size_t i = 0; i < n; i++) {
            jv x = jinja_jv_from_json(R, json_array_get(j, i));
            if (R && R->failed) {
                jinja_jv_release(x);
                jinja_jv_release(l);
                return JV_U;
            }
            if (!jinja_jv_list_push(R, l, x)) {
                jinja_jv_release(l);
                return JV_U;
            }
        }
        return l;
    }
    case JSON_OBJECT: {
        jv d = jinja_jv_dict_new(R, json_object_size(j));
        if (d.t != JV_DICT)
            return d;
        const char *k;
        json_t *val;
        json_object_foreach((json_t *)j, k, val) {
            jv x = jinja_jv_from_json(R, val);
            if (R && R->failed) {
                jinja_jv_release(x);
                jinja_jv_release(d);
                return JV_U;
            }
            jv key = jinja_jv_cstr(R, k);
            if (key.t != JV_STR) {
                jinja_jv_release(x);
                jinja_jv_release(d);
                return JV_U;
            }
            if (!jinja_jv_dict_set(R, d, key, x)) {
                jinja_jv_release(d);
                return JV_U;
            }
        }
        return d;
    }
    }
    return JV_NONEV;
}

static bool json_str(struct render *R, struct sbuf *b, const char *s, size_t len, bool ascii)
{
    if (!jinja_sb_addc(R, b, '"'))
        return false;
    size_t i = 0;
    while (i < len) {
        uint8_t c = (uint8_t)s[i];
        char tmp[16];
        const char *esc = NULL;
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default: break;
        }
        if (esc) {
            if (!jinja_sb_adds(R, b, esc))
                return false;
            i++;
            continue;
        }
        if (c < 0x20) {
            snprintf(tmp, sizeof(tmp), "\\u%04x", c);
            if (!jinja_sb_adds(R, b, tmp))
                return false;
            i++;
            continue;
        }
        if (c < 0x80 || !ascii) {
            /* copy a run of plain bytes */
            size_t j = i + 1;
            while (j < len) {
                uint8_t d = (uint8_t)s[j];
                if (d < 0x20 || d == '"' || d == '\\' || (ascii && d >= 0x80))
                    break;
                j++;
            }
            if (!jinja_sb_add(R, b, s + i, j - i))
                return false;
            i = j;
            continue;
        }
        size_t n;
        uint32_t cp = utf8_decode(s + i, len - i, &n);
        if (cp >= 0x10000) {
            uint32_t v = cp - 0x10000;
            snprintf(tmp, sizeof(tmp), "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
        } else {
            snprintf(tmp, sizeof(tmp), "\\u%04x", cp);
        }
        if (!jinja_sb_adds(R, b, tmp))
            return false;
        i += n;
    }
    return jinja_sb_addc(R, b, '"');
}

static bool json_newline(struct render *R, struct sbuf *b, const struct tojson_opts *o, int level)
{
    if (!jinja_sb_addc(R, b, '\n'))
        return false;
    for (int i = 0; i < level; i++)
        if (!jinja_sb_adds(R, b, o->indent))
            return false;
    return true;
}

static int cmp_keys(const void *x, const void *y)
{
    const jv *a = x, *b = y;
    size_t n = JS(*a)->len < JS(*b)->len ? JS(*a)->len : JS(*b)->len;
    int c = memcmp(JS(*a)->s, JS(*b)->s, n);
    if (c)
        return c;
    return JS(*a)->len < JS(*b)->len ? -1 : JS(*a)->len > JS(*b)->len;
}

bool jinja_jv_tojson(struct render *R, struct sbuf *b, jv v, const struct tojson_opts *o, int level)
{
    char tmp[48];
    if (level > JV_MAX_DEPTH + 8)
        return jinja_err(R, "values nested too deeply for tojson");
    switch (v.t) {
    case JV_NONE:
        return jinja_sb_adds(R, b, "null");
    case JV_BOOL:
        return jinja_sb_adds(R, b, v.u.b ? "true" : "false");
    case JV_INT:
        snprintf(tmp, sizeof(tmp), "%lld", (long long)v.u.i);
        return jinja_sb_adds(R, b, tmp);
    case JV_FLOAT:
        if (isnan(v.u.f))
            return jinja_sb_adds(R, b, "NaN");
        if (isinf(v.u.f))
            return jinja_sb_adds(R, b, v.u.f < 0 ? "-Infinity" : "Infinity");
        jinja_py_float_repr(v.u.f, tmp);
        return jinja_sb_adds(R, b, tmp);
    case JV_STR:
        return json_str(R, b, JS(v)->s, JS(v)->len, o->ensure_ascii);
    case JV_LIST: {
        struct jlist *l = JL(v);
        if (l->n == 0)
            return jinja_sb_adds(R, b, "[]");
        if (!jinja_sb_addc(R, b, '['))
            return false;
        for (size_t i = 0; i < l->n; i++) {
            if (i && !jinja_sb_adds(R, b, o->item_sep))
                return false;
            if (o->indent && !json_newline(R, b, o, level + 1))
                return false;
            if (!jinja_jv_tojson(R, b, l->v[i], o, level + 1))
                return false;
        }
        if (o->indent && !json_newline(R, b, o, level))
            return false;
        return jinja_sb_addc(R, b, ']');
    }
    case JV_DICT: {
        struct jdict *d = JD(v);
        if (d->n == 0)
            return jinja_sb_adds(R, b, "{}");
        /* keys as strings (json.dumps converts int, float, bool, None) */
        jv *keys = malloc(d->n * sizeof(jv));
        size_t *idx = malloc(d->n * sizeof(size_t));
        if (keys == NULL || idx == NULL) {
            free(keys);
            free(idx);
            return jinja_err(R, "out of memory");
        }
        bool ok = true;
        size_t nk = 0;
        for (size_t i = 0; i < d->n && ok; i++) {
            jv k = d->k[i];
            if (k.t == JV_STR) {
                keys[nk++] = jinja_jv_retain(k);
            } else if (k.t == JV_INT || k.t == JV_FLOAT) {
                keys[nk++] = jinja_jv_to_str(R, k);
            } else if (k.t == JV_BOOL) {
                keys[nk++] = jinja_jv_cstr(R, k.u.b ? "true" : "false");
            } else if (k.t == JV_NONE) {
                keys[nk++] = jinja_jv_cstr(R, "null");
            } else {
                ok = jinja_err(R, "keys must be str, int, float, bool or None, not %s",
                          jinja_jv_type_name(k));
            }
            if (ok && (keys[nk - 1].t != JV_STR))
                ok = false;
        }
        if (ok && o->sort_keys) {
            /* sort (key, index) pairs by key: store the index in a parallel array */
            for (size_t i = 0; i < nk; i++)
                idx[i] = i;
            /* simple insertion sort keeps it stable and dependency-free */
            for (size_t i = 1; i < nk; i++) {
                size_t j = i;
                while (j > 0 && cmp_keys(&keys[idx[j - 1]], &keys[idx[j]]) > 0) {
                    size_t t = idx[j];
                    idx[j] = idx[j - 1];
                    idx[j - 1] = t;
                    j--;
                }
            }
        } else {
            for (size_t i = 0; i < nk; i++)
                idx[i] = i;
        }
        if (ok)
            ok = jinja_sb_addc(R, b, '{');
        for (size_t n = 0; n < nk && ok; n++) {
            size_t i = idx[n];
            if (n && !jinja_sb_adds(R, b, o->item_sep))
                ok = false;
            else if (o->indent && !json_newline(R, b, o, level + 1))
                ok = false;
            else if (!json_str(R, b, JS(keys[i])->s, JS(keys[i])->len, o->ensure_ascii) ||
                     !jinja_sb_adds(R, b, o->key_sep) || !jinja_jv_tojson(R, b, d->v[i], o, level + 1))
                ok = false;
        }
        for (size_t i = 0; i < nk; i++)
            jinja_jv_release(keys[i]);
        free(keys);
        free(idx);
        if (!ok)
            return false;
        if (o->indent && !json_newline(R, b, o, level))
            return false;
        return jinja_sb_addc(R, b, '}');
    }
    default:
        return jinja_err(R, "Object of type %s is not JSON serializable", jinja_jv_type_name(v));
    }
}
