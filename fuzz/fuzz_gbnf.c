/*
 * fuzz_gbnf.c - libFuzzer target for the GBNF grammar engine: the input up to
 * its first NUL byte is a grammar (parsed whatever it holds); the bytes after
 * it are fed to a matcher in pieces of varying size through accepts(),
 * advance(), clone(), can_end() and done(). Must never crash, leak, hang or
 * disagree with itself (accepts() must predict advance()).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"

#define MAX_PROBE 64

static void probe(const struct grammar *g, const uint8_t *p, size_t n)
{
    struct grammar_state *st = grammar_state_create(g);
    if (st == NULL)
        return;
    if (n > MAX_PROBE)
        n = MAX_PROBE;
    size_t i = 0;
    while (i < n) {
        size_t len = 1 + (p[i] & 3); /* pieces of 1..4 bytes, like tokens */
        if (len > n - i)
            len = n - i;
        const char *piece = (const char *)p + i;
        bool acc = grammar_state_accepts(st, piece, len);
        struct grammar_state *cl = grammar_state_clone(st);
        int rc = grammar_state_advance(st, piece, len);
        if (acc != (rc == 0))
            abort(); /* accepts() and advance() disagree */
        if (cl != NULL && grammar_state_advance(cl, piece, len) != rc)
            abort(); /* a clone behaves differently */
        grammar_state_free(cl);
        if (grammar_state_done(st) && !grammar_state_can_end(st))
            abort();
        i += len;
        if (rc != 0 && (p[i - 1] & 4))
            break;
    }
    grammar_state_free(st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t glen = nul ? (size_t)(nul - data) : size;
    /* exact-size copy so that ASan catches any read past the end */
    char *text = malloc(glen ? glen : 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, glen);
    char err[256];
    struct grammar *g = grammar_parse(text, glen, NULL, err, sizeof(err));
    if (g == NULL && strncmp(err, "line ", 5) != 0)
        abort(); /* every error names its line and column */
    if (g != NULL) {
        if (nul)
            probe(g, nul + 1, size - glen - 1);
        else
            probe(g, (const uint8_t *)"{\"a\": [1, \"x\"]}", 15);
        grammar_free(g);
    }
    free(text);
    return 0;
}
