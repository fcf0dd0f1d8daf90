/*
 * jinja_eval.c - compiling and rendering: the template object, scopes
 * (frames) with jinja2's rules (a for loop iteration, a macro call and a
 * with block each get their own scope; if blocks do not), statements,
 * expressions with Python's operators, macro calls and the limits.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chat/jinja_internal.h"
#include "base/err.h"
#include "base/vec.h"

static _Thread_local uint64_t last_steps;

uint64_t jinja_last_steps(void)
{
    return last_steps;
}

void jinja_default_limits(struct jinja_limits *l)
{
    l->max_steps = 1000000;
    l->max_output = (size_t)32 << 20;
    l->max_alloc = (size_t)1 << 30;
    l->max_depth = 100;
}

/* ---- template -------------------------------------------------------------- */

void jinja_add_const(struct jinja_template *t, jv v)
{
    if (v.t != JV_STR)
        return;
    if (vec_reserve((void **)&t->consts, &t->capconsts, t->nconsts + 1, sizeof *t->consts) != 0) {
        /* leak rather than crash: the template fails anyway on OOM */
        return;
    }
    t->consts[t->nconsts++] = v;
}

int jinja_intern(struct jinja_template *t, const char *s, size_t len)
{
    for (size_t i = 0; i < t->nsyms; i++)
        if (t->symlens[i] == len && memcmp(t->symnames[i], s, len) == 0)
            return (int)i;
    if ((t->nsyms & (t->nsyms - 1)) == 0 || t->nsyms == 0) {
        size_t cap = t->nsyms ? t->nsyms * 2 : 16;
        const char **n = realloc(t->symnames, cap * sizeof(char *));
        if (n)
            t->symnames = n;
        size_t *l = realloc(t->symlens, cap * sizeof(size_t));
        if (l)
            t->symlens = l;
        int *b = realloc(t->symbuiltin, cap * sizeof(int));
        if (b)
            t->symbuiltin = b;
        jv *ss = realloc(t->symstr, cap * sizeof(jv));
        if (ss)
            t->symstr = ss;
        if (!n || !l || !b || !ss)
            return -1;
    }
    char *copy = jinja_arena_strdup(t->arena, s, len);
    jv str = jinja_jv_str(NULL, s, len);
    if (copy == NULL || str.t != JV_STR)
        return -1;
    jinja_jv_make_immortal(str);
    jinja_add_const(t, str);
    size_t i = t->nsyms++;
    t->symnames[i] = copy;
    t->symlens[i] = len;
    t->symbuiltin[i] = jinja_global_id(s, len);
    t->symstr[i] = str;
    return (int)i;
}

struct jinja_template *jinja_compile(const char *src, size_t len, char *err, size_t err_size)
{
    char dummy[8];
    if (err == NULL || err_size == 0) {
        err = dummy;
        err_size = sizeof(dummy);
    }
    err[0] = 0;
    struct jinja_template *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    t->arena = jinja_arena_new();
    if (t->arena == NULL) {
        free(t);
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    struct token *toks = NULL;
    size_t ntoks = 0;
    if (!jinja_lex(t->arena, src ? src : "", src ? len : 0, &toks, &ntoks, err, err_size)) {
        jinja_free(t);
        return NULL;
    }
    bool ok = jinja_parse(t, toks, ntoks, err, err_size);
    free(toks);
    if (!ok) {
        jinja_free(t);
        return NULL;
    }
    t->sym_loop = jinja_intern(t, "loop", 4);
    t->sym_caller = jinja_intern(t, "caller", 6);
    t->sym_varargs = jinja_intern(t, "varargs", 7);
    t->sym_kwargs = jinja_intern(t, "kwargs", 6);
    if (t->sym_loop < 0 || t->sym_caller < 0 || t->sym_varargs < 0 || t->sym_kwargs < 0) {
        snprintf(err, err_size, "out of memory");
        jinja_free(t);
        return NULL;
    }
    return t;
}

void jinja_free(struct jinja_template *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->nconsts; i++)
        free(t->consts[i].u.o);
    free(t->consts);
    free(t->symnames);
    free(t->symlens);
    free(t->symbuiltin);
    free(t->symstr);
    jinja_arena_destroy(t->arena);
    free(t);
}

/* ---- frames ---------------------------------------------------------------------- */

static struct frame *frame_new(struct render *R, struct frame *parent)
{
    struct frame *f = calloc(1, sizeof(*f));
    if (f == NULL) {
        jinja_err(R, "out of memory");
        return NULL;
    }
    f->parent = parent;
    return f;
}

static void frame_free(struct frame *f)
{
    for (size_t i = 0; i < f->n; i++)
        jinja_jv_release(f->vals[i]);
    free(f->syms);
    free(f->vals);
    free(f);
}

static void frame_pop(struct render *R, struct frame *f)
{
    R->frame = f->parent;
    if (!f->captured)
        frame_free(f);
}

static void capture(struct render *R, struct frame *f)
{
    for (; f && !f->captured && !f->is_root; f = f->parent) {
        if (vec_reserve((void **)&R->captured, &R->capcaptured, R->ncaptured + 1, sizeof *R->captured) != 0) {
            jinja_err(R, "out of memory");
            return;
        }
        f->captured = true;
        R->captured[R->ncaptured++] = f;
    }
}

static bool frame_set(struct render *R, struct frame *f, int sym, jv v)
{
    if (f->dense) {
        jinja_jv_release(f->dense[sym]);
        f->dense[sym] = v;
        return true;
    }
    for (size_t i = 0; i < f->n; i++)
        if (f->syms[i] == sym) {
            jinja_jv_release(f->vals[i]);
            f->vals[i] = v;
            return true;
        }
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 4;
        int *s = realloc(f->syms, cap * sizeof(int));
        if (s)
            f->syms = s;
        jv *vals = realloc(f->vals, cap * sizeof(jv));
        if (vals)
            f->vals = vals;
        if (!s || !vals) {
            jinja_jv_release(v);
            return jinja_err(R, "out of memory");
        }
        f->cap = cap;
    }
    f->syms[f->n] = sym;
    f->vals[f->n] = v;
    f->n++;
    return true;
}

static jv lookup(struct render *R, int sym)
{
    for (struct frame *f = R->frame; f; f = f->parent) {
        if (f->dense) {
            if (f->dense[sym].t != JV_MISSING)
                return jinja_jv_retain(f->dense[sym]);
            continue;
        }
        for (size_t i = 0; i < f->n; i++)
            if (f->syms[i] == sym)
                return jinja_jv_retain(f->vals[i]);
    }
    int g = R->t->symbuiltin[sym];
    if (g >= 0)
        return jinja_global_value(R, g);
    return (jv){.t = JV_UNDEF, .u.o = R->t->symstr[sym].u.o};
}

/* ---- output ------------------------------------------------------------------------ */

static bool out_add(struct render *R, const char *s, size_t n)
{
    if (R->out->len + n > R->lim.max_output)
        return jinja_err(R, "output size limit exceeded (%zu bytes)", R->lim.max_output);
    return jinja_sb_add(R, R->out, s, n);
}

/* ---- expressions --------------------------------------------------------------------- */

static jv eval(struct render *R, const struct node *n);

