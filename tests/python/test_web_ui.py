"""The chat page in a real browser: Debian's Chromium, headless, driven by
Selenium, against cllm-server on gemma-3-270m. Streaming that grows on
screen, stop (the slot frees), regenerate, edit, reload and switching
conversations (IndexedDB), the sampling settings in the request the page
sent, highlighted code and math, a 401 showing the key field, the narrow
layout, the playground's token probabilities, the seed's --path example
(dad jokes through /completion.js), and model text with <script>, <img
onerror> and javascript: links shown as text, never run.

Each test saves a screenshot in its tmp_path. Skipped only when chromium or
chromedriver is not installed (scripts/deps.sh installs both)."""
import json
import shutil
import time
from pathlib import Path

import pytest
import requests
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from server_util import MODEL_GEMMA, Server, server_fixture

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="chromium and chromium-driver are not installed (scripts/deps.sh)")

# Generous: a slow shared CI machine; these bound waiting, not correctness.
WAIT = 120

# gemma's GGUF carries no chat template: the built-in one, as `make run` does
GEMMA = ("-m", MODEL_GEMMA, "--chat-template", "gemma")
srv = server_fixture(*GEMMA, "-c", "4096", "-np", "2")


def make_driver(width=1280, height=860):
    o = webdriver.ChromeOptions()
    o.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              f"--window-size={width},{height}", "--force-device-scale-factor=1"):
        o.add_argument(a)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=o)
    if width < 500:  # below the smallest window: a phone's viewport
        d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                          {"width": width, "height": height, "deviceScaleFactor": 2, "mobile": True})
    return d


@pytest.fixture
def browser(request, tmp_path):
    d = make_driver()
    yield d
    shot(d, tmp_path, "end")
    d.quit()


def shot(d, tmp_path, name):
    path = Path(tmp_path) / f"{name}.png"
    try:
        d.save_screenshot(str(path))
    except Exception:  # the browser may be gone
        pass
    return path


def wait(d, cond, timeout=WAIT, what="condition"):
    try:
        return WebDriverWait(d, timeout, poll_frequency=0.05).until(lambda drv: cond(drv))
    except TimeoutException:
        raise AssertionError(f"timed out waiting for {what}") from None


def open_page(d, url, **settings):
    """Open the page with the given settings (merged into the defaults)."""
    d.get(url + "/")
    base = {"n_predict": 48, "temperature": 0.8, "seed": 42}
    base.update(settings)
    d.execute_script("localStorage.setItem('cllm.settings', JSON.stringify(arguments[0]))", base)
    d.refresh()
    wait(d, lambda drv: drv.find_element(By.ID, "model-name").text not in ("", "connecting\u2026"), what="/props")


def busy(d):
    return d.find_element(By.ID, "stop").is_displayed()


def send(d, text):
    box = d.find_element(By.ID, "input")
    box.clear()
    box.send_keys(text)
    box.send_keys(Keys.ENTER)


def wait_answer_done(d, n_assistant):
    """Until n_assistant answers are shown and nothing is streaming."""
    wait(d, lambda drv: len(drv.find_elements(By.CSS_SELECTOR, ".msg.assistant")) >= n_assistant and not busy(drv),
         what=f"answer {n_assistant}")
    return d.find_elements(By.CSS_SELECTOR, ".msg.assistant")[n_assistant - 1]


def chat_requests(d):
    """Bodies of the /v1/chat/completions requests the page has sent so far
    (Chrome's performance log, read once: kept on the driver)."""
    out = d.__dict__.setdefault("_cllm_chat_requests", [])
    for e in d.get_log("performance"):
        m = json.loads(e["message"])["message"]
        if m.get("method") != "Network.requestWillBeSent":
            continue
        req = m["params"]["request"]
        if req["url"].endswith("/v1/chat/completions") and req["method"] == "POST" and "postData" in req:
            out.append(json.loads(req["postData"]))
    return out


def idle(srv):
    h = requests.get(srv.url + "/health").json()
    return h.get("slots_processing", 0) == 0


# ---------------------------------------------------------------- chat


