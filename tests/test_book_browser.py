"""The built book as a reader gets it: every page of the smoke build (the ``smoke_book`` fixture of
test_book.py, built once per run) in headless Chromium, and every link and image checked statically.

- ``test_links_and_images``: every local ``href``/``src`` of every HTML page exists, images are not
  empty, and a link's ``#fragment`` names an element of its target page (stdlib html.parser only).
- ``test_pages_in_headless_chromium``: each page is served over HTTP on 127.0.0.1 and loaded in Debian's
  ``chromium``, driven through the DevTools protocol over a pipe (``--remote-debugging-pipe``: no
  websocket library). A page fails on an uncaught JavaScript exception, a ``console.error``, a request
  that fails or gets an HTTP error, an image that does not decode, or maths that MathJax does not
  render; the search page must find something.

Chromium is found on PATH (or ``$SPIKELIB_CHROMIUM``); ``make test`` installs Debian's ``chromium`` package
beforehand where it can (root with apt-get). A test never installs anything: without Chromium the browser
test is skipped, saying why.
"""

from __future__ import annotations

import functools
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from spikelib import pipeline
from test_book import smoke_book  # noqa: F401  (the fixture: one smoke build per test run)

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--mute-audio", "--window-size=1280,900",
)
#: Errors of the toolchain, not of the book, that every page shows. Each is matched exactly and
#: tolerated only with its reason; remove an entry when its cause is fixed.
KNOWN_ERRORS: dict[str, str] = {
    # (none: the duplicate sphinx-thebe config script is removed by book/_ext/dedupe_scripts.py, and
    # book/_config.yml sets the theme's default_mode, whose absence logged "invalid theme mode")
}
SKIP_DIRS = {"_static", "_sources", "_images", "_sphinx_design_static"}


def _html_pages(html: Path) -> list[str]:
    """Every HTML page of the site, as a path relative to ``html`` (assets left out)."""
    return sorted(p.relative_to(html).as_posix() for p in html.rglob("*.html")
                  if not SKIP_DIRS & set(p.relative_to(html).parts[:-1]))


# ---------------------------------------------------------------- static checks


class _Page(HTMLParser):
    """The ids a page defines and the URLs it refers to: (tag, attribute, url)."""

    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()
        self.refs: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("id", "name") if tag == "a" else ("id",):
            if a.get(key):
                self.ids.add(a[key])
        if tag in {"a", "link", "area"} and a.get("href") is not None:
            rel = (a.get("rel") or "").split()
            if tag != "link" or not {"canonical", "alternate"} & set(rel):
                self.refs.append((tag, "href", a["href"]))
        for key in ("src", "data-src", "poster"):
            if a.get(key):
                self.refs.append((tag, key, a[key]))


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _local(url: str) -> bool:
    return not re.match(r"([a-z][a-z0-9+.-]*:|//)", url, re.I)


@pytest.mark.book
def test_links_and_images(smoke_book):  # noqa: F811
    assert smoke_book.rc == 0, smoke_book.tail()
    html = smoke_book.html
    pages = _html_pages(html)
    parsed = {p: _parse(html / p) for p in pages}
    expected = ["intro.html", "api.html", *(f"executed/{n}.html" for n in pipeline.toc_notebooks(smoke_book.book)),
                *(f"executed/{g}.html" for g in pipeline.GENERATED_PAGES)]
    assert set(expected) <= set(pages), sorted(set(expected) - set(pages))
    problems, n_links, n_images = [], 0, 0
    for page, parsed_page in parsed.items():
        for tag, attr, url in parsed_page.refs:
            if not _local(url) or url in {"", "#"}:
                continue
            parts = urlsplit(url)
            target = (html / page).parent / unquote(parts.path) if parts.path else html / page
            if parts.path.endswith("/"):
                target = target / "index.html"
            target = target.resolve()
            if not target.is_file():
                problems.append(f"{page}: <{tag} {attr}={url!r}>: {target.relative_to(html.resolve())} missing")
                continue
            if tag == "img":
                n_images += 1
                if target.stat().st_size == 0:
                    problems.append(f"{page}: image {url!r} is empty")
            if tag == "a":
                n_links += 1
                if parts.fragment and target.suffix == ".html":
                    rel = target.relative_to(html.resolve()).as_posix()
                    ids = parsed[rel].ids if rel in parsed else _parse(target).ids
                    if unquote(parts.fragment) not in ids:
                        problems.append(f"{page}: link {url!r}: no id {parts.fragment!r} in {rel}")
    assert problems == [], "\n".join(problems)
    assert n_links > 10 * len(pages) and n_images >= len(pipeline.toc_notebooks(smoke_book.book))


