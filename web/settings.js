// settings.js - the settings dialog: system prompt, sampling parameters,
// grammar or JSON schema and the API key, kept in localStorage, and the
// request fields they give.

const KEY = 'cllm.settings';

export const DEFAULTS = {
  system: '',
  temperature: 0.8,
  top_k: 40,
  top_p: 0.95,
  min_p: 0.05,
  n_predict: 512,
  repeat_penalty: 1.1,
  seed: -1,
  n_probs: 0,
  grammar: '',
  json_schema: '',
  api_key: '',
};
const NUMBERS = ['temperature', 'top_k', 'top_p', 'min_p', 'n_predict', 'repeat_penalty', 'seed', 'n_probs'];

let current = load();
const listeners = [];

function load() {
  try {
    return { ...DEFAULTS, ...JSON.parse(localStorage.getItem(KEY) || '{}') };
  } catch (_) {
    return { ...DEFAULTS };
  }
}

export const get = () => current;

export function set(patch) {
  current = { ...current, ...patch };
  localStorage.setItem(KEY, JSON.stringify(current));
  for (const fn of listeners) fn(current);
}

export const onChange = (fn) => listeners.push(fn);

// The sampling fields of a request (both /completion and the chat endpoint
// take them). A JSON schema that does not parse throws.
export function requestParams(s = current) {
  const p = {};
  for (const k of NUMBERS) {
    const v = Number(s[k]);
    if (s[k] !== '' && Number.isFinite(v)) p[k] = v;
  }
  if (!p.n_probs) delete p.n_probs;
  if (s.grammar && s.grammar.trim()) p.grammar = s.grammar;
  else if (s.json_schema && s.json_schema.trim()) p.json_schema = JSON.parse(s.json_schema);
  return p;
}

// Wire the dialog's fields to the settings.
export function bindDialog(dialog) {
  const form = dialog.querySelector('form');
  const err = dialog.querySelector('#s-error');
  const fill = () => {
    for (const [k, v] of Object.entries(current)) {
      const el = form.elements.namedItem(k);
      if (el) el.value = v;
    }
  };
  const check = () => {
    try {
      requestParams();
      err.textContent = '';
    } catch (e) {
      err.textContent = `JSON schema: ${e.message}`;
    }
  };
  form.addEventListener('input', (e) => {
    const el = e.target;
    if (!el.name) return;
    set({ [el.name]: el.value });
    check();
  });
  dialog.querySelector('#settings-reset').addEventListener('click', () => {
    set({ ...DEFAULTS, api_key: current.api_key });
    fill();
    check();
  });
  return { open() { fill(); check(); dialog.showModal(); } };
}
