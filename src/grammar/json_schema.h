/*
 * json_schema.h - a JSON schema turned into a GBNF grammar whose sentences
 * are exactly the JSON texts the schema accepts (within the supported
 * keywords), for json_schema / response_format constrained output.
 */
#ifndef CLLM_GRAMMAR_JSON_SCHEMA_H
#define CLLM_GRAMMAR_JSON_SCHEMA_H

#include <stddef.h>

#include <jansson.h>

/* The grammar text (malloc'd, NUL-terminated, caller frees), or NULL with a
 * message in err: an unsupported keyword (named), a bad $ref, or out of
 * memory. The schema {} (or true) gives any JSON value. */
char *json_schema_to_grammar(const json_t *schema, char *err, size_t err_size);

#endif
