/*
 * scheduler.c - slots, the task queue and the batching loop (see
 * scheduler.h).
 *
 * One lock guards the queue, the slots and the counters. The loop thread
 * holds it except while the engine computes a batch and while it sleeps, so
 * /slots and /metrics see consistent slots and wait at most one sampling
 * step. Task callbacks are called with the lock held: they must not call
 * back into the scheduler.
 */
#include "serve/scheduler.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/seq_state.h"
#include "serve/slot_text.h"
#include "tokenizer/tokenizer.h"

enum slot_state { SLOT_IDLE, SLOT_PROMPT, SLOT_GEN };

struct slot {
    int32_t id;
    enum slot_state state;
    struct sched_task *task;
    struct tok_list cache;    /* the tokens whose keys/values sequence `id` holds */
    int32_t *prompt;          /* the task's prompt after the system prefix and truncation */
    int32_t n_prompt;
    int32_t i_prompt;         /* next prompt token to evaluate */
    int32_t n_in_batch;       /* prompt tokens in the current batch */
    int32_t i_batch;          /* batch index of the logits this slot needs, or -1 */
    int32_t next_token;       /* SLOT_GEN: the sampled token to evaluate next */
    int32_t n_decoded, n_remain;
    int32_t n_cached, n_evaluated;
    bool truncated;
    struct slot_text text;
    struct sampler_prob *sprobs;
    struct sched_token_prob *probs;
    double t_start, t_prompt_done;
    uint64_t last_used;
};