static void args_free(struct args *a)
{
    for (size_t i = 0; i < a->npos; i++)
        jinja_jv_release(a->pos[i]);
    for (size_t i = 0; i < a->nkw; i++)
        jinja_jv_release(a->kwv[i]);
    free(a->pos);
    free(a->kwv);
    free(a->kwn);
    free(a->kwl);
    memset(a, 0, sizeof(*a));
}

static bool args_add_kw(struct render *R, struct args *a, const char *name, size_t len, jv v)
{
    const char **kn = realloc(a->kwn, (a->nkw + 1) * sizeof(char *));
    if (kn)
        a->kwn = kn;
    size_t *kl = realloc(a->kwl, (a->nkw + 1) * sizeof(size_t));
    if (kl)
        a->kwl = kl;
    jv *kv = realloc(a->kwv, (a->nkw + 1) * sizeof(jv));
    if (kv)
        a->kwv = kv;
    if (!kn || !kl || !kv) {
        jinja_jv_release(v);
        return jinja_err(R, "out of memory");
    }
    a->kwn[a->nkw] = name;
    a->kwl[a->nkw] = len;
    a->kwv[a->nkw] = v;
    a->nkw++;
    return true;
}

static bool args_add_pos(struct render *R, struct args *a, jv v)
{
    jv *p = realloc(a->pos, (a->npos + 1) * sizeof(jv));
    if (p == NULL) {
        jinja_jv_release(v);
        return jinja_err(R, "out of memory");
    }
    a->pos = p;
    a->pos[a->npos++] = v;
    return true;
}

/* Evaluate the arguments of a call, filter or test node. The keyword names
 * of **kwargs point into their dict, which dynkw keeps alive. */
static bool eval_args(struct render *R, const struct node *n, struct args *a, jv *dynkw)
{
    memset(a, 0, sizeof(*a));
    *dynkw = JV_NONEV;
    for (size_t i = 0; i < n->n; i++) {
        jv v = eval(R, n->list[i]);
        if (R->failed) {
            jinja_jv_release(v);
            return false;
        }
        if (!args_add_pos(R, a, v))
            return false;
    }
    if (n->b) { /* *args */
        jv v = eval(R, n->b);
        if (R->failed) {
            jinja_jv_release(v);
            return false;
        }
        if (v.t != JV_LIST) {
            jinja_jv_release(v);
            return jinja_err(R, "argument after * must be an iterable");
        }
        for (size_t i = 0; i < JL(v)->n; i++)
            if (!args_add_pos(R, a, jinja_jv_retain(JL(v)->v[i]))) {
                jinja_jv_release(v);
                return false;
            }
        jinja_jv_release(v);
    }
    for (size_t i = 0; i < n->n2; i++) {
        jv v = eval(R, n->list2[i]);
        if (R->failed) {
            jinja_jv_release(v);
            return false;
        }
        if (!args_add_kw(R, a, n->kwn[i], n->kwl[i], v))
            return false;
    }
    if (n->c) { /* **kwargs */
        jv v = eval(R, n->c);
        if (R->failed) {
            jinja_jv_release(v);
            return false;
        }
        if (v.t != JV_DICT) {
            jinja_jv_release(v);
            return jinja_err(R, "argument after ** must be a mapping");
        }
        *dynkw = v;
        for (size_t i = 0; i < JD(v)->n; i++) {
            jv k = JD(v)->k[i];
            if (k.t != JV_STR)
                return jinja_err(R, "keywords must be strings");
            if (!args_add_kw(R, a, JS(k)->s, JS(k)->len, jinja_jv_retain(JD(v)->v[i])))
                return false;
        }
    }
    return true;
}

bool jinja_bind_args(struct render *R, const struct args *a, const char *fname,
               const char *const *params, size_t nparams, size_t nreq, jv *out)
{
    if (a->npos > nparams)
        return jinja_err(R, "%s() takes at most %zu argument(s) (%zu given)", fname, nparams, a->npos);
    for (size_t i = 0; i < nparams; i++)
        out[i] = i < a->npos ? a->pos[i] : JV_MISS;
    for (size_t k = 0; k < a->nkw; k++) {
        size_t i;
        for (i = 0; i < nparams; i++)
            if (strlen(params[i]) == a->kwl[k] && memcmp(params[i], a->kwn[k], a->kwl[k]) == 0)
                break;
        if (i == nparams)
            return jinja_err(R, "%s() got an unexpected keyword argument '%.*s'", fname,
                        (int)a->kwl[k], a->kwn[k]);
        if (out[i].t != JV_MISSING)
            return jinja_err(R, "%s() got multiple values for argument '%s'", fname, params[i]);
        out[i] = a->kwv[k];
    }
    for (size_t i = 0; i < nreq; i++)
        if (out[i].t == JV_MISSING)
            return jinja_err(R, "%s() missing required argument '%s'", fname, params[i]);
    return true;
}

static bool is_int(jv v) { return v.t == JV_INT || v.t == JV_BOOL; }
static int64_t as_i(jv v) { return v.t == JV_INT ? v.u.i : v.u.b; }
static bool is_number(jv v) { return v.t == JV_INT || v.t == JV_BOOL || v.t == JV_FLOAT; }
static double as_f(jv v) { return v.t == JV_FLOAT ? v.u.f : (double)as_i(v); }

static jv undef_use(struct render *R, jv v)
{
    if (v.u.o)
        return jinja_errv(R, "'%s' is undefined", JS(v)->s);
    return jinja_errv(R, "undefined value used");
}

static jv type_err(struct render *R, const char *op, jv a, jv b)
{
    if (a.t == JV_UNDEF)
        return undef_use(R, a);
    if (b.t == JV_UNDEF)
        return undef_use(R, b);
    return jinja_errv(R, "unsupported operand type(s) for %s: '%s' and '%s'", op, jinja_jv_type_name(a),
                 jinja_jv_type_name(b));
}

/* HTML escaping as markupsafe does it. */
static bool html_escape(struct render *R, struct sbuf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *e = NULL;
        switch (s[i]) {
        case '&': e = "&amp;"; break;
        case '<': e = "&lt;"; break;
        case '>': e = "&gt;"; break;
        case '"': e = "&#34;"; break;
        case '\'': e = "&#39;"; break;
        default: break;
        }
        if (e ? !jinja_sb_adds(R, b, e) : !jinja_sb_addc(R, b, s[i]))
            return false;
    }
    return true;
}

jv jinja_jv_escape(struct render *R, jv v)
{
    if (v.t == JV_STR && v.safe)
        return jinja_jv_retain(v);
    jv s = jinja_jv_to_str(R, v);
    if (s.t != JV_STR)
        return s;
    struct sbuf b = {0};
    bool ok = html_escape(R, &b, JS(s)->s, JS(s)->len);
    jinja_jv_release(s);
    if (!ok) {
        sbuf_free(&b);
        return JV_U;
    }
    jv r = jinja_sb_take_str(R, &b);
    r.safe = 1;
    return r;
}