def test_stream_grows(srv, browser, tmp_path):
    d = browser
    open_page(d, srv.url, n_predict=160, temperature=0.9)
    send(d, "Tell me a long story about a lighthouse keeper and a storm.")
    lengths = []
    wait(d, lambda drv: drv.find_elements(By.CSS_SELECTOR, ".msg.assistant .bubble"), what="the answer box")
    while True:
        bubble = d.find_elements(By.CSS_SELECTOR, ".msg.assistant .bubble")[-1]
        n = len(bubble.get_attribute("textContent"))
        if not lengths or n != lengths[-1]:
            lengths.append(n)
        if len(lengths) == 3:
            shot(d, tmp_path, "streaming")
        if not busy(d):
            break
        time.sleep(0.03)
    growing = [b for a, b in zip(lengths, lengths[1:]) if b > a]
    assert len(growing) >= 3, f"text lengths seen while streaming: {lengths}"
    assert lengths == sorted(lengths), lengths
    stats = d.find_elements(By.CSS_SELECTOR, ".msg.assistant .stats")[-1].text
    assert "tokens" in stats and "tokens/s" in stats, stats
    assert d.find_elements(By.CSS_SELECTOR, ".msg.user")[0].text.startswith("Tell me a long story")
    shot(d, tmp_path, "answered")


def test_stop_frees_slot(srv, browser, tmp_path):
    d = browser
    open_page(d, srv.url, n_predict=4000, temperature=1.0)
    send(d, "Count from one to one thousand in words, one number per line.")
    wait(d, lambda drv: len(drv.find_elements(By.CSS_SELECTOR, ".msg.assistant .bubble")[-1].text) > 30
         if drv.find_elements(By.CSS_SELECTOR, ".msg.assistant .bubble") else False, what="some text")
    assert not idle(srv)
    d.find_element(By.ID, "stop").click()
    wait(d, lambda drv: not busy(drv), what="the stop button to go")
    wait(d, lambda drv: idle(srv), what="the server's slot to free")
    text = d.find_elements(By.CSS_SELECTOR, ".msg.assistant .bubble")[-1].text
    time.sleep(0.5)
    assert d.find_elements(By.CSS_SELECTOR, ".msg.assistant .bubble")[-1].text == text  # no longer growing
    assert "stopped" in d.find_elements(By.CSS_SELECTOR, ".msg.assistant .stats")[-1].text
    assert d.find_element(By.ID, "send").is_displayed()
    shot(d, tmp_path, "stopped")


def test_regenerate(srv, browser, tmp_path):
    d = browser
    open_page(d, srv.url, n_predict=24, temperature=1.0, seed=-1)
    send(d, "Name a colour.")
    wait_answer_done(d, 1)
    d.find_element(By.CSS_SELECTOR, ".msg.assistant .act[data-act='regen']").click()
    wait(d, lambda drv: len(chat_requests(drv)) >= 2 and not busy(drv), what="the second answer")
    reqs = chat_requests(d)
    assert len(reqs) == 2
    assert reqs[0]["messages"] == reqs[1]["messages"]  # the same question again
    assert len(d.find_elements(By.CSS_SELECTOR, ".msg")) == 2
    shot(d, tmp_path, "regenerated")


def test_edit(srv, browser, tmp_path):
    d = browser
    open_page(d, srv.url, n_predict=16)
    send(d, "What is the capital of France?")
    wait_answer_done(d, 1)
    d.find_element(By.CSS_SELECTOR, ".msg.user .act[data-act='edit']").click()
    box = d.find_element(By.CSS_SELECTOR, ".edit-box textarea")
    box.clear()
    box.send_keys("What is the capital of Italy?")
    shot(d, tmp_path, "editing")
    d.find_element(By.CSS_SELECTOR, ".edit-box [data-act='save-edit']").click()
    wait(d, lambda drv: len(chat_requests(drv)) >= 2 and not busy(drv)
         and drv.find_elements(By.CSS_SELECTOR, ".msg.assistant"), what="the answer to the edit")
    users = d.find_elements(By.CSS_SELECTOR, ".msg.user .bubble")
    assert [u.text for u in users] == ["What is the capital of Italy?"]
    assert len(d.find_elements(By.CSS_SELECTOR, ".msg.assistant")) == 1
    last = chat_requests(d)[-1]
    assert last["messages"][-1] == {"role": "user", "content": "What is the capital of Italy?"}
    assert all("France" not in m["content"] for m in last["messages"])


