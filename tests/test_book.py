"""The workbook as a static website (``transferlib.workbook.book``), checked in a real browser.

The site is built once (the committed notebooks, never executed) into a temporary folder, the
npm scripts cached in ``.cache/book-vendor`` (fetched from the npm registry the first time only),
served by ``http.server`` on a free 127.0.0.1 port, and every page is opened in headless
Chromium. Per page: no console error; every image loaded; every relative link points at a file
of the site; a notebook page links to the previous and the next page of the table of contents
and, when its notebook saved widget state, shows widgets rendered from it by the ipywidgets HTML
manager; and the browser asked nothing of any host but 127.0.0.1 (Chrome's performance log).

Screenshots of the landing page and of notebook 05: ``TRANSFERLIB_SCREENSHOTS=docs/screenshots
pytest -m browser tests/test_book.py`` writes ``book_intro.png`` and ``book_05_source_task.png``
there.

Skips with one line when Chromium, chromedriver, selenium, Jupyter Book (``pip install .[book]``)
or, with an empty cache, npm is missing.
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import json
import os
import posixpath
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from browser_support import CHROMEDRIVER, CHROMIUM, WINDOW, missing_piece, save_png, wait_until

REPO = Path(__file__).resolve().parents[1]
VENDOR_CACHE = REPO / ".cache" / "book-vendor"
SCREENSHOTS_ENV = "TRANSFERLIB_SCREENSHOTS"
SHOTS = {"intro.html": "book_intro.png", "notebooks/05_source_task.html": "book_05_source_task.png"}
SHOT_BYTES = 150_000
BROWSER_INTERNAL = ("chrome", "chrome-extension", "chrome-untrusted", "devtools")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# what the ipywidgets HTML manager renders a widget view into (controls, containers, outputs)
WIDGET_SELECTOR = ", ".join(f".jupyter-widgets .widget-{kind}, .jupyter-widgets.widget-{kind}"
                            for kind in ("slider", "text", "dropdown", "button", "toggle-buttons",
                                         "select-multiple", "checkbox", "box", "output",
                                         "inline-hbox", "html", "label"))


def _missing() -> str | None:
    if (why := missing_piece()) is not None:
        return why
    if importlib.util.find_spec("jupyter_book") is None:
        return "no Jupyter Book (pip install -e .[book])"
    if not (VENDOR_CACHE / "static.done").is_file() and shutil.which("npm") is None:
        return "no npm to fetch the site's scripts once (apt-get install npm)"
    return None


MISSING = _missing()
if MISSING:
    pytest.skip(f"book browser test: {MISSING}", allow_module_level=True)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The built site's html folder (built once for the module)."""
    from transferlib.workbook.book import build_book

    start = time.perf_counter()
    html = build_book(tmp_path_factory.mktemp("book"), vendor=VENDOR_CACHE)
    print(f"book built in {time.perf_counter() - start:.1f} s")
    return html


@pytest.fixture(scope="module")
def base_url(site) -> Iterator[str]:
    """``http.server`` on a free 127.0.0.1 port (the OS picks it), serving the site."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def _chromium(workdir: Path) -> Iterator[Any]:
    """Headless Chromium as ``browser_support.chromium`` starts it, plus the browser (console)
    and performance (network) logs."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    workdir.mkdir(parents=True, exist_ok=True)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 f"--window-size={WINDOW[0]},{WINDOW[1]}", "--force-device-scale-factor=1",
                 "--hide-scrollbars", "--no-first-run", "--no-default-browser-check",
                 "--disable-background-networking", "--disable-component-update",
                 f"--user-data-dir={workdir / 'profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(workdir / "driver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        driver.set_script_timeout(60)
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def driver(tmp_path_factory) -> Iterator[Any]:
    with _chromium(tmp_path_factory.mktemp("chromium")) as browser:
        yield browser


def _pages(site: Path) -> list[str]:
    """Every HTML page of the site, as a path relative to its root."""
    skip = ("_static/", "_sources/", "_downloads/", "_images/")
    return sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html")
                  if not p.relative_to(site).as_posix().startswith(skip))


def _has_widget_state(site: Path, page: str) -> bool:
    """Whether the page's notebook saved widget views and the widget state they need."""
    notebook = site.parent / "src" / Path(page).with_suffix(".ipynb")
    if not notebook.is_file():
        return False
    data = json.loads(notebook.read_text("utf-8"))
    views = any(WIDGET_VIEW in out.get("data", {})
                for cell in data["cells"] for out in cell.get("outputs", []))
    return views and bool(data["metadata"].get("widgets"))


_SETTLE = """
const done = arguments[arguments.length - 1];
const images = Array.from(document.images);
images.forEach(image => { image.loading = 'eager'; });
const math = window.MathJax && window.MathJax.startup ? window.MathJax.startup.promise
                                                      : Promise.resolve();
Promise.all([math, ...images.map(image => image.decode().catch(() => null))])
  .then(() => done(true), error => done('MathJax: ' + error));
"""


