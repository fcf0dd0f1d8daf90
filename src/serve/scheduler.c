/*
 * scheduler.c - slots, the task queue and the batching loop (see
 * scheduler.h).
 *
 * The loop thread owns the slots, the tasks it has taken from the queue and
 * the engine: it reads and changes them without a lock. The lock guards only
 * what other threads touch: the incoming queue, the stop flag, and the
 * slots' published view and counters (copied in once per step, before each
 * decode). A task that ends is freed only after the next publication, so
 * the `info` and `stopping_word` pointers of the published view stay valid
 * while the lock is held.
 *
 * Events go to each task's queue (events.h) with that queue's own mutex;
 * nothing is formatted here beyond the slot text's detokenized pieces.
 */
#define _GNU_SOURCE
#include "serve/scheduler.h"

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include "base/clock.h"
#include "base/err.h"
#include "serve/slot_text.h"
#include "tokenizer/tokenizer.h"

enum slot_state { SLOT_IDLE, SLOT_PROMPT, SLOT_GEN, SLOT_EMBED };

struct slot {
    int32_t id;               /* also its engine sequence */
    enum slot_state state;
    struct sched_task *task;
    int32_t *prompt;          /* the task's prompt after the system prefix and truncation */
    int32_t n_prompt;
    int32_t i_prompt;         /* next prompt token to evaluate */
    int32_t n_in_batch;       /* prompt tokens in the current batch */
    int32_t i_batch;          /* batch index of the logits this slot needs, or -1 */
    int32_t next_token;       /* SLOT_GEN: the sampled token to evaluate next */
    int32_t n_decoded, n_remain;
    int32_t n_cached, n_evaluated;
    bool truncated;
    bool seen_newline;        /* a newline has come out (t_max_predict_ms counts from then) */
    struct slot_text text;
    struct sampler_prob *sprobs; /* n_probs per sampled position (draft_max + 1 of them) */
    double t_start, t_prompt_done;
    uint64_t last_used;
    /* this step's speculation and sampling (see "sampling" below) */
    int32_t n_past;           /* SLOT_GEN: the sequence's length before this step's tokens */
    int32_t *draft;           /* draft_max tokens evaluated after next_token */
    int32_t n_draft;
    int32_t draft_len;        /* how long a draft may be now (adapts, see add_draft) */
    int32_t draft_pause;      /* steps left without drafting */
    int32_t draft_misses;     /* drafts in a row rejected outright */
    bool sample;              /* sample from this step's logits */
    int32_t *out_tok;         /* draft_max + 1: the tokens sampled, in order */
    float *out_tprob;         /* their probabilities (n_probs > 0) */
    int32_t *out_nprobs;      /* sprobs entries written for each */
    int32_t n_out;
    bool out_end;             /* after out_tok[n_out-1] the sampler had no token (grammar) */
    /* SLOT_EMBED: the pooled rows so far (task->prompt[0..i_prompt) evaluated) */
    float *embd_out;
    int32_t embd_rows;
};

struct sched {
    struct engine *e;
    const struct vocab *v;
    struct sched_params p;
    int32_t slot_ctx;
    /* the loop thread's own */
    struct slot *slots;
    struct batch batch;
    struct sched_task *pending_head, *pending_tail; /* taken from the queue, waiting for a slot */
    struct sched_task *ended;  /* finished tasks, freed after the next publication */
    uint64_t use_counter;
    uint32_t rr;               /* rotates which prompt gets the batch first */
    int32_t n_sys;             /* the system prompt: sequence n_slots holds its tokens */
    float *embd_buf;           /* n_batch x n_embd: one batch's hidden states */
    struct sched_stats st;     /* counters, published with the slots */
    bool profile;              /* CLLM_SCHED_PROFILE: log the loop's overhead at the end */
    double t_locked_ms;        /* (profile) time the loop held the lock */
    double cpu_sched_ms;       /* (profile) the loop thread's CPU time outside engine_decode */
    /* prompt chunks beside generating slots (see prompt_budget): what a
     * step costs, learnt from the steps so far (0: not measured yet) */
    double step_gen_ms;        /* a step of generating slots only */
    double step_tok_ms;        /* each prompt token more */
    int32_t n_step_gen;        /* generating slots' tokens (with drafts) in this step's batch */
    /* speculative decoding (draft_max 0: off) */
    int32_t draft_max, draft_min, ngram_n, ngram_n_min;
    /* the slots sampled in this step's parallel phase, and the helper
     * threads that take some of them (see "sampling" below) */
    struct slot **work;
    int32_t n_work;
    _Atomic uint64_t ticket;   /* step (high 32 bits), n_work (16), next index to claim (16) */
    atomic_int n_done;         /* slots of this step sampled */
    pthread_t *crew;
    int n_crew;
    pthread_mutex_t crew_lock;
    pthread_cond_t crew_wake;
    uint32_t crew_step;        /* guarded by crew_lock */
    bool crew_quit;            /* guarded by crew_lock */
    /* guarded by lock */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stop;
    struct sched_task *queue_head, *queue_tail;
    int32_t n_queued;
    int64_t next_id;
    struct sched_slot_info *pub; /* per slot, as last published */
    struct sched_stats pub_st;
    /* set once */
    pthread_t thread;
    bool thread_started;
};

/* ------------------------------------------------------------ tasks and events */

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

void sched_task_set_events(struct sched_task *t, struct sched_events *q)
{
    struct sched_events *old = t->events;
    t->events = sched_events_ref(q);
    sched_events_unref(old);
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
    free(t->info);
    sched_events_unref(t->events);
    free(t);
}

static bool task_cancelled(const struct sched_task *t)
{
    return t->events && sched_events_cancelled(t->events);
}

/* A new event for t, with an empty text; NULL out of memory. */
static struct sched_event *event_new(const struct sched_task *t, enum sched_event_kind kind)
{
    struct sched_event *ev = calloc(1, sizeof *ev);
    if (!ev)
        return NULL;
    ev->kind = kind;
    ev->index = t->index;
    ev->token_prob = -1;
    ev->text = strdup("");
    if (kind == SCHED_EV_DONE)
        ev->result.stopping_word = strdup("");
    if (!ev->text || (kind == SCHED_EV_DONE && !ev->result.stopping_word)) {
        sched_event_free(ev);
        return NULL;
    }
    return ev;
}

static void post(struct sched_task *t, struct sched_event *ev)
{
    if (!ev)
        return; /* out of memory: the event is lost */
    if (t->events)
        sched_events_push(t->events, ev);
    else
        sched_event_free(ev);
}

/* Replace ev's text with a copy of text[0..len). */
static int event_set_text(struct sched_event *ev, const char *text, size_t len)
{
    char *c = malloc(len + 1);
    if (!c)
        return -1;
    memcpy(c, text, len);
    c[len] = '\0';
    free(ev->text);
    ev->text = c;
    ev->len = len;
    return 0;
}

static void post_done(struct sched_task *t, const struct sched_result *r)
{
    struct sched_event *ev = event_new(t, SCHED_EV_DONE);
    if (ev) {
        char *sw = ev->result.stopping_word;
        ev->result = *r;
        ev->result.stopping_word = sw;
        ev->result.embd = NULL;
    }
    post(t, ev);
}

static void post_error(struct sched_task *t, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void post_error(struct sched_task *t, int code, const char *fmt, ...)
{
    struct sched_event *ev = event_new(t, SCHED_EV_ERROR);
    if (ev) {
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&ev->error, fmt, ap) < 0)
            ev->error = NULL;
        va_end(ap);
        ev->error_code = code;
        if (!ev->error) {
            sched_event_free(ev);
            ev = NULL;
        }
    }
    post(t, ev);
}

/* llama-server's prompt_progress: where the slot's prompt evaluation is
 * (only for tasks that ask, sched_task.progress). */
static void post_progress(struct slot *sl)
{
    if (!sl->task->progress)
        return;
    struct sched_event *ev = event_new(sl->task, SCHED_EV_PROGRESS);
    if (ev)
        ev->progress = (struct sched_progress){sl->id, sl->n_prompt, sl->n_cached, sl->i_prompt,
                                               clock_ms() - sl->t_start};
    post(sl->task, ev);
}

