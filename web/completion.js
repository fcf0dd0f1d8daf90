// completion.js - stream text from cllm-server in a browser (an ES module).
//
//   import { llama } from '/completion.js'
//   for await (const chunk of llama('Tell me a joke.', { n_predict: 64 })) {
//     document.write(chunk.data.content)
//   }
//
// Every helper takes (prompt, params, config):
//   prompt  a string (for /v1/chat/completions: a string, sent as one user
//           message, or an array of {role, content} messages)
//   params  request fields: n_predict, temperature, top_k, top_p, min_p,
//           repeat_penalty, seed, grammar, json_schema, n_probs, stop, ...
//   config  { endpoint: '/completion' (default) or '/v1/chat/completions',
//             controller: an AbortController (abort() stops the generation
//             and frees the server's slot), api_key: sent as a Bearer token,
//             api_url: another server's origin (default: this page's) }
//
// llama(prompt, params, config)        async generator of chunks; chunk.data
//                                      is the server's event; for chat,
//                                      chunk.data.content is the delta's text
//                                      and chunk.data.stop is true at the end.
//                                      Returns the whole text.
// llamaChat(messages, params, config)  llama() against /v1/chat/completions.
// llamaEventTarget(prompt, params, config)
//                                      an EventTarget firing "message"
//                                      (detail: chunk.data), "generation_settings",
//                                      "timings", "error" and "done"
//                                      (detail: {content}).
// llamaPromise(prompt, params, config) a Promise of the whole text.
// llamaComplete(params, controller, callback)
//                                      the older form: calls callback(chunk)
//                                      for each chunk of params.prompt.
// llamaModelInfo(config)               the server's default generation
//                                      settings (from /props), fetched once.
// llamaProps(config)                   the whole of /props.
//
// Failures throw a LlamaError with .status (the HTTP status, 0 when the
// server could not be reached) and .message (the server's own message).

export const paramDefaults = {
  stream: true,
  n_predict: 500,
  temperature: 0.2,
  stop: ['</s>'],
};

let generationSettings = null;

export class LlamaError extends Error {
  constructor(status, message) {
    super(message);
    this.name = 'LlamaError';
    this.status = status;
  }
}

const isChatEndpoint = (endpoint) => /chat\/completions$/.test(endpoint);

function requestBody(prompt, params, chat) {
  if (!chat) return { ...paramDefaults, ...params, prompt, stream: true };
  const messages = typeof prompt === 'string' ? [{ role: 'user', content: prompt }] : prompt;
  const { stop, ...rest } = params;
  const body = { ...rest, messages, stream: true };
  if (stop !== undefined) body.stop = stop;
  if (body.n_predict !== undefined && body.max_tokens === undefined) body.max_tokens = body.n_predict;
  return body;
}

function headersFor(config) {
  const h = { 'Content-Type': 'application/json', Accept: 'text/event-stream' };
  if (config.api_key) h.Authorization = `Bearer ${config.api_key}`;
  return h;
}

async function errorFrom(response) {
  let message = `${response.status} ${response.statusText}`;
  try {
    const j = await response.json();
    if (j && j.error) message = j.error.message || JSON.stringify(j.error);
  } catch (_) { /* not JSON */ }
  return new LlamaError(response.status, message);
}

// The server-sent events of a response: {event, data} for each one.
export async function* sseEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let end;
      while ((end = buf.search(/\r?\n\r?\n/)) >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + (buf[end] === '\r' ? 4 : 2));
        const ev = { event: 'message', data: '' };
        const data = [];
        for (const line of block.split(/\r?\n/)) {
          if (line.startsWith(':')) continue;
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'data') data.push(value);
          else if (field === 'event') ev.event = value;
        }
        if (data.length) {
          ev.data = data.join('\n');
          yield ev;
        }
      }
    }
  } finally {
    reader.releaseLock();
  }
}

// A chat chunk in the shape of a /completion one: content and stop.
function chatChunk(data) {
  const choice = (data.choices && data.choices[0]) || {};
  const delta = choice.delta || {};
  return {
    ...data,
    content: delta.content || '',
    stop: choice.finish_reason != null,
    finish_reason: choice.finish_reason,
    completion_probabilities: choice.logprobs && choice.logprobs.content,
  };
}

export async function* llama(prompt, params = {}, config = {}) {
  const controller = config.controller || new AbortController();
  const endpoint = config.endpoint || '/completion';
  const chat = isChatEndpoint(endpoint);
  let response;
  try {
    response = await fetch((config.api_url || '') + endpoint, {
      method: 'POST',
      body: JSON.stringify(requestBody(prompt, params, chat)),
      headers: headersFor(config),
      signal: controller.signal,
    });
  } catch (e) {
    if (e.name === 'AbortError') return '';
    throw new LlamaError(0, `cannot reach the server: ${e.message}`);
  }
  if (!response.ok) throw await errorFrom(response);
  let content = '';
  try {
    for await (const ev of sseEvents(response)) {
      if (ev.data === '[DONE]') break;
      let data;
      try {
        data = JSON.parse(ev.data);
      } catch (_) {
        continue;
      }
      if (ev.event === 'error' || data.error) {
        const err = data.error || data;
        throw new LlamaError(err.code || 500, err.message || JSON.stringify(err));
      }
      if (chat) data = chatChunk(data);
      content += data.content || '';
      if (data.generation_settings) generationSettings = data.generation_settings;
      yield { data };
      if (data.stop && !chat) break; // the chat stream ends with usage and [DONE]
    }
  } catch (e) {
    if (e.name === 'AbortError') return content;
    throw e;
  } finally {
    controller.abort(); // the server sees the hang-up and frees the slot
  }
  return content;
}

export function llamaChat(messages, params = {}, config = {}) {
  return llama(messages, params, { endpoint: '/v1/chat/completions', ...config });
}

export function llamaEventTarget(prompt, params = {}, config = {}) {
  const target = new EventTarget();
  (async () => {
    let content = '';
    try {
      for await (const chunk of llama(prompt, params, config)) {
        const d = chunk.data;
        if (d.content) content += d.content;
        target.dispatchEvent(new CustomEvent('message', { detail: d }));
        if (d.generation_settings)
          target.dispatchEvent(new CustomEvent('generation_settings', { detail: d.generation_settings }));
        if (d.timings) target.dispatchEvent(new CustomEvent('timings', { detail: d.timings }));
      }
    } catch (e) {
      target.dispatchEvent(new CustomEvent('error', { detail: e }));
    }
    target.dispatchEvent(new CustomEvent('done', { detail: { content } }));
  })();
  return target;
}

export async function llamaPromise(prompt, params = {}, config = {}) {
  let content = '';
  for await (const chunk of llama(prompt, params, config)) content += chunk.data.content || '';
  return content;
}

export async function llamaComplete(params, controller, callback) {
  for await (const chunk of llama(params.prompt, params, { controller })) callback(chunk);
}

export async function llamaProps(config = {}) {
  const r = await fetch((config.api_url || '') + '/props', { headers: headersFor(config) });
  if (!r.ok) throw await errorFrom(r);
  return r.json();
}

export async function llamaModelInfo(config = {}) {
  if (!generationSettings) generationSettings = (await llamaProps(config)).default_generation_settings;
  return generationSettings;
}

export default llama;
