/*
 * jinja_parse.c - the Jinja parser: tokens to a syntax tree, following
 * jinja2's parser.py (the same precedence, the same places where tuples and
 * inline if are allowed, tests taking one bare argument, ...).
 *
 * Statements: if/elif/else, for (tuple targets, "if" filter, else), set
 * (names, tuples, namespace attributes, block set with filters), macro, call
 * blocks, filter blocks, with, print, break/continue, and Hugging Face's
 * generation blocks. Template inheritance, include and import are refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/jinja_internal.h"

#define MAX_NEST 200

struct parser {
    struct jinja_template *t;
    struct arena *a;
    struct token *tk;
    size_t n, pos;
    int depth;
    int loops;  /* enclosing for loops (for break/continue) */
    char *err;
    size_t err_size;
    bool failed;
};

static struct node *fail(struct parser *P, const char *fmt, const char *arg)
{
    if (!P->failed) {
        char msg[256];
        snprintf(msg, sizeof(msg), fmt, arg ? arg : "");
        snprintf(P->err, P->err_size, "line %d: %s", P->tk[P->pos].line, msg);
        P->failed = true;
    }
    return NULL;
}

static struct token *cur(struct parser *P) { return &P->tk[P->pos]; }
static struct token *peek(struct parser *P, size_t k)
{
    size_t i = P->pos + k;
    return i < P->n ? &P->tk[i] : &P->tk[P->n - 1];
}
static void next(struct parser *P)
{
    if (P->pos + 1 < P->n)
        P->pos++;
}

static bool is_op(struct token *t, int op) { return t->type == T_OP && t->op == op; }
static bool is_name(struct token *t, const char *s)
{
    return t->type == T_NAME && t->len == strlen(s) && memcmp(t->s, s, t->len) == 0;
}

static const char *describe(struct token *t)
{
    switch (t->type) {
    case T_EOF: return "end of template";
    case T_DATA: return "template data";
    case T_VAR_BEGIN: return "begin of print statement";
    case T_VAR_END: return "end of print statement";
    case T_BLOCK_BEGIN: return "begin of statement block";
    case T_BLOCK_END: return "end of statement block";
    case T_NAME: return t->s;
    case T_STRING: return "string";
    case T_INT: return "integer";
    case T_FLOAT: return "float";
    default: return "operator";
    }
}

static bool expect_op(struct parser *P, int op, const char *what)
{
    if (!is_op(cur(P), op)) {
        char m[96];
        snprintf(m, sizeof(m), "expected '%s', got '%%s'", what);
        fail(P, m, describe(cur(P)));
        return false;
    }
    next(P);
    return true;
}

static bool expect_type(struct parser *P, int type, const char *what)
{
    if (cur(P)->type != type) {
        char m[96];
        snprintf(m, sizeof(m), "expected %s, got '%%s'", what);
        fail(P, m, describe(cur(P)));
        return false;
    }
    next(P);
    return true;
}

static struct node *mk(struct parser *P, int kind)
{
    struct node *n = jinja_arena_alloc(P->a, sizeof(*n));
    if (n == NULL)
        return fail(P, "out of memory", NULL);
    n->kind = kind;
    n->line = cur(P)->line;
    n->op = -1;
    return n;
}

/* Growable node list in the arena (copied when finished). */
struct nl {
    struct node **v;
    size_t n, cap;
};

static bool nl_push(struct parser *P, struct nl *l, struct node *x)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        struct node **v = jinja_arena_alloc(P->a, cap * sizeof(*v));
        if (v == NULL) {
            fail(P, "out of memory", NULL);
            return false;
        }
        if (l->n)
            memcpy(v, l->v, l->n * sizeof(*v));
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = x;
    return true;
}

static struct node *const_node(struct parser *P, jv v)
{
    struct node *n = mk(P, N_CONST);
    if (n == NULL) {
        jinja_jv_release(v);
        return NULL;
    }
    if (v.t == JV_UNDEF) /* allocation failed */
        return fail(P, "out of memory", NULL);
    jinja_jv_make_immortal(v);
    jinja_add_const(P->t, v);
    n->value = v;
    return n;
}

static jv make_str(struct parser *P, const char *s, size_t len)
{
    jv v = jinja_jv_str(NULL, s, len);
    if (v.t == JV_STR) {
        jinja_jv_make_immortal(v);
        jinja_add_const(P->t, v);
    }
    return v;
}

static struct node *parse_expression(struct parser *P, bool with_condexpr);
static struct node *parse_tuple(struct parser *P, bool simplified, bool with_condexpr,
                                const char *extra_end, bool explicit_parens);
static struct node *parse_primary(struct parser *P);
static struct node *parse_postfix(struct parser *P, struct node *n);
static struct node *parse_filter(struct parser *P, struct node *n, bool start_inline);

static bool enter(struct parser *P)
{
    if (++P->depth > MAX_NEST) {
        fail(P, "template nested too deeply", NULL);
        return false;
    }
    return true;
}