def test_static_checker_finds_broken_references(tmp_path):
    (tmp_path / "a.html").write_text('<a href="b.html#here">b</a><a href="b.html#gone">b</a>'
                                     '<img src="empty.png"><img src="nope.png"><a href="https://x.org/y">x</a>'
                                     '<a href="#top" id="top">top</a><script src="//cdn.example/x.js"></script>')
    (tmp_path / "b.html").write_text('<h1 id="here">b</h1>')
    (tmp_path / "empty.png").write_bytes(b"")
    page = _parse(tmp_path / "a.html")
    assert page.ids == {"top"}
    local = [u for _, _, u in page.refs if _local(u)]
    assert local == ["b.html#here", "b.html#gone", "empty.png", "nope.png", "#top"]


# ---------------------------------------------------------------- Chromium


def _find_chromium() -> str | None:
    override = os.environ.get("SPIKELIB_CHROMIUM")
    if override:
        return shutil.which(override) or (override if Path(override).is_file() else None)
    return next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)


@pytest.fixture(scope="session")
def chromium() -> str:
    found = _find_chromium()
    if found is None and os.environ.get("SPIKELIB_CHROMIUM"):
        pytest.skip(f"SPIKELIB_CHROMIUM={os.environ['SPIKELIB_CHROMIUM']} is not an executable")
    if found is None:  # a test never installs software: `make test` does (the browser target)
        pytest.skip("headless Chromium not available: no chromium on PATH; `make test` installs Debian's chromium "
                    "when run as root with apt-get, or set SPIKELIB_CHROMIUM to a Chromium executable")
    return found


# Runs in the child: put the two pipe ends on fds 3 and 4, where Chromium's --remote-debugging-pipe
# expects them (by way of fds >= 10, so that neither end overwrites the other), then exec Chromium.
_ON_FDS_3_AND_4 = """import fcntl, os, sys
src = [int(sys.argv[1]), int(sys.argv[2])]
tmp = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in src]
for fd, target in zip(tmp, (3, 4)):
    os.dup2(fd, target)
for fd in {*src, *tmp} - {3, 4}:
    os.close(fd)
os.execvp(sys.argv[3], sys.argv[3:])
"""


class Browser:
    """A headless Chromium driven through the DevTools protocol on fds 3/4 (``--remote-debugging-pipe``)."""

    def __init__(self, executable: str):
        self.profile = tempfile.mkdtemp(prefix="spikelib-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _ON_FDS_3_AND_4, str(to_browser_r), str(from_browser_w), executable,
             *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}", "--remote-debugging-pipe", "about:blank"],
            pass_fds=(to_browser_r, from_browser_w), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buf, self._next_id, self.events = b"", 0, []
        target = self.call("Target.createTarget", {"url": "about:blank"}, timeout=60)["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.call(f"{domain}.enable", session=True)

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=10)
        except Exception:  # noqa: BLE001  (closing down: a dead browser is fine)
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._to_browser, self._from_browser):
            os.close(fd)
        shutil.rmtree(self.profile, ignore_errors=True)

    def _send(self, method: str, params: dict | None, session: bool) -> int:
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(msg).encode() + b"\0")
        return self._next_id

    def _recv(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise EOFError(f"Chromium exited (code {self.proc.poll()})")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method: str, params: dict | None = None, *, session: bool = False,
             timeout: float = 30) -> dict:
        """Send a command and return its result; events that arrive meanwhile go to ``events``."""
        msg_id, deadline = self._send(method, params, session), time.monotonic() + timeout
        while True:
            msg = self._recv(deadline)
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]
            self.events.append(msg)

    def wait_for(self, method: str, timeout: float) -> None:
        if any(e.get("method") == method for e in self.events):
            return
        deadline = time.monotonic() + timeout
        while True:
            msg = self._recv(deadline)
            self.events.append(msg)
            if msg.get("method") == method:
                return

    def evaluate(self, expression: str, timeout: float = 30):
        result = self.call("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                                "returnByValue": True}, session=True, timeout=timeout)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:60]}...: {result['exceptionDetails']}")
        return result["result"].get("value")

    def visit(self, url: str, *, timeout: float = 30) -> None:
        self.events.clear()
        nav = self.call("Page.navigate", {"url": url}, session=True, timeout=timeout)
        if nav.get("errorText"):
            raise RuntimeError(f"{url}: {nav['errorText']}")
        self.wait_for("Page.loadEventFired", timeout)