static jv str_concat(struct render *R, jv a, jv b)
{
    /* Markup + str escapes the str (markupsafe), whichever side it is on */
    if (a.safe != b.safe) {
        jv ea = a.safe ? jinja_jv_retain(a) : jinja_jv_escape(R, a);
        jv eb = b.safe ? jinja_jv_retain(b) : jinja_jv_escape(R, b);
        jv r = JV_U;
        if (!R->failed)
            r = str_concat(R, ea, eb);
        jinja_jv_release(ea);
        jinja_jv_release(eb);
        return r;
    }
    size_t la = JS(a)->len, lb = JS(b)->len;
    if (la + lb > R->lim.max_output)
        return jinja_errv(R, "string too long");
    if (!jinja_charge(R, la + lb + sizeof(struct jstr) + 1))
        return JV_U;
    struct jstr *p = malloc(sizeof(struct jstr) + la + lb + 1);
    if (p == NULL)
        return jinja_errv(R, "out of memory");
    p->h.rc = 1;
    p->h.kind = JV_STR;
    p->len = la + lb;
    memcpy(p->s, JS(a)->s, la);
    memcpy(p->s + la, JS(b)->s, lb);
    p->s[la + lb] = 0;
    p->ncp = JS(a)->ncp + JS(b)->ncp;
    return (jv){.t = JV_STR, .safe = a.safe, .u.o = &p->h};
}

static jv seq_concat(struct render *R, jv a, jv b)
{
    jv l = jinja_jv_list_new(R, JL(a)->n + JL(b)->n, JL(a)->tuple);
    if (l.t != JV_LIST)
        return l;
    for (size_t i = 0; i < JL(a)->n; i++)
        if (!jinja_jv_list_push(R, l, jinja_jv_retain(JL(a)->v[i])))
            goto fail;
    for (size_t i = 0; i < JL(b)->n; i++)
        if (!jinja_jv_list_push(R, l, jinja_jv_retain(JL(b)->v[i])))
            goto fail;
    return l;
fail:
    jinja_jv_release(l);
    return JV_U;
}

static jv repeat(struct render *R, jv s, int64_t k)
{
    if (k < 0)
        k = 0;
    if (s.t == JV_STR) {
        size_t len = JS(s)->len;
        if (len && (uint64_t)k > R->lim.max_output / len)
            return jinja_errv(R, "string too long");
        struct sbuf b = {0};
        for (int64_t i = 0; i < k; i++)
            if (!jinja_sb_add(R, &b, JS(s)->s, len)) {
                sbuf_free(&b);
                return JV_U;
            }
        jv r = jinja_sb_take_str(R, &b);
        r.safe = s.safe;
        return r;
    }
    size_t n = JL(s)->n;
    if (n && (uint64_t)k > 10000000 / n)
        return jinja_errv(R, "list too long");
    if (!step(R, (uint64_t)k * n))
        return JV_U;
    jv l = jinja_jv_list_new(R, (size_t)k * n, JL(s)->tuple);
    if (l.t != JV_LIST)
        return l;
    for (int64_t i = 0; i < k; i++)
        for (size_t j = 0; j < n; j++)
            if (!jinja_jv_list_push(R, l, jinja_jv_retain(JL(s)->v[j]))) {
                jinja_jv_release(l);
                return JV_U;
            }
    return l;
}

static jv binop(struct render *R, int op, jv a, jv b)
{
    static const char *names[] = {[OP_ADD] = "+", [OP_SUB] = "-", [OP_MUL] = "*",
                                  [OP_DIV] = "/", [OP_FLOORDIV] = "//", [OP_MOD] = "%",
                                  [OP_POW] = "** or pow()"};
    if (op == OP_MOD && a.t == JV_STR)
        return jinja_jv_percent_format(R, a, b);
    if (a.t == JV_UNDEF)
        return undef_use(R, a);
    if (b.t == JV_UNDEF)
        return undef_use(R, b);
    if (is_number(a) && is_number(b)) {
        bool fl = a.t == JV_FLOAT || b.t == JV_FLOAT;
        if (!fl) {
            int64_t x = as_i(a), y = as_i(b), r;
            switch (op) {
            case OP_ADD:
                if (__builtin_add_overflow(x, y, &r))
                    return jinja_errv(R, "integer overflow");
                return jv_int(r);
            case OP_SUB:
                if (__builtin_sub_overflow(x, y, &r))
                    return jinja_errv(R, "integer overflow");
                return jv_int(r);
            case OP_MUL:
                if (__builtin_mul_overflow(x, y, &r))
                    return jinja_errv(R, "integer overflow");
                return jv_int(r);
            case OP_DIV:
                if (y == 0)
                    return jinja_errv(R, "division by zero");
                return jv_float((double)x / (double)y);
            case OP_FLOORDIV:
            case OP_MOD: {
                if (y == 0)
                    return jinja_errv(R, op == OP_MOD ? "integer modulo by zero"
                                                 : "integer division or modulo by zero");
                if (x == INT64_MIN && y == -1)
                    return op == OP_MOD ? jv_int(0) : jinja_errv(R, "integer overflow");
                int64_t q = x / y, m = x % y;
                if (m != 0 && ((m < 0) != (y < 0))) {
                    q--;
                    m += y;
                }
                return jv_int(op == OP_MOD ? m : q);
            }
            case OP_POW: {
                if (y < 0)
                    return jv_float(pow((double)x, (double)y));
                int64_t acc = 1, base = x;
                int64_t e = y;
                while (e > 0) {
                    if (e & 1)
                        if (__builtin_mul_overflow(acc, base, &acc))
                            return jinja_errv(R, "integer overflow");
                    e >>= 1;
                    if (e && __builtin_mul_overflow(base, base, &base))
                        return jinja_errv(R, "integer overflow");
                }
                return jv_int(acc);
            }
            }
        } else {
            double x = as_f(a), y = as_f(b);
            switch (op) {
            case OP_ADD: return jv_float(x + y);
            case OP_SUB: return jv_float(x - y);
            case OP_MUL: return jv_float(x * y);
            case OP_DIV:
                if (y == 0)
                    return jinja_errv(R, "float division by zero");
                return jv_float(x / y);
            case OP_FLOORDIV:
            case OP_MOD: {
                if (y == 0)
                    return jinja_errv(R, op == OP_MOD ? "float modulo" : "float floor division by zero");
                /* CPython's float divmod */
                double mod = fmod(x, y);
                double div = (x - mod) / y;
                if (mod != 0) {
                    if ((y < 0) != (mod < 0)) {
                        mod += y;
                        div -= 1.0;
                    }
                } else {
                    mod = copysign(0.0, y);
                }
                double fdiv;
                if (div != 0) {
                    fdiv = floor(div);
                    if (div - fdiv > 0.5)
                        fdiv += 1.0;
                } else {
                    fdiv = copysign(0.0, x / y);
                }
                return jv_float(op == OP_MOD ? mod : fdiv);
            }
            case OP_POW:
                if (x == 0 && y < 0)
                    return jinja_errv(R, "0.0 cannot be raised to a negative power");
                return jv_float(pow(x, y));
            }
        }
    }
    if (op == OP_ADD) {
        if (a.t == JV_STR && b.t == JV_STR)
            return str_concat(R, a, b);
        if (a.t == JV_LIST && b.t == JV_LIST && JL(a)->tuple == JL(b)->tuple)
            return seq_concat(R, a, b);
        if (a.t == JV_STR && b.t != JV_STR)
            return jinja_errv(R, "can only concatenate str (not \"%s\") to str", jinja_jv_type_name(b));
        if (a.t == JV_LIST && !JL(a)->tuple)
            return jinja_errv(R, "can only concatenate list (not \"%s\") to list", jinja_jv_type_name(b));
    }
    if (op == OP_MUL) {
        if ((a.t == JV_STR || a.t == JV_LIST) && is_int(b))
            return repeat(R, a, as_i(b));
        if ((b.t == JV_STR || b.t == JV_LIST) && is_int(a))
            return repeat(R, b, as_i(a));
    }
    if (op == OP_MOD && a.t == JV_STR)
        return jinja_jv_percent_format(R, a, b);
    return type_err(R, names[op], a, b);
}

