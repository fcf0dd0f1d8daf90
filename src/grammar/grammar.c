/*
 * grammar.c - following text through a compiled GBNF grammar (see
 * grammar_impl.h; the parser is grammar_parse.c).
 *
 * A state is a set of parse stacks, as in llama.cpp: each stack lists the
 * element to match next in every rule being matched, innermost on top, and
 * its top is always a character class (rule references are expanded
 * eagerly). The empty stack stands for "the sentence may end here".
 *
 * Stacks share their tails: a stack is a node (element, parent node), and
 * nodes are interned, so two stacks are equal exactly when their top nodes
 * are. A step over one code point keeps the stacks whose top class matches,
 * moves each past its character, pops finished rules and expands rule
 * references again; every node is expanded at most once per step, so the
 * work per code point is bounded even for ambiguous grammars (left recursion,
 * which would expand forever, is rejected by the parser). Ambiguity can
 * still multiply the stacks, so a step keeps at most MAX_STACKS of them and
 * expands at most MAX_STEP_EXPANSIONS nodes: past that, stacks are dropped
 * (the matcher can only get stricter, never accept what the grammar does
 * not), always the same ones for the same state and text, so accepts() and
 * advance() agree. A call that makes more than MAX_NEW_NODES nodes fails.
 *
 * accepts() runs the same steps in a workspace that lays new nodes over the
 * state's own (read-only) ones, with its first buffers on the C stack, so it
 * needs no allocation for ordinary tokens and leaves the state untouched.
 * advance() runs them too, then copies the nodes that the new stacks still
 * use into the state, so a state never grows beyond its live stacks.
 *
 * Making accepts() cheap over a whole vocabulary: each state keeps a bitmap
 * of the bytes that may come next, and, computed once per advance, the
 * step over every ASCII character (characters that the stacks cannot tell
 * apart share one step) with the bytes that may follow it; most tokens are
 * settled by two bit tests. And a step that leads back to the same stacks
 * (inside a string, a run of digits) is noticed, so the rest of a token's
 * characters that match the same stacks cost one class test each.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"
#include "grammar/grammar_impl.h"

#define NODE_EMPTY (-1) /* the bottom of every stack */
#define NODE_FAIL (-2)  /* a node that could not be made (cap or memory) */
#define MAX_STACKS 1024
#define MAX_STEP_EXPANSIONS (1u << 14)
#define MAX_NEW_NODES (1u << 22)

#define INL_NODES 128
#define INL_HASH 128 /* powers of two */
#define INL_VIS 128
#define INL_SET 64
#define INL_WORK 64

struct gnode {
    int32_t pos;    /* element to match next */
    int32_t parent; /* the rest of the stack, NODE_EMPTY at the bottom */
};

/* An unfinished UTF-8 character. */
struct u8 {
    uint8_t b[4];
    uint8_t n, need;
};

/* The step over a group of ASCII characters from a state. */
struct first_group {
    uint32_t off, n;   /* the stacks after it: first_ids[off .. off + n) */
    bool empty;        /* and the empty stack */
    bool fixed;        /* the same stacks as before the step */
    uint64_t fmask;    /* if fixed: which of them the group's characters match */
    uint32_t lead2[8]; /* bytes that may follow */
};

struct grammar_state {
    const struct grammar *g;
    struct gnode *nodes;
    int32_t n_nodes;
    int32_t *hash; /* node ids by (pos, parent), -1 empty */
    uint32_t hmask;
    int32_t *stacks; /* top node of each stack */
    uint32_t n_stacks;
    bool has_empty; /* the empty stack is in the set */
    struct u8 u;
    uint32_t lead[8]; /* bytes that may come next (a superset) */
    bool has_first;   /* the table below is valid */
    int16_t first[128]; /* ASCII character -> its group, -1: refused */
    struct first_group *groups;
    uint32_t n_groups;
    int32_t *first_ids;
};