def test_reload_and_switch_conversations(srv, browser, tmp_path):
    d = browser
    open_page(d, srv.url, n_predict=12)
    send(d, "First conversation: hello there")
    wait_answer_done(d, 1)
    d.find_element(By.ID, "new-chat").click()
    wait(d, lambda drv: not drv.find_elements(By.CSS_SELECTOR, ".msg"), what="an empty chat")
    send(d, "Second conversation: good morning")
    wait_answer_done(d, 1)
    d.refresh()
    wait(d, lambda drv: drv.find_elements(By.CSS_SELECTOR, ".msg.user"), what="the conversation after reload")
    assert d.find_element(By.CSS_SELECTOR, ".msg.user .bubble").text == "Second conversation: good morning"
    assert len(d.find_elements(By.CSS_SELECTOR, ".msg.assistant")) == 1
    items = d.find_elements(By.CSS_SELECTOR, "#conv-list li .conv-open")
    assert [i.text for i in items] == ["Second conversation: good morning", "First conversation: hello there"]
    items[1].click()
    wait(d, lambda drv: drv.find_element(By.CSS_SELECTOR, ".msg.user .bubble").text
         == "First conversation: hello there", what="the first conversation")
    assert d.find_element(By.CSS_SELECTOR, "#conv-list li.active .conv-open").text.startswith("First")
    shot(d, tmp_path, "switched")


def test_settings_in_request(srv, browser, tmp_path):
    d = browser
    open_page(d, srv.url, n_predict=8)
    d.find_element(By.ID, "open-settings").click()
    wait(d, lambda drv: drv.find_element(By.ID, "settings").is_displayed(), what="the settings dialog")
    for name, value in (("temperature", "0.37"), ("top_k", "12"), ("min_p", "0.1"), ("seed", "1234")):
        f = d.find_element(By.ID, f"s-{name}")
        f.clear()
        f.send_keys(value)
    d.find_element(By.ID, "s-system").send_keys("You answer in one word.")
    shot(d, tmp_path, "settings")
    d.find_element(By.ID, "settings-close").click()
    send(d, "Hello")
    wait_answer_done(d, 1)
    body = chat_requests(d)[-1]
    assert body["temperature"] == 0.37
    assert body["top_k"] == 12 and body["min_p"] == 0.1 and body["seed"] == 1234
    assert body["max_tokens"] == 8 and body["stream"] is True
    assert body["messages"][0] == {"role": "system", "content": "You answer in one word."}
    # kept for the next visit
    d.refresh()
    d.find_element(By.ID, "open-settings").click()
    assert d.find_element(By.ID, "s-temperature").get_attribute("value") == "0.37"