/* ( args, kw=v, *dyn, **dynkw ) into n->list / n->list2+kwn / n->b / n->c */
static bool parse_call_args(struct parser *P, struct node *n)
{
    if (!expect_op(P, OP_LPAREN, "("))
        return false;
    struct nl args = {0}, kwv = {0};
    const char *kwn[64];
    size_t kwl[64];
    size_t nkw = 0;
    bool require_comma = false;
    while (!is_op(cur(P), OP_RPAREN)) {
        if (P->failed)
            return false;
        if (require_comma) {
            if (!expect_op(P, OP_COMMA, ","))
                return false;
            if (is_op(cur(P), OP_RPAREN))
                break;
        }
        if (is_op(cur(P), OP_MUL)) {
            if (n->b || n->c)
                return fail(P, "invalid syntax for function call expression", NULL), false;
            next(P);
            n->b = parse_expression(P, true);
            if (!n->b)
                return false;
        } else if (is_op(cur(P), OP_POW)) {
            if (n->c)
                return fail(P, "invalid syntax for function call expression", NULL), false;
            next(P);
            n->c = parse_expression(P, true);
            if (!n->c)
                return false;
        } else if (cur(P)->type == T_NAME && is_op(peek(P, 1), OP_ASSIGN)) {
            if (n->c)
                return fail(P, "invalid syntax for function call expression", NULL), false;
            if (nkw == 64)
                return fail(P, "too many keyword arguments", NULL), false;
            kwn[nkw] = cur(P)->s;
            kwl[nkw] = cur(P)->len;
            nkw++;
            next(P);
            next(P);
            struct node *v = parse_expression(P, true);
            if (!v || !nl_push(P, &kwv, v))
                return false;
        } else {
            if (n->b || n->c || nkw)
                return fail(P, "invalid syntax for function call expression", NULL), false;
            struct node *v = parse_expression(P, true);
            if (!v || !nl_push(P, &args, v))
                return false;
        }
        require_comma = true;
    }
    if (!expect_op(P, OP_RPAREN, ")"))
        return false;
    n->list = args.v;
    n->n = args.n;
    n->list2 = kwv.v;
    n->n2 = kwv.n;
    if (nkw) {
        n->kwn = jinja_arena_alloc(P->a, nkw * sizeof(char *));
        n->kwl = jinja_arena_alloc(P->a, nkw * sizeof(size_t));
        if (!n->kwn || !n->kwl)
            return fail(P, "out of memory", NULL), false;
        memcpy(n->kwn, kwn, nkw * sizeof(char *));
        memcpy(n->kwl, kwl, nkw * sizeof(size_t));
    }
    return true;
}

static struct node *parse_call(struct parser *P, struct node *callee)
{
    struct node *n = mk(P, N_CALL);
    if (!n)
        return NULL;
    n->a = callee;
    if (!parse_call_args(P, n))
        return NULL;
    return n;
}

static struct node *parse_filter(struct parser *P, struct node *node, bool start_inline)
{
    while (is_op(cur(P), OP_PIPE) || start_inline) {
        if (!start_inline)
            next(P);
        if (cur(P)->type != T_NAME)
            return fail(P, "expected filter name, got '%s'", describe(cur(P)));
        struct node *f = mk(P, N_FILTER);
        if (!f)
            return NULL;
        f->name = cur(P)->s;
        f->name_len = cur(P)->len;
        next(P);
        bool dotted = false;
        while (is_op(cur(P), OP_DOT)) { /* dotted names are never built-ins */
            next(P);
            if (!expect_type(P, T_NAME, "name"))
                return NULL;
            dotted = true;
        }
        f->op = dotted ? -1 : jinja_filter_id(f->name, f->name_len);
        if (is_op(cur(P), OP_LPAREN) && !parse_call_args(P, f))
            return NULL;
        f->a = node;
        node = f;
        start_inline = false;
    }
    return node;
}

static struct node *parse_test(struct parser *P, struct node *node)
{
    int line = cur(P)->line;
    next(P); /* is */
    bool negated = false;
    if (is_name(cur(P), "not")) {
        next(P);
        negated = true;
    }
    if (cur(P)->type != T_NAME)
        return fail(P, "expected test name, got '%s'", describe(cur(P)));
    struct node *t = mk(P, N_TEST);
    if (!t)
        return NULL;
    t->name = cur(P)->s;
    t->name_len = cur(P)->len;
    next(P);
    bool dotted = false;
    while (is_op(cur(P), OP_DOT)) {
        next(P);
        if (!expect_type(P, T_NAME, "name"))
            return NULL;
        dotted = true;
    }
    t->op = dotted ? -1 : jinja_test_id(t->name, t->name_len);
    t->a = node;
    struct token *c = cur(P);
    if (is_op(c, OP_LPAREN)) {
        if (!parse_call_args(P, t))
            return NULL;
    } else if ((c->type == T_NAME || c->type == T_STRING || c->type == T_INT ||
                c->type == T_FLOAT || is_op(c, OP_LPAREN) || is_op(c, OP_LBRACKET) ||
                is_op(c, OP_LBRACE)) &&
               !is_name(c, "else") && !is_name(c, "or") && !is_name(c, "and")) {
        if (is_name(c, "is"))
            return fail(P, "You cannot chain multiple tests with is", NULL);
        struct node *arg = parse_primary(P);
        if (!arg)
            return NULL;
        arg = parse_postfix(P, arg);
        if (!arg)
            return NULL;
        t->list = jinja_arena_alloc(P->a, sizeof(struct node *));
        if (!t->list)
            return fail(P, "out of memory", NULL);
        t->list[0] = arg;
        t->n = 1;
    }
    if (negated) {
        struct node *n = mk(P, N_NOT);
        if (!n)
            return NULL;
        n->line = line;
        n->a = t;
        return n;
    }
    return t;
}

