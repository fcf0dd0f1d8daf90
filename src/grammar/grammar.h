/*
 * grammar.h - GBNF grammars (llama.cpp's format): parse once into an
 * immutable, shared grammar, then follow generated text with a grammar_state that
 * says which bytes may come next.
 *
 * The parser rejects with a message naming line and column anything it
 * cannot read, rules that are used but never defined, and left recursion
 * (which would make matching loop forever). Matching is over Unicode code
 * points; a state carries an unfinished UTF-8 sequence between calls, so a
 * token may end in the middle of a character.
 */
#ifndef CLLM_GRAMMAR_GRAMMAR_H
#define CLLM_GRAMMAR_GRAMMAR_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct grammar;
struct grammar_state;

/* Parse text[0..len). root: the start rule ("root" when NULL). NULL with a
 * message "line L, column C: what is wrong" in err on failure. The grammar
 * comes with one reference. */
struct grammar *grammar_parse(const char *text, size_t len, const char *root, char *err,
                              size_t err_size);
/* Stopping a compile whose requester has gone. While *flag (set from any
 * thread) is non-zero, grammar_parse and json_schema_to_grammar running on
 * the thread that called grammar_cancel_watch stop within a bounded amount
 * of work and fail with the message "cancelled". Per thread; NULL: nothing
 * is watched. Returns the flag watched before, to put back. */
const atomic_int *grammar_cancel_watch(const atomic_int *flag);
/* The watched flag is set (cheap: for the compile loops). */
bool grammar_cancelled(void);

/* A compiled grammar is immutable: any number of states, on any threads,
 * may follow it. It is reference counted (atomically) so that the choices
 * of one request can share it: grammar_ref adds a reference and returns g;
 * grammar_free drops one and frees the grammar with the last. */
struct grammar *grammar_ref(struct grammar *g);
void grammar_free(struct grammar *g);

/* Code point ranges as lo, hi pairs r[0..2n) (inclusive): sort and merge
 * overlapping or adjacent pairs in place, returning the new count; and the
 * complement of normalized pairs within [0, 0x10FFFF] into out (room for
 * n + 1 pairs), returning its count. */
size_t grammar_ranges_normalize(uint32_t *r, size_t n);
size_t grammar_ranges_complement(const uint32_t *r, size_t n, uint32_t *out);

/* A matcher at the start of the grammar. The grammar must outlive it. */
struct grammar_state *grammar_state_create(const struct grammar *g);
struct grammar_state *grammar_state_clone(const struct grammar_state *st);
void grammar_state_free(struct grammar_state *st);

/* Could bytes[0..len) come next? (Does not change the state.) */
bool grammar_state_accepts(const struct grammar_state *st, const char *bytes, size_t len);
/* Advance over bytes[0..len). Returns 0, or -1 (state unchanged) if rejected. */
int grammar_state_advance(struct grammar_state *st, const char *bytes, size_t len);
/* The text so far is a complete sentence of the grammar (end of generation
 * is allowed here). */
bool grammar_state_can_end(const struct grammar_state *st);
/* Complete, and no byte at all may follow: generation must stop. */
bool grammar_state_done(const struct grammar_state *st);

#endif