/* Scratch for one accepts()/advance(): nodes laid over the state's. */
struct ws {
    const struct grammar *g;
    const struct gnode *bnodes; /* the state's nodes: ids [0, nbase) */
    int32_t nbase;
    const int32_t *bhash;
    uint32_t bmask;
    struct gnode *nodes; /* new nodes: ids nbase + i */
    uint32_t n, cap;
    int32_t *hash;
    uint32_t hmask;
    const int32_t *cur; /* the current stacks */
    uint32_t ncur;
    bool cur_empty;
    int32_t *set[2]; /* buffers for the next stacks */
    uint32_t set_cap[2];
    int nxt;
    uint32_t nnext;
    bool next_empty;
    uint64_t *vis; /* nodes expanded in this step: stamp << 32 | id */
    uint32_t vmask, nvis, stamp;
    uint32_t expanded; /* in this step */
    int32_t *work;
    uint32_t nwork, cap_work;
    bool fail;  /* out of memory: the whole call fails */
    bool ready; /* hash and vis initialised */
    bool fix;   /* cur is a fixed point for characters matching fix_mask */
    uint64_t fix_mask;
    struct gnode inl_nodes[INL_NODES];
    int32_t inl_hash[INL_HASH];
    uint64_t inl_vis[INL_VIS];
    int32_t inl_set[2][INL_SET];
    int32_t inl_work[INL_WORK];
};

static inline uint32_t node_hash(int32_t pos, int32_t parent)
{
    uint64_t h = (uint64_t)(uint32_t)pos * 0x9E3779B97F4A7C15ull ^
                 (uint64_t)(uint32_t)parent * 0xC2B2AE3D27D4EB4Full;
    return (uint32_t)(h >> 29) ^ (uint32_t)h;
}

/* ---- workspace memory ---- */

static bool is_inline(const struct ws *w, const void *p)
{
    return p == w->inl_nodes || p == w->inl_hash || p == w->inl_vis || p == w->inl_set[0] ||
           p == w->inl_set[1] || p == w->inl_work;
}

static bool ws_grow(struct ws *w, void **buf, uint32_t *cap, uint32_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    uint32_t nc = *cap ? *cap : 16;
    while (nc < need)
        nc *= 2;
    void *nb;
    if (is_inline(w, *buf)) {
        nb = malloc((size_t)nc * elem);
        if (nb != NULL)
            memcpy(nb, *buf, (size_t)*cap * elem);
    } else {
        nb = realloc(*buf, (size_t)nc * elem);
    }
    if (nb == NULL) {
        w->fail = true;
        return false;
    }
    *buf = nb;
    *cap = nc;
    return true;
}

static void ws_release(struct ws *w, void *p)
{
    if (!is_inline(w, p))
        free(p);
}

static void ws_init(struct ws *w, const struct grammar_state *st)
{
    w->g = st->g;
    w->bnodes = st->nodes;
    w->nbase = st->n_nodes;
    w->bhash = st->hash;
    w->bmask = st->hmask;
    w->nodes = w->inl_nodes;
    w->n = 0;
    w->cap = INL_NODES;
    w->hash = w->inl_hash;
    w->hmask = INL_HASH - 1;
    w->cur = st->stacks;
    w->ncur = st->n_stacks;
    w->cur_empty = st->has_empty;
    for (int i = 0; i < 2; i++) {
        w->set[i] = w->inl_set[i];
        w->set_cap[i] = INL_SET;
    }
    w->nxt = 0;
    w->nnext = 0;
    w->next_empty = false;
    w->vis = w->inl_vis;
    w->vmask = INL_VIS - 1;
    w->nvis = 0;
    w->stamp = 0;
    w->work = w->inl_work;
    w->nwork = 0;
    w->cap_work = INL_WORK;
    w->fail = false;
    w->ready = false;
    w->fix = false;
    w->fix_mask = 0;
}

/* The tables are cleared only when a step is really taken. */
static void ws_ready(struct ws *w)
{
    if (w->ready)
        return;
    memset(w->inl_hash, 0xff, sizeof(w->inl_hash));
    memset(w->inl_vis, 0, sizeof(w->inl_vis));
    w->ready = true;
}

static void ws_free(struct ws *w)
{
    ws_release(w, w->nodes);
    ws_release(w, w->hash);
    ws_release(w, w->vis);
    ws_release(w, w->set[0]);
    ws_release(w, w->set[1]);
    ws_release(w, w->work);
}

/* ---- nodes ---- */

static inline struct gnode ws_node(const struct ws *w, int32_t id)
{
    return id < w->nbase ? w->bnodes[id] : w->nodes[id - w->nbase];
}

