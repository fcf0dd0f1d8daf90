/*
 * jinja_builtins.c - the names of the built-ins: jinja2's filters and
 * tests and the globals (range, namespace, dict, joiner, raise_exception,
 * strftime_now), looked up by name; the global values and the namespace
 * registry.
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
#include "base/vec.h"

/* ---- ids ---------------------------------------------------------------------- */

static const struct {
    const char *name;
    int id;
} filters[] = {
    {"abs", F_ABS}, {"attr", F_ATTR}, {"batch", F_BATCH}, {"capitalize", F_CAPITALIZE},
    {"center", F_CENTER}, {"count", F_COUNT}, {"d", F_DEFAULT}, {"default", F_DEFAULT},
    {"dictsort", F_DICTSORT}, {"e", F_ESCAPE}, {"escape", F_ESCAPE}, {"first", F_FIRST},
    {"float", F_FLOAT}, {"forceescape", F_FORCEESCAPE}, {"format", F_FORMAT},
    {"indent", F_INDENT}, {"int", F_INT}, {"items", F_ITEMS}, {"join", F_JOIN},
    {"last", F_LAST}, {"length", F_LENGTH}, {"list", F_LIST}, {"lower", F_LOWER},
    {"map", F_MAP}, {"max", F_MAX}, {"min", F_MIN}, {"pprint", F_PPRINT},
    {"reject", F_REJECT}, {"rejectattr", F_REJECTATTR}, {"replace", F_REPLACE},
    {"reverse", F_REVERSE}, {"round", F_ROUND}, {"safe", F_SAFE}, {"select", F_SELECT},
    {"selectattr", F_SELECTATTR}, {"sort", F_SORT}, {"string", F_STRING}, {"sum", F_SUM},
    {"title", F_TITLE}, {"tojson", F_TOJSON}, {"trim", F_TRIM}, {"truncate", F_TRUNCATE},
    {"unique", F_UNIQUE}, {"upper", F_UPPER}, {"wordcount", F_WORDCOUNT},
    {"striptags", F_STRIPTAGS},
};

static const struct {
    const char *name;
    int id;
} tests[] = {
    {"defined", TT_DEFINED}, {"undefined", TT_UNDEFINED}, {"none", TT_NONE},
    {"boolean", TT_BOOLEAN}, {"false", TT_FALSE}, {"true", TT_TRUE}, {"integer", TT_INTEGER},
    {"float", TT_FLOATT}, {"number", TT_NUMBER}, {"string", TT_STRING}, {"mapping", TT_MAPPING},
    {"iterable", TT_ITERABLE}, {"sequence", TT_SEQUENCE}, {"callable", TT_CALLABLE},
    {"sameas", TT_SAMEAS}, {"escaped", TT_ESCAPED}, {"even", TT_EVEN}, {"odd", TT_ODD},
    {"divisibleby", TT_DIVISIBLEBY}, {"eq", TT_EQ}, {"equalto", TT_EQ}, {"==", TT_EQ},
    {"ne", TT_NE}, {"!=", TT_NE}, {"lt", TT_LT}, {"lessthan", TT_LT}, {"<", TT_LT},
    {"le", TT_LE}, {"<=", TT_LE}, {"gt", TT_GT}, {"greaterthan", TT_GT}, {">", TT_GT},
    {"ge", TT_GE}, {">=", TT_GE}, {"in", TT_IN}, {"lower", TT_LOWER}, {"upper", TT_UPPER},
    {"filter", TT_FILTER}, {"test", TT_TEST},
};

int jinja_filter_id(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++)
        if (name_is(name, len, filters[i].name))
            return filters[i].id;
    return -1;
}

int jinja_test_id(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
        if (name_is(name, len, tests[i].name))
            return tests[i].id;
    return -1;
}

int jinja_global_id(const char *name, size_t len)
{
    if (name_is(name, len, "range"))
        return G_RANGE;
    if (name_is(name, len, "namespace"))
        return G_NAMESPACE;
    if (name_is(name, len, "dict"))
        return G_DICT;
    if (name_is(name, len, "raise_exception"))
        return G_RAISE;
    if (name_is(name, len, "strftime_now"))
        return G_STRFTIME;
    if (name_is(name, len, "joiner"))
        return G_JOINER;
    return -1;
}

jv jinja_make_func(struct render *R, int id, jv self_take)
{
    if (!jinja_charge(R, sizeof(struct jfunc))) {
        jinja_jv_release(self_take);
        return JV_U;
    }
    struct jfunc *f = calloc(1, sizeof(*f));
    if (f == NULL) {
        jinja_jv_release(self_take);
        return jinja_errv(R, "out of memory");
    }
    f->h.rc = 1;
    f->h.kind = JV_FUNC;
    f->id = id;
    f->self = self_take;
    return (jv){.t = JV_FUNC, .u.o = &f->h};
}

jv jinja_global_value(struct render *R, int id)
{
    return jinja_make_func(R, id, JV_NONEV);
}

bool jinja_register_namespace(struct render *R, jv ns)
{
    if (vec_reserve((void **)&R->namespaces, &R->capns, R->nns + 1, sizeof *R->namespaces) != 0)
        return jinja_err(R, "out of memory");
    R->namespaces[R->nns++] = jinja_jv_retain(ns);
    return true;
}
