/*
 * grammar_impl.h - the compiled form of a GBNF grammar, shared by the parser
 * (grammar_parse.c, which builds it and checks it) and the matcher
 * (grammar.c, which follows text through it). Not a public interface.
 *
 * A grammar is a flat array of elements. Each rule has one or more
 * alternatives; an alternative is a run of elements ended by GE_END. An
 * element either matches one code point out of a character class (GE_CHAR)
 * or stands for a rule (GE_RULE). Groups and repetitions of the source text
 * have been turned into extra rules by the parser, so nothing else exists.
 */
#ifndef CLLM_GRAMMAR_GRAMMAR_IMPL_H
#define CLLM_GRAMMAR_GRAMMAR_IMPL_H

#include <stdbool.h>
#include <stdatomic.h>
#include <stdint.h>

#define GRAMMAR_MAX_CP 0x10FFFFu

enum gelem_type { GE_END = 0, GE_CHAR = 1, GE_RULE = 2 };

struct gelem {
    uint32_t type; /* enum gelem_type */
    uint32_t arg;  /* GE_CHAR: class index; GE_RULE: rule index */
};

/* A set of code points: a bitmap for ASCII, sorted disjoint ranges above. */
struct gclass {
    uint32_t ascii[4]; /* bit c: code point c (< 0x80) is in the set */
    uint32_t lead[8];  /* bit b: the UTF-8 form of some member starts with byte b */
    uint32_t r0, nr;   /* ranges of members >= 0x80: ranges[2*r0 .. 2*(r0+nr)) as lo,hi */
    bool empty;        /* no member at all */
};

struct grammar {
    struct gelem *elems;
    uint32_t n_elems;
    uint32_t *alts;     /* element index where each alternative starts */
    uint32_t n_alts;
    uint32_t *rule_alt; /* rule r owns alts[rule_alt[r] .. rule_alt[r + 1]) */
    uint32_t n_rules;
    struct gclass *classes;
    uint32_t n_classes;
    uint32_t *ranges;
    uint32_t n_ranges; /* number of lo,hi pairs */
    uint32_t start;     /* element index of the start sequence [GE_RULE root][GE_END] */
    atomic_int refs;    /* grammar_ref / grammar_free */
};

static inline bool gclass_match(const struct grammar *g, const struct gclass *c, uint32_t cp)
{
    if (cp < 0x80)
        return (c->ascii[cp >> 5] >> (cp & 31)) & 1u;
    const uint32_t *r = g->ranges + 2 * (uint64_t)c->r0;
    uint32_t lo = 0, hi = c->nr;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (cp < r[2 * mid])
            hi = mid;
        else if (cp > r[2 * mid + 1])
            lo = mid + 1;
        else
            return true;
    }
    return false;
}

/* Does the class contain some code point in [lo, hi]? */
static inline bool gclass_intersects(const struct grammar *g, const struct gclass *c, uint32_t lo,
                                     uint32_t hi)
{
    for (uint32_t cp = lo; cp <= hi && cp < 0x80; cp++)
        if ((c->ascii[cp >> 5] >> (cp & 31)) & 1u)
            return true;
    const uint32_t *r = g->ranges + 2 * (uint64_t)c->r0;
    for (uint32_t i = 0; i < c->nr; i++)
        if (r[2 * i] <= hi && r[2 * i + 1] >= lo)
            return true;
    return false;
}

#endif
