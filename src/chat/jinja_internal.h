/*
 * jinja_internal.h - what the parts of the Jinja interpreter share: values
 * (jinja_value.c), tokens and the syntax tree (jinja_lex.c, jinja_parse.c),
 * the render context (jinja_eval.c) and the built-in filters, tests, methods
 * and globals (jinja_builtins.c).
 *
 * Values are passed by value (struct jv); strings, lists, dicts and the other
 * heap objects are reference counted. A function that returns a jv returns
 * a new reference; arguments are borrowed unless the name says "take".
 * Constants of the syntax tree are immortal (rc < 0) so that renders on
 * several threads may share them.
 */
#ifndef CLLM_CHAT_JINJA_INTERNAL_H
#define CLLM_CHAT_JINJA_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/sbuf.h"
#include "base/unicode.h"
#include "chat/jinja.h"

/* ---- values ---------------------------------------------------------- */

enum jv_type {
    JV_UNDEF,   /* jinja2's Undefined; u.o may hold the name (a jstr) */
    JV_NONE,
    JV_BOOL,
    JV_INT,
    JV_FLOAT,
    JV_STR,
    JV_LIST,    /* list or tuple (jlist.tuple) */
    JV_DICT,
    JV_NS,      /* namespace(): a dict whose entries are attributes */
    JV_FUNC,    /* a built-in function or a bound method */
    JV_MACRO,
    JV_LOOP,    /* the loop variable of a for loop */
    JV_MISSING  /* internal: an argument that was not given */
};

struct jobj {
    int32_t rc; /* < 0: immortal */
    uint8_t kind;
};

typedef struct jv {
    uint8_t t;
    uint8_t safe; /* JV_STR: a Markup string (from |safe, |escape) */
    union {
        int64_t i;
        double f;
        bool b;
        struct jobj *o;
    } u;
} jv;

struct jstr {
    struct jobj h;
    size_t len;   /* bytes */
    size_t ncp;   /* characters (bytes that are not UTF-8 continuation bytes) */
    char s[];     /* NUL-terminated */
};

struct jlist {
    struct jobj h;
    bool tuple;
    bool gen;       /* the result of map/select/...: a generator in jinja2, always true */
    uint16_t depth; /* nesting depth of containers (1 for a flat list) */
    size_t n, cap;
    jv *v;
};

struct jdict { /* also namespaces */
    struct jobj h;
    uint16_t depth;
    size_t n, cap;
    jv *k, *v;
};

struct frame;
struct node;

struct jfunc {
    struct jobj h;
    int id;   /* enum builtin_fn */
    jv self;  /* the bound object of a method, or a joiner's state */
    int state;
};

struct jmacro {
    struct jobj h;
    const struct node *def;  /* N_MACRO, or N_CALL_BLOCK for a caller() */
    struct frame *closure;
};

struct jloop {
    struct jobj h;
    jv items;      /* the (filtered) list iterated */
    size_t index0;
    jv last;       /* loop.changed() state */
    bool has_last;
    int depth0;
};

#define JV_U ((jv){.t = JV_UNDEF})
#define JV_NONEV ((jv){.t = JV_NONE})
#define JV_MISS ((jv){.t = JV_MISSING})

static inline jv jv_bool(bool b) { return (jv){.t = JV_BOOL, .u.b = b}; }
static inline jv jv_int(int64_t i) { return (jv){.t = JV_INT, .u.i = i}; }
static inline jv jv_float(double f) { return (jv){.t = JV_FLOAT, .u.f = f}; }
static inline struct jstr *JS(jv v) { return (struct jstr *)v.u.o; }
static inline struct jlist *JL(jv v) { return (struct jlist *)v.u.o; }
static inline struct jdict *JD(jv v) { return (struct jdict *)v.u.o; }

struct render;

jv jinja_jv_retain(jv v);
void jinja_jv_release(jv v);
void jinja_jv_make_immortal(jv v);

/* Strings. R (may be NULL) is charged for the bytes. */
jv jinja_jv_str(struct render *R, const char *s, size_t len);
jv jinja_jv_cstr(struct render *R, const char *s);
const char *jinja_jv_s(jv v);   /* bytes of a JV_STR */
size_t jinja_jv_len(jv v);      /* byte length of a JV_STR */

/* Lists and dicts: built by appending owned values. */
jv jinja_jv_list_new(struct render *R, size_t cap, bool tuple);
bool jinja_jv_list_push(struct render *R, jv list, jv item_take);
jv jinja_jv_dict_new(struct render *R, size_t cap);
jv jinja_jv_ns_new(struct render *R);
/* Set key (taken) to val (taken), replacing an equal key. */
bool jinja_jv_dict_set(struct render *R, jv dict, jv key_take, jv val_take);
/* Borrowed value for a key (JV_MISSING if absent). */
jv jinja_jv_dict_get(jv dict, jv key);
jv jinja_jv_dict_get_str(jv dict, const char *key, size_t klen);