static int32_t base_find(const struct ws *w, int32_t pos, int32_t parent, uint32_t h)
{
    if (w->bhash == NULL)
        return -1;
    for (uint32_t i = h & w->bmask;; i = (i + 1) & w->bmask) {
        int32_t id = w->bhash[i];
        if (id < 0)
            return -1;
        if (w->bnodes[id].pos == pos && w->bnodes[id].parent == parent)
            return id;
    }
}

static bool ws_rehash(struct ws *w)
{
    uint32_t cap = (w->hmask + 1) * 2;
    int32_t *t = malloc(cap * sizeof(*t));
    if (t == NULL) {
        w->fail = true;
        return false;
    }
    memset(t, 0xff, cap * sizeof(*t));
    for (uint32_t k = 0; k < w->n; k++) {
        uint32_t i = node_hash(w->nodes[k].pos, w->nodes[k].parent) & (cap - 1);
        while (t[i] >= 0)
            i = (i + 1) & (cap - 1);
        t[i] = w->nbase + (int32_t)k;
    }
    ws_release(w, w->hash);
    w->hash = t;
    w->hmask = cap - 1;
    return true;
}

/* The node (pos, parent), made if new; NODE_FAIL past the caps. */
static int32_t ws_intern(struct ws *w, int32_t pos, int32_t parent)
{
    if (parent == NODE_FAIL)
        return NODE_FAIL;
    uint32_t h = node_hash(pos, parent);
    if (parent < w->nbase) {
        int32_t id = base_find(w, pos, parent, h);
        if (id >= 0)
            return id;
    }
    uint32_t i = h & w->hmask;
    for (; w->hash[i] >= 0; i = (i + 1) & w->hmask) {
        const struct gnode *nd = &w->nodes[w->hash[i] - w->nbase];
        if (nd->pos == pos && nd->parent == parent)
            return w->hash[i];
    }
    if (w->n >= MAX_NEW_NODES || w->nbase > INT32_MAX - (int32_t)MAX_NEW_NODES) {
        w->fail = true;
        return NODE_FAIL;
    }
    if (!ws_grow(w, (void **)&w->nodes, &w->cap, w->n + 1, sizeof(*w->nodes)))
        return NODE_FAIL;
    int32_t id = w->nbase + (int32_t)w->n;
    w->nodes[w->n++] = (struct gnode){pos, parent};
    w->hash[i] = id;
    if (w->n * 2 > w->hmask && !ws_rehash(w))
        return NODE_FAIL;
    return id;
}

/* ---- one step ---- */

static bool vis_grow(struct ws *w)
{
    uint32_t cap = (w->vmask + 1) * 2;
    uint64_t *t = calloc(cap, sizeof(*t));
    if (t == NULL) {
        w->fail = true;
        return false;
    }
    for (uint32_t k = 0; k <= w->vmask; k++) {
        uint64_t s = w->vis[k];
        if ((uint32_t)(s >> 32) != w->stamp)
            continue;
        uint32_t i = node_hash((int32_t)(uint32_t)s, 0) & (cap - 1);
        while ((uint32_t)(t[i] >> 32) == w->stamp)
            i = (i + 1) & (cap - 1);
        t[i] = s;
    }
    ws_release(w, w->vis);
    w->vis = t;
    w->vmask = cap - 1;
    return true;
}

/* Mark id expanded in this step; false if it already was. */
static bool vis_add(struct ws *w, int32_t id)
{
    uint64_t key = (uint64_t)w->stamp << 32 | (uint32_t)id;
    uint32_t i = node_hash(id, 0) & w->vmask;
    for (;; i = (i + 1) & w->vmask) {
        uint64_t s = w->vis[i];
        if ((uint32_t)(s >> 32) != w->stamp)
            break;
        if (s == key)
            return false;
    }
    w->vis[i] = key;
    if (++w->nvis * 2 > w->vmask)
        vis_grow(w);
    return true;
}

static void push_work(struct ws *w, int32_t id)
{
    if (id == NODE_FAIL)
        return;
    if (ws_grow(w, (void **)&w->work, &w->cap_work, w->nwork + 1, sizeof(*w->work)))
        w->work[w->nwork++] = id;
}

