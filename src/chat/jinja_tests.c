/*
 * jinja_tests.c - jinja2's tests (`is defined`, `is mapping`, `is divisibleby(3)`, ...).
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

/* ---- tests --------------------------------------------------------------------------------- */

int jinja_call_test(struct render *R, int id, const char *name, jv v, const struct args *a)
{
    if (!step(R, 1))
        return -1;
    jv arg = a->npos ? a->pos[0] : (a->nkw ? a->kwv[0] : JV_MISS);
    switch (id) {
    case TT_DEFINED: return v.t != JV_UNDEF;
    case TT_UNDEFINED: return v.t == JV_UNDEF;
    case TT_NONE: return v.t == JV_NONE;
    case TT_BOOLEAN: return v.t == JV_BOOL;
    case TT_FALSE: return v.t == JV_BOOL && !v.u.b;
    case TT_TRUE: return v.t == JV_BOOL && v.u.b;
    case TT_INTEGER: return v.t == JV_INT;
    case TT_FLOATT: return v.t == JV_FLOAT;
    case TT_NUMBER: return is_num(v);
    case TT_STRING: return v.t == JV_STR;
    case TT_MAPPING: return v.t == JV_DICT;
    case TT_ITERABLE:
        return v.t == JV_STR || v.t == JV_LIST || v.t == JV_DICT || v.t == JV_UNDEF || v.t == JV_LOOP;
    case TT_SEQUENCE:
        return v.t == JV_STR || v.t == JV_LIST || v.t == JV_DICT || v.t == JV_UNDEF;
    case TT_CALLABLE: return v.t == JV_FUNC || v.t == JV_MACRO || v.t == JV_LOOP;
    case TT_SAMEAS:
        if (!given(arg))
            return jinja_err(R, "sameas() missing required argument"), -1;
        if (v.t != arg.t)
            return is_int(v) && is_int(arg) && v.t == arg.t;
        switch (v.t) {
        case JV_NONE: case JV_UNDEF: return v.t == JV_NONE || v.u.o == arg.u.o;
        case JV_BOOL: return v.u.b == arg.u.b;
        case JV_INT: return v.u.i == arg.u.i && v.u.i >= -5 && v.u.i <= 256;
        case JV_FLOAT: return 0;
        default: return v.u.o == arg.u.o;
        }
    case TT_ESCAPED: return v.t == JV_STR && v.safe;
    case TT_EVEN:
    case TT_ODD:
    case TT_DIVISIBLEBY: {
        jv d = id == TT_DIVISIBLEBY ? arg : jv_int(2);
        if (!given(d))
            return jinja_err(R, "divisibleby() missing required argument 'num'"), -1;
        if (v.t == JV_UNDEF)
            return undef_err(R, v), -1;
        if (!is_num(v) || !is_num(d))
            return jinja_err(R, "unsupported operand type(s) for %%: '%s' and '%s'", jinja_jv_type_name(v),
                        jinja_jv_type_name(d)), -1;
        /* value % num == 0 (odd: value % 2 == 1), with Python's modulo */
        double m;
        if (v.t == JV_FLOAT || d.t == JV_FLOAT) {
            double x = as_f(v), y = as_f(d);
            if (y == 0)
                return jinja_err(R, "float modulo"), -1;
            m = fmod(x, y);
            if (m != 0 && ((m < 0) != (y < 0)))
                m += y;
        } else {
            int64_t x = as_i(v), y = as_i(d);
            if (y == 0)
                return jinja_err(R, "integer division or modulo by zero"), -1;
            int64_t r = y == -1 ? 0 : x % y;
            if (r != 0 && ((r < 0) != (y < 0)))
                r += y;
            m = (double)r;
        }
        return id == TT_ODD ? m == 1 : m == 0;
    }
    case TT_EQ: case TT_NE: case TT_LT: case TT_LE: case TT_GT: case TT_GE: case TT_IN: {
        if (!given(arg))
            return jinja_err(R, "test '%s' requires an argument", name), -1;
        static const int ops[] = {[TT_EQ] = OP_EQ, [TT_NE] = OP_NE, [TT_LT] = OP_LT, [TT_LE] = OP_LE,
                                  [TT_GT] = OP_GT, [TT_GE] = OP_GE, [TT_IN] = OP_IN};
        return jinja_jv_compare_op(R, ops[id], v, arg);
    }
    case TT_LOWER:
    case TT_UPPER: {
        /* str(value).islower() */
        jv sv = jinja_jv_to_str(R, v);
        if (sv.t != JV_STR)
            return -1;
        bool cased = false;
        const char *p = JS(sv)->s;
        size_t len = JS(sv)->len, i = 0;
        int r = -2;
        while (i < len) {
            size_t k;
            unsigned f = unicode_flags(utf8_decode(p + i, len - i, &k));
            i += k;
            if (f & (id == TT_LOWER ? (UCAT_UPPER | UCAT_TITLE) : (UCAT_LOWER | UCAT_TITLE))) {
                r = 0;
                break;
            }
            if (f & (id == TT_LOWER ? UCAT_LOWER : UCAT_UPPER))
                cased = true;
        }
        jinja_jv_release(sv);
        return r == 0 ? 0 : cased;
    }
    case TT_FILTER:
        return v.t == JV_STR && jinja_filter_id(JS(v)->s, JS(v)->len) >= 0;
    case TT_TEST:
        return v.t == JV_STR && jinja_test_id(JS(v)->s, JS(v)->len) >= 0;
    default:
        jinja_err(R, "No test named '%s'", name ? name : "?");
        return -1;
    }
}