/* item in container */
static int contains(struct render *R, jv container, jv item)
{
    switch (container.t) {
    case JV_STR:
        if (item.t != JV_STR) {
            jinja_err(R, "'in <string>' requires string as left operand, not %s", jinja_jv_type_name(item));
            return -1;
        }
        if (JS(item)->len == 0)
            return 1;
        return memmem(JS(container)->s, JS(container)->len, JS(item)->s, JS(item)->len) != NULL;
    case JV_LIST:
        for (size_t i = 0; i < JL(container)->n; i++)
            if (jinja_jv_equal(JL(container)->v[i], item))
                return 1;
        return 0;
    case JV_DICT:
        return jinja_jv_dict_get(container, item).t != JV_MISSING;
    case JV_UNDEF:
        return 0;
    default:
        jinja_err(R, "argument of type '%s' is not iterable", jinja_jv_type_name(container));
        return -1;
    }
}

int jinja_jv_contains(struct render *R, jv container, jv item)
{
    return contains(R, container, item);
}

static int compare_op(struct render *R, int op, jv a, jv b)
{
    bool ok = true;
    int c;
    switch (op) {
    case OP_EQ: return jinja_jv_equal(a, b);
    case OP_NE: return !jinja_jv_equal(a, b);
    case OP_IN: return contains(R, b, a);
    case OP_NOTIN: {
        int r = contains(R, b, a);
        return r < 0 ? r : !r;
    }
    default:
        c = jinja_jv_compare(R, a, b, &ok);
        if (!ok)
            return -1;
        switch (op) {
        case OP_LT: return c < 0;
        case OP_LE: return c <= 0;
        case OP_GT: return c > 0;
        case OP_GE: return c >= 0;
        }
    }
    return -1;
}

int jinja_jv_compare_op(struct render *R, int op, jv a, jv b)
{
    return compare_op(R, op, a, b);
}

/* Python slice indices for a sequence of len n. */
static bool slice_indices(struct render *R, jv start, jv stop, jv stepv, int64_t n,
                          int64_t *s, int64_t *e, int64_t *st)
{
    int64_t stp = 1;
    if (stepv.t != JV_NONE && stepv.t != JV_MISSING) {
        if (!is_int(stepv))
            return jinja_err(R, "slice indices must be integers or None");
        stp = as_i(stepv);
        if (stp == 0)
            return jinja_err(R, "slice step cannot be zero");
    }
    int64_t lo, hi;
    if (stp > 0) {
        lo = 0;
        hi = n;
    } else {
        lo = -1;
        hi = n - 1;
    }
    int64_t a, b;
    if (start.t == JV_NONE || start.t == JV_MISSING) {
        a = stp > 0 ? lo : hi;
    } else {
        if (!is_int(start))
            return jinja_err(R, "slice indices must be integers or None");
        a = as_i(start);
        if (a < 0) {
            a += n;
            if (a < lo)
                a = lo;
        } else if (a > hi) {
            a = hi;
        }
    }
    if (stop.t == JV_NONE || stop.t == JV_MISSING) {
        b = stp > 0 ? hi : lo;
    } else {
        if (!is_int(stop))
            return jinja_err(R, "slice indices must be integers or None");
        b = as_i(stop);
        if (b < 0) {
            b += n;
            if (b < lo)
                b = lo;
        } else if (b > hi) {
            b = hi;
        }
    }
    *s = a;
    *e = b;
    *st = stp;
    return true;
}

jv jinja_jv_slice(struct render *R, jv obj, jv start, jv stop, jv stepv)
{
    if (obj.t == JV_UNDEF)
        return undef_use(R, obj);
    if (obj.t != JV_STR && obj.t != JV_LIST) /* slices bypass the sandbox's getitem */
        return jinja_errv(R, "'%s' object is not subscriptable", jinja_jv_type_name(obj));
    int64_t n = obj.t == JV_STR ? (int64_t)JS(obj)->ncp : (int64_t)JL(obj)->n;
    int64_t a = 0, b = 0, st = 1;
    if (!slice_indices(R, start, stop, stepv, n, &a, &b, &st))
        return JV_U;
    if (obj.t == JV_LIST) {
        jv l = jinja_jv_list_new(R, 0, JL(obj)->tuple);
        if (l.t != JV_LIST)
            return l;
        for (int64_t i = a; st > 0 ? i < b : i > b; i += st)
            if (!jinja_jv_list_push(R, l, jinja_jv_retain(JL(obj)->v[i]))) {
                jinja_jv_release(l);
                return JV_U;
            }
        return l;
    }
    /* strings: by characters */
    const char *s = JS(obj)->s;
    size_t len = JS(obj)->len;
    struct sbuf out = {0};
    if (st == 1) {
        if (b > a) {
            size_t from = utf8_offset(s, len, (size_t)a), to = utf8_offset(s, len, (size_t)b);
            if (!jinja_sb_add(R, &out, s + from, to - from)) {
                sbuf_free(&out);
                return JV_U;
            }
        }
    } else {
        /* character start offsets */
        size_t *offs = malloc(((size_t)n + 1) * sizeof(size_t));
        if (offs == NULL)
            return jinja_errv(R, "out of memory");
        size_t k = 0;
        for (size_t i = 0; i < len; i++)
            if (((uint8_t)s[i] & 0xC0) != 0x80)
                offs[k++] = i;
        offs[k] = len;
        for (int64_t i = a; st > 0 ? i < b : i > b; i += st)
            if (!jinja_sb_add(R, &out, s + offs[i], offs[i + 1] - offs[i])) {
                free(offs);
                sbuf_free(&out);
                return JV_U;
            }
        free(offs);
    }
    jv r = jinja_sb_take_str(R, &out);
    r.safe = obj.safe;
    return r;
}

static jv eval_filter_node(struct render *R, const struct node *n, jv input_take);

static jv eval_filter_chain(struct render *R, const struct node *f, jv input_take)
{
    /* f->a is NULL for the innermost filter of a filter block / block set */
    if (f->a) {
        jv inner = eval_filter_chain(R, f->a, input_take);
        if (R->failed) {
            jinja_jv_release(inner);
            return JV_U;
        }
        return eval_filter_node(R, f, inner);
    }
    return eval_filter_node(R, f, input_take);
}

static jv eval_filter_node(struct render *R, const struct node *n, jv v)
{
    struct args a;
    jv dynkw;
    if (!eval_args(R, n, &a, &dynkw)) {
        args_free(&a);
        jinja_jv_release(dynkw);
        jinja_jv_release(v);
        return JV_U;
    }
    jv r = jinja_call_filter(R, n->op, n->name, v, &a);
    args_free(&a);
    jinja_jv_release(dynkw);
    jinja_jv_release(v);
    return r;
}