static void push_stack(struct ws *w, int32_t id)
{
    int k = w->nxt;
    if (w->nnext >= MAX_STACKS ||
        !ws_grow(w, (void **)&w->set[k], &w->set_cap[k], w->nnext + 1, sizeof(int32_t)))
        return;
    w->set[k][w->nnext++] = id;
}

/* Expand node x until every stack has a character class on top. */
static void ws_expand(struct ws *w, int32_t x)
{
    const struct grammar *g = w->g;
    push_work(w, x);
    while (w->nwork > 0 && !w->fail) {
        x = w->work[--w->nwork];
        if (x == NODE_EMPTY) {
            w->next_empty = true;
            continue;
        }
        if (!vis_add(w, x) || ++w->expanded > MAX_STEP_EXPANSIONS)
            continue;
        struct gnode nd = ws_node(w, x);
        const struct gelem *e = &g->elems[nd.pos];
        if (e->type == GE_CHAR) {
            if (!g->classes[e->arg].empty)
                push_stack(w, x);
            continue;
        }
        int32_t rest = e[1].type == GE_END ? nd.parent : ws_intern(w, nd.pos + 1, nd.parent);
        if (rest == NODE_FAIL)
            continue;
        for (uint32_t a = g->rule_alt[e->arg]; a < g->rule_alt[e->arg + 1]; a++) {
            uint32_t s = g->alts[a];
            push_work(w, g->elems[s].type == GE_END ? rest : ws_intern(w, (int32_t)s, rest));
        }
    }
}

static void step_begin(struct ws *w)
{
    ws_ready(w);
    w->stamp++;
    w->expanded = 0;
    w->nvis = 0;
    w->nnext = 0;
    w->next_empty = false;
}

static bool step_end(struct ws *w)
{
    w->cur = w->set[w->nxt];
    w->ncur = w->nnext;
    w->cur_empty = w->next_empty;
    w->nxt ^= 1;
    return !w->fail && (w->ncur > 0 || w->cur_empty);
}

/* Consume code point cp; false if no stack can. */
static bool ws_step(struct ws *w, uint32_t cp)
{
    const struct grammar *g = w->g;
    step_begin(w);
    for (uint32_t i = 0; i < w->ncur && !w->fail; i++) {
        struct gnode nd = ws_node(w, w->cur[i]);
        const struct gelem *e = &g->elems[nd.pos];
        if (!gclass_match(g, &g->classes[e->arg], cp))
            continue;
        ws_expand(w, e[1].type == GE_END ? nd.parent : ws_intern(w, nd.pos + 1, nd.parent));
    }
    return step_end(w);
}

/* Bit i: stack set[i] has a class on top that contains cp (n <= 64). */
static uint64_t member_mask(const struct ws *w, const int32_t *set, uint32_t n, uint32_t cp)
{
    const struct grammar *g = w->g;
    uint64_t m = 0;
    for (uint32_t i = 0; i < n; i++) {
        const struct gelem *e = &g->elems[ws_node(w, set[i]).pos];
        m |= (uint64_t)gclass_match(g, &g->classes[e->arg], cp) << i;
    }
    return m;
}

static bool same_set(const int32_t *a, uint32_t na, const int32_t *b, uint32_t nb)
{
    if (na != nb)
        return false;
    for (uint32_t i = 0; i < na; i++) {
        uint32_t j = 0;
        while (j < nb && b[j] != a[i])
            j++;
        if (j == nb)
            return false;
    }
    return true;
}

/* A step that notices fixed points: from stacks S, a character matching the
 * same stacks as one that led back to S leads back to S again. */
static bool feed_cp(struct ws *w, uint32_t cp)
{
    if (w->fix && member_mask(w, w->cur, w->ncur, cp) == w->fix_mask)
        return true;
    const int32_t *old = w->cur;
    uint32_t nold = w->ncur;
    bool old_empty = w->cur_empty;
    if (!ws_step(w, cp))
        return false;
    w->fix = w->ncur <= 16 && w->cur_empty == old_empty && same_set(old, nold, w->cur, w->ncur);
    if (w->fix)
        w->fix_mask = member_mask(w, w->cur, w->ncur, cp);
    return true;
}

/* ---- UTF-8 ---- */

