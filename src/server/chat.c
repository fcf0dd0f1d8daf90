/*
 * chat.c - the server's chat template (see chat.h). TEMPORARY: ChatML only,
 * until the template engine (src/chat/) lands.
 */
#include "server/chat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"

int chat_init(struct server *s, char *err, size_t err_size)
{
    return 0;
}

void chat_free(struct server *s) {}

const char *chat_name(const struct server *s)
{
    return "chatml";
}

char *chat_format(struct server *s, const json_t *messages, bool add_generation_prompt, char *err, size_t err_size)
{
    size_t i;
    const json_t *m;
    json_t *parts = json_array();
    json_array_foreach(messages, i, m) {
        const char *role = json_string_value(json_object_get(m, "role"));
        const char *content = json_string_value(json_object_get(m, "content"));
        if (!role || !content) {
            snprintf(err, err_size, "'messages'[%zu] needs a 'role' and a string 'content'", i);
            json_decref(parts);
            return NULL;
        }
        json_array_append_new(parts, json_sprintf("<|im_start|>%s\n%s<|im_end|>\n", role, content));
    }
    size_t len = 0;
    json_array_foreach(parts, i, m) len += json_string_length(m);
    char *out = malloc(len + 32), *o = out;
    json_array_foreach(parts, i, m) {
        memcpy(o, json_string_value(m), json_string_length(m));
        o += json_string_length(m);
    }
    strcpy(o, add_generation_prompt ? "<|im_start|>assistant\n" : "");
    json_decref(parts);
    return out;
}