IMAGES_DECODE = """(async () => {
  const bad = [];
  for (const img of Array.from(document.images)) {
    img.loading = "eager";
    try { await img.decode(); } catch (e) { bad.push(img.getAttribute("src")); }
  }
  return {n: document.images.length, bad};
})()"""
MATHJAX_DONE = """new Promise((resolve) => {
  const t0 = Date.now();
  (function poll() {
    const mj = window.MathJax;
    if (mj && mj.startup && mj.startup.promise) {
      mj.startup.promise.then(() => resolve({rendered: document.querySelectorAll("mjx-container").length,
                                             errors: document.querySelectorAll("mjx-merror").length}));
    } else if (Date.now() - t0 > 15000) { resolve({rendered: -1, errors: 0}); }
    else { setTimeout(poll, 50); }
  })();
})"""
SEARCH_RESULTS = """new Promise((resolve) => {
  const t0 = Date.now();
  (function poll() {
    const n = document.querySelectorAll("#search-results li").length;
    if (n > 0 || Date.now() - t0 > 10000) { resolve(n); } else { setTimeout(poll, 100); }
  })();
})"""


def _problems(events: list[dict], origin: str) -> tuple[list[str], list[str]]:
    """(problems, known toolchain errors) among a page's DevTools events."""
    urls = {e["params"]["requestId"]: e["params"]["request"]["url"]
            for e in events if e.get("method") == "Network.requestWillBeSent"}
    found = []
    for e in events:
        method, p = e.get("method"), e.get("params", {})
        if method == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            found.append(f"uncaught {d.get('exception', {}).get('description') or d.get('text')} "
                         f"({d.get('url', '')}:{d.get('lineNumber', 0) + 1})")
        elif method == "Runtime.consoleAPICalled" and p.get("type") in {"error", "assert"}:
            found.append("console.error: " + " ".join(str(a.get("value", a.get("description", "")))
                                                      for a in p.get("args", [])))
        elif method == "Log.entryAdded" and p["entry"]["level"] == "error" and p["entry"]["source"] != "network":
            found.append(f"log: {p['entry']['text']}")
        elif method == "Network.responseReceived" and p["response"]["status"] >= 400:
            found.append(f"HTTP {p['response']['status']}: {p['response']['url']}")
        elif method == "Network.loadingFailed" and not p.get("canceled"):
            found.append(f"request failed ({p.get('errorText')}): {urls.get(p['requestId'], '?')}")
    # The browser asks for /favicon.ico by itself; no page refers to it (test_links_and_images checks
    # what the pages do refer to).
    found = [f for f in found if not f.endswith(f"{origin}/favicon.ico")]
    known = [f for f in found if any(re.search(k, f) for k in KNOWN_ERRORS)]
    return [f for f in found if f not in known], known


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # no request log on the test output
        pass

    def handle(self):
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):  # the browser moved on to the next page
            pass


@pytest.fixture(scope="module")
def served_book(smoke_book):  # noqa: F811
    """The smoke build served over HTTP on 127.0.0.1 (as a reader's browser would get it)."""
    assert smoke_book.rc == 0, smoke_book.tail()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(smoke_book.html)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", smoke_book
    server.shutdown()
    server.server_close()