def gbnf_literal(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def test_code_highlighted_and_math(srv, browser, tmp_path):
    d = browser
    answer = ("Here is the function:\n\n```python\ndef add(a, b):\n    return a + b  # the sum\n```\n\n"
              "and the area is $$A = \\pi r^2$$\n")
    open_page(d, srv.url, n_predict=120, grammar=f"root ::= {gbnf_literal(answer)}")
    send(d, "Write an add function.")
    msg = wait_answer_done(d, 1)
    code = msg.find_element(By.CSS_SELECTOR, "pre code.hljs")
    assert "def add(a, b):" in code.text
    spans = code.find_elements(By.CSS_SELECTOR, "span[class^='hljs-']")
    assert {s.get_attribute("class") for s in spans} & {"hljs-keyword", "hljs-function", "hljs-comment"}
    color = d.execute_script("return getComputedStyle(arguments[0].querySelector('.hljs-keyword')).color", code)
    assert color and color != d.execute_script("return getComputedStyle(arguments[0]).color", code)
    assert msg.find_element(By.CSS_SELECTOR, ".code-head").text.startswith("python")
    assert msg.find_element(By.CSS_SELECTOR, ".copy-code").is_displayed()
    assert msg.find_elements(By.CSS_SELECTOR, ".katex"), "the math is not rendered"
    shot(d, tmp_path, "code")


def test_model_html_is_text(srv, browser, tmp_path):
    d = browser
    answer = ('<script>window.__pwned = 1</script> <img src=x onerror="window.__pwned = 2"> '
              '[click me](javascript:window.__pwned=3) <a href="javascript:window.__pwned=4">link</a> '
              '<iframe src="javascript:window.top.__pwned=5"></iframe>')
    open_page(d, srv.url, n_predict=200, grammar=f"root ::= {gbnf_literal(answer)}")
    send(d, "Say something.")
    msg = wait_answer_done(d, 1)
    bubble = msg.find_element(By.CSS_SELECTOR, ".bubble")
    text = bubble.text
    assert "<script>window.__pwned = 1</script>" in text
    assert '<img src=x onerror="window.__pwned = 2">' in text
    assert "click me" in text
    for tag in ("script", "img", "iframe", "a[href^='javascript']", "[onerror]"):
        assert not bubble.find_elements(By.CSS_SELECTOR, tag), tag
    for a in bubble.find_elements(By.CSS_SELECTOR, "a"):
        a.click()
    time.sleep(0.3)
    assert d.execute_script("return window.__pwned === undefined")
    shot(d, tmp_path, "html-as-text")


def test_playground_token_probabilities(srv, browser, tmp_path):
    d = browser
    open_page(d, srv.url, n_predict=12, n_probs=3)
    d.find_element(By.ID, "tab-playground").click()
    d.find_element(By.ID, "pg-prompt").send_keys("The capital of France is")
    d.find_element(By.ID, "pg-run").click()
    wait(d, lambda drv: drv.find_element(By.ID, "pg-run").is_displayed()
         and len(drv.find_elements(By.CSS_SELECTOR, "#pg-out .tok")) >= 3, what="the completion")
    tok = d.find_elements(By.CSS_SELECTOR, "#pg-out .tok")[0]
    assert "%" in tok.get_attribute("title")
    assert d.find_element(By.CSS_SELECTOR, "#pg-out .prompt").text == "The capital of France is"
    assert "tokens" in d.find_element(By.ID, "pg-stats").text
    shot(d, tmp_path, "playground")


def test_narrow_layout_and_dark_theme(srv, tmp_path):
    d = make_driver(390, 844)
    try:
        open_page(d, srv.url, n_predict=24)
        send(d, "Write one line of `code` and a list of two fruits.")
        wait_answer_done(d, 1)
        assert d.execute_script("return window.innerWidth") == 390
        assert d.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
        sidebar = d.find_element(By.ID, "sidebar")
        assert d.execute_script("return arguments[0].getBoundingClientRect().right <= 0", sidebar)
        composer = d.find_element(By.ID, "composer")
        assert d.execute_script("const r = arguments[0].getBoundingClientRect();"
                                "return r.left >= 0 && r.right <= window.innerWidth", composer)
        assert d.find_element(By.ID, "send").is_displayed() or d.find_element(By.ID, "stop").is_displayed()
        shot(d, tmp_path, "narrow")
        toggle = d.find_element(By.ID, "toggle-sidebar")
        toggle.click()
        wait(d, lambda drv: drv.execute_script("return arguments[0].getBoundingClientRect().left >= 0", sidebar),
             what="the drawer")
        assert toggle.get_attribute("aria-expanded") == "true"
        shot(d, tmp_path, "narrow-drawer")
        scrim = d.find_element(By.ID, "scrim")
        ActionChains(d).move_to_element_with_offset(scrim, 180, 0).click().perform()  # beside the drawer
        wait(d, lambda drv: drv.execute_script("return arguments[0].getBoundingClientRect().right <= 0", sidebar),
             what="the drawer to close")
        d.find_element(By.ID, "theme").click()
        assert d.execute_script("return document.documentElement.dataset.theme") == "dark"
        shot(d, tmp_path, "narrow-dark")
    finally:
        shot(d, tmp_path, "end")
        d.quit()


def test_keyboard_only(srv, browser, tmp_path):
    d = browser
    open_page(d, srv.url, n_predict=8)
    # every control has a name a screen reader can say
    unnamed = d.execute_script("""
        return [...document.querySelectorAll('button, input, textarea')].filter(el => {
          if (el.type === 'file') return false;
          const label = el.labels && el.labels.length;
          return !(label || el.getAttribute('aria-label') || el.textContent.trim());
        }).map(el => el.id || el.outerHTML.slice(0, 60));""")
    assert unnamed == []
    d.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)  # the skip link
    d.switch_to.active_element.send_keys(Keys.ENTER)
    active = d.switch_to.active_element
    active.send_keys("Hi there")
    active.send_keys(Keys.ENTER)
    wait_answer_done(d, 1)
    assert d.find_element(By.CSS_SELECTOR, ".msg.user .bubble").text == "Hi there"


# ---------------------------------------------------------------- other servers