static jv call_value(struct render *R, jv fn, const struct args *a)
{
    switch (fn.t) {
    case JV_MACRO:
        return jinja_call_macro(R, fn, a);
    case JV_FUNC:
        return jinja_call_func(R, fn, a);
    case JV_UNDEF:
        return undef_use(R, fn);
    default:
        return jinja_errv(R, "'%s' object is not callable", jinja_jv_type_name(fn));
    }
}

static jv build_seq(struct render *R, const struct node *n, bool tuple)
{
    jv l = jinja_jv_list_new(R, n->n, tuple);
    if (l.t != JV_LIST)
        return l;
    for (size_t i = 0; i < n->n; i++) {
        jv v = eval(R, n->list[i]);
        if (R->failed) {
            jinja_jv_release(v);
            jinja_jv_release(l);
            return JV_U;
        }
        if (!jinja_jv_list_push(R, l, v)) {
            jinja_jv_release(l);
            return JV_U;
        }
    }
    return l;
}

/* Nesting of eval/exec calls on the C stack: tall syntax trees (a + b + c + ...
 * with thousands of terms) stop with an error instead of exhausting the stack. */
#define MAX_RDEPTH 2000

static jv eval_node(struct render *R, const struct node *n);

static jv eval(struct render *R, const struct node *n)
{
    if (R->rdepth >= MAX_RDEPTH)
        return jinja_errv(R, "expression nested too deeply");
    R->rdepth++;
    jv v = eval_node(R, n);
    R->rdepth--;
    return v;
}

static jv eval_node(struct render *R, const struct node *n)
{
    if (!step(R, 1))
        return JV_U;
    switch (n->kind) {
    case N_CONST:
        return n->value; /* immortal */
    case N_NAME:
        return lookup(R, n->sym);
    case N_GETATTR: {
        jv o = eval(R, n->a);
        if (R->failed) {
            jinja_jv_release(o);
            return JV_U;
        }
        jv r;
        if (o.t == JV_UNDEF)
            r = undef_use(R, o);
        else
            r = jinja_get_attr(R, o, n->name, n->name_len);
        jinja_jv_release(o);
        return r;
    }
    case N_GETITEM: {
        jv o = eval(R, n->a);
        if (R->failed) {
            jinja_jv_release(o);
            return JV_U;
        }
        jv k = eval(R, n->b);
        if (R->failed) {
            jinja_jv_release(o);
            jinja_jv_release(k);
            return JV_U;
        }
        jv r = o.t == JV_UNDEF ? undef_use(R, o) : jinja_get_item(R, o, k);
        jinja_jv_release(o);
        jinja_jv_release(k);
        return r;
    }
    case N_SLICE: {
        if (n->a == NULL) /* a slice inside a tuple subscript: x[1:, 2] */
            return jinja_errv(R, "indices must be integers or slices, not tuple");
        jv o = eval(R, n->a);
        jv s = JV_NONEV, e = JV_NONEV, st = JV_NONEV;
        if (!R->failed && n->b)
            s = eval(R, n->b);
        if (!R->failed && n->c)
            e = eval(R, n->c);
        if (!R->failed && n->d)
            st = eval(R, n->d);
        jv r = R->failed ? JV_U : jinja_jv_slice(R, o, s, e, st);
        jinja_jv_release(o);
        jinja_jv_release(s);
        jinja_jv_release(e);
        jinja_jv_release(st);
        return r;
    }
    case N_CALL: {
        jv fn = eval(R, n->a);
        if (R->failed) {
            jinja_jv_release(fn);
            return JV_U;
        }
        struct args a;
        jv dynkw;
        jv r = JV_U;
        if (eval_args(R, n, &a, &dynkw))
            r = call_value(R, fn, &a);
        args_free(&a);
        jinja_jv_release(dynkw);
        jinja_jv_release(fn);
        return r;
    }
    case N_FILTER: {
        jv v = eval(R, n->a);
        if (R->failed) {
            jinja_jv_release(v);
            return JV_U;
        }
        return eval_filter_node(R, n, v);
    }
    case N_TEST: {
        jv v = eval(R, n->a);
        if (R->failed) {
            jinja_jv_release(v);
            return JV_U;
        }
        struct args a;
        jv dynkw;
        int r = -1;
        if (eval_args(R, n, &a, &dynkw))
            r = jinja_call_test(R, n->op, n->name, v, &a);
        args_free(&a);
        jinja_jv_release(dynkw);
        jinja_jv_release(v);
        return r < 0 ? JV_U : jv_bool(r);
    }
    case N_BINOP: {
        jv a = eval(R, n->a);
        if (R->failed) {
            jinja_jv_release(a);
            return JV_U;
        }
        jv b = eval(R, n->b);
        jv r = R->failed ? JV_U : binop(R, n->op, a, b);
        jinja_jv_release(a);
        jinja_jv_release(b);
        return r;
    }
    case N_NEG:
    case N_POS: {
        jv a = eval(R, n->a);
        jv r = JV_U;
        if (R->failed)
            ;
        else if (a.t == JV_FLOAT)
            r = jv_float(n->kind == N_NEG ? -a.u.f : a.u.f);
        else if (is_int(a)) {
            int64_t x = as_i(a);
            if (n->kind == N_NEG && x == INT64_MIN)
                r = jinja_errv(R, "integer overflow");
            else
                r = jv_int(n->kind == N_NEG ? -x : x);
        } else if (a.t == JV_UNDEF)
            r = undef_use(R, a);
        else
            r = jinja_errv(R, "bad operand type for unary %s: '%s'", n->kind == N_NEG ? "-" : "+",
                      jinja_jv_type_name(a));
        jinja_jv_release(a);
        return r;
    }
    case N_NOT: {
        jv a = eval(R, n->a);
        bool t = jinja_jv_truthy(a);
        jinja_jv_release(a);
        return R->failed ? JV_U : jv_bool(!t);
    }
    case N_AND:
    case N_OR: {
        jv a = eval(R, n->a);
        if (R->failed) {
            jinja_jv_release(a);
            return JV_U;
        }
        bool t = jinja_jv_truthy(a);
        if ((n->kind == N_AND && !t) || (n->kind == N_OR && t))
            return a;
        jinja_jv_release(a);
        return eval(R, n->b);
    }
    case N_COMPARE: {
        jv left = eval(R, n->a);
        if (R->failed) {
            jinja_jv_release(left);
            return JV_U;
        }
        for (size_t i = 0; i < n->n; i++) {
            jv right = eval(R, n->list[i]);
            if (R->failed) {
                jinja_jv_release(left);
                jinja_jv_release(right);
                return JV_U;
            }
            int r = compare_op(R, n->syms[i], left, right);
            jinja_jv_release(left);
            left = right;
            if (r <= 0) {
                jinja_jv_release(left);
                return r < 0 ? JV_U : jv_bool(false);
            }
        }
        jinja_jv_release(left);
        return jv_bool(true);
    }
    case N_COND: {
        jv c = eval(R, n->a);
        if (R->failed) {
            jinja_jv_release(c);
            return JV_U;
        }
        bool t = jinja_jv_truthy(c);
        jinja_jv_release(c);
        if (t)
            return eval(R, n->b);
        return n->c ? eval(R, n->c) : JV_U;
    }
    case N_LIST:
        return build_seq(R, n, false);
    case N_TUPLE:
        return build_seq(R, n, true);
    case N_DICT: {
        jv d = jinja_jv_dict_new(R, n->n);
        if (d.t != JV_DICT)
            return d;
        for (size_t i = 0; i < n->n; i++) {
            jv k = eval(R, n->list[i]);
            if (R->failed) {
                jinja_jv_release(k);
                jinja_jv_release(d);
                return JV_U;
            }
            if (k.t == JV_LIST && !JL(k)->tuple) {
                jinja_jv_release(k);
                jinja_jv_release(d);
                return jinja_errv(R, "unhashable type: 'list'");
            }
            if (k.t == JV_DICT || k.t == JV_NS) {
                jinja_jv_release(k);
                jinja_jv_release(d);
                return jinja_errv(R, "unhashable type: '%s'", jinja_jv_type_name(k));
            }
            jv v = eval(R, n->list2[i]);
            if (R->failed) {
                jinja_jv_release(k);
                jinja_jv_release(v);
                jinja_jv_release(d);
                return JV_U;
            }
            if (!jinja_jv_dict_set(R, d, k, v)) {
                jinja_jv_release(d);
                return JV_U;
            }
        }
        return d;
    }
    case N_CONCAT: {
        struct sbuf b = {0};
        for (size_t i = 0; i < n->n; i++) {
            jv v = eval(R, n->list[i]);
            bool ok = !R->failed && jinja_jv_str_append(R, &b, v);
            jinja_jv_release(v);
            if (!ok) {
                sbuf_free(&b);
                return JV_U;
            }
            if (b.len > R->lim.max_output) {
                sbuf_free(&b);
                return jinja_errv(R, "string too long");
            }
        }
        return jinja_sb_take_str(R, &b);
    }
    default:
        return jinja_errv(R, "internal error: unexpected node %d", n->kind);
    }
}