static struct node *parse_subscribed(struct parser *P)
{
    struct node *start = NULL, *stop = NULL, *stepn = NULL;
    if (is_op(cur(P), OP_COLON)) {
        next(P);
    } else {
        struct node *e = parse_expression(P, true);
        if (!e)
            return NULL;
        if (!is_op(cur(P), OP_COLON))
            return e;
        next(P);
        start = e;
    }
    if (!is_op(cur(P), OP_COLON) && !is_op(cur(P), OP_RBRACKET) && !is_op(cur(P), OP_COMMA)) {
        stop = parse_expression(P, true);
        if (!stop)
            return NULL;
    }
    if (is_op(cur(P), OP_COLON)) {
        next(P);
        if (!is_op(cur(P), OP_RBRACKET) && !is_op(cur(P), OP_COMMA)) {
            stepn = parse_expression(P, true);
            if (!stepn)
                return NULL;
        }
    }
    struct node *s = mk(P, N_SLICE);
    if (!s)
        return NULL;
    s->b = start;
    s->c = stop;
    s->d = stepn;
    return s;
}

static struct node *parse_subscript(struct parser *P, struct node *node)
{
    struct token *tok = cur(P);
    next(P);
    if (tok->type == T_OP && tok->op == OP_DOT) {
        struct token *at = cur(P);
        next(P);
        if (at->type == T_NAME) {
            struct node *g = mk(P, N_GETATTR);
            if (!g)
                return NULL;
            g->a = node;
            g->name = at->s;
            g->name_len = at->len;
            g->value = make_str(P, at->s, at->len);
            if (g->value.t != JV_STR)
                return fail(P, "out of memory", NULL);
            return g;
        }
        if (at->type != T_INT)
            return fail(P, "expected name or number", NULL);
        struct node *k = const_node(P, jv_int(at->i));
        struct node *g = mk(P, N_GETITEM);
        if (!k || !g)
            return NULL;
        g->a = node;
        g->b = k;
        return g;
    }
    /* [ ... ] */
    struct nl args = {0};
    while (!is_op(cur(P), OP_RBRACKET)) {
        if (P->failed)
            return NULL;
        if (args.n && !expect_op(P, OP_COMMA, ","))
            return NULL;
        struct node *e = parse_subscribed(P);
        if (!e || !nl_push(P, &args, e))
            return NULL;
    }
    if (!expect_op(P, OP_RBRACKET, "]"))
        return NULL;
    if (args.n == 1 && args.v[0]->kind == N_SLICE) {
        struct node *s = args.v[0];
        s->a = node;
        return s;
    }
    struct node *key;
    if (args.n == 1) {
        key = args.v[0];
    } else {
        key = mk(P, N_TUPLE);
        if (!key)
            return NULL;
        key->list = args.v;
        key->n = args.n;
    }
    struct node *g = mk(P, N_GETITEM);
    if (!g)
        return NULL;
    g->a = node;
    g->b = key;
    return g;
}

static struct node *parse_postfix(struct parser *P, struct node *node)
{
    while (node) {
        if (is_op(cur(P), OP_DOT) || is_op(cur(P), OP_LBRACKET))
            node = parse_subscript(P, node);
        else if (is_op(cur(P), OP_LPAREN))
            node = parse_call(P, node);
        else
            break;
    }
    return node;
}

static struct node *parse_filter_expr(struct parser *P, struct node *node)
{
    while (node) {
        if (is_op(cur(P), OP_PIPE))
            node = parse_filter(P, node, false);
        else if (is_name(cur(P), "is"))
            node = parse_test(P, node);
        else if (is_op(cur(P), OP_LPAREN))
            node = parse_call(P, node);
        else
            break;
    }
    return node;
}

static struct node *parse_list_or_dict(struct parser *P, bool dict)
{
    struct node *n = mk(P, dict ? N_DICT : N_LIST);
    if (!n)
        return NULL;
    int close = dict ? OP_RBRACE : OP_RBRACKET;
    next(P);
    struct nl keys = {0}, vals = {0};
    while (!is_op(cur(P), close)) {
        if (P->failed)
            return NULL;
        if (keys.n && !expect_op(P, OP_COMMA, ","))
            return NULL;
        if (is_op(cur(P), close))
            break;
        struct node *k = parse_expression(P, true);
        if (!k || !nl_push(P, &keys, k))
            return NULL;
        if (dict) {
            if (!expect_op(P, OP_COLON, ":"))
                return NULL;
            struct node *v = parse_expression(P, true);
            if (!v || !nl_push(P, &vals, v))
                return NULL;
        }
    }
    if (!expect_op(P, close, dict ? "}" : "]"))
        return NULL;
    n->list = keys.v;
    n->n = keys.n;
    n->list2 = vals.v;
    n->n2 = vals.n;
    return n;
}

