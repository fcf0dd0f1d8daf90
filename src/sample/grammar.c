/* grammar.c - STUB until the GBNF engine lands: every grammar is rejected. */
#include "sample/grammar.h"

#include <stdio.h>

struct grammar *grammar_parse(const char *text, size_t len, const char *root, char *err,
                              size_t err_size)
{
    snprintf(err, err_size, "line 1, column 1: grammars are not supported yet");
    return NULL;
}
void grammar_free(struct grammar *g) {}
struct grammar_state *grammar_state_create(const struct grammar *g) { return NULL; }
struct grammar_state *grammar_state_clone(const struct grammar_state *st) { return NULL; }
void grammar_state_free(struct grammar_state *st) {}
bool grammar_state_accepts(const struct grammar_state *st, const char *b, size_t n) { return true; }
int grammar_state_advance(struct grammar_state *st, const char *b, size_t n) { return 0; }
bool grammar_state_can_end(const struct grammar_state *st) { return true; }
bool grammar_state_done(const struct grammar_state *st) { return false; }