/* Appending to a struct sbuf (base/sbuf.h) with the render's memory
 * accounting: false with the error set when out of memory or over the
 * limit. */
bool jinja_sb_add(struct render *R, struct sbuf *b, const char *s, size_t n);
bool jinja_sb_addc(struct render *R, struct sbuf *b, char c);
bool jinja_sb_adds(struct render *R, struct sbuf *b, const char *s);
bool jinja_sb_printf(struct render *R, struct sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
jv jinja_sb_take_str(struct render *R, struct sbuf *b); /* frees the buffer */
jv jinja_sb_take_safe(struct render *R, struct sbuf *b, bool safe); /* the same, Markup if safe */
/* The end of a filter that built the list out from items: releases items,
 * and out too if the render failed (then JV_U); else out. */
jv jinja_list_done(struct render *R, jv items, jv out);

/* Python semantics. */
bool jinja_jv_truthy(jv v);
bool jinja_jv_equal(jv a, jv b);
/* <0, 0, >0; sets *ok = false (and an error in R) when Python raises. */
int jinja_jv_compare(struct render *R, jv a, jv b, bool *ok);
/* str(v) and repr(v) appended to b; false on an error (set in R). */
bool jinja_jv_str_append(struct render *R, struct sbuf *b, jv v);
bool jinja_jv_repr_append(struct render *R, struct sbuf *b, jv v);
jv jinja_jv_to_str(struct render *R, jv v); /* str(v) as a new JV_STR */
const char *jinja_jv_type_name(jv v);       /* Python's type name: 'str', 'int', ... */
void jinja_py_float_repr(double d, char out[40]);
bool jinja_py_isspace(uint32_t cp);

/* JSON. */
jv jinja_jv_from_json(struct render *R, const json_t *j);
struct tojson_opts {
    const char *indent; /* NULL: no newlines */
    const char *item_sep, *key_sep;
    bool ensure_ascii, sort_keys;
};
bool jinja_jv_tojson(struct render *R, struct sbuf *b, jv v, const struct tojson_opts *o, int level);

/* ---- tokens and syntax tree -------------------------------------------- */

enum tok_type {
    T_EOF,
    T_DATA,
    T_VAR_BEGIN,
    T_VAR_END,
    T_BLOCK_BEGIN,
    T_BLOCK_END,
    T_NAME,
    T_STRING,
    T_INT,
    T_FLOAT,
    T_OP
};

enum op {
    OP_ADD = 1, OP_SUB, OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD, OP_POW, OP_TILDE,
    OP_LBRACKET, OP_RBRACKET, OP_LPAREN, OP_RPAREN, OP_LBRACE, OP_RBRACE,
    OP_EQ, OP_NE, OP_GT, OP_GE, OP_LT, OP_LE, OP_ASSIGN, OP_DOT, OP_COLON,
    OP_PIPE, OP_COMMA, OP_SEMICOLON,
    /* comparisons that are names */
    OP_IN, OP_NOTIN
};

struct token {
    int type;
    int op;
    int line;
    const char *s; /* T_NAME, T_DATA, T_STRING (decoded): arena string */
    size_t len;
    int64_t i;
    double f;
};

struct arena; /* bump allocator for the syntax tree, freed at once */
struct arena *jinja_arena_new(void);
void jinja_arena_destroy(struct arena *a);
void *jinja_arena_alloc(struct arena *a, size_t n);
char *jinja_arena_strdup(struct arena *a, const char *s, size_t n);

/* Lex src into tokens (arena-allocated). False with "line N: msg" in err. */
bool jinja_lex(struct arena *a, const char *src, size_t len, struct token **toks,
               size_t *ntoks, char *err, size_t err_size);

enum node_kind {
    /* statements */
    N_TEXT, N_OUTPUT, N_IF, N_FOR, N_SET, N_SET_BLOCK, N_MACRO, N_CALL_BLOCK,
    N_FILTER_BLOCK, N_WITH, N_BREAK, N_CONTINUE, N_SCOPE,
    /* expressions */
    N_CONST, N_NAME, N_GETATTR, N_GETITEM, N_SLICE, N_CALL, N_FILTER, N_TEST,
    N_BINOP, N_NEG, N_POS, N_NOT, N_AND, N_OR, N_COMPARE, N_COND, N_LIST,
    N_TUPLE, N_DICT, N_CONCAT, N_NSREF
};

struct node {
    int kind;
    int op;     /* N_BINOP: enum op; N_FILTER/N_TEST: function id (-1 unknown) */
    int line;
    int sym;    /* N_NAME, N_NSREF, N_MACRO: symbol */
    const char *name; size_t name_len; /* names; N_GETATTR/N_NSREF attribute */
    struct node *a, *b, *c, *d;
    struct node **list; size_t n;    /* body / items / positional args */
    struct node **list2; size_t n2;  /* else body / kw values / defaults / dict values */
    const char **kwn; size_t *kwl;   /* keyword names (n2 of them) */
    int *syms;                       /* N_MACRO/N_CALL_BLOCK params, N_COMPARE ops */
    size_t nsyms;
    jv value;                        /* N_CONST, N_TEXT, N_GETATTR name */
};

struct jinja_template {
    struct arena *arena;
    struct node *root;         /* N_SCOPE with the top-level body */
    const char **symnames;     /* by symbol */
    size_t *symlens;
    int *symbuiltin;           /* built-in global of a symbol, or -1 */
    jv *symstr;                /* the name as an immortal string (for Undefined) */
    size_t nsyms;
    int sym_loop, sym_caller, sym_varargs, sym_kwargs;
    jv *consts; size_t nconsts, capconsts; /* immortal values to free */
};

/* Parse tokens into t->root; false with "line N: msg". */
bool jinja_parse(struct jinja_template *t, struct token *toks, size_t ntoks,
                 char *err, size_t err_size);
int jinja_intern(struct jinja_template *t, const char *s, size_t len);
void jinja_add_const(struct jinja_template *t, jv v);

/* ---- rendering --------------------------------------------------------- */

struct frame {
    struct frame *parent;
    bool captured;  /* a macro closes over it: freed at the end of the render */
    bool is_root;
    size_t n, cap;
    int *syms;
    jv *vals;
    jv *dense;      /* the root frame: one slot per symbol (JV_MISSING = unset) */
};

struct render {
    const struct jinja_template *t;
    struct jinja_limits lim;
    uint64_t steps;
    size_t alloc;
    int depth;              /* nested macro calls */
    int rdepth;             /* nested eval/exec calls */
    int64_t now;
    bool failed;
    int loopctl;            /* 1 break, 2 continue */
    char *err;
    size_t err_size;
    struct sbuf *out;
    struct frame *frame;
    struct frame **captured; size_t ncaptured, capcaptured;
    jv *namespaces; size_t nns, capns;
};

/* Set the error (the first one wins); always returns false / JV_U. */
bool jinja_err(struct render *R, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
jv jinja_errv(struct render *R, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool jinja_charge(struct render *R, size_t bytes);
static inline bool step(struct render *R, uint64_t n)
{
    R->steps += n;
    if (R->steps > R->lim.max_steps) {
        jinja_err(R, "step limit exceeded (%llu evaluation steps)",
             (unsigned long long)R->lim.max_steps);
        return false;
    }
    return true;
}

/* Arguments of a call: positional then keyword, all owned by the caller. */
struct args {
    jv *pos; size_t npos;
    const char **kwn; size_t *kwl; jv *kwv; size_t nkw;
};

/* Bind args to a signature: out[i] borrowed (JV_MISSING when not given).
 * nreq leading params are required. False (error set) on a bad call. */
bool jinja_bind_args(struct render *R, const struct args *a, const char *fname,
               const char *const *params, size_t nparams, size_t nreq, jv *out);

/* Built-ins (jinja_builtins.c). */
int jinja_filter_id(const char *name, size_t len);
int jinja_test_id(const char *name, size_t len);
int jinja_global_id(const char *name, size_t len);
jv jinja_call_filter(struct render *R, int id, const char *name, jv v, const struct args *a);
int jinja_call_test(struct render *R, int id, const char *name, jv v, const struct args *a); /* -1 error */
jv jinja_call_func(struct render *R, jv fn, const struct args *a);
jv jinja_global_value(struct render *R, int id);
/* Attribute lookup as jinja's sandbox does it (methods of str/dict/list). */
jv jinja_get_attr(struct render *R, jv obj, const char *name, size_t len);
jv jinja_get_item(struct render *R, jv obj, jv key);
jv jinja_loop_attr(struct render *R, jv loop, const char *name, size_t len);

/* From jinja_eval.c, for the built-ins that call back. */
jv jinja_jv_iter_list(struct render *R, jv v);   /* the items iterating v gives, as a list */
jv jinja_jv_escape(struct render *R, jv v);      /* HTML-escaped Markup */
int jinja_jv_contains(struct render *R, jv container, jv item); /* -1 on error */
int jinja_jv_compare_op(struct render *R, int op, jv a, jv b);  /* OP_EQ.., -1 on error */
jv jinja_jv_slice(struct render *R, jv obj, jv start, jv stop, jv step);
jv jinja_jv_percent_format(struct render *R, jv fmt, jv args); /* fmt % args */
bool jinja_register_namespace(struct render *R, jv ns);
jv jinja_call_macro(struct render *R, jv m, const struct args *a);
jv jinja_apply_filter(struct render *R, const char *name, size_t len, jv v, const struct args *a);
int jinja_apply_test(struct render *R, const char *name, size_t len, jv v, const struct args *a);

#endif