@pytest.mark.book
def test_pages_in_headless_chromium(chromium, served_book):
    origin, book = served_book
    mathjax_local = book.manifest["build"]["mathjax"] == "local"
    # index.html only redirects to the root page, which is visited in its own right.
    pages = [p for p in _html_pages(book.html) if p != "index.html"]
    failures, known, t0 = {}, set(), time.monotonic()
    browser = Browser(chromium)
    try:
        for page in pages:
            try:
                browser.visit(f"{origin}/{page}")
                checks = []
                images = browser.evaluate(IMAGES_DECODE)
                checks += [f"image does not decode: {src}" for src in images["bad"]]
                has_math = 'class="math' in (book.html / page).read_text(encoding="utf-8")
                if has_math and mathjax_local:
                    math = browser.evaluate(MATHJAX_DONE)
                    if math["rendered"] <= 0 or math["errors"]:
                        checks.append(f"MathJax: {math['rendered']} formulas rendered, {math['errors']} errors")
                title = browser.evaluate("document.querySelector('main h1, article h1, h1') !== null")
                if not title and page not in {"search.html", "genindex.html", "py-modindex.html"}:
                    checks.append("no <h1>: the page did not render")
                time.sleep(0.2)  # errors thrown by timers right after the load event
                browser.evaluate("1")  # collects the events that arrived meanwhile
            except (RuntimeError, TimeoutError) as err:
                checks = [f"did not load: {err}"]
            problems, tolerated = _problems(browser.events, origin)
            known.update(tolerated)
            if problems or checks:
                failures[page] = problems + checks
        # The search page works offline: Sphinx's index is a local script.
        browser.visit(f"{origin}/search.html?q=spike")
        n_hits = browser.evaluate(SEARCH_RESULTS)
        if n_hits <= 0:
            failures["search.html?q=spike"] = ["the search found nothing"]
    finally:
        browser.close()
    report = "\n".join(f"{page}:\n  " + "\n  ".join(p) for page, p in failures.items())
    assert not failures, f"{len(failures)} of {len(pages)} pages fail in Chromium:\n{report}"
    if known:  # visible with -rA / -s: the toolchain errors still present
        print(f"tolerated toolchain errors ({len(pages)} pages in {time.monotonic() - t0:.1f} s): "
              + "; ".join(sorted({re.sub(r' \(http.*', '', k) for k in known})))


def test_problem_filter(monkeypatch):
    # the filter is tested with one known error installed (the real list may be empty)
    monkeypatch.setitem(KNOWN_ERRORS, r"SyntaxError: Identifier 'THEBE_JS_URL' has already been declared", "test entry")
    origin = "http://127.0.0.1:1"
    events = [
        {"method": "Runtime.exceptionThrown", "params": {"exceptionDetails": {
            "text": "Uncaught", "url": f"{origin}/a.html", "lineNumber": 61,
            "exception": {"description": "SyntaxError: Identifier 'THEBE_JS_URL' has already been declared"}}}},
        {"method": "Runtime.exceptionThrown", "params": {"exceptionDetails": {
            "text": "Uncaught", "url": f"{origin}/a.html", "lineNumber": 3,
            "exception": {"description": "TypeError: x is undefined"}}}},
        {"method": "Runtime.consoleAPICalled", "params": {"type": "error", "args": [{"value": "boom"}]}},
        {"method": "Runtime.consoleAPICalled", "params": {"type": "log", "args": [{"value": "fine"}]}},
        {"method": "Network.requestWillBeSent", "params": {"requestId": "1", "request": {"url": f"{origin}/x.png"}}},
        {"method": "Network.loadingFailed", "params": {"requestId": "1", "errorText": "net::ERR_FAILED"}},
        {"method": "Network.loadingFailed", "params": {"requestId": "2", "errorText": "x", "canceled": True}},
        {"method": "Network.responseReceived", "params": {"response": {"status": 404, "url": f"{origin}/favicon.ico"}}},
        {"method": "Network.responseReceived", "params": {"response": {"status": 404, "url": f"{origin}/y.css"}}},
        {"method": "Log.entryAdded", "params": {"entry": {"level": "error", "source": "network", "text": "404"}}},
    ]
    problems, known = _problems(events, origin)
    assert problems == ["uncaught TypeError: x is undefined (http://127.0.0.1:1/a.html:4)", "console.error: boom",
                        "request failed (net::ERR_FAILED): http://127.0.0.1:1/x.png",
                        "HTTP 404: http://127.0.0.1:1/y.css"]
    assert len(known) == 1 and "THEBE_JS_URL" in known[0]