def _open(driver: Any, url: str, widgets: bool) -> None:
    """Load the page and wait for its images, its MathJax and (``widgets``) its widgets."""
    driver.get(url)
    wait_until(lambda: driver.execute_script("return document.readyState") == "complete", 30,
               f"{url} did not finish loading")
    wait_until(lambda: driver.execute_script("return !!window.MathJax || !document.querySelector("
                                             "'script[src*=\"mathjax\"]')"), 20,
               f"MathJax did not start on {url}")
    assert driver.execute_async_script(_SETTLE) is True
    if widgets:
        wait_until(lambda: driver.execute_script(
            "return document.querySelectorAll(arguments[0]).length", WIDGET_SELECTOR), 30,
            f"no widget rendered from the saved widget state on {url}")


def _outside_requests(driver: Any, base_url: str) -> list[str]:
    """The URLs the page requested from anywhere but the test's server (drains the log)."""
    found = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] != "Network.requestWillBeSent":
            continue
        url = message["params"]["request"]["url"]
        if urlsplit(url).scheme in BROWSER_INTERNAL:
            continue  # the browser's own pages (its start tab), not the network
        if not url.startswith((base_url, "data:", "about:", "blob:")):
            found.append(url)
    return found


def _broken_links(site: Path, page: str, hrefs: list[str]) -> list[str]:
    """The relative hrefs of ``page`` that name no file of the site."""
    broken = []
    for href in hrefs:
        parts = urlsplit(href)
        if parts.scheme or parts.netloc or not parts.path:
            continue  # an external link (not a request), or a fragment of this page
        target = posixpath.normpath(posixpath.join(posixpath.dirname(page), unquote(parts.path)))
        path = site / target
        if path.is_dir():
            path = path / "index.html"
        if target.startswith("..") or not path.is_file():
            broken.append(href)
    return broken


def _toc_order(site: Path) -> list[str]:
    """The pages in the order of ``_toc.yml``: intro, the notebooks, results, bibliography."""
    toc = (site.parent / "src" / "_toc.yml").read_text("utf-8").splitlines()
    files = [line.split("file:", 1)[1].strip() for line in toc if "file:" in line]
    return [f"{name}.html" for name in ["intro", *files]]


def _check_page(driver: Any, site: Path, base_url: str, page: str) -> list[str]:
    """Every problem of one page, as lines (none when it is fine)."""
    widgets = _has_widget_state(site, page)
    _open(driver, base_url + page, widgets)
    # the browser asks for /favicon.ico by itself (no page links one): not the page's error
    problems = [f"console: {e['message'][:300]}" for e in driver.get_log("browser")
                if e["level"] == "SEVERE" and "/favicon.ico " not in e["message"]]
    problems += [f"image not loaded: {src}" for src in driver.execute_script(
        "return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))"
        ".map(i => i.src)")]
    hrefs = driver.execute_script(
        "return Array.from(document.querySelectorAll('a[href]'), a => a.getAttribute('href'))")
    problems += [f"broken link: {href}" for href in _broken_links(site, page, hrefs)]
    problems += [f"request outside 127.0.0.1: {url}"
                 for url in _outside_requests(driver, base_url)]
    order = _toc_order(site)
    if page.startswith("notebooks/") and page in order:
        i = order.index(page)
        for kind, want in (("left-prev", order[i - 1]), ("right-next", order[i + 1])):
            href = driver.execute_script(
                f"const a = document.querySelector('.prev-next-area a.{kind}');"
                "return a ? a.getAttribute('href') : null;")
            got = posixpath.normpath(posixpath.join("notebooks", href)) if href else None
            if got != want:
                problems.append(f"{kind} link: {href!r}, not to {want}")
    return problems


def test_every_page_of_the_book_works_offline(site, base_url, driver):
    pages = _pages(site)
    assert len([p for p in pages if p.startswith("notebooks/")]) == 11, pages
    assert {"intro.html", "results.html", "bibliography.html"} <= set(pages)
    driver.get_log("performance")  # whatever the browser did before the first page
    start, problems = time.perf_counter(), {}
    shots = os.environ.get(SCREENSHOTS_ENV)
    for page in pages:
        if found := _check_page(driver, site, base_url, page):
            problems[page] = found
        if shots and page in SHOTS:
            save_png(driver, REPO / shots / SHOTS[page], max_bytes=SHOT_BYTES)
    print(f"{len(pages)} pages checked in {time.perf_counter() - start:.1f} s")
    assert not problems, "\n".join(f"{page}: {line}" for page, lines in problems.items()
                                   for line in lines)


def test_the_widget_pages_render_their_saved_widgets(site, base_url, driver):
    """At least one notebook has saved widget state (else the widget check above is idle)."""
    with_state = [p for p in _pages(site) if _has_widget_state(site, p)]
    if not with_state:
        pytest.skip("no committed notebook saves widget state yet (fast-mode outputs)")
    _open(driver, base_url + with_state[0], widgets=True)
    kinds = driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0]), e => e.className)",
        WIDGET_SELECTOR)
    assert kinds, f"{with_state[0]}: no widget in the page"


def test_the_book_names_every_cited_paper(site):
    text = (site.parent / "src" / "bibliography.md").read_text("utf-8")
    assert "https://arxiv.org/abs/1801.06146" in text  # ULMFiT, cited from notebook 00 on
    assert (site / "bibliography.html").is_file() and (site / "results.html").is_file()
    results = (site.parent / "src" / "results.md").read_text("utf-8")
    assert "| strategy |" in results and "![ablation](results/ablation.png)" in results
