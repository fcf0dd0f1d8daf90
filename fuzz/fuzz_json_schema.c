/*
 * fuzz_json_schema.c - libFuzzer target for the JSON schema converter: the
 * input is read as JSON (any value); whatever schema it is, the converter
 * must return a grammar that parses, or an error that is not an internal
 * one; the grammar is then matched against a few JSON texts. Must never
 * crash, leak or hang.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "grammar/grammar.h"
#include "grammar/json_schema.h"

static const char *const PROBES[] = {
    "{\"a\": 1}", "[1, \"x\", null]", "\"2024-01-01\"", "-12.5e3", "true", "{}", "[]",
};

static void probe(const struct grammar *g)
{
    for (size_t i = 0; i < sizeof(PROBES) / sizeof(PROBES[0]); i++) {
        struct grammar_state *st = grammar_state_create(g);
        if (st == NULL)
            continue;
        const char *s = PROBES[i];
        for (size_t k = 0; s[k]; k++) {
            bool acc = grammar_state_accepts(st, s + k, 1);
            if (acc != (grammar_state_advance(st, s + k, 1) == 0))
                abort();
            if (!acc)
                break;
        }
        grammar_state_can_end(st);
        grammar_state_free(st);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t je;
    json_t *schema = json_loadb((const char *)data, size, JSON_DECODE_ANY, &je);
    if (schema == NULL)
        return 0;
    char err[512];
    char *text = json_schema_to_grammar(schema, err, sizeof(err));
    if (text == NULL) {
        if (strncmp(err, "internal error", 14) == 0)
            abort(); /* the converter produced a grammar that does not parse */
    } else {
        struct grammar *g = grammar_parse(text, strlen(text), NULL, err, sizeof(err));
        if (g == NULL)
            abort(); /* must always parse */
        probe(g);
        grammar_free(g);
        free(text);
    }
    json_decref(schema);
    return 0;
}