static struct node *parse_primary(struct parser *P)
{
    if (!enter(P))
        return NULL;
    struct token *t = cur(P);
    struct node *n = NULL;
    if (t->type == T_NAME) {
        if (is_name(t, "true") || is_name(t, "True")) {
            n = const_node(P, jv_bool(true));
        } else if (is_name(t, "false") || is_name(t, "False")) {
            n = const_node(P, jv_bool(false));
        } else if (is_name(t, "none") || is_name(t, "None")) {
            n = const_node(P, JV_NONEV);
        } else {
            n = mk(P, N_NAME);
            if (n) {
                n->name = t->s;
                n->name_len = t->len;
                n->sym = jinja_intern(P->t, t->s, t->len);
                if (n->sym < 0)
                    n = fail(P, "out of memory", NULL);
            }
        }
        next(P);
    } else if (t->type == T_STRING) {
        /* adjacent strings are concatenated */
        size_t total = 0, k = P->pos;
        while (k < P->n && P->tk[k].type == T_STRING)
            total += P->tk[k++].len;
        char *buf = jinja_arena_alloc(P->a, total + 1);
        if (!buf) {
            P->depth--;
            return fail(P, "out of memory", NULL);
        }
        size_t o = 0;
        while (cur(P)->type == T_STRING) {
            memcpy(buf + o, cur(P)->s, cur(P)->len);
            o += cur(P)->len;
            next(P);
        }
        jv s = jinja_jv_str(NULL, buf, o);
        n = const_node(P, s);
    } else if (t->type == T_INT) {
        n = const_node(P, jv_int(t->i));
        next(P);
    } else if (t->type == T_FLOAT) {
        n = const_node(P, jv_float(t->f));
        next(P);
    } else if (is_op(t, OP_LPAREN)) {
        next(P);
        n = parse_tuple(P, false, true, NULL, true);
        if (n && !expect_op(P, OP_RPAREN, ")"))
            n = NULL;
    } else if (is_op(t, OP_LBRACKET)) {
        n = parse_list_or_dict(P, false);
    } else if (is_op(t, OP_LBRACE)) {
        n = parse_list_or_dict(P, true);
    } else {
        n = fail(P, "unexpected '%s'", describe(t));
    }
    P->depth--;
    return n;
}

static struct node *parse_unary(struct parser *P, bool with_filter)
{
    if (!enter(P))
        return NULL;
    struct node *n;
    if (is_op(cur(P), OP_SUB) || is_op(cur(P), OP_ADD)) {
        n = mk(P, is_op(cur(P), OP_SUB) ? N_NEG : N_POS);
        next(P);
        if (n && !(n->a = parse_unary(P, false)))
            n = NULL;
    } else {
        n = parse_primary(P);
    }
    n = parse_postfix(P, n);
    if (with_filter)
        n = parse_filter_expr(P, n);
    P->depth--;
    return n;
}

static struct node *binop(struct parser *P, int kind, int op, struct node *a, struct node *b)
{
    if (!a || !b)
        return NULL;
    struct node *n = mk(P, kind);
    if (!n)
        return NULL;
    n->op = op;
    n->a = a;
    n->b = b;
    n->line = a->line;
    return n;
}

static struct node *parse_pow(struct parser *P)
{
    struct node *l = parse_unary(P, true);
    while (l && is_op(cur(P), OP_POW)) {
        next(P);
        l = binop(P, N_BINOP, OP_POW, l, parse_unary(P, true));
    }
    return l;
}

static struct node *parse_math2(struct parser *P)
{
    struct node *l = parse_pow(P);
    while (l && (is_op(cur(P), OP_MUL) || is_op(cur(P), OP_DIV) ||
                 is_op(cur(P), OP_FLOORDIV) || is_op(cur(P), OP_MOD))) {
        int op = cur(P)->op;
        next(P);
        l = binop(P, N_BINOP, op, l, parse_pow(P));
    }
    return l;
}

static struct node *parse_concat(struct parser *P)
{
    struct node *first = parse_math2(P);
    if (!first || !is_op(cur(P), OP_TILDE))
        return first;
    struct nl items = {0};
    if (!nl_push(P, &items, first))
        return NULL;
    while (is_op(cur(P), OP_TILDE)) {
        next(P);
        struct node *x = parse_math2(P);
        if (!x || !nl_push(P, &items, x))
            return NULL;
    }
    struct node *n = mk(P, N_CONCAT);
    if (!n)
        return NULL;
    n->list = items.v;
    n->n = items.n;
    return n;
}

