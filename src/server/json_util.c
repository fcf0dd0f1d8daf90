/*
 * json_util.c - JSON replies for the routes: the OpenAI error shape, safe
 * strings from bytes that may not be valid UTF-8, compact dumps.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"

const char *error_type(int status)
{
    switch (status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 501: return "not_supported_error";
    case 503: return "unavailable_error";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

char *json_dump(const json_t *obj, size_t *len)
{
    char *s = json_dumps(obj, JSON_COMPACT);
    if (s && len)
        *len = strlen(s);
    return s;
}

char *error_body(int status, const char *message, size_t *len)
{
    json_t *e = json_pack("{s:{s:i,s:o,s:s}}", "error", "code", status, "message",
                          json_text(message, strlen(message)), "type", error_type(status));
    char *s = e ? json_dump(e, len) : NULL;
    json_decref(e);
    return s;
}

void reply_json(struct http_reply *rep, int status, json_t *obj)
{
    size_t len = 0;
    char *body = obj ? json_dump(obj, &len) : NULL;
    json_decref(obj);
    if (!body) {
        static const char oom[] = "{\"error\":{\"code\":500,\"message\":\"out of memory\",\"type\":\"server_error\"}}";
        body = strdup(oom);
        len = body ? strlen(body) : 0;
        status = 500;
    }
    rep->status = status;
    rep->content_type = "application/json; charset=utf-8";
    rep->body = body;
    rep->len = len;
}

void reply_error(struct http_reply *rep, int status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t len = 0;
    rep->status = status;
    rep->content_type = "application/json; charset=utf-8";
    rep->body = error_body(status, msg, &len);
    rep->len = len;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_valid_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if ((c & 0xE0) == 0xC0) { len = 2; min = 0x80; c &= 0x1F; }
    else if ((c & 0xF0) == 0xE0) { len = 3; min = 0x800; c &= 0x0F; }
    else if ((c & 0xF8) == 0xF0) { len = 4; min = 0x10000; c &= 0x07; }
    else return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    return len;
}

json_t *json_text(const char *s, size_t n)
{
    json_t *j = json_stringn_nocheck(s, n);
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t l = utf8_valid_len(u + i, n - i);
        if (l == 0)
            break;
        i += l;
    }
    if (i == n)
        return j;
    json_decref(j);
    char *fixed = malloc(n * 3 + 1), *o = fixed;
    if (!fixed)
        return NULL;
    for (i = 0; i < n;) {
        size_t l = utf8_valid_len(u + i, n - i);
        if (l == 0) {
            memcpy(o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        } else {
            memcpy(o, s + i, l);
            o += l;
            i += l;
        }
    }
    j = json_stringn_nocheck(fixed, (size_t)(o - fixed));
    free(fixed);
    return j;
}

json_t *parse_body(const struct http_request *req, struct http_reply *rep)
{
    json_error_t je;
    json_t *j = json_loadb(req->body, req->body_len, 0, &je);
    if (!j) {
        reply_error(rep, 400, "invalid JSON in the request body: %s (line %d, column %d)", je.text, je.line,
                    je.column);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        reply_error(rep, 400, "the request body must be a JSON object");
        return NULL;
    }
    return j;
}
