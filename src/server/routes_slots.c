/*
 * routes_slots.c - POST /slots/{id}?action=save|restore|erase: a slot's
 * cached tokens and KV rows written to or read from a file in
 * --slot-save-path, or dropped. File names are plain names: no path
 * separators, no "..", nothing outside that directory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"

/* One slot operation in flight: its task's queue, drained by the stream. */
struct slot_op {
    struct sched_events *q;
    enum sched_task_kind kind;
    char *filename;
};

static json_t *op_json(const struct slot_op *c, const struct sched_result *r)
{
    if (c->kind == SCHED_SLOT_SAVE)
        return json_pack("{s:i,s:s,s:i,s:I,s:{s:f}}", "id_slot", r->id_slot, "filename", c->filename, "n_saved",
                         r->n_tokens, "n_written", (json_int_t)r->n_bytes, "timings", "save_ms", r->op_ms);
    if (c->kind == SCHED_SLOT_RESTORE)
        return json_pack("{s:i,s:s,s:i,s:I,s:{s:f}}", "id_slot", r->id_slot, "filename", c->filename,
                         "n_restored", r->n_tokens, "n_read", (json_int_t)r->n_bytes, "timings", "restore_ms",
                         r->op_ms);
    return json_pack("{s:i,s:i}", "id_slot", r->id_slot, "n_erased", r->n_tokens);
}

static void op_produce(void *ud, struct http_stream *out)
{
    struct slot_op *c = ud;
    struct sched_event *ev;
    while ((ev = sched_events_pop(c->q))) {
        size_t len = 0;
        char *body = NULL;
        int status = 200;
        if (ev->kind == SCHED_EV_ERROR) {
            status = ev->error_code;
            body = srv_error_body(status, ev->error ? ev->error : "error", &len);
        } else if (ev->kind == SCHED_EV_DONE) {
            json_t *j = op_json(c, &ev->result);
            body = j ? srv_json_dump(j, &len) : NULL;
            json_decref(j);
            if (!body)
                status = 500;
        } else {
            sched_event_free(ev);
            continue;
        }
        http_stream_finish(out, status, "application/json; charset=utf-8", body ? body : "{}", body ? len : 2);
        free(body);
        sched_event_free(ev);
        return;
    }
}

static void op_release(void *ud)
{
    struct slot_op *c = ud;
    if (c->q) {
        sched_events_cancel(c->q);
        sched_events_unref(c->q);
    }
    free(c->filename);
    free(c);
}

static void op_notify(void *ud)
{
    http_stream_wake(ud);
}

/* A plain file name: not empty, no separators, not . or .., no control bytes. */
static bool safe_filename(const char *f)
{
    if (!*f || strcmp(f, ".") == 0 || strcmp(f, "..") == 0 || strstr(f, "..") || strlen(f) > 255)
        return false;
    for (const unsigned char *p = (const unsigned char *)f; *p; p++)
        if (*p == '/' || *p == '\\' || *p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

static int parse_slot_id(struct server *s, const char *id, struct http_reply *rep)
{
    char *end;
    long v = strtol(id, &end, 10);
    if (!*id || *end || v < 0 || v >= sched_n_slots(s->sched)) {
        srv_reply_error(rep, 404, "no slot '%s' (the server has %d slots)", id, sched_n_slots(s->sched));
        return -1;
    }
    return (int)v;
}

void route_slot_action(struct server *s, const struct http_request *req, struct http_reply *rep, const char *id)
{
    int slot = parse_slot_id(s, id, rep);
    if (slot < 0)
        return;
    const char *action = http_query(req, "action");
    enum sched_task_kind kind;
    if (action && strcmp(action, "save") == 0)
        kind = SCHED_SLOT_SAVE;
    else if (action && strcmp(action, "restore") == 0)
        kind = SCHED_SLOT_RESTORE;
    else if (action && strcmp(action, "erase") == 0)
        kind = SCHED_SLOT_ERASE;
    else {
        srv_reply_error(rep, 400, "'action' must be save, restore or erase");
        return;
    }
    if (kind != SCHED_SLOT_ERASE && !s->p->slot_save_path) {
        srv_reply_error(rep, 501, "This server does not support slot save and restore (start it with --slot-save-path).");
        return;
    }
    char path[4096] = "";
    const char *filename = "";
    json_t *body = NULL;
    if (kind != SCHED_SLOT_ERASE) {
        if (!(body = srv_parse_body(req, rep)))
            return;
        const json_t *fn = json_object_get(body, "filename");
        if (!json_is_string(fn) || !safe_filename(json_string_value(fn))) {
            srv_reply_error(rep, 400, "'filename' must be a plain file name (no '/', '\\' or '..')");
            json_decref(body);
            return;
        }
        filename = json_string_value(fn);
        snprintf(path, sizeof path, "%s/%s", s->p->slot_save_path, filename);
    }
    struct slot_op *c = calloc(1, sizeof *c);
    struct sched_task *t = sched_task_new(kind);
    struct http_stream *out = c ? http_stream_new(false, op_produce, op_release, c) : NULL; /* owns c */
    if (!out)
        free(c);
    if (!out || !t || !(c->filename = strdup(filename)) || !(t->path = strdup(path)) ||
        !(c->q = sched_events_new(op_notify, out))) {
        sched_task_free(t);
        if (out)
            http_stream_unref(out);
        srv_reply_error(rep, 500, "out of memory");
        json_decref(body);
        return;
    }
    json_decref(body);
    c->kind = kind;
    t->id_slot = slot;
    sched_task_set_events(t, c->q);
    rep->stream = out;
    sched_submit(s->sched, t);
}