/* ---- statements --------------------------------------------------------------------- */

static void exec_body(struct render *R, struct node *const *list, size_t n);

static bool assign(struct render *R, const struct node *target, jv v)
{
    if (target->kind == N_NAME)
        return frame_set(R, R->frame, target->sym, v);
    if (target->kind == N_NSREF) {
        jv ns = lookup(R, target->sym);
        if (ns.t != JV_NS) {
            jinja_jv_release(ns);
            jinja_jv_release(v);
            return jinja_err(R, "cannot assign attribute on non-namespace object");
        }
        bool ok = jinja_jv_dict_set(R, ns, jinja_jv_retain(target->value), v);
        jinja_jv_release(ns);
        return ok;
    }
    /* tuple unpacking */
    jv items;
    if (v.t == JV_LIST) {
        items = jinja_jv_retain(v);
    } else if (v.t == JV_STR || v.t == JV_DICT) {
        items = jinja_jv_iter_list(R, v);
        if (R->failed) {
            jinja_jv_release(v);
            return false;
        }
    } else {
        jinja_err(R, "cannot unpack non-iterable %s object", jinja_jv_type_name(v));
        jinja_jv_release(v);
        return false;
    }
    jinja_jv_release(v);
    size_t want = target->n, have = JL(items)->n;
    if (want != have) {
        jinja_jv_release(items);
        if (have > want)
            return jinja_err(R, "too many values to unpack (expected %zu)", want);
        return jinja_err(R, "not enough values to unpack (expected %zu, got %zu)", want, have);
    }
    for (size_t i = 0; i < want; i++)
        if (!assign(R, target->list[i], jinja_jv_retain(JL(items)->v[i]))) {
            jinja_jv_release(items);
            return false;
        }
    jinja_jv_release(items);
    return true;
}

/* The items a for loop or a filter iterates: a new list. */
jv jinja_jv_iter_list(struct render *R, jv v)
{
    switch (v.t) {
    case JV_LIST:
        return jinja_jv_retain(v);
    case JV_UNDEF:
        return jinja_jv_list_new(R, 0, false);
    case JV_DICT: {
        jv l = jinja_jv_list_new(R, JD(v)->n, false);
        if (l.t != JV_LIST)
            return l;
        for (size_t i = 0; i < JD(v)->n; i++)
            if (!jinja_jv_list_push(R, l, jinja_jv_retain(JD(v)->k[i]))) {
                jinja_jv_release(l);
                return JV_U;
            }
        return l;
    }
    case JV_STR: {
        const char *s = JS(v)->s;
        size_t len = JS(v)->len;
        jv l = jinja_jv_list_new(R, JS(v)->ncp, false);
        if (l.t != JV_LIST)
            return l;
        size_t i = 0;
        while (i < len) {
            size_t j = i + 1;
            while (j < len && ((uint8_t)s[j] & 0xC0) == 0x80)
                j++;
            jv c = jinja_jv_str(R, s + i, j - i); /* iterating a Markup gives plain strings */
            if (c.t != JV_STR || !jinja_jv_list_push(R, l, c)) {
                jinja_jv_release(l);
                return JV_U;
            }
            i = j;
        }
        return l;
    }
    case JV_LOOP:
        return jinja_jv_retain(((struct jloop *)v.u.o)->items);
    default:
        return jinja_errv(R, "'%s' object is not iterable", jinja_jv_type_name(v));
    }
}

static jv capture_body(struct render *R, struct node *const *list, size_t n)
{
    struct sbuf buf = {0}, *saved = R->out;
    R->out = &buf;
    exec_body(R, list, n);
    R->out = saved;
    if (R->failed) {
        sbuf_free(&buf);
        return JV_U;
    }
    return jinja_sb_take_str(R, &buf);
}

/* The body of a block set or a filter block: its own scope, as in jinja2. */
static jv capture_scoped(struct render *R, struct node *const *list, size_t n)
{
    struct frame *f = frame_new(R, R->frame);
    if (f == NULL)
        return JV_U;
    R->frame = f;
    jv v = capture_body(R, list, n);
    frame_pop(R, f);
    return v;
}