static struct node *parse_math1(struct parser *P)
{
    struct node *l = parse_concat(P);
    while (l && (is_op(cur(P), OP_ADD) || is_op(cur(P), OP_SUB))) {
        int op = cur(P)->op;
        next(P);
        l = binop(P, N_BINOP, op, l, parse_concat(P));
    }
    return l;
}

static struct node *parse_compare(struct parser *P)
{
    struct node *e = parse_math1(P);
    if (!e)
        return NULL;
    struct nl operands = {0};
    int ops[64];
    size_t nops = 0;
    for (;;) {
        struct token *t = cur(P);
        int op = 0;
        if (t->type == T_OP && (t->op == OP_EQ || t->op == OP_NE || t->op == OP_GT ||
                                t->op == OP_GE || t->op == OP_LT || t->op == OP_LE)) {
            op = t->op;
            next(P);
        } else if (is_name(t, "in")) {
            op = OP_IN;
            next(P);
        } else if (is_name(t, "not") && is_name(peek(P, 1), "in")) {
            op = OP_NOTIN;
            next(P);
            next(P);
        } else {
            break;
        }
        if (nops == 64)
            return fail(P, "too many chained comparisons", NULL);
        struct node *r = parse_math1(P);
        if (!r || !nl_push(P, &operands, r))
            return NULL;
        ops[nops++] = op;
    }
    if (nops == 0)
        return e;
    struct node *n = mk(P, N_COMPARE);
    if (!n)
        return NULL;
    n->a = e;
    n->list = operands.v;
    n->n = operands.n;
    n->syms = jinja_arena_alloc(P->a, nops * sizeof(int));
    if (!n->syms)
        return fail(P, "out of memory", NULL);
    memcpy(n->syms, ops, nops * sizeof(int));
    n->nsyms = nops;
    return n;
}

static struct node *parse_not(struct parser *P)
{
    if (is_name(cur(P), "not")) {
        if (!enter(P))
            return NULL;
        struct node *n = mk(P, N_NOT);
        next(P);
        if (n && !(n->a = parse_not(P)))
            n = NULL;
        P->depth--;
        return n;
    }
    return parse_compare(P);
}

static struct node *parse_and(struct parser *P)
{
    struct node *l = parse_not(P);
    while (l && is_name(cur(P), "and")) {
        next(P);
        l = binop(P, N_AND, 0, l, parse_not(P));
    }
    return l;
}

static struct node *parse_or(struct parser *P)
{
    struct node *l = parse_and(P);
    while (l && is_name(cur(P), "or")) {
        next(P);
        l = binop(P, N_OR, 0, l, parse_and(P));
    }
    return l;
}

static struct node *parse_condexpr(struct parser *P)
{
    if (!enter(P))
        return NULL;
    struct node *e1 = parse_or(P);
    while (e1 && is_name(cur(P), "if")) {
        next(P);
        struct node *c = mk(P, N_COND);
        if (!c) {
            e1 = NULL;
            break;
        }
        c->b = e1;
        c->a = parse_or(P);
        if (!c->a) {
            e1 = NULL;
            break;
        }
        if (is_name(cur(P), "else")) {
            next(P);
            c->c = parse_condexpr(P);
            if (!c->c) {
                e1 = NULL;
                break;
            }
        }
        e1 = c;
    }
    P->depth--;
    return e1;
}

static struct node *parse_expression(struct parser *P, bool with_condexpr)
{
    return with_condexpr ? parse_condexpr(P) : parse_or(P);
}

static bool is_tuple_end(struct parser *P, const char *extra_end)
{
    struct token *t = cur(P);
    if (t->type == T_VAR_END || t->type == T_BLOCK_END || is_op(t, OP_RPAREN))
        return true;
    return extra_end && is_name(t, extra_end);
}

static struct node *parse_tuple(struct parser *P, bool simplified, bool with_condexpr,
                                const char *extra_end, bool explicit_parens)
{
    struct nl items = {0};
    bool is_tuple = false;
    int line = cur(P)->line;
    for (;;) {
        if (items.n && !expect_op(P, OP_COMMA, ","))
            return NULL;
        if (is_tuple_end(P, extra_end))
            break;
        struct node *e = simplified ? parse_primary(P) : parse_expression(P, with_condexpr);
        if (!e || !nl_push(P, &items, e))
            return NULL;
        if (is_op(cur(P), OP_COMMA))
            is_tuple = true;
        else
            break;
    }
    if (!is_tuple) {
        if (items.n)
            return items.v[0];
        if (!explicit_parens)
            return fail(P, "Expected an expression, got '%s'", describe(cur(P)));
    }
    struct node *n = mk(P, N_TUPLE);
    if (!n)
        return NULL;
    n->line = line;
    n->list = items.v;
    n->n = items.n;
    return n;
}

/* ---- statements --------------------------------------------------------------- */

static struct node **subparse(struct parser *P, const char *const *ends, size_t *count);