static bool u8_cont_ok(const struct u8 *u, uint8_t c)
{
    if ((c & 0xC0) != 0x80)
        return false;
    if (u->n == 1) {
        switch (u->b[0]) {
        case 0xE0: return c >= 0xA0;
        case 0xED: return c <= 0x9F; /* no surrogates */
        case 0xF0: return c >= 0x90;
        case 0xF4: return c <= 0x8F;
        default: break;
        }
    }
    return true;
}

static uint32_t u8_decode(const uint8_t *b, int n)
{
    uint32_t cp = b[0] & (0x7F >> n);
    for (int i = 1; i < n; i++)
        cp = cp << 6 | (b[i] & 0x3F);
    return cp;
}

/* The code points an unfinished character can still become. */
static void u8_span(const struct u8 *u, uint32_t *lo, uint32_t *hi)
{
    uint8_t a[4], z[4];
    memcpy(a, u->b, u->n);
    memcpy(z, u->b, u->n);
    for (int i = u->n; i < u->need; i++) {
        a[i] = 0x80;
        z[i] = 0xBF;
        if (i == 1) {
            a[i] = u->b[0] == 0xE0 ? 0xA0 : u->b[0] == 0xF0 ? 0x90 : 0x80;
            z[i] = u->b[0] == 0xED ? 0x9F : u->b[0] == 0xF4 ? 0x8F : 0xBF;
        }
    }
    *lo = u8_decode(a, u->need);
    *hi = u8_decode(z, u->need);
}

static bool partial_ok(const struct ws *w, const struct u8 *u)
{
    uint32_t lo, hi;
    u8_span(u, &lo, &hi);
    for (uint32_t i = 0; i < w->ncur; i++) {
        const struct gelem *e = &w->g->elems[ws_node(w, w->cur[i]).pos];
        if (gclass_intersects(w->g, &w->g->classes[e->arg], lo, hi))
            return true;
    }
    return false;
}

/* Run bytes s[0..len) through the workspace; u carries the unfinished
 * character in and out. */
static bool ws_feed(struct ws *w, struct u8 *u, const uint8_t *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        uint8_t c = s[i];
        if (u->n == 0) {
            if (c < 0x80) {
                if (!feed_cp(w, c))
                    return false;
                continue;
            }
            uint8_t need = c >= 0xF5 ? 0 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
            if (need == 0)
                return false;
            u->b[0] = c;
            u->n = 1;
            u->need = need;
            continue;
        }
        if (!u8_cont_ok(u, c))
            return false;
        u->b[u->n++] = c;
        if (u->n == u->need) {
            uint32_t cp = u8_decode(u->b, u->n);
            u->n = 0;
            if (!feed_cp(w, cp))
                return false;
        }
    }
    return u->n == 0 || partial_ok(w, u);
}

/* ---- committing a workspace into a state ---- */

static void compute_lead(struct grammar_state *st)
{
    memset(st->lead, 0, sizeof(st->lead));
    if (st->u.n > 0) {
        for (uint32_t b = 0x80; b < 0xC0; b++)
            st->lead[b >> 5] |= 1u << (b & 31);
        return;
    }
    const struct grammar *g = st->g;
    for (uint32_t i = 0; i < st->n_stacks; i++) {
        const struct gclass *c = &g->classes[g->elems[st->nodes[st->stacks[i]].pos].arg];
        for (int k = 0; k < 8; k++)
            st->lead[k] |= c->lead[k];
    }
}

struct compact {
    struct gnode *nodes;
    uint32_t n, cap;
    int32_t *path;
    uint32_t npath, cap_path;
};

static bool cgrow(void **buf, uint32_t *cap, uint32_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    uint32_t nc = *cap ? *cap * 2 : 64;
    while (nc < need)
        nc *= 2;
    void *nb = realloc(*buf, (size_t)nc * elem);
    if (nb == NULL)
        return false;
    *buf = nb;
    *cap = nc;
    return true;
}

