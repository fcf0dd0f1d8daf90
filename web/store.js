// store.js - the conversations, kept in this browser's IndexedDB (database
// "cllm", store "conversations"), and their export to / import from JSON.
//
// A conversation: { id, title, created, updated, messages: [{ role, content,
// stats? }] } (role "user" or "assistant"; stats: the numbers shown under an
// answer).

const DB_NAME = 'cllm';
const STORE = 'conversations';
let dbPromise = null;

function db() {
  if (!dbPromise) {
    dbPromise = new Promise((resolve, reject) => {
      const req = indexedDB.open(DB_NAME, 1);
      req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: 'id' });
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
  }
  return dbPromise;
}

async function tx(mode, fn) {
  const d = await db();
  return new Promise((resolve, reject) => {
    const t = d.transaction(STORE, mode);
    const result = fn(t.objectStore(STORE));
    t.oncomplete = () => resolve(result && 'result' in result ? result.result : undefined);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error);
  });
}

export function newConversation() {
  const now = Date.now();
  const id = (crypto.randomUUID ? crypto.randomUUID() : `${now}-${Math.random().toString(16).slice(2)}`);
  return { id, title: 'New chat', created: now, updated: now, messages: [] };
}

// Every conversation, the most recently updated first.
export async function listConversations() {
  const all = (await tx('readonly', (s) => s.getAll())) || [];
  return all.sort((a, b) => b.updated - a.updated);
}

export const getConversation = (id) => tx('readonly', (s) => s.get(id));

export function saveConversation(conv) {
  conv.updated = Date.now();
  return tx('readwrite', (s) => s.put(structuredClone(conv)));
}

export const deleteConversation = (id) => tx('readwrite', (s) => s.delete(id));

export async function exportJSON() {
  return JSON.stringify({ format: 'cllm-conversations', version: 1, conversations: await listConversations() }, null, 2);
}

// Import conversations from exported JSON (or a bare array of them); returns
// how many. Each one is checked: messages of role user/assistant/system
// with string content; others are refused with an Error.
export async function importJSON(text) {
  const doc = JSON.parse(text);
  const list = Array.isArray(doc) ? doc : doc && doc.conversations;
  if (!Array.isArray(list)) throw new Error('not an export of conversations');
  const clean = list.map((c, i) => {
    if (!c || !Array.isArray(c.messages)) throw new Error(`conversation ${i + 1} has no messages`);
    const messages = c.messages.map((m) => {
      if (!m || !['user', 'assistant', 'system'].includes(m.role) || typeof m.content !== 'string')
        throw new Error(`conversation ${i + 1} has a malformed message`);
      return { role: m.role, content: m.content, ...(m.stats && typeof m.stats === 'object' ? { stats: m.stats } : {}) };
    });
    const base = newConversation();
    return {
      ...base,
      id: typeof c.id === 'string' && c.id ? c.id : base.id,
      title: typeof c.title === 'string' && c.title ? c.title.slice(0, 200) : base.title,
      created: Number(c.created) || base.created,
      updated: Number(c.updated) || base.updated,
      messages,
    };
  });
  await tx('readwrite', (s) => { for (const c of clean) s.put(c); });
  return clean.length;
}