/* Body up to one of ends; the end name is left as the current token. */
static struct node **parse_statements(struct parser *P, const char *const *ends, size_t *count)
{
    if (is_op(cur(P), OP_COLON))
        next(P);
    if (!expect_type(P, T_BLOCK_END, "end of statement block"))
        return NULL;
    struct node **body = subparse(P, ends, count);
    if (P->failed)
        return NULL;
    if (cur(P)->type == T_EOF) {
        char m[160];
        snprintf(m, sizeof(m), "unexpected end of template, expected '%s'", ends[0]);
        fail(P, "%s", m);
        return NULL;
    }
    return body;
}

static bool end_with(struct parser *P, const char *name)
{
    if (!is_name(cur(P), name)) {
        char m[96];
        snprintf(m, sizeof(m), "expected '%s'", name);
        fail(P, "%s", m);
        return false;
    }
    next(P);
    return true;
}

static struct node *parse_assign_target(struct parser *P, bool with_tuple, bool name_only,
                                        const char *extra_end, bool with_namespace)
{
    struct node *t;
    if (with_namespace && cur(P)->type == T_NAME && is_op(peek(P, 1), OP_DOT)) {
        t = mk(P, N_NSREF);
        if (!t)
            return NULL;
        t->sym = jinja_intern(P->t, cur(P)->s, cur(P)->len);
        next(P);
        next(P);
        if (cur(P)->type != T_NAME)
            return fail(P, "expected name, got '%s'", describe(cur(P)));
        t->name = cur(P)->s;
        t->name_len = cur(P)->len;
        t->value = make_str(P, t->name, t->name_len);
        if (t->value.t != JV_STR || t->sym < 0)
            return fail(P, "out of memory", NULL);
        next(P);
        return t;
    }
    if (name_only) {
        if (cur(P)->type != T_NAME)
            return fail(P, "expected name, got '%s'", describe(cur(P)));
        t = parse_primary(P);
    } else if (with_tuple) {
        t = parse_tuple(P, true, true, extra_end, false);
    } else {
        t = parse_primary(P);
    }
    if (!t)
        return NULL;
    if (t->kind == N_NAME)
        return t;
    if (t->kind == N_TUPLE && !name_only) {
        for (size_t i = 0; i < t->n; i++)
            if (t->list[i]->kind != N_NAME)
                return fail(P, "can't assign to '%s'", "tuple");
        return t;
    }
    return fail(P, "can't assign to '%s'", t->kind == N_CONST ? "const" : "expression");
}

static bool parse_signature(struct parser *P, struct node *n)
{
    if (!expect_op(P, OP_LPAREN, "("))
        return false;
    int syms[128];
    struct nl defaults = {0};
    size_t np = 0;
    while (!is_op(cur(P), OP_RPAREN)) {
        if (P->failed)
            return false;
        if (np && !expect_op(P, OP_COMMA, ","))
            return false;
        if (cur(P)->type != T_NAME)
            return fail(P, "expected name, got '%s'", describe(cur(P))), false;
        if (np == 128)
            return fail(P, "too many macro parameters", NULL), false;
        syms[np++] = jinja_intern(P->t, cur(P)->s, cur(P)->len);
        next(P);
        if (is_op(cur(P), OP_ASSIGN)) {
            next(P);
            struct node *d = parse_expression(P, true);
            if (!d || !nl_push(P, &defaults, d))
                return false;
        } else if (defaults.n) {
            return fail(P, "non-default argument follows default argument", NULL), false;
        }
    }
    next(P);
    n->syms = jinja_arena_alloc(P->a, (np ? np : 1) * sizeof(int));
    if (!n->syms)
        return fail(P, "out of memory", NULL), false;
    memcpy(n->syms, syms, np * sizeof(int));
    n->nsyms = np;
    n->list2 = defaults.v;
    n->n2 = defaults.n;
    return true;
}

static struct node *parse_for(struct parser *P)
{
    struct node *n = mk(P, N_FOR);
    if (!n)
        return NULL;
    next(P); /* for */
    n->a = parse_assign_target(P, true, false, "in", false);
    if (!n->a || !end_with(P, "in"))
        return NULL;
    n->b = parse_tuple(P, false, false, "recursive", false);
    if (!n->b)
        return NULL;
    if (is_name(cur(P), "if")) {
        next(P);
        n->c = parse_expression(P, true);
        if (!n->c)
            return NULL;
    }
    if (is_name(cur(P), "recursive"))
        return fail(P, "recursive loops are not supported", NULL);
    static const char *const ends1[] = {"endfor", "else", NULL};
    static const char *const ends2[] = {"endfor", NULL};
    P->loops++;
    n->list = parse_statements(P, ends1, &n->n);
    P->loops--;
    if (P->failed)
        return NULL;
    if (is_name(cur(P), "else")) {
        next(P);
        n->list2 = parse_statements(P, ends2, &n->n2);
        if (P->failed)
            return NULL;
    }
    next(P); /* endfor */
    return n;
}