/* Copy stack `top` into c (sharing what is already copied); map: old -> new. */
static bool copy_stack(const struct ws *w, struct compact *c, int32_t *map, int32_t top)
{
    c->npath = 0;
    for (int32_t id = top; id >= 0 && map[id] < 0; id = ws_node(w, id).parent) {
        if (!cgrow((void **)&c->path, &c->cap_path, c->npath + 1, sizeof(int32_t)))
            return false;
        c->path[c->npath++] = id;
    }
    while (c->npath > 0) {
        int32_t id = c->path[--c->npath];
        struct gnode nd = ws_node(w, id);
        if (!cgrow((void **)&c->nodes, &c->cap, c->n + 1, sizeof(*c->nodes)))
            return false;
        c->nodes[c->n] = (struct gnode){nd.pos, nd.parent < 0 ? nd.parent : map[nd.parent]};
        map[id] = (int32_t)c->n++;
    }
    return true;
}

static int32_t *build_hash(const struct gnode *nodes, uint32_t n, uint32_t *mask)
{
    uint32_t cap = 16;
    while (cap < 2 * n + 2)
        cap *= 2;
    int32_t *t = malloc(cap * sizeof(*t));
    if (t == NULL)
        return NULL;
    memset(t, 0xff, cap * sizeof(*t));
    for (uint32_t k = 0; k < n; k++) {
        uint32_t i = node_hash(nodes[k].pos, nodes[k].parent) & (cap - 1);
        while (t[i] >= 0)
            i = (i + 1) & (cap - 1);
        t[i] = (int32_t)k;
    }
    *mask = cap - 1;
    return t;
}

static void build_first(struct grammar_state *st);

/* Make the workspace's current stacks the state's; -1 (state unchanged) if
 * out of memory. */
static int commit(struct grammar_state *st, const struct ws *w, const struct u8 *u)
{
    uint32_t total = (uint32_t)w->nbase + w->n;
    struct compact c = {0};
    int32_t *map = malloc(((size_t)total + 1) * sizeof(*map));
    int32_t *stacks = malloc(((size_t)w->ncur + 1) * sizeof(*stacks));
    bool ok = map != NULL && stacks != NULL;
    if (ok)
        memset(map, 0xff, ((size_t)total + 1) * sizeof(*map));
    for (uint32_t i = 0; ok && i < w->ncur; i++) {
        ok = copy_stack(w, &c, map, w->cur[i]);
        stacks[i] = ok ? map[w->cur[i]] : 0;
    }
    uint32_t mask = 0;
    int32_t *hash = ok ? build_hash(c.nodes, c.n, &mask) : NULL;
    free(map);
    free(c.path);
    if (hash == NULL) {
        free(stacks);
        free(c.nodes);
        return -1;
    }
    free(st->nodes);
    free(st->hash);
    free(st->stacks);
    st->nodes = c.nodes;
    st->n_nodes = (int32_t)c.n;
    st->hash = hash;
    st->hmask = mask;
    st->stacks = stacks;
    st->n_stacks = w->ncur;
    st->has_empty = w->cur_empty;
    st->u = *u;
    compute_lead(st);
    build_first(st);
    return 0;
}

static void drop_first(struct grammar_state *st)
{
    free(st->groups);
    free(st->first_ids);
    st->groups = NULL;
    st->first_ids = NULL;
    st->n_groups = 0;
    st->has_first = false;
}

static void lead_of(const struct grammar_state *st, const int32_t *set, uint32_t n,
                    uint32_t *lead)
{
    const struct grammar *g = st->g;
    memset(lead, 0, 8 * sizeof(*lead));
    for (uint32_t i = 0; i < n; i++) {
        const struct gclass *c = &g->classes[g->elems[st->nodes[set[i]].pos].arg];
        for (int k = 0; k < 8; k++)
            lead[k] |= c->lead[k];
    }
}

/* The nodes the workspace made become the state's (same ids). */
static bool adopt_nodes(struct grammar_state *st, const struct ws *w)
{
    if (w->n == 0)
        return true;
    struct gnode *nodes = realloc(st->nodes, ((size_t)st->n_nodes + w->n) * sizeof(*nodes));
    if (nodes == NULL)
        return false;
    st->nodes = nodes;
    memcpy(nodes + st->n_nodes, w->nodes, w->n * sizeof(*nodes));
    uint32_t mask;
    int32_t *hash = build_hash(nodes, (uint32_t)st->n_nodes + w->n, &mask);
    if (hash == NULL)
        return false; /* the extra nodes stay unused */
    st->n_nodes += (int32_t)w->n;
    free(st->hash);
    st->hash = hash;
    st->hmask = mask;
    return true;
}

