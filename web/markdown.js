// markdown.js - model text to safe HTML: Markdown (marked), code
// highlighting (highlight.js), math (KaTeX: $..$, $$..$$, \(..\), \[..\]),
// then DOMPurify before anything reaches the page. Raw HTML in the text is
// shown as text, never as markup; links go only to http(s) and mailto.
// Without the libraries (not installed when the server was built) the text
// is shown as plain text.

const MATH_OPEN = '\u27e6m';   // placeholders: ⟦m3⟧
const MATH_CLOSE = '\u27e7';

const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) =>
  ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));

function safeUrl(href) {
  try {
    const u = new URL(href, location.href);
    return ['http:', 'https:', 'mailto:'].includes(u.protocol) ? u.href : null;
  } catch (_) {
    return null;
  }
}

let renderer = null;
let purifyHooked = false;

function makeRenderer() {
  const r = new window.marked.Renderer();
  r.html = (html) => escapeHtml(typeof html === 'string' ? html : html.text);
  r.link = (href, title, text) => {
    const url = safeUrl(href);
    if (!url) return `${text} <span class="muted">(${escapeHtml(href)})</span>`;
    return `<a href="${escapeHtml(url)}"${title ? ` title="${escapeHtml(title)}"` : ''}>${text}</a>`;
  };
  r.image = (href, title, text) => escapeHtml(text ? `[image: ${text}]` : '[image]');
  r.code = (code, info) => {
    const lang = String(info || '').trim().split(/\s+/)[0].toLowerCase();
    const hl = window.hljs;
    let body = escapeHtml(code);
    let shown = lang;
    if (hl) {
      try {
        if (lang && hl.getLanguage(lang)) {
          body = hl.highlight(lang, code, true).value;
        } else if (!lang && code.length < 20000) {
          const auto = hl.highlightAuto(code);
          body = auto.value;
          shown = auto.language || '';
        }
      } catch (_) { /* plain */ }
    }
    return `<div class="code-block"><div class="code-head"><span>${escapeHtml(shown || 'text')}</span>` +
      '<button type="button" class="copy-code" aria-label="Copy code">Copy</button></div>' +
      `<pre><code class="hljs${lang ? ` language-${escapeHtml(lang)}` : ''}">${body}</code></pre></div>`;
  };
  return r;
}

// Take the math out of text (not out of code), leaving placeholders.
function extractMath(text, out) {
  const parts = text.split(/(```[\s\S]*?(?:```|$)|`[^`\n]*`)/);
  const re = /\$\$([\s\S]+?)\$\$|\\\[([\s\S]+?)\\\]|\\\(([\s\S]+?)\\\)|\$(?![\s$])([^$\n]*?[^\s$\\])\$(?!\d)/g;
  return parts.map((p, i) => (i % 2 ? p : p.replace(re, (m, d1, d2, i1, i2) => {
    out.push({ tex: d1 ?? d2 ?? i1 ?? i2, display: d1 !== undefined || d2 !== undefined });
    return `${MATH_OPEN}${out.length - 1}${MATH_CLOSE}`;
  }))).join('');
}

function renderMath(root, math) {
  if (!math.length) return;
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const nodes = [];
  while (walker.nextNode()) if (walker.currentNode.nodeValue.includes(MATH_OPEN)) nodes.push(walker.currentNode);
  const re = new RegExp(`${MATH_OPEN}(\\d+)${MATH_CLOSE}`, 'g');
  for (const node of nodes) {
    const frag = document.createDocumentFragment();
    let last = 0;
    const s = node.nodeValue;
    for (const m of s.matchAll(re)) {
      frag.append(s.slice(last, m.index));
      const item = math[Number(m[1])];
      const span = document.createElement('span');
      if (item && window.katex) {
        try {
          window.katex.render(item.tex, span, { displayMode: item.display, throwOnError: false, trust: false });
        } catch (_) {
          span.textContent = item.tex;
        }
      } else if (item) {
        span.textContent = item.display ? `$$${item.tex}$$` : `$${item.tex}$`;
      }
      frag.append(span);
      last = m.index + m[0].length;
    }
    frag.append(s.slice(last));
    node.replaceWith(frag);
  }
}

export const librariesLoaded = () => Boolean(window.marked && window.DOMPurify);

// Show text (Markdown from the model) in el.
export function renderMarkdown(el, text) {
  if (!librariesLoaded()) {
    el.textContent = text;
    return;
  }
  if (!renderer) renderer = makeRenderer();
  if (!purifyHooked) {
    window.DOMPurify.addHook('afterSanitizeAttributes', (node) => {
      if (node.tagName === 'A') {
        node.setAttribute('target', '_blank');
        node.setAttribute('rel', 'noopener noreferrer');
      }
    });
    purifyHooked = true;
  }
  const math = [];
  const html = window.marked.parse(extractMath(text, math), {
    renderer, gfm: true, breaks: false, mangle: false, headerIds: false,
  });
  el.replaceChildren(window.DOMPurify.sanitize(html, {
    RETURN_DOM_FRAGMENT: true,
    FORBID_TAGS: ['style', 'form', 'input', 'textarea', 'select', 'iframe', 'object', 'embed', 'img', 'svg', 'math'],
    FORBID_ATTR: ['style'],
  }));
  renderMath(el, math);
}

// Copy text to the clipboard (also where navigator.clipboard is missing:
// pages served over plain HTTP to another machine).
export async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  const ta = document.createElement('textarea');
  ta.value = text;
  ta.setAttribute('readonly', '');
  ta.style.position = 'fixed';
  ta.style.opacity = '0';
  document.body.append(ta);
  ta.select();
  document.execCommand('copy');
  ta.remove();
}
