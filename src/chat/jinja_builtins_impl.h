/*
 * jinja_builtins_impl.h - internal to jinja2's built-ins, split by what they
 * hold: jinja_builtins.c (names and ids), jinja_str.c (str helpers),
 * jinja_format.c (str.format and %), jinja_attr.c (attribute and item
 * access), jinja_filters.c (the filter dispatch), jinja_filters_list.c and
 * jinja_filters_value.c (the larger filters), jinja_tests.c (tests) and
 * jinja_calls.c (globals and methods). The interface to the rest of the
 * renderer is in jinja_internal.h; this header only shares the pieces one
 * of these files uses from another. Single-threaded (one render).
 */
#ifndef CLLM_CHAT_JINJA_BUILTINS_IMPL_H
#define CLLM_CHAT_JINJA_BUILTINS_IMPL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "chat/jinja_internal.h"

enum filter_id {
    F_ABS, F_ATTR, F_BATCH, F_CAPITALIZE, F_CENTER, F_COUNT, F_DEFAULT, F_DICTSORT,
    F_ESCAPE, F_FIRST, F_FLOAT, F_FORCEESCAPE, F_FORMAT, F_INDENT, F_INT, F_ITEMS,
    F_JOIN, F_LAST, F_LENGTH, F_LIST, F_LOWER, F_MAP, F_MAX, F_MIN, F_PPRINT, F_REJECT,
    F_REJECTATTR, F_REPLACE, F_REVERSE, F_ROUND, F_SAFE, F_SELECT, F_SELECTATTR, F_SORT,
    F_STRING, F_SUM, F_TITLE, F_TOJSON, F_TRIM, F_TRUNCATE, F_UNIQUE, F_UPPER,
    F_WORDCOUNT, F_STRIPTAGS
};

enum test_id {
    TT_DEFINED, TT_UNDEFINED, TT_NONE, TT_BOOLEAN, TT_FALSE, TT_TRUE, TT_INTEGER, TT_FLOATT,
    TT_NUMBER, TT_STRING, TT_MAPPING, TT_ITERABLE, TT_SEQUENCE, TT_CALLABLE, TT_SAMEAS,
    TT_ESCAPED, TT_EVEN, TT_ODD, TT_DIVISIBLEBY, TT_EQ, TT_NE, TT_LT, TT_LE, TT_GT, TT_GE, TT_IN,
    TT_LOWER, TT_UPPER, TT_FILTER, TT_TEST
};

/* callables: globals, methods, the loop's methods */
enum fn_id {
    G_RANGE, G_NAMESPACE, G_DICT, G_RAISE, G_STRFTIME, G_JOINER, G_JOINER_CALL,
    /* str */
    S_CAPITALIZE, S_CENTER, S_COUNT, S_ENDSWITH, S_FIND, S_FORMAT, S_INDEX, S_ISALNUM,
    S_ISALPHA, S_ISDIGIT, S_ISLOWER, S_ISSPACE, S_ISUPPER, S_JOIN, S_LJUST, S_LOWER,
    S_LSTRIP, S_REMOVEPREFIX, S_REMOVESUFFIX, S_REPLACE, S_RFIND, S_RJUST, S_RSPLIT,
    S_RSTRIP, S_SPLIT, S_SPLITLINES, S_STARTSWITH, S_STRIP, S_TITLE, S_UPPER, S_ZFILL,
    S_ISNUMERIC, S_ISDECIMAL, S_SWAPCASE, S_CASEFOLD,
    /* dict */
    D_GET, D_ITEMS, D_KEYS, D_VALUES, D_COPY,
    /* list */
    L_INDEX, L_COUNT, L_COPY,
    /* loop */
    LP_CYCLE, LP_CHANGED
};

/* ---- small helpers ---- */

static inline bool name_is(const char *a, size_t len, const char *b)
{
    return strlen(b) == len && memcmp(a, b, len) == 0;
}

static inline bool is_int(jv v) { return v.t == JV_INT || v.t == JV_BOOL; }
static inline int64_t as_i(jv v) { return v.t == JV_INT ? v.u.i : v.u.b; }
static inline bool is_num(jv v) { return is_int(v) || v.t == JV_FLOAT; }
static inline double as_f(jv v) { return v.t == JV_FLOAT ? v.u.f : (double)as_i(v); }
static inline bool given(jv v) { return v.t != JV_MISSING; }

static inline jv strv(struct render *R, const char *s, size_t n) { return jinja_jv_str(R, s, n); }

static inline jv undef_err(struct render *R, jv v)
{
    if (v.u.o)
        return jinja_errv(R, "'%s' is undefined", JS(v)->s);
    return jinja_errv(R, "undefined value used");
}

/* Bind a call's arguments to the parameter names (nreq_ of them required)
 * into p[], or return JV_U (the error is set). */
#define BIND(fname, ...)                                                              \
    static const char *const params_[] = {__VA_ARGS__};                               \
    jv p[sizeof(params_) / sizeof(params_[0])];                                       \
    if (!jinja_bind_args(R, a, fname, params_, sizeof(params_) / sizeof(params_[0]), nreq_, p)) \
        return JV_U;

/* ---- shared between the files ---- */

bool jinja_add_cp(struct render *R, struct sbuf *b, uint32_t cp);
jv jinja_as_gen(jv l);
jv jinja_attr_path(struct render *R, jv item, jv attr);
jv jinja_capitalize(struct render *R, jv s);
jv jinja_indent(struct render *R, jv s, jv widthv, jv firstv, jv blankv);
int64_t jinja_length_of(struct render *R, jv v, bool *ok);
jv jinja_list_of(struct render *R, jv v);
jv jinja_lower_key(struct render *R, jv v, bool case_sensitive);
jv jinja_make_func(struct render *R, int id, jv self_take);
jv jinja_map(struct render *R, jv v, const struct args *a);
jv jinja_map_case(struct render *R, jv s, int mode);
jv jinja_minmax(struct render *R, jv v, const struct args *a, bool want_max);
jv jinja_pad(struct render *R, jv s, int64_t width, jv fillv, int where /* 0 center 1 ljust 2 rjust */);
bool jinja_parse_py_float(jv v, double *out);
jv jinja_round(struct render *R, jv v, jv precv, jv methodv);
jv jinja_select_common(struct render *R, jv v, const struct args *a, bool attr, bool want);
jv jinja_sorted_list(struct render *R, jv items, jv attribute, bool case_sensitive, bool reverse,
                     int dict_by /* -1 not dictsort, 0 key, 1 value */);
jv jinja_splitlines(struct render *R, jv s, bool keepends);
int64_t jinja_str_find(jv s, jv sub, bool last);
jv jinja_str_format(struct render *R, jv fmt, const struct args *a);
jv jinja_str_replace(struct render *R, jv s, jv old, jv new_, int64_t count);
jv jinja_str_split(struct render *R, jv s, jv sep, jv maxv, bool right);
bool jinja_str_starts(jv s, jv pre, bool end);
jv jinja_strip(struct render *R, jv s, int which, jv chars);
jv jinja_title_case(struct render *R, jv s, bool jinja_filter);
jv jinja_to_int(struct render *R, jv v, jv deflt, jv basev);
jv jinja_tojson(struct render *R, jv v, const struct args *a);

#endif
