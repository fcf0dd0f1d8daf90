// app.js - starts the page: the model's name and context size from /props,
// the API key banner (shown when the server answers 401), the theme, the
// conversation list, the chat/playground tabs and the settings dialog.

import { llamaProps } from './completion.js';
import { ChatView } from './chat.js';
import { Playground } from './playground.js';
import * as settings from './settings.js';
import * as store from './store.js';

const $ = (id) => document.getElementById(id);
const CURRENT = 'cllm.current';
const THEME = 'cllm.theme';

// ---- banners
function showError(msg) {
  const b = $('error-banner');
  b.textContent = msg || '';
  b.hidden = !msg;
}

function askForKey() {
  $('key-banner').hidden = false;
  $('api-key').value = settings.get().api_key || '';
  $('api-key').focus();
}

// ---- theme
function applyTheme(theme) {
  const dark = theme ? theme === 'dark' : matchMedia('(prefers-color-scheme: dark)').matches;
  document.documentElement.dataset.theme = dark ? 'dark' : 'light';
  $('theme').setAttribute('aria-label', dark ? 'Switch to the light theme' : 'Switch to the dark theme');
}

// ---- model info
async function loadProps() {
  try {
    const p = await llamaProps({ api_key: settings.get().api_key });
    const path = p.model_alias || p.model_path || '';
    const name = path.split('/').pop().replace(/\.gguf$/i, '') || 'cllm';
    $('model-name').textContent = name;
    $('model-name').title = path;
    const ctx = p.n_ctx || (p.default_generation_settings && p.default_generation_settings.n_ctx);
    $('model-ctx').textContent = ctx ? `context ${ctx} tokens` : '';
    document.title = `${name} \u2014 cllm`;
    $('key-banner').hidden = true;
    showError(null);
  } catch (e) {
    $('model-name').textContent = 'cllm';
    if (e.status === 401) askForKey();
    else if (e.status === 503) setTimeout(loadProps, 1000); // still loading the model
    else showError(e.message);
  }
}

// ---- conversation list
let chat;

async function refreshList() {
  const list = $('conv-list');
  const convs = await store.listConversations();
  list.replaceChildren(...convs.map((c) => {
    const li = document.createElement('li');
    li.className = c.id === chat.conv.id ? 'active' : '';
    li.dataset.id = c.id;
    const open = document.createElement('button');
    open.type = 'button';
    open.className = 'conv-open';
    open.textContent = c.title || 'Untitled';
    open.title = c.title || '';
    if (c.id === chat.conv.id) open.setAttribute('aria-current', 'true');
    const del = document.createElement('button');
    del.type = 'button';
    del.className = 'conv-del';
    del.textContent = '\u2715';
    del.setAttribute('aria-label', `Delete "${c.title}"`);
    li.append(open, del);
    return li;
  }));
}

async function openConversation(id) {
  const conv = await chat.open(id);
  localStorage.setItem(CURRENT, conv.id);
  closeDrawer();
  await refreshList();
}

function closeDrawer() {
  $('app').classList.remove('drawer-open');
  $('scrim').hidden = true;
  $('toggle-sidebar').setAttribute('aria-expanded', 'false');
}

function download(name, text) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
  a.download = name;
  document.body.append(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}

// ---- start
async function main() {
  applyTheme(localStorage.getItem(THEME));
  const hooks = {
    onAuth: askForKey,
    onError: showError,
    onSaved: (conv) => { localStorage.setItem(CURRENT, conv.id); refreshList(); },
  };
  chat = new ChatView({
    messages: $('messages'), empty: $('empty'), form: $('composer'), input: $('input'),
    send: $('send'), stop: $('stop'),
  }, hooks);
  const pg = new Playground({
    prompt: $('pg-prompt'), run: $('pg-run'), stop: $('pg-stop'), out: $('pg-out'), stats: $('pg-stats'),
  }, hooks);
  void pg;

  const dlg = settings.bindDialog($('settings'));
  $('open-settings').addEventListener('click', () => dlg.open());
  $('settings').addEventListener('close', () => loadProps());

  $('theme').addEventListener('click', () => {
    const next = document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark';
    localStorage.setItem(THEME, next);
    applyTheme(next);
  });

  $('key-form').addEventListener('submit', (e) => {
    e.preventDefault();
    settings.set({ api_key: $('api-key').value.trim() });
    loadProps();
  });

  for (const [tab, view, other, otherView] of [['tab-chat', 'chat-view', 'tab-playground', 'playground-view'],
    ['tab-playground', 'playground-view', 'tab-chat', 'chat-view']]) {
    $(tab).addEventListener('click', () => {
      $(tab).setAttribute('aria-selected', 'true');
      $(other).setAttribute('aria-selected', 'false');
      $(view).hidden = false;
      $(otherView).hidden = true;
    });
  }
  $('tab-chat').parentElement.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
      const next = document.activeElement.id === 'tab-chat' ? $('tab-playground') : $('tab-chat');
      next.click();
      next.focus();
    }
  });

  $('new-chat').addEventListener('click', async () => {
    chat.newChat();
    closeDrawer();
    await refreshList();
  });
  $('conv-list').addEventListener('click', async (e) => {
    const li = e.target.closest('li');
    if (!li) return;
    if (e.target.closest('.conv-del')) {
      await store.deleteConversation(li.dataset.id);
      if (li.dataset.id === chat.conv.id) chat.newChat();
      await refreshList();
    } else {
      await openConversation(li.dataset.id);
    }
  });
  $('toggle-sidebar').addEventListener('click', () => {
    const open = !$('app').classList.contains('drawer-open');
    $('app').classList.toggle('drawer-open', open);
    $('scrim').hidden = !open;
    $('toggle-sidebar').setAttribute('aria-expanded', String(open));
  });
  $('scrim').addEventListener('click', closeDrawer);
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape') closeDrawer(); });

  $('export').addEventListener('click', async () => {
    download(`cllm-conversations-${new Date().toISOString().slice(0, 10)}.json`, await store.exportJSON());
  });
  $('import-btn').addEventListener('click', () => $('import').click());
  $('import').addEventListener('change', async () => {
    const f = $('import').files[0];
    if (!f) return;
    try {
      const n = await store.importJSON(await f.text());
      showError(null);
      await refreshList();
      $('import').value = '';
      void n;
    } catch (e) {
      showError(`Import: ${e.message}`);
    }
  });

  await openConversation(localStorage.getItem(CURRENT));
  loadProps();
}

// The libraries are classic deferred scripts: they have run before this
// module (modules are deferred too, and run in order after them).
main();
