/* json_schema.c - STUB until the schema converter lands. */
#include "sample/json_schema.h"

#include <stdio.h>

char *json_schema_to_grammar(const json_t *schema, char *err, size_t err_size)
{
    snprintf(err, err_size, "JSON schemas are not supported yet");
    return NULL;
}