static void exec_for(struct render *R, const struct node *n)
{
    jv it = eval(R, n->b);
    if (R->failed) {
        jinja_jv_release(it);
        return;
    }
    jv items = jinja_jv_iter_list(R, it);
    jinja_jv_release(it);
    if (R->failed) {
        jinja_jv_release(items);
        return;
    }
    struct frame *outer = R->frame;
    if (n->c) {
        /* "for x in y if cond": filter first so that loop.length counts the kept items */
        jv kept = jinja_jv_list_new(R, JL(items)->n, false);
        if (kept.t != JV_LIST) {
            jinja_jv_release(items);
            return;
        }
        for (size_t i = 0; i < JL(items)->n && !R->failed; i++) {
            struct frame *f = frame_new(R, outer);
            if (f == NULL)
                break;
            R->frame = f;
            if (assign(R, n->a, jinja_jv_retain(JL(items)->v[i]))) {
                jv c = eval(R, n->c);
                bool t = jinja_jv_truthy(c);
                jinja_jv_release(c);
                if (!R->failed && t)
                    jinja_jv_list_push(R, kept, jinja_jv_retain(JL(items)->v[i]));
            }
            frame_pop(R, f);
        }
        jinja_jv_release(items);
        items = kept;
        if (R->failed) {
            jinja_jv_release(items);
            return;
        }
    }
    size_t count = JL(items)->n;
    if (count == 0) {
        jinja_jv_release(items);
        exec_body(R, n->list2, n->n2);
        return;
    }
    struct jloop *lp = calloc(1, sizeof(*lp));
    if (lp == NULL || !jinja_charge(R, sizeof(*lp))) {
        free(lp);
        jinja_jv_release(items);
        jinja_err(R, "out of memory");
        return;
    }
    lp->h.rc = 1;
    lp->h.kind = JV_LOOP;
    lp->items = items; /* the loop owns the list now */
    jv loopv = {.t = JV_LOOP, .u.o = &lp->h};
    for (size_t i = 0; i < count; i++) {
        if (!step(R, 1))
            break;
        lp->index0 = i;
        struct frame *f = frame_new(R, outer);
        if (f == NULL)
            break;
        R->frame = f;
        if (frame_set(R, f, R->t->sym_loop, jinja_jv_retain(loopv)) &&
            assign(R, n->a, jinja_jv_retain(JL(items)->v[i])))
            exec_body(R, n->list, n->n);
        frame_pop(R, f);
        if (R->failed)
            break;
        if (R->loopctl == 1) {
            R->loopctl = 0;
            break;
        }
        R->loopctl = 0;
    }
    R->frame = outer;
    jinja_jv_release(loopv);
}

static void exec_macro_def(struct render *R, const struct node *n)
{
    struct jmacro *m = calloc(1, sizeof(*m));
    if (m == NULL || !jinja_charge(R, sizeof(*m))) {
        free(m);
        jinja_err(R, "out of memory");
        return;
    }
    m->h.rc = 1;
    m->h.kind = JV_MACRO;
    m->def = n;
    m->closure = R->frame;
    capture(R, R->frame);
    frame_set(R, R->frame, n->sym, (jv){.t = JV_MACRO, .u.o = &m->h});
}

jv jinja_call_macro(struct render *R, jv mv, const struct args *a)
{
    struct jmacro *m = (struct jmacro *)mv.u.o;
    const struct node *def = m->def;
    if (R->depth >= R->lim.max_depth)
        return jinja_errv(R, "maximum recursion depth exceeded (%d nested macro calls)",
                     R->lim.max_depth);
    struct frame *f = frame_new(R, m->closure);
    if (f == NULL)
        return JV_U;
    struct frame *saved = R->frame;
    R->frame = f;
    R->depth++;
    size_t np = def->nsyms, nd = def->n2;
    jv varargs = jinja_jv_list_new(R, 0, true);
    jv kwargs = jinja_jv_dict_new(R, 0);
    bool ok = varargs.t == JV_LIST && kwargs.t == JV_DICT;
    for (size_t i = 0; ok && i < a->npos; i++) {
        if (i < np)
            ok = frame_set(R, f, def->syms[i], jinja_jv_retain(a->pos[i]));
        else
            ok = jinja_jv_list_push(R, varargs, jinja_jv_retain(a->pos[i]));
    }
    bool *given = calloc(np ? np : 1, sizeof(bool));
    if (given == NULL)
        ok = jinja_err(R, "out of memory");
    for (size_t i = 0; ok && i < np && i < a->npos; i++)
        given[i] = true;
    for (size_t k = 0; ok && k < a->nkw; k++) {
        size_t i;
        for (i = 0; i < np; i++) {
            int s = def->syms[i];
            if (R->t->symlens[s] == a->kwl[k] &&
                memcmp(R->t->symnames[s], a->kwn[k], a->kwl[k]) == 0)
                break;
        }
        if (i < np) {
            if (given[i]) {
                ok = jinja_err(R, "macro got multiple values for argument '%.*s'", (int)a->kwl[k],
                          a->kwn[k]);
                break;
            }
            given[i] = true;
            ok = frame_set(R, f, def->syms[i], jinja_jv_retain(a->kwv[k]));
        } else if (a->kwl[k] == 6 && memcmp(a->kwn[k], "caller", 6) == 0) {
            ok = frame_set(R, f, R->t->sym_caller, jinja_jv_retain(a->kwv[k]));
        } else {
            jv key = jinja_jv_str(R, a->kwn[k], a->kwl[k]);
            ok = key.t == JV_STR && jinja_jv_dict_set(R, kwargs, key, jinja_jv_retain(a->kwv[k]));
        }
    }
    /* defaults (evaluated in the macro's scope) and missing arguments (Undefined) */
    for (size_t i = 0; ok && i < np; i++) {
        if (given[i])
            continue;
        if (i >= np - nd) {
            jv d = eval(R, def->list2[i - (np - nd)]);
            if (R->failed) {
                jinja_jv_release(d);
                ok = false;
                break;
            }
            ok = frame_set(R, f, def->syms[i], d);
        } else {
            ok = frame_set(R, f, def->syms[i],
                           (jv){.t = JV_UNDEF, .u.o = R->t->symstr[def->syms[i]].u.o});
        }
    }
    free(given);
    if (ok)
        ok = frame_set(R, f, R->t->sym_varargs, varargs);
    else
        jinja_jv_release(varargs);
    if (ok)
        ok = frame_set(R, f, R->t->sym_kwargs, kwargs);
    else
        jinja_jv_release(kwargs);
    jv r = JV_U;
    if (ok && !R->failed)
        r = capture_body(R, def->list, def->n);
    R->depth--;
    R->frame = saved;
    if (!f->captured)
        frame_free(f);
    return r;
}

static void exec_node(struct render *R, const struct node *n);

static void exec(struct render *R, const struct node *n)
{
    if (R->rdepth >= MAX_RDEPTH) {
        jinja_err(R, "template nested too deeply");
        return;
    }
    R->rdepth++;
    exec_node(R, n);
    R->rdepth--;
}