/* The task is over: freed after the next publication (see the top). */
static void task_end(struct sched *s, struct sched_task *t)
{
    t->next = s->ended;
    s->ended = t;
}

/* ------------------------------------------------------------ slots */

static void slot_clear_task(struct slot *sl)
{
    sl->state = SLOT_IDLE;
    sl->task = NULL;
    free(sl->prompt);
    sl->prompt = NULL;
    free(sl->embd_out);
    sl->embd_out = NULL;
    sl->i_batch = -1;
    sl->n_in_batch = 0;
    sl->n_draft = 0;
    sl->sample = false;
}

/* The throughput counters of the published stats, brought up to date
 * before a task's final event goes out: a client that reads /metrics right
 * after its answer sees its tokens counted (the full publication, slot
 * views and gauges included, waits for the next step). */
static void publish_counters(struct sched *s)
{
    pthread_mutex_lock(&s->lock);
    s->pub_st.n_prompt_tokens = s->st.n_prompt_tokens;
    s->pub_st.n_predicted_tokens = s->st.n_predicted_tokens;
    s->pub_st.t_prompt_ms = s->st.t_prompt_ms;
    s->pub_st.t_predicted_ms = s->st.t_predicted_ms;
    s->pub_st.n_decode_calls = s->st.n_decode_calls;
    s->pub_st.n_busy_slots = s->st.n_busy_slots;
    pthread_mutex_unlock(&s->lock);
}

static void slot_view(const struct sched *s, const struct slot *sl, struct sched_slot_info *si);

/* A slot that has just gone idle, shown at once (before its task's final
 * event goes out): a client that reads /slots or /metrics right after its
 * answer sees the slot idle with its cache, not the view of the last step. */
static void publish_idle_slot(struct sched *s, const struct slot *sl)
{
    pthread_mutex_lock(&s->lock);
    slot_view(s, sl, &s->pub[sl->id]);
    int32_t busy = 0;
    for (int32_t i = 0; i < s->p.n_slots; i++)
        busy += s->pub[i].processing;
    s->pub_st.n_processing = busy;
    s->pub_st.n_idle = s->p.n_slots - busy;
    pthread_mutex_unlock(&s->lock);
}

static void slot_fail(struct sched *s, struct slot *sl, int code, const char *msg)
{
    struct sched_task *t = sl->task;
    if (sl->n_decoded > 0) /* as slot_cancel */
        s->st.t_predicted_ms += clock_ms() - sl->t_prompt_done;
    publish_counters(s);
    task_end(s, t); /* freed by the next publish(), after the post below */
    slot_clear_task(sl);
    engine_seq_clear(s->e, sl->id);
    publish_idle_slot(s, sl);
    post_error(t, code, "%s", msg);
}

static void slot_finish(struct sched *s, struct slot *sl)
{
    struct sched_task *t = sl->task;
    double t_end = clock_ms();
    size_t len;
    const char *rest = slot_text_finish(&sl->text, &len);
    struct sched_event *ev = event_new(t, SCHED_EV_DONE);
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
        .prompt_ms = sl->t_prompt_done - sl->t_start,
        .predicted_ms = sl->n_decoded > 0 ? t_end - sl->t_prompt_done : 0,
    };
    s->st.t_predicted_ms += r.predicted_ms;
    if (ev) {
        free(ev->result.stopping_word);
        r.stopping_word = strdup(sl->text.stopping_word ? sl->text.stopping_word : "");
        ev->result = r;
        if (!r.stopping_word || (rest && len > 0 && event_set_text(ev, rest, len) != 0)) {
            sched_event_free(ev);
            ev = NULL;
        }
    }
    publish_counters(s);
    task_end(s, t); /* freed by the next publish(), after the post below */
    slot_clear_task(sl);
    sl->last_used = ++s->use_counter;
    publish_idle_slot(s, sl);
    post(t, ev);
}

/* A task whose consumer went away: stop quietly (its cache stays usable). */
static void slot_cancel(struct sched *s, struct slot *sl)
{
    /* its tokens are in n_predicted_tokens: their time goes with them */
    if (sl->n_decoded > 0)
        s->st.t_predicted_ms += clock_ms() - sl->t_prompt_done;
    task_end(s, sl->task);
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
        n_keep = n_ctx - 4;
    if (n_keep > n)
        n_keep = n;
    int32_t n_block = (n_ctx - n_keep) / 2;
    int32_t erased = (n - n_keep - n_block) / n_block;
    int32_t from = n_keep + erased * n_block;
    memmove(sl->prompt + n_keep, sl->prompt + from, (size_t)(n - from) * sizeof *sl->prompt);
    sl->n_prompt = n - erased * n_block;
    sl->truncated = true;
}

/* Another slot whose sequence shares a longer prefix with this slot's
 * prompt lends it: the engine copies the sequence (pages shared, copy on
 * write) cut to the common part. Batch invariance makes those keys and
 * values exactly the ones this slot would compute. Returns the tokens now
 * reusable. */
static int32_t borrow_prefix(struct sched *s, struct slot *sl, int32_t keep)
{
    int32_t best = -1, best_n = keep;
    for (int32_t i = 0; i < s->p.n_slots; i++) {
        if (i == sl->id || engine_seq_len(s->e, i) <= best_n)
            continue;
        int32_t c = engine_seq_common_prefix(s->e, i, sl->prompt, sl->n_prompt);
        if (c > best_n) {
            best = i;
            best_n = c;
        }
    }
    if (best < 0 || engine_seq_copy(s->e, best, sl->id, best_n, NULL, 0) != 0)
        return keep;
    return best_n;
}

/* --cache-reuse (llama-server's n_cache_reuse): past the common prefix
 * (keep), each run of at least cache_reuse cached tokens that the prompt
 * repeats at its next position is moved down to that position (the
 * positions between are discarded, the keys re-roped); returns the prompt
 * tokens now cached. */
static int32_t reuse_chunks(struct sched *s, struct slot *sl, int32_t keep)
{
    int32_t min = s->p.cache_reuse, head_p = keep, head_c = keep;
    if (min <= 0)
        return keep;
    for (;;) {
        int32_t len = engine_seq_len(s->e, sl->id);
        const int32_t *c = engine_seq_tokens(s->e, sl->id);
        if (!c || head_c >= len || head_p >= sl->n_prompt)
            break;
        int32_t m = 0;
        while (head_c + m < len && head_p + m < sl->n_prompt && c[head_c + m] == sl->prompt[head_p + m])
            m++;
        if (m < min) {
            head_c++;
            continue;
        }
        if (head_c > head_p && engine_seq_discard(s->e, sl->id, head_p, head_c - head_p, NULL, 0) != 0)
            break;
        head_p += m;
        head_c = head_p;
    }
    return head_p;
}

/* Put the system prefix and the task's prompt into the slot, reuse what its
 * sequence shares with them, and get it ready to evaluate the rest. */
