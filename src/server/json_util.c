/*
 * json_util.c - JSON replies for the routes: the OpenAI error shape, safe
 * strings from bytes that may not be valid UTF-8, compact dumps.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/sbuf.h"
#include "base/unicode.h"
#include "server/server_internal.h"

const char *srv_error_type(int status)
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

static int append_cb(const char *buf, size_t size, void *data)
{
    return sbuf_append(data, buf, size);
}

int srv_json_append(struct sbuf *b, const json_t *obj)
{
    if (json_dump_callback(obj, append_cb, b, JSON_COMPACT | JSON_ENCODE_ANY) != 0)
        b->oom = true;
    return b->oom ? -1 : 0;
}

char *srv_json_dump(const json_t *obj, size_t *len)
{
    struct sbuf b = SBUF_INIT;
    srv_json_append(&b, obj);
    return sbuf_take(&b, len);
}

char *srv_error_body(int status, const char *message, size_t *len)
{
    json_t *e = json_pack("{s:{s:i,s:o,s:s}}", "error", "code", status, "message",
                          srv_json_text(message, strlen(message)), "type", srv_error_type(status));
    char *s = e ? srv_json_dump(e, len) : NULL;
    json_decref(e);
    return s;
}

void srv_reply_json(struct http_reply *rep, int status, json_t *obj)
{
    size_t len = 0;
    char *body = obj ? srv_json_dump(obj, &len) : NULL;
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

void srv_reply_error(struct http_reply *rep, int status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    err_vset(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t len = 0;
    rep->status = status;
    rep->content_type = "application/json; charset=utf-8";
    rep->body = srv_error_body(status, msg, &len);
    rep->len = len;
}

json_t *srv_json_text(const char *s, size_t n)
{
    uint32_t cp;
    size_t i = 0, l;
    while (i < n && (l = utf8_decode_strict(s + i, n - i, &cp)) > 0)
        i += l;
    if (i == n)
        return json_stringn_nocheck(s, n);
    struct sbuf b = SBUF_INIT; /* bad bytes become U+FFFD */
    sbuf_append(&b, s, i);
    while (i < n) {
        if ((l = utf8_decode_strict(s + i, n - i, &cp)) == 0) {
            sbuf_append(&b, "\xEF\xBF\xBD", 3);
            i++;
        } else {
            sbuf_append(&b, s + i, l);
            i += l;
        }
    }
    json_t *j = b.oom ? NULL : json_stringn_nocheck(sbuf_str(&b), b.len);
    sbuf_free(&b);
    return j;
}

json_t *srv_parse_body(const struct http_request *req, struct http_reply *rep)
{
    json_error_t je;
    json_t *j = json_loadb(req->body, req->body_len, 0, &je);
    if (!j) {
        srv_reply_error(rep, 400, "invalid JSON in the request body: %s (line %d, column %d)", je.text, je.line,
                    je.column);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        srv_reply_error(rep, 400, "the request body must be a JSON object");
        return NULL;
    }
    return j;
}
