// chat.js - the chat view: one conversation's messages, sending with a
// streamed answer, stop, regenerate, edit, copy, and the numbers under each
// answer (tokens, tokens/s). Saves the conversation after every change.

import { llamaChat } from './completion.js';
import { copyText, renderMarkdown } from './markdown.js';
import * as settings from './settings.js';
import * as store from './store.js';

const RENDER_EVERY_MS = 40;

function statsText(st) {
  if (!st) return '';
  const parts = [];
  if (st.predicted_n != null) parts.push(`${st.predicted_n} tokens`);
  if (st.predicted_per_second) parts.push(`${st.predicted_per_second.toFixed(1)} tokens/s`);
  if (st.prompt_n != null) parts.push(`prompt ${st.prompt_n} tokens`);
  if (st.prompt_per_second) parts.push(`${st.prompt_per_second.toFixed(0)} tokens/s`);
  if (st.stopped) parts.push('stopped');
  return parts.join(' \u00b7 ');
}

export class ChatView {
  constructor(els, hooks) {
    this.els = els;           // messages, empty, form, input, send, stop
    this.hooks = hooks;       // onAuth(), onError(msg), onSaved()
    this.conv = store.newConversation();
    this.controller = null;
    this.renderTimer = null;
    els.form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.send();
    });
    els.input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.send();
      } else if (e.key === 'Escape') {
        this.stop();
      }
    });
    els.input.addEventListener('input', () => this.autosize());
    els.stop.addEventListener('click', () => this.stop());
    els.messages.addEventListener('click', (e) => this.onClick(e));
  }

  get busy() { return this.controller !== null; }

  autosize() {
    const t = this.els.input;
    t.style.height = 'auto';
    t.style.height = `${Math.min(t.scrollHeight + 2, window.innerHeight * 0.4)}px`;
  }

  setBusy(busy) {
    this.els.send.hidden = busy;
    this.els.stop.hidden = !busy;
    for (const b of this.els.messages.querySelectorAll('.act[data-act="regen"], .act[data-act="edit"]')) b.disabled = busy;
  }

  async open(id) {
    this.stop();
    const conv = id ? await store.getConversation(id) : null;
    this.conv = conv || store.newConversation();
    this.render();
    return this.conv;
  }

  newChat() {
    this.stop();
    this.conv = store.newConversation();
    this.render();
    this.els.input.focus();
  }

  // ---- drawing
  render() {
    const box = this.els.messages;
    box.replaceChildren(...this.conv.messages.map((m, i) => this.messageEl(m, i)));
    this.els.empty.hidden = this.conv.messages.length > 0;
    box.scrollTop = box.scrollHeight;
  }

  messageEl(m, i) {
    const art = document.createElement('article');
    art.className = `msg ${m.role}${m.error ? ' error' : ''}`;
    art.dataset.index = String(i);
    art.setAttribute('aria-label', m.role === 'user' ? 'You' : 'Assistant');
    const bubble = document.createElement('div');
    bubble.className = 'bubble';
    this.fillBubble(bubble, m);
    const meta = document.createElement('div');
    meta.className = 'meta';
    const stats = document.createElement('span');
    stats.className = 'stats';
    stats.textContent = m.error ? '' : statsText(m.stats);
    meta.append(stats);
    const act = (name, label) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'act';
      b.dataset.act = name;
      b.textContent = label;
      b.disabled = this.busy && name !== 'copy';
      meta.append(b);
    };
    act('copy', 'Copy');
    if (m.role === 'user') act('edit', 'Edit');
    if (m.role === 'assistant' && i === this.conv.messages.length - 1) act('regen', 'Regenerate');
    art.append(bubble, meta);
    return art;
  }

  fillBubble(bubble, m) {
    if (m.error) bubble.textContent = m.error;
    else if (m.role === 'assistant') renderMarkdown(bubble, m.content);
    else bubble.textContent = m.content;
  }

  nearBottom() {
    const b = this.els.messages;
    return b.scrollHeight - b.scrollTop - b.clientHeight < 80;
  }

  // ---- actions
  onClick(e) {
    const btn = e.target.closest('button');
    if (!btn) return;
    const art = btn.closest('.msg');
    if (btn.classList.contains('copy-code')) {
      const code = btn.closest('.code-block').querySelector('code').textContent;
      copyText(code).then(() => { btn.textContent = 'Copied'; setTimeout(() => { btn.textContent = 'Copy'; }, 1500); });
      return;
    }
    if (!art) return;
    const i = Number(art.dataset.index);
    const m = this.conv.messages[i];
    if (btn.dataset.act === 'copy') {
      copyText(m.content).then(() => { btn.textContent = 'Copied'; setTimeout(() => { btn.textContent = 'Copy'; }, 1500); });
    } else if (btn.dataset.act === 'regen') {
      this.regenerate();
    } else if (btn.dataset.act === 'edit') {
      this.edit(art, i);
    }
  }

  async send(text) {
    if (this.busy) return;
    const content = (text ?? this.els.input.value).trim();
    if (!content) return;
    this.els.input.value = '';
    this.autosize();
    if (this.conv.messages.length === 0) this.conv.title = content.replace(/\s+/g, ' ').slice(0, 60);
    this.conv.messages.push({ role: 'user', content });
    this.render();
    await this.generate();
  }

  async regenerate() {
    if (this.busy) return;
    const msgs = this.conv.messages;
    if (msgs.length && msgs[msgs.length - 1].role === 'assistant') msgs.pop();
    this.render();
    await this.generate();
  }

  edit(art, i) {
    if (this.busy) return;
    const m = this.conv.messages[i];
    const box = document.createElement('div');
    box.className = 'edit-box';
    const ta = document.createElement('textarea');
    ta.value = m.content;
    ta.setAttribute('aria-label', 'Edit the message');
    const row = document.createElement('div');
    row.className = 'row';
    const cancel = document.createElement('button');
    cancel.type = 'button';
    cancel.className = 'btn';
    cancel.textContent = 'Cancel';
    const save = document.createElement('button');
    save.type = 'button';
    save.className = 'btn primary';
    save.textContent = 'Save & send';
    save.dataset.act = 'save-edit';
    row.append(cancel, save);
    box.append(ta, row);
    art.replaceChildren(box);
    ta.focus();
    cancel.addEventListener('click', () => this.render());
    const submit = async () => {
      const content = ta.value.trim();
      if (!content) return;
      this.conv.messages = this.conv.messages.slice(0, i);
      this.conv.messages.push({ role: 'user', content });
      if (i === 0) this.conv.title = content.replace(/\s+/g, ' ').slice(0, 60);
      this.render();
      await this.generate();
    };
    save.addEventListener('click', submit);
    ta.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); submit(); }
      if (e.key === 'Escape') this.render();
    });
  }

  stop() {
    if (!this.controller) return;
    this.userStopped = true;
    this.controller.abort();
  }

  async generate() {
    const s = settings.get();
    let params;
    try {
      params = settings.requestParams(s);
    } catch (e) {
      this.hooks.onError(`JSON schema: ${e.message}`);
      return;
    }
    const conv = this.conv;
    const messages = [];
    if (s.system && s.system.trim()) messages.push({ role: 'system', content: s.system });
    for (const m of conv.messages) if (!m.error) messages.push({ role: m.role, content: m.content });
    const msg = { role: 'assistant', content: '' };
    conv.messages.push(msg);
    const index = conv.messages.length - 1;
    const art = this.messageEl(msg, index);
    const bubble = art.querySelector('.bubble');
    const statsEl = art.querySelector('.stats');
    bubble.classList.add('pending');
    this.els.messages.append(art);
    this.els.empty.hidden = true;
    this.els.messages.scrollTop = this.els.messages.scrollHeight;

    const controller = new AbortController();
    this.controller = controller;
    this.userStopped = false;
    params.stream_options = { include_usage: true };
    this.setBusy(true);
    this.hooks.onError(null);
    const t0 = performance.now();
    let tFirst = null;
    let n = 0;
    let timings = null;
    let usage = null;
    const draw = () => {
      this.renderTimer = null;
      const stick = this.nearBottom();
      this.fillBubble(bubble, msg);
      const secs = tFirst ? (performance.now() - tFirst) / 1000 : 0;
      statsEl.textContent = `${n} tokens${secs > 0.2 ? ` \u00b7 ${(n / secs).toFixed(1)} tokens/s` : ''}`;
      if (stick) this.els.messages.scrollTop = this.els.messages.scrollHeight;
    };
    try {
      for await (const chunk of llamaChat(messages, params, { controller, api_key: s.api_key })) {
        const d = chunk.data;
        if (d.timings) timings = d.timings;
        if (d.usage) usage = d.usage;
        if (d.content) {
          if (tFirst === null) tFirst = performance.now();
          msg.content += d.content;
          n++;
          if (!this.renderTimer) this.renderTimer = setTimeout(draw, RENDER_EVERY_MS);
        }
      }
    } catch (e) {
      if (e.status === 401) this.hooks.onAuth();
      msg.error = `Error: ${e.message}`;
    }
    clearTimeout(this.renderTimer);
    this.renderTimer = null;
    const stopped = this.userStopped;
    const secs = tFirst ? (performance.now() - tFirst) / 1000 : 0;
    msg.stats = {
      predicted_n: timings?.predicted_n ?? usage?.completion_tokens ?? n,
      predicted_per_second: timings?.predicted_per_second ?? (secs > 0 ? n / secs : 0),
      prompt_n: timings?.prompt_n ?? usage?.prompt_tokens,
      prompt_per_second: timings?.prompt_per_second,
      ms: performance.now() - t0,
      stopped,
    };
    if (msg.error && msg.content === '' ) {
      // keep the error as its own message; it is not sent back to the model
    } else if (msg.error) {
      delete msg.error;
    }
    this.controller = null;
    if (this.conv === conv) {
      this.setBusy(false);
      this.render();
    }
    await store.saveConversation(conv);
    this.hooks.onSaved(conv);
  }
}