static void exec_node(struct render *R, const struct node *n)
{
    if (!step(R, 1))
        return;
    switch (n->kind) {
    case N_TEXT:
        out_add(R, JS(n->value)->s, JS(n->value)->len);
        return;
    case N_OUTPUT: {
        jv v = eval(R, n->a);
        if (!R->failed) {
            if (v.t == JV_STR)
                out_add(R, JS(v)->s, JS(v)->len);
            else if (v.t != JV_UNDEF) {
                struct sbuf b = {0};
                if (jinja_jv_str_append(R, &b, v))
                    out_add(R, b.s ? b.s : "", b.len);
                sbuf_free(&b);
            }
        }
        jinja_jv_release(v);
        return;
    }
    case N_IF: {
        jv c = eval(R, n->a);
        bool t = jinja_jv_truthy(c);
        jinja_jv_release(c);
        if (R->failed)
            return;
        if (t)
            exec_body(R, n->list, n->n);
        else
            exec_body(R, n->list2, n->n2);
        return;
    }
    case N_FOR:
        exec_for(R, n);
        return;
    case N_SET: {
        jv v = eval(R, n->b);
        if (R->failed) {
            jinja_jv_release(v);
            return;
        }
        assign(R, n->a, v);
        return;
    }
    case N_SET_BLOCK: {
        jv v = capture_scoped(R, n->list, n->n);
        if (R->failed) {
            jinja_jv_release(v);
            return;
        }
        if (n->c) {
            v = eval_filter_chain(R, n->c, v);
            if (R->failed) {
                jinja_jv_release(v);
                return;
            }
        }
        assign(R, n->a, v);
        return;
    }
    case N_MACRO:
        exec_macro_def(R, n);
        return;
    case N_CALL_BLOCK: {
        /* caller() renders the body; it is passed as the keyword "caller" */
        struct jmacro *m = calloc(1, sizeof(*m));
        if (m == NULL || !jinja_charge(R, sizeof(*m))) {
            free(m);
            jinja_err(R, "out of memory");
            return;
        }
        m->h.rc = 1;
        m->h.kind = JV_MACRO;
        m->def = n;
        m->closure = R->frame;
        capture(R, R->frame);
        jv caller = {.t = JV_MACRO, .u.o = &m->h};
        const struct node *call = n->a;
        jv fn = eval(R, call->a);
        struct args a = {0};
        jv dynkw = JV_NONEV;
        jv r = JV_U;
        if (!R->failed && eval_args(R, call, &a, &dynkw)) {
            if (args_add_kw(R, &a, "caller", 6, jinja_jv_retain(caller)))
                r = call_value(R, fn, &a);
        }
        args_free(&a);
        jinja_jv_release(dynkw);
        jinja_jv_release(fn);
        jinja_jv_release(caller);
        if (!R->failed) {
            struct sbuf b = {0};
            if (jinja_jv_str_append(R, &b, r))
                out_add(R, b.s ? b.s : "", b.len);
            sbuf_free(&b);
        }
        jinja_jv_release(r);
        return;
    }
    case N_FILTER_BLOCK: {
        jv v = capture_scoped(R, n->list, n->n);
        if (R->failed) {
            jinja_jv_release(v);
            return;
        }
        v = eval_filter_chain(R, n->c, v);
        if (!R->failed) {
            struct sbuf b = {0};
            if (jinja_jv_str_append(R, &b, v))
                out_add(R, b.s ? b.s : "", b.len);
            sbuf_free(&b);
        }
        jinja_jv_release(v);
        return;
    }
    case N_WITH: {
        size_t nv = n->a->n;
        jv *vals = calloc(nv ? nv : 1, sizeof(jv));
        if (vals == NULL) {
            jinja_err(R, "out of memory");
            return;
        }
        size_t got = 0;
        for (; got < nv; got++) {
            vals[got] = eval(R, n->a->list[got]);
            if (R->failed) {
                got++;
                break;
            }
        }
        if (R->failed) {
            for (size_t i = 0; i < got; i++)
                jinja_jv_release(vals[i]);
            free(vals);
            return;
        }
        struct frame *f = frame_new(R, R->frame);
        if (f == NULL) {
            for (size_t i = 0; i < nv; i++)
                jinja_jv_release(vals[i]);
            free(vals);
            return;
        }
        R->frame = f;
        bool ok = true;
        for (size_t i = 0; i < nv; i++) {
            if (ok)
                ok = assign(R, n->list2[i], vals[i]);
            else
                jinja_jv_release(vals[i]);
        }
        free(vals);
        if (ok)
            exec_body(R, n->list, n->n);
        frame_pop(R, f);
        return;
    }
    case N_BREAK:
        R->loopctl = 1;
        return;
    case N_CONTINUE:
        R->loopctl = 2;
        return;
    case N_SCOPE:
        exec_body(R, n->list, n->n);
        return;
    default:
        jinja_err(R, "internal error: unexpected statement %d", n->kind);
    }
}

static void exec_body(struct render *R, struct node *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        exec(R, list[i]);
        if (R->failed || R->loopctl)
            return;
    }
}

/* Filters and tests by name (for map, select, ...). */
jv jinja_apply_filter(struct render *R, const char *name, size_t len, jv v, const struct args *a)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "%.*s", (int)(len < 63 ? len : 63), name);
    return jinja_call_filter(R, jinja_filter_id(name, len), buf, v, a);
}

int jinja_apply_test(struct render *R, const char *name, size_t len, jv v, const struct args *a)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "%.*s", (int)(len < 63 ? len : 63), name);
    return jinja_call_test(R, jinja_test_id(name, len), buf, v, a);
}

/* ---- render ----------------------------------------------------------------------------- */

char *jinja_render(const struct jinja_template *t, const json_t *vars, int64_t now,
                   const struct jinja_limits *limits, size_t *out_len, char *err,
                   size_t err_size)
{
    char dummy[8];
    if (err == NULL || err_size == 0) {
        err = dummy;
        err_size = sizeof(dummy);
    }
    err[0] = 0;
    struct render Rs = {.t = t, .err = err, .err_size = err_size, .now = now};
    struct render *R = &Rs;
    if (limits)
        R->lim = *limits;
    else
        jinja_default_limits(&R->lim);
    struct sbuf out = {0};
    R->out = &out;
    struct frame *root = calloc(1, sizeof(*root));
    jv *dense = calloc(t->nsyms ? t->nsyms : 1, sizeof(jv));
    if (root == NULL || dense == NULL) {
        free(root);
        free(dense);
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < t->nsyms; i++)
        dense[i] = JV_MISS;
    root->dense = dense;
    root->is_root = true;
    root->captured = true;
    R->frame = root;
    if (vars && json_is_object(vars)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)vars, k, v) {
            size_t kl = strlen(k);
            for (size_t i = 0; i < t->nsyms; i++) {
                if (t->symlens[i] == kl && memcmp(t->symnames[i], k, kl) == 0) {
                    jv x = jinja_jv_from_json(R, v);
                    if (R->failed) {
                        jinja_jv_release(x);
                        break;
                    }
                    jinja_jv_release(dense[i]);
                    dense[i] = x;
                    break;
                }
            }
            if (R->failed)
                break;
        }
    }
    if (!R->failed)
        exec(R, t->root);
    if (!R->failed && R->loopctl)
        R->loopctl = 0;
    /* break the cycles that namespaces may hold, then free captured frames */
    for (size_t i = 0; i < R->nns; i++) {
        struct jdict *d = JD(R->namespaces[i]);
        size_t n = d->n;
        d->n = 0;
        for (size_t j = 0; j < n; j++) {
            jinja_jv_release(d->k[j]);
            jinja_jv_release(d->v[j]);
        }
    }
    for (size_t i = 0; i < R->ncaptured; i++)
        frame_free(R->captured[i]);
    free(R->captured);
    for (size_t i = 0; i < t->nsyms; i++)
        jinja_jv_release(dense[i]);
    free(dense);
    free(root);
    for (size_t i = 0; i < R->nns; i++)
        jinja_jv_release(R->namespaces[i]);
    free(R->namespaces);
    if (R->failed) {
        sbuf_free(&out);
        return NULL;
    }
    last_steps = R->steps;
    char *text = sbuf_take(&out, out_len);
    if (text == NULL)
        err_set(err, err_size, "out of memory");
    return text;
}