static int slot_start(struct sched *s, struct slot *sl, struct sched_task *t, char *err, size_t err_size)
{
    size_t n = (size_t)s->n_sys + t->n_prompt;
    const int32_t *sys = engine_seq_tokens(s->e, s->p.n_slots);
    sl->prompt = malloc((n ? n : 1) * sizeof *sl->prompt);
    sl->task = t;
    if (!sl->prompt)
        return err_set(err, err_size, "out of memory");
    if (s->n_sys > 0)
        memcpy(sl->prompt, sys, (size_t)s->n_sys * sizeof *sl->prompt);
    if (t->n_prompt > 0)
        memcpy(sl->prompt + s->n_sys, t->prompt, t->n_prompt * sizeof *sl->prompt);
    sl->n_prompt = (int32_t)n;
    sl->truncated = false;
    if (n == 0)
        return err_set(err, err_size, "the prompt is empty");
    if (sl->n_prompt >= s->slot_ctx) {
        if (t->prompt_must_fit || s->p.no_context_shift) /* llama-server's error */
            return err_set(err, err_size, "request (%d tokens) exceeds the available context size (%d tokens), "
                           "try increasing it", sl->n_prompt, s->slot_ctx);
        truncate_prompt(s, sl, t->n_keep < 0 ? -1 : t->n_keep + s->n_sys);
    }

    int32_t keep = t->cache_prompt ? engine_seq_common_prefix(s->e, sl->id, sl->prompt, sl->n_prompt) : 0;
    if (t->cache_prompt || t->follow >= 0)
        keep = borrow_prefix(s, sl, keep);
    if (keep < s->n_sys && common_prefix(sys, (size_t)s->n_sys, sl->prompt, (size_t)sl->n_prompt) == (size_t)s->n_sys &&
        engine_seq_copy(s->e, s->p.n_slots, sl->id, s->n_sys, NULL, 0) == 0)
        keep = s->n_sys;
    if (t->cache_prompt)
        keep = reuse_chunks(s, sl, keep);
    if (keep == sl->n_prompt)
        keep--; /* evaluate the last prompt token again for its logits */
    /* sliding-window layers that dropped keys position keep needs: evaluate
     * it all again (llama-server's pos_min check, issue 22) */
    keep = engine_seq_usable(s->e, sl->id, keep);
    if (engine_seq_keep(s->e, sl->id, keep, err, err_size) != 0)
        return -1;

    sl->i_prompt = keep;
    sl->n_cached = keep;
    sl->n_evaluated = sl->n_prompt - keep;
    sl->n_decoded = 0;
    sl->seen_newline = false;
    int32_t lim = t->n_predict;
    if (s->p.n_predict >= 0 && (lim < 0 || lim > s->p.n_predict))
        lim = s->p.n_predict;
    sl->n_remain = lim;
    if (t->sampler)
        sampler_set_history(t->sampler, sl->prompt, (size_t)sl->n_prompt);
    if (slot_text_start(&sl->text, s->v, (const char *const *)t->stop, t->n_stop) != 0)
        return err_set(err, err_size, "out of memory");
    sl->text.ds.special = s->p.special; /* -sp */
    int32_t np = t->n_probs > 0 ? t->n_probs : 0;
    free(sl->sprobs);
    sl->sprobs = np ? malloc((size_t)np * (size_t)(s->draft_max + 1) * sizeof *sl->sprobs) : NULL;
    if (np && !sl->sprobs)
        return err_set(err, err_size, "out of memory");
    sl->draft_len = s->draft_max < 8 ? s->draft_max : s->draft_min > 8 ? s->draft_min : 8;
    sl->draft_pause = sl->draft_misses = 0;
    sl->state = SLOT_PROMPT;
    sl->t_start = clock_ms();
    sl->i_batch = -1;
    post_progress(sl);
    return 0;
}

/* ------------------------------------------------------------ slot operations */

static void run_slot_op(struct sched *s, struct slot *sl, struct sched_task *t)
{
    char err[256];
    double t0 = clock_ms();
    struct sched_result r = {.id_slot = sl->id};
    if (t->kind == SCHED_SLOT_SAVE) {
        int64_t nb = engine_seq_save(s->e, sl->id, t->path, err, sizeof err);
        if (nb < 0) {
            post_error(t, 500, "cannot save slot %d: %s", sl->id, err);
            task_end(s, t);
            return;
        }
        r.n_tokens = engine_seq_len(s->e, sl->id);
        r.n_bytes = (uint64_t)nb;
    } else if (t->kind == SCHED_SLOT_RESTORE) {
        int64_t nb = engine_seq_load(s->e, sl->id, t->path, err, sizeof err);
        if (nb < 0) {
            post_error(t, 400, "cannot restore slot %d: %s", sl->id, err);
            task_end(s, t);
            return;
        }
        r.n_tokens = engine_seq_len(s->e, sl->id);
        r.n_bytes = (uint64_t)nb;
    } else {
        r.n_tokens = engine_seq_len(s->e, sl->id);
        engine_seq_clear(s->e, sl->id);
    }
    r.op_ms = clock_ms() - t0;
    post_done(t, &r);
    task_end(s, t);
    sl->last_used = ++s->use_counter;
}

/* Pool one batch's hidden states (rows for positions i0..) into out. */
static void pool_rows(const struct sched *s, enum sched_pooling pooling, int32_t i0, int32_t n, float *out)
{
    int32_t n_embd = engine_n_embd(s->e);
    for (int32_t j = 0; j < s->batch.n_tokens; j++) {
        int32_t pos = i0 + j;
        const float *row = s->embd_buf + (size_t)j * n_embd;
        float *dst = pooling == POOL_NONE ? out + (size_t)pos * n_embd : out;
        if (pooling == POOL_MEAN) {
            for (int32_t k = 0; k < n_embd; k++)
                dst[k] += row[k] / (float)n;
        } else if (pooling == POOL_NONE || (pooling == POOL_CLS && pos == 0) ||
                   (pooling == POOL_LAST && pos == n - 1)) {
            memcpy(dst, row, (size_t)n_embd * sizeof *dst);
        }
    }
}

/* Prompt chunking. A step that carries a generating slot's token is one
 * that slot's client waits for, so prompt tokens beside it are limited to
 * what keeps the step near STEP_TARGET_MS (by the step costs learnt so far),
 * at least CHUNK_MIN (a prompt always moves on); with no slot generating a
 * prompt takes the whole batch (-ub). A long prompt then takes a little
 * longer (smaller batches are less efficient) but never stops the streams
 * beside it for more than about one target step. */
#ifndef STEP_TARGET_MS /* (-DSTEP_TARGET_MS=1e9: no chunking, for A/B runs) */
#define STEP_TARGET_MS 50.0
#endif
#define CHUNK_MIN 16
#define STEP_TOK_MS_GUESS 1.0 /* ms per prompt token before a step was measured */
#define STEP_EWMA 0.25        /* weight of the newest step in the learnt costs */

static int32_t prompt_budget(const struct sched *s, int32_t n_gen_tokens, int32_t room);

/* An embedding: the prompt is evaluated in the slot's sequence (its cache
 * is dropped) a chunk per loop iteration (embed_step), beside the other
 * slots' steps; the final hidden states are pooled, and the sequence is
 * cleared again at the end. */
static void embed_begin(struct sched *s, struct slot *sl, struct sched_task *t)
{
    int32_t n = (int32_t)t->n_prompt, n_embd = engine_n_embd(s->e);
    engine_seq_clear(s->e, sl->id);
    sl->last_used = ++s->use_counter;
    if (n == 0 || n > s->slot_ctx) {
        post_error(t, 400, "the input has %d tokens; it must have 1 to %d (the slot context)", n, s->slot_ctx);
        task_end(s, t);
        return;
    }
    sl->embd_rows = t->pooling == POOL_NONE ? n : 1;
    sl->embd_out = calloc((size_t)sl->embd_rows * (size_t)n_embd, sizeof *sl->embd_out);
    if (!sl->embd_out || slot_text_start(&sl->text, s->v, NULL, 0) != 0) {
        free(sl->embd_out);
        sl->embd_out = NULL;
        post_error(t, 500, "cannot compute the embedding: out of memory");
        task_end(s, t);
        return;
    }
    sl->task = t;
    sl->state = SLOT_EMBED;
    sl->i_prompt = 0;
    sl->n_prompt = n;
    sl->n_decoded = 0;
    sl->n_remain = 0;
    sl->t_start = clock_ms();
}