/* Steps over the ASCII characters, one per group of characters that match
 * the same stacks. */
static bool first_steps(struct grammar_state *st, struct ws *w, uint64_t *masks,
                        uint32_t *reps, uint32_t *cap_ids)
{
    for (uint32_t c = 0; c < 128; c++) {
        uint64_t m = member_mask(w, st->stacks, st->n_stacks, c);
        st->first[c] = -1;
        if (m == 0)
            continue;
        uint32_t g = 0;
        while (g < st->n_groups && masks[g] != m)
            g++;
        if (g < st->n_groups) {
            st->first[c] = st->groups[g].n || st->groups[g].empty ? (int16_t)g : -1;
            continue;
        }
        w->cur = st->stacks;
        w->ncur = st->n_stacks;
        w->cur_empty = st->has_empty;
        bool ok = ws_step(w, c);
        if (w->fail)
            return false;
        uint32_t off = st->n_groups ? st->groups[st->n_groups - 1].off +
                                          st->groups[st->n_groups - 1].n : 0;
        if (ok && off + w->ncur > *cap_ids) {
            uint32_t cap = (off + w->ncur) * 2 + 16;
            int32_t *ids = realloc(st->first_ids, cap * sizeof(*ids));
            if (ids == NULL)
                return false;
            st->first_ids = ids;
            *cap_ids = cap;
        }
        struct first_group *fg = &st->groups[st->n_groups];
        memset(fg, 0, sizeof(*fg));
        fg->off = off;
        if (ok) {
            if (w->ncur > 0)
                memcpy(st->first_ids + off, w->cur, w->ncur * sizeof(int32_t));
            fg->n = w->ncur;
            fg->empty = w->cur_empty;
        }
        masks[st->n_groups] = m;
        reps[st->n_groups] = c;
        st->first[c] = ok ? (int16_t)st->n_groups : -1;
        st->n_groups++;
    }
    return true;
}

static void build_first(struct grammar_state *st)
{
    drop_first(st);
    if (st->u.n > 0 || st->n_stacks == 0 || st->n_stacks > 64)
        return;
    struct ws *w = malloc(sizeof(*w));
    uint64_t masks[128];
    uint32_t reps[128], cap_ids = 64;
    st->groups = calloc(128, sizeof(*st->groups));
    st->first_ids = malloc(cap_ids * sizeof(*st->first_ids));
    if (w == NULL || st->groups == NULL || st->first_ids == NULL) {
        free(w);
        drop_first(st);
        return;
    }
    ws_init(w, st);
    bool ok = first_steps(st, w, masks, reps, &cap_ids) && adopt_nodes(st, w);
    ws_free(w);
    free(w);
    if (!ok) {
        drop_first(st);
        return;
    }
    for (uint32_t g = 0; g < st->n_groups; g++) {
        struct first_group *fg = &st->groups[g];
        const int32_t *set = st->first_ids + fg->off;
        lead_of(st, set, fg->n, fg->lead2);
        fg->fixed = fg->n <= 16 && fg->empty == st->has_empty &&
                    same_set(st->stacks, st->n_stacks, set, fg->n);
        if (fg->fixed) {
            struct ws probe; /* only for member_mask's node lookups */
            probe.g = st->g;
            probe.bnodes = st->nodes;
            probe.nbase = st->n_nodes;
            fg->fmask = member_mask(&probe, set, fg->n, reps[g]);
        }
    }
    st->has_first = true;
}

/* ---- the interface ---- */

struct grammar_state *grammar_state_create(const struct grammar *g)
{
    if (g == NULL)
        return NULL;
    struct grammar_state *st = calloc(1, sizeof(*st));
    struct ws *w = malloc(sizeof(*w));
    if (st == NULL || w == NULL) {
        free(st);
        free(w);
        return NULL;
    }
    st->g = g;
    ws_init(w, st);
    step_begin(w);
    ws_expand(w, ws_intern(w, (int32_t)g->start, NODE_EMPTY));
    step_end(w);
    struct u8 u = {{0}, 0, 0};
    int rc = w->fail ? -1 : commit(st, w, &u);
    ws_free(w);
    free(w);
    if (rc != 0) {
        grammar_state_free(st);
        return NULL;
    }
    return st;
}