struct sched {
    struct engine *e;
    const struct vocab *v;
    struct sched_params p;
    int32_t slot_ctx;
    struct slot *slots;
    struct batch batch;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    bool thread_started;
    bool stop;
    struct sched_task *queue_head, *queue_tail;
    int64_t next_id;
    uint64_t use_counter;
    uint32_t rr;              /* rotates which prompt gets the batch first */
    /* the system prompt, held in sequence n_slots */
    int32_t *sys;
    int32_t n_sys;
    float *embd_buf; /* n_batch x n_embd: one batch's hidden states */
    struct sched_stats st;
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ------------------------------------------------------------ tasks */

struct sched_task *sched_task_new(enum sched_task_kind kind)
{
    struct sched_task *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->kind = kind;
    t->id_slot = -1;
    t->n_predict = -1;
    t->n_keep = 0;
    t->follow = -1;
    return t;
}

void sched_task_free(struct sched_task *t)
{
    if (!t)
        return;
    free(t->prompt);
    for (size_t i = 0; i < t->n_stop; i++)
        free(t->stop[i]);
    free(t->stop);
    sampler_free(t->sampler);
    free(t->path);
    free(t);
}

static void task_error(struct sched_task *t, int code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct sched_event ev = {.kind = SCHED_EV_ERROR, .error = msg, .error_code = code};
    t->on_event(t->ud, &ev);
}

static void task_end(struct sched_task *t)
{
    if (t->release)
        t->release(t->ud);
    sched_task_free(t);
}

/* ------------------------------------------------------------ slots */

static void slot_reset_cache(struct sched *s, struct slot *sl)
{
    kv_cache_seq_rm(engine_kv(s->e), sl->id, 0);
    sl->cache.n = 0;
}

static void slot_clear_task(struct slot *sl)
{
    sl->state = SLOT_IDLE;
    sl->task = NULL;
    free(sl->prompt);
    sl->prompt = NULL;
    sl->i_batch = -1;
    sl->n_in_batch = 0;
}

static void slot_fail(struct sched *s, struct slot *sl, int code, const char *msg)
{
    task_error(sl->task, code, "%s", msg);
    task_end(sl->task);
    slot_clear_task(sl);
    slot_reset_cache(s, sl);
}

static void slot_finish(struct sched *s, struct slot *sl)
{
    struct sched_task *t = sl->task;
    double t_end = now_ms();
    size_t len;
    const char *rest = slot_text_finish(&sl->text, &len);
    struct sched_result r = {
        .id_slot = sl->id,
        .n_prompt = sl->n_prompt,
        .n_cached = sl->n_cached,
        .n_evaluated = sl->n_evaluated,
        .n_decoded = sl->n_decoded,
        .stopped_eos = sl->text.stopped_eos,
        .stopped_limit = sl->text.stopped_limit,
        .stopped_word = sl->text.stopped_word,
        .truncated = sl->truncated,
        .stopping_word = sl->text.stopping_word ? sl->text.stopping_word : "",
        .prompt_ms = sl->t_prompt_done - sl->t_start,
        .predicted_ms = sl->n_decoded > 0 ? t_end - sl->t_prompt_done : 0,
    };
    s->st.t_predicted_ms += r.predicted_ms;
    struct sched_event ev = {.kind = SCHED_EV_DONE, .text = rest, .len = len, .result = &r};
    t->on_event(t->ud, &ev);
    task_end(t);
    slot_clear_task(sl);
    sl->last_used = ++s->use_counter;
}

/* A task whose client went away: stop quietly (its cache stays usable). */
static void slot_cancel(struct slot *sl, struct sched *s)
{
    task_end(sl->task);
    slot_clear_task(sl);
    sl->last_used = ++s->use_counter;
}

static size_t common_prefix(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
    size_t i = 0;
    while (i < na && i < nb && a[i] == b[i])
        i++;
    return i;
}

/* The llama.cpp rule for a prompt that does not fit the slot: keep n_keep
 * tokens, drop whole blocks of half the remaining room after them. */
static void truncate_prompt(struct sched *s, struct slot *sl, int32_t n_keep)
{
    int32_t n = sl->n_prompt, n_ctx = s->slot_ctx;
    if (n_keep < 0 || n_keep > n_ctx - 4)
        n_keep = n_keep < 0 ? n_ctx - 4 : n_keep > n_ctx - 4 ? n_ctx - 4 : n_keep;
    if (n_keep > n)
        n_keep = n;
    int32_t n_block = (n_ctx - n_keep) / 2;
    int32_t erased = (n - n_keep - n_block) / n_block;
    int32_t from = n_keep + erased * n_block;
    memmove(sl->prompt + n_keep, sl->prompt + from, (size_t)(n - from) * sizeof *sl->prompt);
    sl->n_prompt = n - erased * n_block;
    sl->truncated = true;
}

/* Another slot whose cache shares a longer prefix with this slot's prompt
 * lends it: its sequence is copied (pages shared, copy on write) and cut to
 * the common part. Batch invariance makes those keys and values exactly the
 * ones this slot would compute. Returns the tokens now reusable. */
static size_t borrow_prefix(struct sched *s, struct slot *sl, size_t keep)
{
    struct slot *best = NULL;
    size_t best_n = keep;
    for (int32_t i = 0; i < s->p.n_slots; i++) {
        struct slot *o = &s->slots[i];
        if (o == sl || o->cache.n <= best_n)
            continue;
        size_t c = common_prefix(o->cache.v, o->cache.n, sl->prompt, (size_t)sl->n_prompt);
        if (c > best_n) {
            best = o;
            best_n = c;
        }
    }
    if (!best || kv_cache_seq_cp(engine_kv(s->e), best->id, sl->id) != 0)
        return keep;
    sl->cache.n = 0;
    for (size_t i = 0; i < best_n; i++)
        tok_list_push(&sl->cache, best->cache.v[i]);
    kv_cache_seq_rm(engine_kv(s->e), sl->id, (int32_t)best_n);
    return best_n;
}

/* Put the system prefix and the task's prompt into the slot, reuse what its
 * cache shares with them, and get it ready to evaluate the rest. */
static int slot_start(struct sched *s, struct slot *sl, struct sched_task *t, char *err, size_t err_size)
{
    struct kv_cache *kv = engine_kv(s->e);
    size_t n = (size_t)s->n_sys + t->n_prompt;
    sl->prompt = malloc((n ? n : 1) * sizeof *sl->prompt);
    if (!sl->prompt) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    if (s->n_sys > 0)
        memcpy(sl->prompt, s->sys, (size_t)s->n_sys * sizeof *sl->prompt);
    if (t->n_prompt > 0)
        memcpy(sl->prompt + s->n_sys, t->prompt, t->n_prompt * sizeof *sl->prompt);
    sl->n_prompt = (int32_t)n;
    sl->task = t;
    sl->truncated = false;
    if (n == 0) {
        snprintf(err, err_size, "the prompt is empty");
        return -1;
    }
    if (sl->n_prompt >= s->slot_ctx)
        truncate_prompt(s, sl, t->n_keep < 0 ? -1 : t->n_keep + s->n_sys);

    size_t keep = t->cache_prompt ? common_prefix(sl->cache.v, sl->cache.n, sl->prompt, (size_t)sl->n_prompt) : 0;
    if (t->cache_prompt || t->follow >= 0)
        keep = borrow_prefix(s, sl, keep);
    if (keep < (size_t)s->n_sys && s->n_sys > 0 && common_prefix(s->sys, (size_t)s->n_sys, sl->prompt,
                                                                 (size_t)sl->n_prompt) == (size_t)s->n_sys) {
        kv_cache_seq_cp(kv, s->p.n_slots, sl->id);
        sl->cache.n = 0;
        for (int32_t i = 0; i < s->n_sys; i++)
            tok_list_push(&sl->cache, s->sys[i]);
        keep = (size_t)s->n_sys;
    }
    if (keep == (size_t)sl->n_prompt)
        keep--; /* evaluate the last prompt token again for its logits */
    kv_cache_seq_rm(kv, sl->id, (int32_t)keep);
    sl->cache.n = keep;

    sl->i_prompt = (int32_t)keep;
    sl->n_cached = (int32_t)keep;
    sl->n_evaluated = sl->n_prompt - (int32_t)keep;
    sl->n_decoded = 0;
    int32_t lim = t->n_predict;
    if (s->p.n_predict >= 0 && (lim < 0 || lim > s->p.n_predict))
        lim = s->p.n_predict;
    sl->n_remain = lim;
    if (t->sampler)
        sampler_set_history(t->sampler, sl->prompt, (size_t)sl->n_prompt);
    if (slot_text_start(&sl->text, s->v, (const char *const *)t->stop, t->n_stop) != 0) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    int32_t np = t->n_probs > 0 ? t->n_probs : 0;
    free(sl->sprobs);
    free(sl->probs);
    sl->sprobs = np ? malloc((size_t)np * sizeof *sl->sprobs) : NULL;
    sl->probs = np ? malloc((size_t)np * sizeof *sl->probs) : NULL;
    if (np && (!sl->sprobs || !sl->probs)) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    sl->state = SLOT_PROMPT;
    sl->t_start = now_ms();
    sl->i_batch = -1;
    return 0;
}

/* ------------------------------------------------------------ slot operations */

static void run_slot_op(struct sched *s, struct slot *sl, struct sched_task *t)
{
    char err[256];
    double t0 = now_ms();
    struct sched_result r = {.id_slot = sl->id};
    if (t->kind == SCHED_SLOT_SAVE) {
        int64_t nb = seq_state_save(s->e, sl->id, sl->cache.v, (int32_t)sl->cache.n, t->path, err,
                                    sizeof err);
        if (nb < 0) {
            task_error(t, 500, "cannot save slot %d: %s", sl->id, err);
            task_end(t);
            return;
        }
        r.n_tokens = (int32_t)sl->cache.n;
        r.n_bytes = (uint64_t)nb;
    } else if (t->kind == SCHED_SLOT_RESTORE) {
        int32_t *tokens, n;
        int64_t nb = seq_state_load(s->e, sl->id, t->path, &tokens, &n, err, sizeof err);
        sl->cache.n = 0;
        if (nb < 0) {
            task_error(t, 400, "cannot restore slot %d: %s", sl->id, err);
            task_end(t);
            return;
        }
        for (int32_t i = 0; i < n; i++)
            tok_list_push(&sl->cache, tokens[i]);
        free(tokens);
        r.n_tokens = n;
        r.n_bytes = (uint64_t)nb;
    } else {
        r.n_tokens = (int32_t)sl->cache.n;
        slot_reset_cache(s, sl);
    }
    r.op_ms = now_ms() - t0;
    struct sched_event ev = {.kind = SCHED_EV_DONE, .result = &r};
    t->on_event(t->ud, &ev);
    task_end(t);
    sl->last_used = ++s->use_counter;
}

/* An embedding: evaluate the prompt in the slot's sequence (its cache is
 * dropped), pool the final hidden states, and clear the sequence again. */
static void run_embed(struct sched *s, struct slot *sl, struct sched_task *t)
{
    char err[256];
    int32_t n = (int32_t)t->n_prompt, n_embd = engine_n_embd(s->e);
    slot_reset_cache(s, sl);
    if (n == 0 || n > s->slot_ctx) {
        task_error(t, 400, "the input has %d tokens; it must have 1 to %d (the slot context)", n, s->slot_ctx);
        task_end(t);
        return;
    }
    int32_t n_rows = t->pooling == POOL_NONE ? n : 1;
    float *out = calloc((size_t)n_rows * (size_t)n_embd, sizeof *out);
    int rc = out ? 0 : -1;
    snprintf(err, sizeof err, "out of memory");
    for (int32_t i0 = 0; rc == 0 && i0 < n; i0 += s->batch.capacity) {
        batch_clear(&s->batch);
        for (int32_t i = i0; i < n && s->batch.n_tokens < s->batch.capacity; i++)
            batch_add(&s->batch, t->prompt[i], i, sl->id, false);
        rc = engine_decode_embd(s->e, &s->batch, s->embd_buf, err, sizeof err);
        for (int32_t j = 0; rc == 0 && j < s->batch.n_tokens; j++) {
            int32_t pos = i0 + j;
            const float *row = s->embd_buf + (size_t)j * n_embd;
            float *dst = t->pooling == POOL_NONE ? out + (size_t)pos * n_embd : out;
            if (t->pooling == POOL_MEAN) {
                for (int32_t k = 0; k < n_embd; k++)
                    dst[k] += row[k] / (float)n;
            } else if (t->pooling == POOL_NONE || (t->pooling == POOL_CLS && pos == 0) ||
                       (t->pooling == POOL_LAST && pos == n - 1)) {
                memcpy(dst, row, (size_t)n_embd * sizeof *dst);
            }
        }
    }
    slot_reset_cache(s, sl);
    s->st.n_prompt_tokens += (uint64_t)n;
    if (rc != 0) {
        task_error(t, 500, "cannot compute the embedding: %s", err);
    } else {
        struct sched_result r = {.id_slot = sl->id, .n_prompt = n, .n_evaluated = n, .embd = out,
                                 .n_embd = n_embd, .n_rows = n_rows};
        struct sched_event ev = {.kind = SCHED_EV_DONE, .result = &r};
        t->on_event(t->ud, &ev);
    }
    free(out);
    task_end(t);
    sl->last_used = ++s->use_counter;
}

/* Evaluate the system prompt into its own sequence (all slots idle). */
static void run_system_prompt(struct sched *s, struct sched_task *t)
{
    char err[256];
    int32_t sys_seq = s->p.n_slots;
    struct kv_cache *kv = engine_kv(s->e);
    for (int32_t i = 0; i < s->p.n_slots; i++)
        slot_reset_cache(s, &s->slots[i]);
    kv_cache_seq_rm(kv, sys_seq, 0);
    free(s->sys);
    s->sys = NULL;
    s->n_sys = 0;
    if (t->n_prompt >= (size_t)s->slot_ctx) {
        task_error(t, 400, "the system prompt (%zu tokens) does not fit the slot context (%d)", t->n_prompt,
                   s->slot_ctx);
        task_end(t);
        return;
    }
    for (size_t i = 0; i < t->n_prompt;) {
        batch_clear(&s->batch);
        for (; i < t->n_prompt && s->batch.n_tokens < s->batch.capacity; i++)
            batch_add(&s->batch, t->prompt[i], (int32_t)i, sys_seq, false);
        if (engine_decode(s->e, &s->batch, err, sizeof err) != 0) {
            kv_cache_seq_rm(kv, sys_seq, 0);
            task_error(t, 500, "cannot evaluate the system prompt: %s", err);
            task_end(t);
            return;
        }
    }
    s->sys = t->prompt;
    s->n_sys = (int32_t)t->n_prompt;
    t->prompt = NULL;
    struct sched_result r = {.id_slot = -1, .n_tokens = s->n_sys};
    struct sched_event ev = {.kind = SCHED_EV_DONE, .result = &r};
    t->on_event(t->ud, &ev);
    task_end(t);
}

/* ------------------------------------------------------------ admission */

static bool all_idle(const struct sched *s)
{
    for (int32_t i = 0; i < s->p.n_slots; i++)
        if (s->slots[i].state != SLOT_IDLE)
            return false;
    return true;
}

/* The idle slot for a task: its own, or the one sharing the longest prefix
 * with the prompt, else the least recently used. NULL: wait. */
static struct slot *pick_slot(struct sched *s, const struct sched_task *t)
{
    if (t->id_slot >= 0)
        return s->slots[t->id_slot].state == SLOT_IDLE ? &s->slots[t->id_slot] : NULL;
    struct slot *best = NULL;
    size_t best_common = 0;
    for (int32_t i = 0; i < s->p.n_slots; i++) {
        struct slot *sl = &s->slots[i];
        if (sl->state != SLOT_IDLE)
            continue;
        size_t c = 0;
        if (t->cache_prompt && t->n_prompt > 0 && sl->cache.n > (size_t)s->n_sys)
            c = common_prefix(sl->cache.v + s->n_sys, sl->cache.n - (size_t)s->n_sys, t->prompt, t->n_prompt);
        if (!best || c > best_common || (c == best_common && sl->last_used < best->last_used)) {
            best = sl;
            best_common = c;
        }
    }
    return best;
}

/* A task that follows another (OpenAI n > 1) waits while that one is
 * still evaluating the shared prompt, then borrows it. */
static bool leader_busy_with_prompt(const struct sched *s, const struct sched_task *t)
{
    if (t->follow < 0)
        return false;
    for (int32_t i = 0; i < s->p.n_slots; i++)
        if (s->slots[i].state == SLOT_PROMPT && s->slots[i].task->id == t->follow)
            return true;
    return false;
}

static void unlink_task(struct sched *s, struct sched_task *prev, struct sched_task *t)
{
    if (prev)
        prev->next = t->next;
    else
        s->queue_head = t->next;
    if (s->queue_tail == t)
        s->queue_tail = prev;
    t->next = NULL;
}

/* Start what can start, in arrival order; drop tasks whose client left. */
static void admit(struct sched *s)
{
    struct sched_task *prev = NULL, *t = s->queue_head;
    int32_t n_waiting = 0;
    while (t) {
        struct sched_task *next = t->next;
        if (t->is_cancelled && t->is_cancelled(t->ud)) {
            unlink_task(s, prev, t);
            task_end(t);
            t = next;
            continue;
        }
        if (t->kind == SCHED_SYSTEM_PROMPT) {
            if (!all_idle(s))
                break; /* everything after it waits too */
            unlink_task(s, prev, t);
            run_system_prompt(s, t);
            t = next;
            continue;
        }
        struct slot *sl = leader_busy_with_prompt(s, t) ? NULL : pick_slot(s, t);
        if (!sl) {
            prev = t;
            n_waiting++;
            t = next;
            continue;
        }
        unlink_task(s, prev, t);
        if (t->kind == SCHED_EMBED) {
            run_embed(s, sl, t);
        } else if (t->kind != SCHED_COMPLETION) {
            run_slot_op(s, sl, t);
        } else {
            char err[256];
            if (slot_start(s, sl, t, err, sizeof err) != 0)
                slot_fail(s, sl, 400, err);
        }
        t = next;
    }
    for (struct sched_task *q = t; q; q = q->next)
        n_waiting++;
    s->st.n_deferred = n_waiting;
}

/* ------------------------------------------------------------ the batch */

/* The slot's context is full: keep n_keep tokens, drop half of the rest. */
static int context_shift(struct sched *s, struct slot *sl, char *err, size_t err_size)
{
    int32_t n_past = (int32_t)sl->cache.n;
    int32_t n_keep = sl->task->n_keep < 0 ? sl->n_prompt : sl->task->n_keep + s->n_sys;
    if (n_keep < 1 && s->v->add_bos)
        n_keep = 1;
    if (n_keep > n_past - 2)
        n_keep = n_past - 2;
    int32_t n_discard = (n_past - n_keep) / 2;
    if (engine_kv_discard(s->e, sl->id, n_keep, n_discard, err, err_size) != 0)
        return -1;
    memmove(sl->cache.v + n_keep, sl->cache.v + n_keep + n_discard,
            (size_t)(n_past - n_keep - n_discard) * sizeof *sl->cache.v);
    sl->cache.n -= (size_t)n_discard;
    sl->truncated = true;
    return 0;
}

static void build_batch(struct sched *s)
{
    struct batch *b = &s->batch;
    char err[256];
    batch_clear(b);
    for (int32_t i = 0; i < s->p.n_slots; i++) {
        struct slot *sl = &s->slots[i];
        sl->i_batch = -1;
        sl->n_in_batch = 0;
        if (sl->state != SLOT_GEN)
            continue;
        if ((int32_t)sl->cache.n + 1 >= s->slot_ctx && context_shift(s, sl, err, sizeof err) != 0) {
            slot_fail(s, sl, 500, err);
            continue;
        }
        sl->i_batch = batch_add(b, sl->next_token, (int32_t)sl->cache.n, sl->id, true);
    }
    uint32_t start = s->rr++;
    for (int32_t k = 0; k < s->p.n_slots && b->n_tokens < b->capacity; k++) {
        struct slot *sl = &s->slots[(start + (uint32_t)k) % (uint32_t)s->p.n_slots];
        if (sl->state != SLOT_PROMPT)
            continue;
        int32_t room = b->capacity - b->n_tokens;
        int32_t n = sl->n_prompt - sl->i_prompt < room ? sl->n_prompt - sl->i_prompt : room;
        for (int32_t j = 0; j < n; j++) {
            int32_t ip = sl->i_prompt + j;
            bool last = ip == sl->n_prompt - 1;
            int32_t idx = batch_add(b, sl->prompt[ip], ip, sl->id, last && sl->n_remain != 0);
            if (last && sl->n_remain != 0)
                sl->i_batch = idx;
        }
        sl->n_in_batch = n;
    }
}

/* The decode failed: every slot in the batch fails (the cache is as before). */
static void fail_batch(struct sched *s, const char *err)
{
    for (int32_t i = 0; i < s->p.n_slots; i++) {
        struct slot *sl = &s->slots[i];
        if (sl->state != SLOT_IDLE && (sl->i_batch >= 0 || sl->n_in_batch > 0))
            slot_fail(s, sl, 500, err);
    }
}

/* Probability of token under a plain softmax of the logits. */
static float softmax_prob(const float *logits, int32_t n, int32_t token)
{
    float mx = logits[0];
    for (int32_t i = 1; i < n; i++)
        mx = logits[i] > mx ? logits[i] : mx;
    double sum = 0;
    for (int32_t i = 0; i < n; i++)
        sum += exp((double)(logits[i] - mx));
    return (float)(exp((double)(logits[token] - mx)) / sum);
}

static void emit_token(struct sched *s, struct slot *sl, const float *logits, int32_t token, int32_t n_probs,
                       const char *text, size_t len)
{
    float p = -1;
    for (int32_t i = 0; i < n_probs && p < 0; i++)
        if (sl->probs[i].token == token)
            p = sl->probs[i].prob;
    if (n_probs > 0 && p < 0)
        p = softmax_prob(logits, engine_n_vocab(s->e), token);
    struct sched_event ev = {.kind = SCHED_EV_TOKEN, .text = text, .len = len, .token = token,
                             .probs = n_probs > 0 ? sl->probs : NULL, .n_probs = n_probs, .token_prob = p};
    sl->task->on_event(sl->task->ud, &ev);
}

/* Sample from the slot's logits and take the token. */
static void slot_sample(struct sched *s, struct slot *sl)
{
    struct sched_task *t = sl->task;
    const float *logits = engine_logits(s->e, sl->i_batch);
    int32_t n_probs = 0;
    int32_t tok = logits ? sampler_sample(t->sampler, logits, sl->sprobs, &n_probs) : -1;
    if (tok < 0) { /* the grammar admits nothing more */
        sl->text.stopped_eos = true;
        slot_finish(s, sl);
        return;
    }
    sampler_accept(t->sampler, tok);
    for (int32_t i = 0; i < n_probs; i++)
        sl->probs[i] = (struct sched_token_prob){sl->sprobs[i].token, sl->sprobs[i].prob};
    sl->n_decoded++;
    s->st.n_predicted_tokens++;
    if (sl->n_remain > 0)
        sl->n_remain--;
    size_t len = 0;
    const char *text = slot_text_push(&sl->text, tok, &len);
    emit_token(s, sl, logits, tok, n_probs, text ? text : "", text ? len : 0);
    if (!sl->text.stopped_eos && !sl->text.stopped_word) {
        if (sl->n_remain == 0)
            sl->text.stopped_limit = true;
        else if (sampler_grammar_done(t->sampler))
            sl->text.stopped_eos = true;
    }
    if (sl->text.stopped_eos || sl->text.stopped_word || sl->text.stopped_limit) {
        slot_finish(s, sl);
        return;
    }
    sl->next_token = tok;
    sl->state = SLOT_GEN;
}

static void after_decode(struct sched *s)
{
    for (int32_t i = 0; i < s->p.n_slots; i++) {
        struct slot *sl = &s->slots[i];
        if (sl->state == SLOT_GEN && sl->i_batch >= 0) {
            tok_list_push(&sl->cache, sl->next_token);
            slot_sample(s, sl);
        } else if (sl->state == SLOT_PROMPT && sl->n_in_batch > 0) {
            for (int32_t j = 0; j < sl->n_in_batch; j++)
                tok_list_push(&sl->cache, sl->prompt[sl->i_prompt + j]);
            sl->i_prompt += sl->n_in_batch;
            s->st.n_prompt_tokens += (uint64_t)sl->n_in_batch;
            if (sl->i_prompt < sl->n_prompt)
                continue;
            sl->t_prompt_done = now_ms();
            s->st.t_prompt_ms += sl->t_prompt_done - sl->t_start;
            if (sl->n_remain == 0) {
                sl->text.stopped_limit = true;
                slot_finish(s, sl);
            } else {
                slot_sample(s, sl);
            }
        }
    }
}

static void drop_cancelled(struct sched *s)
{
    for (int32_t i = 0; i < s->p.n_slots; i++) {
        struct slot *sl = &s->slots[i];
        if (sl->state != SLOT_IDLE && sl->task->is_cancelled && sl->task->is_cancelled(sl->task->ud))
            slot_cancel(sl, s);
    }
}

/* The KV cache changes only on this thread (engine_decode runs without the
 * lock), so its usage is read here and published in the stats. */
static void update_kv_stats(struct sched *s)
{
    struct kv_cache *kv = engine_kv(s->e);
    s->st.kv_tokens = (kv_cache_n_pages(kv) - kv_cache_free_pages(kv)) * kv_cache_page_size(kv);
}

static void *loop_main(void *arg)
{
    struct sched *s = arg;
    char err[256];
    pthread_mutex_lock(&s->lock);
    while (!s->stop) {
        admit(s);
        drop_cancelled(s);
        build_batch(s);
        update_kv_stats(s);
        int32_t busy = 0;
        for (int32_t i = 0; i < s->p.n_slots; i++)
            busy += s->slots[i].state != SLOT_IDLE;
        s->st.n_processing = busy;
        if (s->batch.n_tokens == 0) {
            if (busy == 0) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += 50 * 1000000L; /* wake now and then to drop cancelled queued tasks */
                if (ts.tv_nsec >= 1000000000L) {
                    ts.tv_sec++;
                    ts.tv_nsec -= 1000000000L;
                }
                pthread_cond_timedwait(&s->wake, &s->lock, &ts);
            }
            continue;
        }
        pthread_mutex_unlock(&s->lock);
        int rc = engine_decode(s->e, &s->batch, err, sizeof err);
        pthread_mutex_lock(&s->lock);
        s->st.n_decode_calls++;
        s->st.n_busy_slots += (uint64_t)busy;
        if (rc != 0)
            fail_batch(s, err);
        else
            after_decode(s);
        update_kv_stats(s);
    }
    /* stopping: fail whatever is left */
    for (int32_t i = 0; i < s->p.n_slots; i++)
        if (s->slots[i].state != SLOT_IDLE)
            slot_fail(s, &s->slots[i], 503, "the server is shutting down");
    while (s->queue_head) {
        struct sched_task *t = s->queue_head;
        s->queue_head = t->next;
        task_error(t, 503, "the server is shutting down");
        task_end(t);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* ------------------------------------------------------------ public */

struct sched *sched_create(struct engine *e, const struct vocab *v, const struct sched_params *p,
                           char *err, size_t err_size)
{
    if (p->n_slots < 1 || p->n_ctx / p->n_slots < 8) {
        snprintf(err, err_size, "%d slots need a context of at least %d tokens", p->n_slots, 8 * p->n_slots);
        return NULL;
    }
    struct sched *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    s->e = e;
    s->v = v;
    s->p = *p;
    s->slot_ctx = p->n_ctx / p->n_slots;
    s->slots = calloc((size_t)p->n_slots, sizeof *s->slots);
    int32_t cap = p->n_batch > 0 ? p->n_batch : 512;
    s->embd_buf = malloc((size_t)cap * (size_t)engine_n_embd(e) * sizeof *s->embd_buf);
    if (!s->slots || !s->embd_buf || batch_init(&s->batch, cap) != 0) {
        free(s->slots);
        free(s->embd_buf);
        free(s);
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    for (int32_t i = 0; i < p->n_slots; i++) {
        s->slots[i].id = i;
        s->slots[i].i_batch = -1;
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->wake, NULL);
    s->st.kv_size = kv_cache_n_pages(engine_kv(e)) * kv_cache_page_size(engine_kv(e));
    s->st.n_idle = p->n_slots;
    if (pthread_create(&s->thread, NULL, loop_main, s) != 0) {
        snprintf(err, err_size, "cannot start the scheduler thread");
        sched_free(s);
        return NULL;
    }
    s->thread_started = true;
    return s;
}

void sched_free(struct sched *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->stop = true;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    if (s->thread_started)
        pthread_join(s->thread, NULL);
    for (int32_t i = 0; i < s->p.n_slots; i++) {
        tok_list_free(&s->slots[i].cache);
        slot_text_free(&s->slots[i].text);
        free(s->slots[i].prompt);
        free(s->slots[i].sprobs);
        free(s->slots[i].probs);
    }
    free(s->slots);
    free(s->sys);
    free(s->embd_buf);
    batch_free(&s->batch);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

int64_t sched_submit(struct sched *s, struct sched_task *t)
{
    pthread_mutex_lock(&s->lock);
    t->id = s->next_id++;
    t->t_queued = now_ms();
    t->next = NULL;
    if (s->stop) {
        task_error(t, 503, "the server is shutting down");
        task_end(t);
        pthread_mutex_unlock(&s->lock);
        return -1;
    }
    if (t->id_slot >= s->p.n_slots) {
        task_error(t, 400, "id_slot %d is out of range (the server has %d slots)", t->id_slot, s->p.n_slots);
        task_end(t);
        pthread_mutex_unlock(&s->lock);
        return -1;
    }
    if (s->queue_tail)
        s->queue_tail->next = t;
    else
        s->queue_head = t;
    s->queue_tail = t;
    s->st.n_deferred++;
    int64_t id = t->id;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    return id;
}

int32_t sched_n_slots(const struct sched *s) { return s->p.n_slots; }
int32_t sched_slot_ctx(const struct sched *s) { return s->slot_ctx; }

void sched_visit_slots(struct sched *s, void (*fn)(void *ud, const struct sched_slot_info *si), void *ud)
{
    pthread_mutex_lock(&s->lock);
    for (int32_t i = 0; i < s->p.n_slots; i++) {
        const struct slot *sl = &s->slots[i];
        bool busy = sl->state != SLOT_IDLE;
        struct sched_slot_info si = {
            .id = sl->id,
            .processing = busy,
            .task_id = busy ? sl->task->id : -1,
            .info = busy ? sl->task->info : NULL,
            .n_ctx = s->slot_ctx,
            .n_past = (int32_t)sl->cache.n,
            .n_decoded = busy ? sl->n_decoded : 0,
            .n_remain = busy ? sl->n_remain : -1,
            .has_next_token = busy,
            .stopped_eos = busy && sl->text.stopped_eos,
            .stopped_limit = busy && sl->text.stopped_limit,
            .stopped_word = busy && sl->text.stopped_word,
            .stopping_word = busy && sl->text.stopping_word ? sl->text.stopping_word : "",
        };
        fn(ud, &si);
    }
    pthread_mutex_unlock(&s->lock);
}

void sched_get_stats(struct sched *s, struct sched_stats *st)
{
    pthread_mutex_lock(&s->lock);
    *st = s->st; /* kv_tokens as the loop last saw it: the engine may be computing now */
    st->n_processing = 0;
    for (int32_t i = 0; i < s->p.n_slots; i++)
        st->n_processing += s->slots[i].state != SLOT_IDLE;
    st->n_idle = s->p.n_slots - st->n_processing;
    pthread_mutex_unlock(&s->lock);
}