/* The embedding's end: its result posted, the slot idle again. */
static void embed_end(struct sched *s, struct slot *sl, int rc, const char *err)
{
    struct sched_task *t = sl->task;
    int32_t n = sl->n_prompt;
    engine_seq_clear(s->e, sl->id);
    struct sched_event *ev = rc == 0 ? event_new(t, SCHED_EV_DONE) : NULL;
    if (rc != 0) {
        post_error(t, 500, "cannot compute the embedding: %s", err);
    } else if (ev) {
        struct sched_result r = {.id_slot = sl->id, .n_prompt = n, .n_evaluated = n, .embd = sl->embd_out,
                                 .n_embd = engine_n_embd(s->e), .n_rows = sl->embd_rows,
                                 .stopping_word = ev->result.stopping_word};
        ev->result = r;
        sl->embd_out = NULL;
        post(t, ev);
    }
    task_end(s, t);
    slot_clear_task(sl);
    sl->last_used = ++s->use_counter;
}

/* One chunk of one embedding (the slots take turns), after this
 * iteration's step: as many tokens as prompt_budget leaves beside
 * generating slots, less the prompt tokens that step already carried.
 * Returns whether there was one. */
static bool embed_step(struct sched *s, int32_t n_gen, int32_t n_prompt_done)
{
    struct slot *sl = NULL;
    for (int32_t k = 0; k < s->p.n_slots && !sl; k++) {
        struct slot *c = &s->slots[(s->rr + (uint32_t)k) % (uint32_t)s->p.n_slots];
        sl = c->state == SLOT_EMBED ? c : NULL;
    }
    if (!sl)
        return false;
    struct sched_task *t = sl->task;
    int32_t cap = s->batch.capacity, budget = prompt_budget(s, n_gen, cap) - n_prompt_done;
    if (budget < CHUNK_MIN)
        budget = CHUNK_MIN < cap ? CHUNK_MIN : cap;
    char err[256];
    batch_clear(&s->batch);
    int32_t i0 = sl->i_prompt;
    for (int32_t i = i0; i < sl->n_prompt && s->batch.n_tokens < budget; i++)
        batch_add(&s->batch, t->prompt[i], i, sl->id, false);
    double t0 = clock_ms();
    int rc = engine_decode_embd(s->e, &s->batch, s->embd_buf, err, sizeof err);
    double ms = clock_ms() - t0;
    int32_t n = s->batch.n_tokens;
    if (rc == 0 && n >= CHUNK_MIN / 2) { /* all prompt tokens: learn their cost */
        double per_tok = ms / n;
        s->step_tok_ms = s->step_tok_ms > 0 ? s->step_tok_ms + STEP_EWMA * (per_tok - s->step_tok_ms) : per_tok;
    }
    if (rc == 0)
        pool_rows(s, t->pooling, i0, sl->n_prompt, sl->embd_out);
    batch_clear(&s->batch);
    if (rc != 0) {
        embed_end(s, sl, rc, err);
        return true;
    }
    s->st.n_prompt_tokens += (uint64_t)n;
    sl->i_prompt += n;
    if (sl->i_prompt >= sl->n_prompt)
        embed_end(s, sl, 0, NULL);
    return true;
}

