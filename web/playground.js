// playground.js - raw completion (/completion): the prompt as it is, the
// continuation streamed after it, and, when "token probabilities" (n_probs)
// is set, each token shaded by its probability with the candidates in its
// tooltip.

import { llama } from './completion.js';
import * as settings from './settings.js';

export class Playground {
  constructor(els, hooks) {
    this.els = els;   // prompt, run, stop, out, stats
    this.hooks = hooks;
    this.controller = null;
    els.run.addEventListener('click', () => this.run());
    els.stop.addEventListener('click', () => this.controller && this.controller.abort());
    els.prompt.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); this.run(); }
    });
  }

  tokenSpan(text, probs) {
    const span = document.createElement('span');
    span.textContent = text;
    if (!probs || !probs.length) return span;
    const top = probs[0];
    const chosen = probs.find((p) => (p.tok_str ?? p.token) === text) || top;
    const p = chosen.prob ?? (chosen.logprob !== undefined ? Math.exp(chosen.logprob) : null);
    span.className = 'tok';
    span.tabIndex = 0;
    if (p !== null) {
      const hue = Math.round(120 * p); // red (unlikely) .. green (likely)
      span.style.backgroundColor = `hsla(${hue}, 70%, 50%, 0.22)`;
    }
    span.title = probs.map((c) => {
      const q = c.prob ?? (c.logprob !== undefined ? Math.exp(c.logprob) : 0);
      return `${JSON.stringify(c.tok_str ?? c.token)}  ${(q * 100).toFixed(1)}%`;
    }).join('\n');
    return span;
  }

  async run() {
    if (this.controller) return;
    const s = settings.get();
    let params;
    try {
      params = settings.requestParams(s);
    } catch (e) {
      this.hooks.onError(`JSON schema: ${e.message}`);
      return;
    }
    const prompt = this.els.prompt.value;
    const out = this.els.out;
    const head = document.createElement('span');
    head.className = 'prompt';
    head.textContent = prompt;
    out.replaceChildren(head);
    this.controller = new AbortController();
    this.els.run.hidden = true;
    this.els.stop.hidden = false;
    this.els.stats.textContent = '';
    this.hooks.onError(null);
    let n = 0;
    const t0 = performance.now();
    try {
      for await (const chunk of llama(prompt, params, { controller: this.controller, api_key: s.api_key })) {
        const d = chunk.data;
        if (d.content) {
          n++;
          const probs = d.completion_probabilities && d.completion_probabilities[0];
          out.append(this.tokenSpan(d.content, probs && (probs.probs || probs.top_logprobs)));
        }
        if (d.timings) {
          const t = d.timings;
          this.els.stats.textContent = `${t.predicted_n} tokens \u00b7 ${t.predicted_per_second.toFixed(1)} tokens/s \u00b7 prompt ${t.prompt_n} tokens`;
        } else {
          this.els.stats.textContent = `${n} tokens \u00b7 ${(n / ((performance.now() - t0) / 1000)).toFixed(1)} tokens/s`;
        }
      }
    } catch (e) {
      if (e.status === 401) this.hooks.onAuth();
      this.hooks.onError(e.message);
    }
    this.controller = null;
    this.els.run.hidden = false;
    this.els.stop.hidden = true;
  }
}