static struct node *parse_if(struct parser *P)
{
    struct node *top = mk(P, N_IF), *n = top;
    if (!top)
        return NULL;
    next(P); /* if */
    static const char *const ends[] = {"elif", "else", "endif", NULL};
    static const char *const ends2[] = {"endif", NULL};
    for (;;) {
        n->a = parse_tuple(P, false, false, NULL, false);
        if (!n->a)
            return NULL;
        n->list = parse_statements(P, ends, &n->n);
        if (P->failed)
            return NULL;
        if (is_name(cur(P), "elif")) {
            next(P);
            struct node *e = mk(P, N_IF);
            if (!e)
                return NULL;
            n->list2 = jinja_arena_alloc(P->a, sizeof(struct node *));
            if (!n->list2)
                return fail(P, "out of memory", NULL);
            n->list2[0] = e;
            n->n2 = 1;
            n = e;
            continue;
        }
        if (is_name(cur(P), "else")) {
            next(P);
            n->list2 = parse_statements(P, ends2, &n->n2);
            if (P->failed)
                return NULL;
        }
        next(P); /* endif */
        return top;
    }
}

static struct node *parse_set(struct parser *P)
{
    int line = cur(P)->line;
    next(P);
    struct node *target = parse_assign_target(P, true, false, NULL, true);
    if (!target)
        return NULL;
    if (is_op(cur(P), OP_ASSIGN)) {
        next(P);
        struct node *n = mk(P, N_SET);
        if (!n)
            return NULL;
        n->line = line;
        n->a = target;
        n->b = parse_tuple(P, false, true, NULL, false);
        return n->b ? n : NULL;
    }
    struct node *n = mk(P, N_SET_BLOCK);
    if (!n)
        return NULL;
    n->line = line;
    n->a = target;
    if (target->kind == N_TUPLE)
        return fail(P, "can't assign a block to a tuple", NULL);
    n->c = parse_filter(P, NULL, false);
    if (P->failed)
        return NULL;
    static const char *const ends[] = {"endset", NULL};
    n->list = parse_statements(P, ends, &n->n);
    if (P->failed)
        return NULL;
    next(P);
    return n;
}

static struct node *parse_macro(struct parser *P)
{
    struct node *n = mk(P, N_MACRO);
    if (!n)
        return NULL;
    next(P);
    if (cur(P)->type != T_NAME)
        return fail(P, "expected name, got '%s'", describe(cur(P)));
    n->name = cur(P)->s;
    n->name_len = cur(P)->len;
    n->sym = jinja_intern(P->t, n->name, n->name_len);
    next(P);
    if (!parse_signature(P, n))
        return NULL;
    static const char *const ends[] = {"endmacro", NULL};
    int loops = P->loops;
    P->loops = 0;
    n->list = parse_statements(P, ends, &n->n);
    P->loops = loops;
    if (P->failed)
        return NULL;
    next(P);
    return n;
}

static struct node *parse_call_block(struct parser *P)
{
    struct node *n = mk(P, N_CALL_BLOCK);
    if (!n)
        return NULL;
    next(P);
    if (is_op(cur(P), OP_LPAREN)) {
        if (!parse_signature(P, n))
            return NULL;
    }
    n->a = parse_expression(P, true);
    if (!n->a)
        return NULL;
    if (n->a->kind != N_CALL)
        return fail(P, "expected call", NULL);
    static const char *const ends[] = {"endcall", NULL};
    int loops = P->loops;
    P->loops = 0;
    n->list = parse_statements(P, ends, &n->n);
    P->loops = loops;
    if (P->failed)
        return NULL;
    next(P);
    return n;
}

static struct node *parse_filter_block(struct parser *P)
{
    struct node *n = mk(P, N_FILTER_BLOCK);
    if (!n)
        return NULL;
    next(P);
    n->c = parse_filter(P, NULL, true);
    if (!n->c)
        return NULL;
    static const char *const ends[] = {"endfilter", NULL};
    n->list = parse_statements(P, ends, &n->n);
    if (P->failed)
        return NULL;
    next(P);
    return n;
}

static struct node *parse_with(struct parser *P)
{
    struct node *n = mk(P, N_WITH);
    if (!n)
        return NULL;
    next(P);
    struct nl targets = {0}, values = {0};
    while (cur(P)->type != T_BLOCK_END) {
        if (P->failed)
            return NULL;
        if (targets.n && !expect_op(P, OP_COMMA, ","))
            return NULL;
        struct node *t = parse_assign_target(P, true, false, NULL, false);
        if (!t || !nl_push(P, &targets, t) || !expect_op(P, OP_ASSIGN, "="))
            return NULL;
        struct node *v = parse_expression(P, true);
        if (!v || !nl_push(P, &values, v))
            return NULL;
    }
    n->list2 = targets.v;
    n->n2 = targets.n;
    /* values in a second list: stored as the items of a tuple node */
    n->a = mk(P, N_TUPLE);
    if (!n->a)
        return NULL;
    n->a->list = values.v;
    n->a->n = values.n;
    static const char *const ends[] = {"endwith", NULL};
    n->list = parse_statements(P, ends, &n->n);
    if (P->failed)
        return NULL;
    next(P);
    return n;
}