/* Evaluate the system prompt into its own sequence (all slots idle). */
static void run_system_prompt(struct sched *s, struct sched_task *t)
{
    char err[256];
    int32_t sys_seq = s->p.n_slots;
    engine_seq_clear(s->e, -1);
    s->n_sys = 0;
    if (t->n_prompt >= (size_t)s->slot_ctx) {
        post_error(t, 400, "the system prompt (%zu tokens) does not fit the slot context (%d)", t->n_prompt,
                   s->slot_ctx);
        task_end(s, t);
        return;
    }
    for (size_t i = 0; i < t->n_prompt;) {
        batch_clear(&s->batch);
        for (; i < t->n_prompt && s->batch.n_tokens < s->batch.capacity; i++)
            batch_add(&s->batch, t->prompt[i], (int32_t)i, sys_seq, false);
        if (engine_decode(s->e, &s->batch, err, sizeof err) != 0) {
            engine_seq_clear(s->e, sys_seq);
            post_error(t, 500, "cannot evaluate the system prompt: %s", err);
            task_end(s, t);
            return;
        }
    }
    s->n_sys = (int32_t)t->n_prompt;
    struct sched_result r = {.id_slot = -1, .n_tokens = s->n_sys};
    post_done(t, &r);
    task_end(s, t);
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
 * with the prompt (after the system prompt) when that prefix is more than
 * slot_prompt_similarity of the prompt, else the least recently used.
 * NULL: wait. */
static struct slot *pick_slot(struct sched *s, const struct sched_task *t)
{
    if (t->id_slot >= 0)
        return s->slots[t->id_slot].state == SLOT_IDLE ? &s->slots[t->id_slot] : NULL;
    struct slot *best = NULL, *lru = NULL;
    size_t best_common = 0;
    float sim = s->p.slot_prompt_similarity;
    for (int32_t i = 0; i < s->p.n_slots; i++) {
        struct slot *sl = &s->slots[i];
        if (sl->state != SLOT_IDLE)
            continue;
        if (!lru || sl->last_used < lru->last_used)
            lru = sl;
        size_t c = 0;
        int32_t len = engine_seq_len(s->e, sl->id);
        if (sim >= 0 && t->cache_prompt && t->n_prompt > 0 && len > s->n_sys)
            c = common_prefix(engine_seq_tokens(s->e, sl->id) + s->n_sys, (size_t)(len - s->n_sys), t->prompt,
                              t->n_prompt);
        /* -sps: llama-server's rule, the prefix a large enough part of the prompt */
        if (c > 0 && (float)c / (float)t->n_prompt > sim &&
            (c > best_common || (c == best_common && sl->last_used < best->last_used))) {
            best = sl;
            best_common = c;
        }
    }
    return best ? best : lru;
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

static void unlink_pending(struct sched *s, struct sched_task *prev, struct sched_task *t)
{
    if (prev)
        prev->next = t->next;
    else
        s->pending_head = t->next;
    if (s->pending_tail == t)
        s->pending_tail = prev;
    t->next = NULL;
}

/* Start what can start, in arrival order; drop tasks whose consumer left. */
static void admit(struct sched *s)
{
    struct sched_task *prev = NULL, *t = s->pending_head;
    int32_t n_waiting = 0;
    while (t) {
        struct sched_task *next = t->next;
        if (task_cancelled(t)) {
            unlink_pending(s, prev, t);
            task_end(s, t);
            t = next;
            continue;
        }
        if (t->kind == SCHED_SYSTEM_PROMPT) {
            if (!all_idle(s))
                break; /* everything after it waits too */
            unlink_pending(s, prev, t);
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
        unlink_pending(s, prev, t);
        if (t->kind == SCHED_EMBED) {
            embed_begin(s, sl, t);
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
    int32_t n_past = engine_seq_len(s->e, sl->id);
    int32_t n_keep = sl->task->n_keep < 0 ? sl->n_prompt : sl->task->n_keep + s->n_sys;
    if (n_keep < 1 && s->v->add_bos)
        n_keep = 1;
    if (n_keep > n_past - 2)
        n_keep = n_past - 2;
    int32_t n_discard = (n_past - n_keep) / 2;
    if (engine_seq_discard(s->e, sl->id, n_keep, n_discard, err, err_size) != 0)
        return -1;
    sl->truncated = true;
    return 0;
}

/* Prompt lookup: the longest n-gram (ngram_n down to ngram_n_min tokens)
 * that ends the slot's history (its sequence, then next_token) and occurred
 * earlier in it, at its most recent place; the tokens that followed it
 * there are the draft. Returns the draft's length (at most max). */
static int32_t draft_ngram(const struct sched *s, const struct slot *sl, int32_t *out, int32_t max)
{
    const int32_t *seq = engine_seq_tokens(s->e, sl->id);
    int32_t len = engine_seq_len(s->e, sl->id); /* the history is seq[0..len) + next_token */
    int32_t best_n = 0, best_end = -1;
    for (int32_t end = len - 1; end >= 0; end--) {
        if (seq[end] != sl->next_token)
            continue;
        int32_t n = 1;
        while (n < s->ngram_n && end - n >= 0 && seq[end - n] == seq[len - n])
            n++;
        if (n > best_n) {
            best_n = n;
            best_end = end;
            if (n == s->ngram_n)
                break;
        }
    }
    if (best_n < s->ngram_n_min)
        return 0;
    int32_t n = len - best_end; /* history positions best_end+1 .. len */
    if (n > max)
        n = max;
    for (int32_t j = 0; j < n; j++) {
        int32_t p = best_end + 1 + j;
        out[j] = p < len ? seq[p] : sl->next_token;
    }
    return n;
}

/* Draft for a generating slot whose next_token is in the batch: at most
 * what the batch, the outputs, the slot's context and its token limit
 * leave. The drafted tokens follow next_token in the batch, each asking
 * for logits.
 *
 * Every drafted token costs a row of logits (with a large vocabulary, a
 * good part of a token's work), so the length adapts to what the slot's
 * drafts have been worth (as Hugging Face's assisted generation does):
 * doubled after a draft taken whole (up to draft_max), cut to one more
 * than the tokens taken otherwise (not below draft_min), and after k
 * drafts in a row rejected outright drafting pauses for 2^(k-1) steps (at
 * most 32): where the text does not repeat, drafting soon costs little. */
static void add_draft(struct sched *s, struct slot *sl, int32_t *tok_room, int32_t *out_room)
{
    struct batch *b = &s->batch;
    if (sl->draft_pause > 0) {
        sl->draft_pause--;
        return;
    }
    int32_t max = sl->draft_len;
    int32_t lim[] = {*tok_room, *out_room, s->slot_ctx - sl->n_past - 2,
                     sl->n_remain > 0 ? sl->n_remain - 1 : max};
    for (size_t i = 0; i < sizeof lim / sizeof lim[0]; i++)
        max = lim[i] < max ? lim[i] : max;
    if (max < 1 || max < s->draft_min)
        return;
    int32_t n = draft_ngram(s, sl, sl->draft, max);
    if (n < 1 || n < s->draft_min)
        return;
    for (int32_t j = 0; j < n; j++)
        batch_add(b, sl->draft[j], sl->n_past + 1 + j, sl->id, true);
    sl->n_draft = n;
    *tok_room -= n;
    *out_room -= n;
}

static int32_t prompt_budget(const struct sched *s, int32_t n_gen_tokens, int32_t room)
{
    if (n_gen_tokens == 0)
        return room;
    double per_tok = s->step_tok_ms > 0 ? s->step_tok_ms : STEP_TOK_MS_GUESS;
    double n = (STEP_TARGET_MS - s->step_gen_ms) / per_tok;
    if (n < CHUNK_MIN)
        return room < CHUNK_MIN ? room : CHUNK_MIN;
    return n < (double)room ? (int32_t)n : room;
}

/* Learn the step costs from a decode of n_tokens that took ms. */
static void learn_step_cost(struct sched *s, int32_t n_tokens, double ms)
{
    int32_t n_prompt = n_tokens - s->n_step_gen;
    if (n_prompt <= 0) {
        s->step_gen_ms = s->step_gen_ms > 0 ? s->step_gen_ms + STEP_EWMA * (ms - s->step_gen_ms) : ms;
        return;
    }
    if (n_prompt < CHUNK_MIN / 2)
        return; /* too few to tell the tokens' cost from the step's */
    double per_tok = (ms - s->step_gen_ms) / n_prompt;
    if (per_tok < 0.001)
        per_tok = 0.001;
    s->step_tok_ms = s->step_tok_ms > 0 ? s->step_tok_ms + STEP_EWMA * (per_tok - s->step_tok_ms) : per_tok;
}

static void build_batch(struct sched *s)
{
    struct batch *b = &s->batch;
    char err[256];
    batch_clear(b);
    int32_t n_gen = 0, n_prompting = 0;
    for (int32_t i = 0; i < s->p.n_slots; i++) {
        struct slot *sl = &s->slots[i];
        sl->i_batch = -1;
        sl->n_in_batch = 0;
        sl->n_draft = 0;
        sl->sample = false;
        if (sl->state == SLOT_PROMPT)
            n_prompting++;
        if (sl->state != SLOT_GEN)
            continue;
        if (engine_seq_len(s->e, sl->id) + 1 >= s->slot_ctx && s->p.no_context_shift) {
            sl->text.stopped_limit = true; /* llama-server without context shift */
            sl->truncated = true;
            slot_finish(s, sl);
            continue;
        }
        if (engine_seq_len(s->e, sl->id) + 1 >= s->slot_ctx && context_shift(s, sl, err, sizeof err) != 0) {
            slot_fail(s, sl, 500, err);
            continue;
        }
        n_gen++;
    }
    /* Drafts get what one token per generating slot and each prompt's last
     * token leave of the outputs, and of the batch (half of it while
     * prompts wait). */
    int32_t tok_room = b->capacity - n_gen, out_room = engine_n_outputs_max(s->e) - n_gen - n_prompting;
    if (n_prompting > 0)
        tok_room /= 2;
    for (int32_t i = 0; i < s->p.n_slots; i++) {
        struct slot *sl = &s->slots[i];
        if (sl->state != SLOT_GEN)
            continue;
        sl->n_past = engine_seq_len(s->e, sl->id);
        sl->i_batch = batch_add(b, sl->next_token, sl->n_past, sl->id, true);
        if (s->draft_max > 0)
            add_draft(s, sl, &tok_room, &out_room);
    }
    s->n_step_gen = b->n_tokens;
    int32_t limit = b->n_tokens + prompt_budget(s, b->n_tokens, b->capacity - b->n_tokens);
    uint32_t start = s->rr++;
    for (int32_t k = 0; k < s->p.n_slots && b->n_tokens < limit; k++) {
        struct slot *sl = &s->slots[(start + (uint32_t)k) % (uint32_t)s->p.n_slots];
        if (sl->state != SLOT_PROMPT)
            continue;
        int32_t room = limit - b->n_tokens;
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
    s->st.n_decode_failed++;
    for (int32_t i = 0; i < s->p.n_slots; i++) {
        struct slot *sl = &s->slots[i];
        if (sl->state != SLOT_IDLE && (sl->i_batch >= 0 || sl->n_in_batch > 0))
            slot_fail(s, sl, 500, err);
    }
}

/* ------------------------------------------------------------ sampling
 *
 * After a decode, every slot with logits is sampled in a parallel phase by
 * the loop thread and a few helper threads made at sched_create (one fewer
 * than the engine's threads; the engine's own are idle between decodes).
 * Each slot's sampler is its own, so which thread takes which slot changes
 * nothing. Then, on the loop thread in slot order, the sampled tokens
 * become events and stop checks.
 *
 * A generating slot's batch holds next_token and maybe a draft d[0..n)
 * after it. Its sampler chooses from the logits after next_token; while the
 * token it chooses is the drafted one, the logits after that drafted token
 * are the right ones for the next choice, so it chooses again, up to n + 1
 * tokens. This is speculative decoding's acceptance for a draft that is a
 * single sequence (all its probability on each drafted token): rejection
 * sampling would accept d[k] with probability min(1, p(d[k]) / 1) = p(d[k])
 * and otherwise draw from p without d[k], renormalized, which gives each
 * token exactly its probability p, as drawing from p and comparing does.
 * Drawing with the target's own sampler keeps more than the distribution:
 * it sees the same logits (the engine is batch invariant) and makes the
 * same draws in the same order as plain decoding, so the tokens are the
 * same as without drafting, greedy or seeded. The rejected drafted tokens
 * are then dropped from the sequence (engine_seq_keep). */

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

static int32_t slot_n_probs(const struct slot *sl)
{
    return sl->task->n_probs > 0 ? sl->task->n_probs : 0;
}

/* The parallel phase for one slot: sample its positions (next_token's,
 * then each drafted token's while the draft holds) into out_tok. Touches
 * only the slot and its task's sampler. */
static void slot_sample_step(const struct sched *s, struct slot *sl)
{
    struct sampler *smp = sl->task->sampler;
    int32_t np_max = slot_n_probs(sl);
    sl->n_out = 0;
    sl->out_end = false;
    for (int32_t k = 0; k <= sl->n_draft; k++) {
        const float *logits = engine_logits(s->e, sl->i_batch + k);
        struct sampler_prob *pr = np_max ? sl->sprobs + (size_t)k * (size_t)np_max : NULL;
        int32_t np = 0;
        int32_t tok = logits ? sampler_sample(smp, logits, pr, &np) : -1;
        if (tok < 0) { /* the grammar admits nothing more */
            sl->out_end = true;
            return;
        }
        sampler_accept(smp, tok);
        float tprob = -1;
        for (int32_t i = 0; i < np; i++)
            if (pr[i].token == tok) {
                tprob = pr[i].prob;
                break;
            }
        if (np > 0 && tprob < 0)
            tprob = softmax_prob(logits, engine_n_vocab(s->e), tok);
        sl->out_tok[k] = tok;
        sl->out_nprobs[k] = np;
        sl->out_tprob[k] = tprob;
        sl->n_out = k + 1;
        if (k == sl->n_draft || tok != sl->draft[k] || sampler_grammar_done(smp))
            return;
    }
}

/* The next slot of step `step` to sample, or -1 when they are all taken
 * (or that step is over). */
static int claim(struct sched *s, uint32_t step)
{
    uint64_t t = atomic_load(&s->ticket);
    for (;;) {
        uint32_t n = (uint32_t)(t >> 16) & 0xFFFF, i = (uint32_t)t & 0xFFFF;
        if ((uint32_t)(t >> 32) != step || i >= n)
            return -1;
        if (atomic_compare_exchange_weak(&s->ticket, &t, t + 1))
            return (int)i;
    }
}

static void sample_claimed(struct sched *s, uint32_t step)
{
    int i;
    while ((i = claim(s, step)) >= 0) {
        slot_sample_step(s, s->work[i]);
        atomic_fetch_add(&s->n_done, 1);
    }
}

/* A helper: sleeps until a step has slots to sample, takes what it can. */
static void *crew_main(void *arg)
{
    struct sched *s = arg;
    uint32_t seen = 0;
    for (;;) {
        pthread_mutex_lock(&s->crew_lock);
        while (!s->crew_quit && s->crew_step == seen)
            pthread_cond_wait(&s->crew_wake, &s->crew_lock);
        bool quit = s->crew_quit;
        seen = s->crew_step;
        pthread_mutex_unlock(&s->crew_lock);
        if (quit)
            return NULL;
        sample_claimed(s, seen);
    }
}

/* Sample work[0..n_work): the loop thread and the helpers claim slots one
 * at a time; the loop thread waits only for slots a helper has claimed, so
 * a helper that has not been scheduled yet (a busy machine) delays nothing:
 * its share is taken by the others. */
static void sample_all(struct sched *s)
{
    if (s->n_work == 0)
        return;
    pthread_mutex_lock(&s->crew_lock);
    uint32_t step = ++s->crew_step;
    atomic_store(&s->n_done, 0);
    atomic_store(&s->ticket, (uint64_t)step << 32 | (uint64_t)s->n_work << 16);
    if (s->n_work > 1 && s->n_crew > 0)
        pthread_cond_broadcast(&s->crew_wake);
    pthread_mutex_unlock(&s->crew_lock);
    sample_claimed(s, step);
    for (int spins = 0; atomic_load(&s->n_done) < s->n_work; spins++)
        if (spins > 64)
            sched_yield();
}

static void post_token(struct sched *s, struct slot *sl, int32_t k, const char *text, size_t len)
{
    (void)s;
    struct sched_event *ev = event_new(sl->task, SCHED_EV_TOKEN);
    if (!ev)
        return;
    int32_t n_probs = sl->out_nprobs[k];
    const struct sampler_prob *pr = n_probs > 0 ? sl->sprobs + (size_t)k * (size_t)slot_n_probs(sl) : NULL;
    ev->token = sl->out_tok[k];
    if (n_probs > 0) {
        ev->probs = malloc((size_t)n_probs * sizeof *ev->probs);
        if (!ev->probs) {
            sched_event_free(ev);
            return;
        }
        for (int32_t i = 0; i < n_probs; i++)
            ev->probs[i] = (struct sched_token_prob){pr[i].token, pr[i].prob};
        ev->n_probs = n_probs;
        ev->token_prob = sl->out_tprob[k];
    }
    if (len > 0 && event_set_text(ev, text, len) != 0) {
        sched_event_free(ev);
        return;
    }
    post(sl->task, ev);
}

/* Take one sampled token (k-th of this step): count it, post it, check the
 * stops. Returns true when the task is over. */
static bool slot_take_token(struct sched *s, struct slot *sl, int32_t k)
{
    int32_t tok = sl->out_tok[k];
    sl->n_decoded++;
    s->st.n_predicted_tokens++;
    if (sl->n_remain > 0)
        sl->n_remain--;
    size_t len = 0;
    const char *text = slot_text_push(&sl->text, tok, &len);
    post_token(s, sl, k, text ? text : "", text ? len : 0);
    if (!sl->text.stopped_eos && !sl->text.stopped_word) {
        if (sl->n_remain == 0)
            sl->text.stopped_limit = true;
        else if (k == sl->n_out - 1 && sampler_grammar_done(sl->task->sampler))
            sl->text.stopped_eos = true;
    }
    /* t_max_predict_ms, as llama.cpp: once a newline has come out, generating
     * for longer than that stops the task (as the token limit does) */
    if (sl->task->t_max_predict_ms > 0 && !sl->text.stopped_eos && !sl->text.stopped_word) {
        sl->seen_newline = sl->seen_newline || (text && len > 0 && memchr(text, '\n', len));
        if (sl->seen_newline && clock_ms() - sl->t_prompt_done > (double)sl->task->t_max_predict_ms)
            sl->text.stopped_limit = true;
    }
    return sl->text.stopped_eos || sl->text.stopped_word || sl->text.stopped_limit;
}

/* Adapt the slot's draft length to what this step's draft was worth (see
 * add_draft). */
static void adapt_draft(const struct sched *s, struct slot *sl)
{
    int32_t taken = sl->n_out - 1 < sl->n_draft ? sl->n_out - 1 : sl->n_draft;
    if (taken == sl->n_draft) {
        sl->draft_len = 2 * sl->draft_len < s->draft_max ? 2 * sl->draft_len : s->draft_max;
    } else {
        sl->draft_len = taken + 1 > s->draft_min ? taken + 1 : s->draft_min;
    }
    if (taken <= 0) {
        sl->draft_misses++;
        sl->draft_pause = sl->draft_misses < 6 ? 1 << (sl->draft_misses - 1) : 32;
    } else {
        sl->draft_misses = 0;
    }
}

/* The serial phase for one slot: its sampled tokens in order, then the
 * drafted tokens that were not taken dropped from its sequence. */
static void slot_take(struct sched *s, struct slot *sl)
{
    int32_t n_taken = 0;
    bool over = false;
    while (!over && n_taken < sl->n_out)
        over = slot_take_token(s, sl, n_taken++);
    if (!over && sl->out_end) {
        sl->text.stopped_eos = true;
        over = true;
    }
    if (sl->n_draft > 0) {
        char err[256];
        s->st.n_drafted += (uint64_t)sl->n_draft;
        s->st.n_draft_accepted += (uint64_t)(sl->n_out > 0 ? sl->n_out - 1 : 0);
        adapt_draft(s, sl);
        /* next_token and the drafted tokens before the last one taken */
        int32_t keep = sl->n_past + (n_taken > 0 ? n_taken : 1);
        if (engine_seq_keep(s->e, sl->id, keep, err, sizeof err) != 0) {
            slot_fail(s, sl, 500, err);
            return;
        }
    }
    if (over) {
        slot_finish(s, sl);
        return;
    }
    sl->next_token = sl->out_tok[sl->n_out - 1];
    sl->state = SLOT_GEN;
}

static void after_decode(struct sched *s)
{
    s->n_work = 0;
    for (int32_t i = 0; i < s->p.n_slots; i++) {
        struct slot *sl = &s->slots[i];
        if (sl->state == SLOT_GEN && sl->i_batch >= 0) {
            sl->sample = true;
        } else if (sl->state == SLOT_PROMPT && sl->n_in_batch > 0) {
            sl->i_prompt += sl->n_in_batch;
            s->st.n_prompt_tokens += (uint64_t)sl->n_in_batch;
            post_progress(sl);
            if (sl->i_prompt < sl->n_prompt)
                continue;
            sl->t_prompt_done = clock_ms();
            s->st.t_prompt_ms += sl->t_prompt_done - sl->t_start;
            if (sl->n_remain == 0) {
                sl->text.stopped_limit = true;
                slot_finish(s, sl);
            } else {
                sl->sample = true;
            }
        }
        if (sl->sample)
            s->work[s->n_work++] = sl;
    }
    sample_all(s);
    for (int32_t i = 0; i < s->n_work; i++)
        slot_take(s, s->work[i]);
}

static void drop_cancelled(struct sched *s)
{
    for (int32_t i = 0; i < s->p.n_slots; i++) {
        struct slot *sl = &s->slots[i];
        if (sl->state != SLOT_IDLE && task_cancelled(sl->task)) {
            if (sl->state == SLOT_EMBED) /* a part of an embedding is no cache */
                engine_seq_clear(s->e, sl->id);
            slot_cancel(s, sl);
        }
    }
}

/* ------------------------------------------------------------ the loop */

/* CPU time of the calling thread (for CLLM_SCHED_PROFILE: unlike clock_ms,
 * it does not count the time the thread waited for a core). */
static double thread_cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Move the submitted tasks to the loop's own list (lock held). */
static void take_queue(struct sched *s)
{
    if (!s->queue_head)
        return;
    if (s->pending_tail)
        s->pending_tail->next = s->queue_head;
    else
        s->pending_head = s->queue_head;
    s->pending_tail = s->queue_tail;
    s->queue_head = s->queue_tail = NULL;
    s->pub_st.n_deferred += s->n_queued; /* until the next publication counts them */
    s->n_queued = 0;
}

static void slot_view(const struct sched *s, const struct slot *sl, struct sched_slot_info *si)
{
    bool busy = sl->state != SLOT_IDLE;
    *si = (struct sched_slot_info){
        .id = sl->id,
        .processing = busy,
        .task_id = busy ? sl->task->id : -1,
        .info = busy ? sl->task->info : NULL,
        .n_ctx = s->slot_ctx,
        .n_past = engine_seq_len(s->e, sl->id),
        .kv_pages = engine_seq_pages(s->e, sl->id),
        .n_decoded = busy ? sl->n_decoded : 0,
        .n_remain = busy ? sl->n_remain : -1,
        .has_next_token = busy,
        .stopped_eos = busy && sl->text.stopped_eos,
        .stopped_limit = busy && sl->text.stopped_limit,
        .stopped_word = busy && sl->text.stopped_word,
        .stopping_word = busy && sl->text.stopping_word ? sl->text.stopping_word : "",
    };
}

/* Show the slots and counters to other threads, then free the tasks that
 * ended (no published view points into them any more). */
static void publish(struct sched *s)
{
    engine_kv_usage(s->e, &s->st.kv_tokens, &s->st.kv_size);
    engine_memory(s->e, &s->st.mem);
    int32_t busy = 0;
    for (int32_t i = 0; i < s->p.n_slots; i++)
        busy += s->slots[i].state != SLOT_IDLE;
    s->st.n_processing = busy;
    s->st.n_idle = s->p.n_slots - busy;
    pthread_mutex_lock(&s->lock);
    double t0 = s->profile ? clock_ms() : 0;
    for (int32_t i = 0; i < s->p.n_slots; i++)
        slot_view(s, &s->slots[i], &s->pub[i]);
    s->pub_st = s->st;
    if (s->profile)
        s->t_locked_ms += clock_ms() - t0;
    pthread_mutex_unlock(&s->lock);
    while (s->ended) {
        struct sched_task *t = s->ended;
        s->ended = t->next;
        sched_task_free(t);
    }
}

/* Nothing to do: sleep until a task comes (or now and then, to drop
 * cancelled ones). */
static void wait_for_work(struct sched *s)
{
    pthread_mutex_lock(&s->lock);
    if (!s->stop && !s->queue_head) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->wake, &s->lock, &ts);
    }
    pthread_mutex_unlock(&s->lock);
}

static void shut_down(struct sched *s)
{
    for (int32_t i = 0; i < s->p.n_slots; i++)
        if (s->slots[i].state != SLOT_IDLE)
            slot_fail(s, &s->slots[i], 503, "the server is shutting down");
    pthread_mutex_lock(&s->lock);
    take_queue(s);
    pthread_mutex_unlock(&s->lock);
    while (s->pending_head) {
        struct sched_task *t = s->pending_head;
        unlink_pending(s, NULL, t);
        post_error(t, 503, "the server is shutting down");
        task_end(s, t);
    }
    s->st.n_deferred = 0;
    publish(s);
}

static void *loop_main(void *arg)
{
    struct sched *s = arg;
    char err[256];
    double t_after = 0, c_after = 0; /* time spent after the last decode */
    for (;;) {
        double t0 = clock_ms(), c0 = s->profile ? thread_cpu_ms() : 0;
        pthread_mutex_lock(&s->lock);
        double tl = s->profile ? clock_ms() : 0;
        bool stop = s->stop;
        take_queue(s);
        if (s->profile)
            s->t_locked_ms += clock_ms() - tl;
        pthread_mutex_unlock(&s->lock);
        if (stop)
            break;
        admit(s);
        drop_cancelled(s);
        build_batch(s);
        int32_t busy = 0;
        for (int32_t i = 0; i < s->p.n_slots; i++)
            busy += s->slots[i].state != SLOT_IDLE;
        publish(s);
        if (s->batch.n_tokens == 0) {
            t_after = c_after = 0;
            if (!embed_step(s, 0, 0) && busy == 0)
                wait_for_work(s);
            continue;
        }
        double t1 = clock_ms();
        s->st.t_sched_ms += t_after + (t1 - t0);
        if (s->profile)
            s->cpu_sched_ms += c_after + (thread_cpu_ms() - c0);
        int rc = engine_decode(s->e, &s->batch, err, sizeof err);
        double t2 = clock_ms(), c2 = s->profile ? thread_cpu_ms() : 0;
        s->st.n_decode_calls++;
        if (rc == 0)
            learn_step_cost(s, s->batch.n_tokens, t2 - t1);
        s->st.n_busy_slots += (uint64_t)busy;
        if (rc != 0)
            fail_batch(s, err);
        else
            after_decode(s);
        t_after = clock_ms() - t2;
        c_after = s->profile ? thread_cpu_ms() - c2 : 0;
        /* an embedding's next chunk, in the room this step left (a decode:
         * not the scheduler's overhead) */
        embed_step(s, s->n_step_gen, s->batch.n_tokens - s->n_step_gen);
        /* the publication at the top of the next step shows this one's results */
    }
    shut_down(s);
    return NULL;
}

/* ------------------------------------------------------------ public */

/* The sampling helpers (sched_params.n_sample_threads): by default one
 * fewer than the engine's threads but only on cores the engine leaves
 * free; fewer than the slots (none for one slot). Fewer when a thread
 * cannot start. */
static void start_crew(struct sched *s)
{
    int n = engine_n_threads(s->e) - 1;
    long spare = sysconf(_SC_NPROCESSORS_ONLN) - engine_n_threads(s->e);
    if (s->p.n_sample_threads > 0)
        n = s->p.n_sample_threads;
    else if (n > spare)
        n = spare > 0 ? (int)spare : 0;
    if (n > s->p.n_slots - 1)
        n = s->p.n_slots - 1;
    s->crew = n > 0 ? calloc((size_t)n, sizeof *s->crew) : NULL;
    for (s->n_crew = 0; s->crew && s->n_crew < n; s->n_crew++)
        if (pthread_create(&s->crew[s->n_crew], NULL, crew_main, s) != 0)
            break;
}

static void free_slot_buffers(struct sched *s)
{
    for (int32_t i = 0; s->slots && i < s->p.n_slots; i++) {
        free(s->slots[i].draft);
        free(s->slots[i].out_tok);
        free(s->slots[i].out_tprob);
        free(s->slots[i].out_nprobs);
    }
}

struct sched *sched_create(struct engine *e, const struct vocab *v, const struct sched_params *p,
                           char *err, size_t err_size)
{
    if (p->n_slots < 1 || p->n_slots > 0xFFFF || p->n_ctx / p->n_slots < 8) {
        err_set(err, err_size, "%d slots need a context of at least %d tokens", p->n_slots, 8 * p->n_slots);
        return NULL;
    }
    if (p->spec_type != SCHED_SPEC_NONE && p->spec_type != SCHED_SPEC_NGRAM) {
        err_set(err, err_size, "unknown speculative decoding type %d", (int)p->spec_type);
        return NULL;
    }
    if (p->spec_type != SCHED_SPEC_NONE && (p->draft_max < 0 || p->draft_min < 0 || p->ngram_n < 0 ||
                                            p->ngram_n_min < 0 || p->draft_p_min < 0 || p->draft_p_min > 1)) {
        err_set(err, err_size, "bad speculative decoding parameters (draft max %d, min %d, p-min %g, "
                "n-gram %d..%d)", p->draft_max, p->draft_min, (double)p->draft_p_min, p->ngram_n_min, p->ngram_n);
        return NULL;
    }
    struct sched *s = calloc(1, sizeof *s);
    if (!s) {
        err_set(err, err_size, "out of memory");
        return NULL;
    }
    s->e = e;
    s->v = v;
    s->p = *p;
    s->slot_ctx = p->n_ctx / p->n_slots;
    if (p->spec_type == SCHED_SPEC_NGRAM) {
        s->draft_max = p->draft_max > 0 ? p->draft_max : 16;
        s->draft_min = p->draft_min < s->draft_max ? p->draft_min : s->draft_max;
        s->ngram_n = p->ngram_n > 0 ? p->ngram_n : 12;
        s->ngram_n_min = p->ngram_n_min > 0 ? p->ngram_n_min : 3;
        if (s->ngram_n_min > s->ngram_n)
            s->ngram_n_min = s->ngram_n;
    }
    s->slots = calloc((size_t)p->n_slots, sizeof *s->slots);
    s->pub = calloc((size_t)p->n_slots, sizeof *s->pub);
    s->work = calloc((size_t)p->n_slots, sizeof *s->work);
    int32_t cap = p->n_batch > 0 ? p->n_batch : 512;
    s->embd_buf = malloc((size_t)cap * (size_t)engine_n_embd(e) * sizeof *s->embd_buf);
    bool ok = s->slots && s->pub && s->work && s->embd_buf;
    for (int32_t i = 0; ok && i < p->n_slots; i++) {
        struct slot *sl = &s->slots[i];
        size_t n_out = (size_t)s->draft_max + 1;
        sl->draft = malloc((size_t)(s->draft_max > 0 ? s->draft_max : 1) * sizeof *sl->draft);
        sl->out_tok = malloc(n_out * sizeof *sl->out_tok);
        sl->out_tprob = malloc(n_out * sizeof *sl->out_tprob);
        sl->out_nprobs = malloc(n_out * sizeof *sl->out_nprobs);
        ok = sl->draft && sl->out_tok && sl->out_tprob && sl->out_nprobs;
    }
    if (!ok || batch_init(&s->batch, cap) != 0) {
        free_slot_buffers(s);
        free(s->slots);
        free(s->pub);
        free(s->work);
        free(s->embd_buf);
        free(s);
        err_set(err, err_size, "out of memory");
        return NULL;
    }
    const char *prof = getenv("CLLM_SCHED_PROFILE");
    s->profile = prof && *prof && strcmp(prof, "0") != 0;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->wake, NULL);
    pthread_mutex_init(&s->crew_lock, NULL);
    pthread_cond_init(&s->crew_wake, NULL);
    start_crew(s);
    for (int32_t i = 0; i < p->n_slots; i++) {
        s->slots[i].id = i;
        s->slots[i].i_batch = -1;
        slot_view(s, &s->slots[i], &s->pub[i]);
    }
    engine_kv_usage(e, &s->st.kv_tokens, &s->st.kv_size);
    s->st.n_idle = p->n_slots;
    s->pub_st = s->st;
    if (pthread_create(&s->thread, NULL, loop_main, s) != 0) {
        err_set(err, err_size, "cannot start the scheduler thread");
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
    pthread_mutex_lock(&s->crew_lock);
    s->crew_quit = true;
    pthread_cond_broadcast(&s->crew_wake);
    pthread_mutex_unlock(&s->crew_lock);
    for (int i = 0; i < s->n_crew; i++)
        pthread_join(s->crew[i], NULL);
    free(s->crew);
    if (s->profile && s->st.n_decode_calls > 0)
        fprintf(stderr,
                "scheduler: %llu steps, %.1f ms outside engine_decode (%.1f us per step), "
                "%.1f us CPU per step, lock held %.3f ms (%.2f us per step)\n",
                (unsigned long long)s->st.n_decode_calls, s->st.t_sched_ms,
                1e3 * s->st.t_sched_ms / (double)s->st.n_decode_calls,
                1e3 * s->cpu_sched_ms / (double)s->st.n_decode_calls, s->t_locked_ms,
                1e3 * s->t_locked_ms / (double)s->st.n_decode_calls);
    if (s->profile && s->st.n_drafted > 0)
        fprintf(stderr, "scheduler: %llu tokens drafted, %llu accepted (%.1f%%)\n",
                (unsigned long long)s->st.n_drafted, (unsigned long long)s->st.n_draft_accepted,
                100.0 * (double)s->st.n_draft_accepted / (double)s->st.n_drafted);
    for (int32_t i = 0; i < s->p.n_slots; i++) {
        slot_text_free(&s->slots[i].text);
        free(s->slots[i].prompt);
        free(s->slots[i].sprobs);
    }
    free_slot_buffers(s);
    free(s->slots);
    free(s->pub);
    free(s->work);
    free(s->embd_buf);
    batch_free(&s->batch);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->crew_wake);
    pthread_mutex_destroy(&s->crew_lock);
    free(s);
}

int64_t sched_submit(struct sched *s, struct sched_task *t)
{
    pthread_mutex_lock(&s->lock);
    t->id = s->next_id++;
    t->t_queued = clock_ms();
    t->next = NULL;
    int code = s->stop ? 503 : t->id_slot >= s->p.n_slots ? 400 : 0;
    if (code == 0) {
        if (s->queue_tail)
            s->queue_tail->next = t;
        else
            s->queue_head = t;
        s->queue_tail = t;
        s->n_queued++;
        pthread_cond_signal(&s->wake);
    }
    int64_t id = t->id;
    pthread_mutex_unlock(&s->lock);
    if (code == 0)
        return id;
    if (code == 503)
        post_error(t, 503, "the server is shutting down");
    else
        post_error(t, 400, "id_slot %d is out of range (the server has %d slots)", t->id_slot, s->p.n_slots);
    sched_task_free(t);
    return -1;
}

int32_t sched_n_slots(const struct sched *s) { return s->p.n_slots; }
int32_t sched_slot_ctx(const struct sched *s) { return s->slot_ctx; }

void sched_visit_slots(struct sched *s, void (*fn)(void *ud, const struct sched_slot_info *si), void *ud)
{
    pthread_mutex_lock(&s->lock);
    for (int32_t i = 0; i < s->p.n_slots; i++)
        fn(ud, &s->pub[i]);
    pthread_mutex_unlock(&s->lock);
}

void sched_get_stats(struct sched *s, struct sched_stats *st)
{
    pthread_mutex_lock(&s->lock);
    *st = s->pub_st;
    st->n_deferred += s->n_queued;
    pthread_mutex_unlock(&s->lock);
}