struct grammar_state *grammar_state_clone(const struct grammar_state *st)
{
    if (st == NULL)
        return NULL;
    struct grammar_state *c = malloc(sizeof(*c));
    if (c == NULL)
        return NULL;
    *c = *st;
    c->nodes = malloc(((size_t)st->n_nodes + 1) * sizeof(*c->nodes));
    c->hash = malloc(((size_t)st->hmask + 1) * sizeof(*c->hash));
    c->stacks = malloc(((size_t)st->n_stacks + 1) * sizeof(*c->stacks));
    c->groups = NULL;
    c->first_ids = NULL;
    size_t n_ids = 0;
    if (st->has_first && st->n_groups > 0) {
        const struct first_group *last = &st->groups[st->n_groups - 1];
        n_ids = last->off + last->n;
        c->groups = malloc(st->n_groups * sizeof(*c->groups));
        c->first_ids = malloc((n_ids + 1) * sizeof(*c->first_ids));
        if (c->groups && c->first_ids) {
            memcpy(c->groups, st->groups, st->n_groups * sizeof(*c->groups));
            memcpy(c->first_ids, st->first_ids, n_ids * sizeof(*c->first_ids));
        }
    }
    if (c->nodes == NULL || c->hash == NULL || c->stacks == NULL ||
        (st->has_first && st->n_groups > 0 && (c->groups == NULL || c->first_ids == NULL))) {
        grammar_state_free(c);
        return NULL;
    }
    if (st->n_nodes > 0)
        memcpy(c->nodes, st->nodes, (size_t)st->n_nodes * sizeof(*c->nodes));
    memcpy(c->hash, st->hash, ((size_t)st->hmask + 1) * sizeof(*c->hash));
    if (st->n_stacks > 0)
        memcpy(c->stacks, st->stacks, (size_t)st->n_stacks * sizeof(*c->stacks));
    return c;
}

void grammar_state_free(struct grammar_state *st)
{
    if (st == NULL)
        return;
    free(st->groups);
    free(st->first_ids);
    free(st->nodes);
    free(st->hash);
    free(st->stacks);
    free(st);
}

bool grammar_state_accepts(const struct grammar_state *st, const char *bytes, size_t len)
{
    if (st == NULL)
        return false;
    if (len == 0)
        return true;
    uint8_t b0 = (uint8_t)bytes[0];
    if (!((st->lead[b0 >> 5] >> (b0 & 31)) & 1u))
        return false;
    struct ws w;
    ws_init(&w, st);
    struct u8 u = st->u;
    size_t skip = 0;
    if (st->has_first && b0 < 0x80) {
        if (st->first[b0] < 0)
            return false;
        const struct first_group *fg = &st->groups[st->first[b0]];
        if (len == 1)
            return true;
        uint8_t b1 = (uint8_t)bytes[1];
        if (!((fg->lead2[b1 >> 5] >> (b1 & 31)) & 1u))
            return false;
        w.cur = st->first_ids + fg->off;
        w.ncur = fg->n;
        w.cur_empty = fg->empty;
        w.fix = fg->fixed;
        w.fix_mask = fg->fmask;
        skip = 1;
    }
    bool ok = ws_feed(&w, &u, (const uint8_t *)bytes + skip, len - skip);
    ws_free(&w);
    return ok;
}

int grammar_state_advance(struct grammar_state *st, const char *bytes, size_t len)
{
    if (st == NULL)
        return -1;
    if (len == 0)
        return 0;
    uint8_t b0 = (uint8_t)bytes[0];
    if (!((st->lead[b0 >> 5] >> (b0 & 31)) & 1u))
        return -1;
    struct ws *w = malloc(sizeof(*w));
    if (w == NULL)
        return -1;
    ws_init(w, st);
    struct u8 u = st->u;
    int rc = ws_feed(w, &u, (const uint8_t *)bytes, len) ? commit(st, w, &u) : -1;
    ws_free(w);
    free(w);
    return rc;
}

bool grammar_state_can_end(const struct grammar_state *st)
{
    return st != NULL && st->has_empty && st->u.n == 0;
}

bool grammar_state_done(const struct grammar_state *st)
{
    return grammar_state_can_end(st) && st->n_stacks == 0;
}