def test_401_shows_key_field(tmp_path):
    s = Server(*GEMMA, "-c", "1024", "--api-key", "open-sesame").start()
    d = make_driver()
    try:
        d.get(s.url + "/")
        wait(d, lambda drv: drv.find_element(By.ID, "key-banner").is_displayed(), what="the key banner")
        key = d.find_element(By.ID, "api-key")
        assert key.is_displayed() and key.get_attribute("type") == "password"
        shot(d, tmp_path, "key-asked")
        key.send_keys("open-sesame")
        key.send_keys(Keys.ENTER)
        wait(d, lambda drv: not drv.find_element(By.ID, "key-banner").is_displayed(), what="the banner to go")
        assert "gemma" in d.find_element(By.ID, "model-name").text
        d.execute_script("localStorage.setItem('cllm.settings', JSON.stringify("
                         "Object.assign(JSON.parse(localStorage.getItem('cllm.settings')), {n_predict: 8})))")
        d.refresh()
        send(d, "Hello")
        msg = wait_answer_done(d, 1)
        assert "error" not in msg.get_attribute("class")
        shot(d, tmp_path, "key-accepted")
    finally:
        shot(d, tmp_path, "end")
        d.quit()
        s.stop()


DAD_JOKES = """<html>
<body>
<pre>
<script type="module">
import { llama } from '/completion.js'
const prompt = `### Instruction:
Write dad jokes, each one paragraph.
You can use html formatting if needed.
### Response:`
for await (const chunk of llama(prompt)) {
document.write(chunk.data.content)
}
</script>
</pre>
</body>
</html>
"""


def test_path_dad_jokes(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text(DAD_JOKES)
    s = Server(*GEMMA, "-c", "1024", "--path", str(site)).start()
    d = make_driver()
    try:
        d.get(s.url + "/")
        wait(d, lambda drv: len(drv.execute_script("return document.body ? document.body.innerText : ''")
                                .strip()) > 40, what="the jokes")
        first = len(d.execute_script("return document.body.innerText"))
        wait(d, lambda drv: len(drv.execute_script("return document.body.innerText")) > first + 20,
             what="more jokes")
        errors = [e for e in d.get_log("browser") if e["level"] == "SEVERE" and "favicon.ico" not in e["message"]]
        assert errors == [], errors
        shot(d, tmp_path, "dad-jokes")
    finally:
        shot(d, tmp_path, "end")
        d.quit()
        s.stop()


def test_no_console_errors(srv, browser, tmp_path):
    d = browser
    open_page(d, srv.url)
    d.find_element(By.ID, "theme").click()
    shot(d, tmp_path, "empty-dark")
    errors = [e for e in d.get_log("browser") if e["level"] == "SEVERE" and "favicon.ico" not in e["message"]]
    assert errors == [], errors


def test_export_import(srv, browser, tmp_path):
    d = browser
    open_page(d, srv.url)
    doc = {"format": "cllm-conversations", "version": 1, "conversations": [
        {"id": "imported-1", "title": "Imported chat", "created": 1, "updated": 2,
         "messages": [{"role": "user", "content": "Hi <b>there</b>"},
                      {"role": "assistant", "content": "Hello **friend**"}]}]}
    n = d.execute_async_script("""
        const done = arguments[arguments.length - 1];
        import('/store.js').then(m => m.importJSON(arguments[0])).then(done, e => done(String(e)));""",
                               json.dumps(doc))
    assert n == 1
    bad = d.execute_async_script("""
        const done = arguments[arguments.length - 1];
        import('/store.js').then(m => m.importJSON('{"conversations": [{"messages": [{"role": "x"}]}]}'))
          .then(done, e => done('refused: ' + e.message));""")
    assert bad.startswith("refused")
    d.refresh()
    item = wait(d, lambda drv: [i for i in drv.find_elements(By.CSS_SELECTOR, "#conv-list .conv-open")
                                if i.text == "Imported chat"], what="the imported chat")[0]
    item.click()
    wait(d, lambda drv: drv.find_elements(By.CSS_SELECTOR, ".msg.assistant strong"), what="its messages")
    assert d.find_element(By.CSS_SELECTOR, ".msg.user .bubble").text == "Hi <b>there</b>"
    exported = json.loads(d.execute_async_script("""
        const done = arguments[arguments.length - 1];
        import('/store.js').then(m => m.exportJSON()).then(done);"""))
    assert exported["format"] == "cllm-conversations"
    assert [c["title"] for c in exported["conversations"]] == ["Imported chat"]
    assert exported["conversations"][0]["messages"] == doc["conversations"][0]["messages"]
    shot(d, tmp_path, "imported")