static struct node *parse_print(struct parser *P)
{
    next(P);
    struct nl items = {0};
    while (cur(P)->type != T_BLOCK_END) {
        if (P->failed)
            return NULL;
        if (items.n && !expect_op(P, OP_COMMA, ","))
            return NULL;
        struct node *e = parse_expression(P, true);
        if (!e || !nl_push(P, &items, e))
            return NULL;
    }
    struct node *n = mk(P, N_SCOPE); /* a plain sequence of outputs */
    if (!n)
        return NULL;
    n->op = 1; /* no new scope */
    for (size_t i = 0; i < items.n; i++) {
        struct node *o = mk(P, N_OUTPUT);
        if (!o)
            return NULL;
        o->a = items.v[i];
        items.v[i] = o;
    }
    n->list = items.v;
    n->n = items.n;
    return n;
}

static struct node *parse_statement(struct parser *P)
{
    struct token *t = cur(P);
    if (t->type != T_NAME)
        return fail(P, "tag name expected", NULL);
    if (!enter(P))
        return NULL;
    struct node *n;
    if (is_name(t, "for")) {
        n = parse_for(P);
    } else if (is_name(t, "if")) {
        n = parse_if(P);
    } else if (is_name(t, "set")) {
        n = parse_set(P);
    } else if (is_name(t, "macro")) {
        n = parse_macro(P);
    } else if (is_name(t, "call")) {
        n = parse_call_block(P);
    } else if (is_name(t, "filter")) {
        n = parse_filter_block(P);
    } else if (is_name(t, "with")) {
        n = parse_with(P);
    } else if (is_name(t, "print")) {
        n = parse_print(P);
    } else if (is_name(t, "break") || is_name(t, "continue")) {
        if (P->loops == 0) {
            n = fail(P, "'%s' outside of a loop", t->s);
        } else {
            n = mk(P, is_name(t, "break") ? N_BREAK : N_CONTINUE);
            next(P);
        }
    } else if (is_name(t, "generation")) {
        /* transformers' AssistantTracker: {% generation %}...{% endgeneration %} */
        next(P);
        n = mk(P, N_SCOPE);
        if (n) {
            n->op = 1;
            static const char *const ends[] = {"endgeneration", NULL};
            n->list = parse_statements(P, ends, &n->n);
            if (P->failed)
                n = NULL;
            else
                next(P);
        }
    } else if (is_name(t, "block") || is_name(t, "extends") || is_name(t, "include") ||
               is_name(t, "import") || is_name(t, "from") || is_name(t, "autoescape")) {
        n = fail(P, "the '%s' tag is not supported in chat templates", t->s);
    } else {
        n = fail(P, "Encountered unknown tag '%s'", t->s);
    }
    P->depth--;
    return n;
}

static bool is_end(struct parser *P, const char *const *ends)
{
    if (!ends)
        return false;
    for (size_t i = 0; ends[i]; i++)
        if (is_name(cur(P), ends[i]))
            return true;
    return false;
}

static struct node **subparse(struct parser *P, const char *const *ends, size_t *count)
{
    struct nl body = {0};
    *count = 0;
    while (!P->failed && cur(P)->type != T_EOF) {
        struct token *t = cur(P);
        if (t->type == T_DATA) {
            struct node *n = mk(P, N_TEXT);
            if (!n)
                return NULL;
            n->value = make_str(P, t->s, t->len);
            if (n->value.t != JV_STR) {
                fail(P, "out of memory", NULL);
                return NULL;
            }
            if (!nl_push(P, &body, n))
                return NULL;
            next(P);
        } else if (t->type == T_VAR_BEGIN) {
            next(P);
            struct node *n = mk(P, N_OUTPUT);
            if (!n)
                return NULL;
            n->a = parse_tuple(P, false, true, NULL, false);
            if (!n->a || !expect_type(P, T_VAR_END, "end of print statement"))
                return NULL;
            if (!nl_push(P, &body, n))
                return NULL;
        } else if (t->type == T_BLOCK_BEGIN) {
            next(P);
            if (is_end(P, ends)) {
                *count = body.n;
                return body.v;
            }
            struct node *n = parse_statement(P);
            if (!n || !expect_type(P, T_BLOCK_END, "end of statement block"))
                return NULL;
            if (!nl_push(P, &body, n))
                return NULL;
        } else {
            fail(P, "unexpected '%s'", describe(t));
            return NULL;
        }
    }
    if (P->failed)
        return NULL;
    if (ends) {
        /* end of template inside a block */
        *count = body.n;
        return body.v;
    }
    *count = body.n;
    return body.v;
}

bool jinja_parse(struct jinja_template *t, struct token *toks, size_t ntoks, char *err,
                 size_t err_size)
{
    struct parser P = {.t = t, .a = t->arena, .tk = toks, .n = ntoks, .err = err,
                       .err_size = err_size};
    struct node *root = mk(&P, N_SCOPE);
    if (!root)
        return false;
    root->list = subparse(&P, NULL, &root->n);
    if (P.failed)
        return false;
    t->root = root;
    return true;
}
