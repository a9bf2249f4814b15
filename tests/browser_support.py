"""JupyterLab in headless Chromium, for ``tests/test_browser.py``: the server, the browser, and
the moves a student makes in a notebook (run all, move a slider, type, click, pick).

Nothing here imports Selenium at import time, so that the browser tests can skip with one line
on a machine without it (see ``missing_piece``).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.remote.webelement import WebElement

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WINDOW = (1280, 900)
APT_HINT = "apt-get install chromium chromium-driver"

# JupyterLab settings of the test's own config dir: no news or update toast, every cell in the
# DOM (no windowing), each cell's run time recorded, no autosave of the notebook copy.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false",
                                                    "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none", "recordTiming": True},
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
}


def missing_piece() -> str | None:
    """Why the browser tests cannot run here, in one line, or None when all is there."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "no selenium (pip install -r requirements.txt)"
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} ({APT_HINT})"
    if not CHROMEDRIVER.exists():
        return f"no chromedriver at {CHROMEDRIVER} ({APT_HINT})"
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check: Callable[[], Any], timeout: float, what: str, every: float = 0.25) -> Any:
    """Call ``check`` until it returns something truthy; fail with ``what`` after ``timeout`` s."""
    end = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            raise TimeoutError(f"after {timeout:.0f} s: {what}")
        time.sleep(every)


# -- the server ---------------------------------------------------------------------------------

@dataclass
class LabServer:
    """A running JupyterLab: its base URL, token, root folder and log file."""

    url: str
    token: str
    root: Path
    log: Path

    def api(self, method: str, path: str) -> Any:
        """Call the server's REST API; the decoded JSON answer (None when empty)."""
        request = urllib.request.Request(f"{self.url}{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            body = answer.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        """Shut down every kernel of the server (the page may be gone or broken)."""
        for kernel in self.api("GET", "/api/kernels"):
            self.api("DELETE", f"/api/kernels/{kernel['id']}")


def _lab_dirs(tmp: Path) -> dict[str, str]:
    """Fresh config, data, runtime, settings and workspace folders; the environment naming them.

    The data folder holds a ``python3`` kernel spec for this interpreter, so the notebooks run
    in the current environment whatever kernels the user has installed."""
    dirs = {name: tmp / name for name in ("config", "data", "runtime", "ipython")}
    settings, workspaces = dirs["config"] / "lab" / "user-settings", dirs["config"] / "workspaces"
    for path in [*dirs.values(), workspaces]:
        path.mkdir(parents=True, exist_ok=True)
    for plugin, values in LAB_SETTINGS.items():
        target = settings / f"{plugin}.jupyterlab-settings"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values))
    kernel = dirs["data"] / "kernels" / "python3"
    kernel.mkdir(parents=True)
    kernel.joinpath("kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (ipykernel)", "language": "python",
        "metadata": {"debugger": True}}))
    return {"JUPYTER_CONFIG_DIR": str(dirs["config"]), "JUPYTER_DATA_DIR": str(dirs["data"]),
            "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]), "IPYTHONDIR": str(dirs["ipython"]),
            "JUPYTERLAB_SETTINGS_DIR": str(settings),
            "JUPYTERLAB_WORKSPACES_DIR": str(workspaces)}


@contextmanager
def lab_server(root: Path, tmp: Path, env: dict[str, str]) -> Iterator[LabServer]:
    """JupyterLab on a free loopback port with a random token, serving ``root``; the server's
    environment is this one plus ``env`` (which the kernels inherit). Always stopped, its
    kernels first; a SIGTERM meanwhile (``timeout`` around pytest) becomes a KeyboardInterrupt,
    so that pytest still tears the server and the browser down."""
    full_env = {**os.environ, **_lab_dirs(tmp), **env,
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    full_env.pop("MPLBACKEND", None)  # plots must reach the page as inline PNGs
    with _sigterm_interrupts():
        for attempt in range(3):  # the free port may be taken before JupyterLab binds it
            port, token = free_port(), secrets.token_hex(16)
            log = tmp / f"jupyterlab-{attempt}.log"
            process = _start_lab(root, port, token, full_env, log)
            server = LabServer(f"http://127.0.0.1:{port}", token, root, log)
            try:
                if _wait_answers(server, process):
                    break
            except BaseException:
                _stop(process, server)
                raise
            _stop(process, server)
        else:
            raise RuntimeError(f"JupyterLab did not start on three free ports: "
                               f"{log.read_text()[-2000:]}")
        try:
            yield server
        finally:
            _stop(process, server)


def _start_lab(root: Path, port: int, token: str, env: dict[str, str],
               log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
               f"--port={port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={token}", "--allow-root",
               f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True"]
    with log.open("w") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)


def _wait_answers(server: LabServer, process: subprocess.Popen) -> bool:
    """True once the server answers; False when it exited because its port was taken."""
    def answers() -> bool | str:
        if process.poll() is not None:
            return "exited"
        try:
            return bool(server.api("GET", "/api/status"))
        except OSError:
            return False

    outcome = wait_until(answers, 120, f"JupyterLab did not answer at {server.url}; "
                                       f"see {server.log}")
    if outcome == "exited":
        text = server.log.read_text()
        if "already in use" in text or "is not available" in text:
            return False
        raise RuntimeError(f"JupyterLab exited ({process.returncode}): {text[-2000:]}")
    return True


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt while inside (main thread only), as Ctrl-C does."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: let the teardown finish
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _stop(process: subprocess.Popen, server: LabServer | None = None) -> None:
    """Kernels shut down through the API (so that none outlives a stuck server), then SIGTERM
    (JupyterLab shuts down what is left), SIGKILL after 20 s."""
    if process.poll() is None and server is not None:
        try:
            server.shutdown_kernels()
        except OSError:
            pass
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


# -- the browser --------------------------------------------------------------------------------

@contextmanager
def chromium(workdir: Path) -> Iterator[WebDriver]:
    """Headless Chromium (Debian's, through Debian's chromedriver), a 1280x900 page. Always
    quit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    workdir.mkdir(parents=True, exist_ok=True)  # chromedriver exits at once without its log's
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 f"--window-size={WINDOW[0]},{WINDOW[1]}", "--force-device-scale-factor=1",
                 "--hide-scrollbars", "--no-first-run", "--no-default-browser-check",
                 f"--user-data-dir={workdir / 'profile'}"):
        options.add_argument(flag)
    service = Service(executable_path=str(CHROMEDRIVER),
                      log_output=str(workdir / "driver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        driver.set_script_timeout(120)
        width, height = driver.execute_script("return [window.innerWidth, window.innerHeight]")
        driver.set_window_size(2 * WINDOW[0] - width, 2 * WINDOW[1] - height)  # the viewport
        yield driver
    finally:
        driver.quit()


# -- JupyterLab, driven through the page --------------------------------------------------------

# window.jupyterapp is there because the server runs with --LabApp.expose_app_in_browser.
_PANEL = "const panel = window.__tl_panel;"

_OPEN = """
const [path, done] = arguments;
const app = window.jupyterapp;
app.restored
  .then(() => app.commands.execute('docmanager:open', {path, factory: 'Notebook'}))
  .then(async panel => {
    window.__tl_panel = panel;
    await panel.context.ready;
    await panel.sessionContext.ready;
    for (const widget of Array.from(app.shell.widgets('main'))) {
      if (widget !== panel) widget.dispose();  // the Launcher that an empty main area opens
    }
    app.shell.activateById(panel.id);
    app.shell.collapseLeft();
    done(panel.sessionContext.session ? panel.sessionContext.session.kernel.name : null);
  })
  .catch(error => done('error: ' + error));
"""

_RUN_ALL = _PANEL + """
window.__tl_run = null;
window.jupyterapp.shell.activateById(panel.id);
window.jupyterapp.commands.execute('notebook:run-all-cells').then(
  ok => { window.__tl_run = {ok}; }, error => { window.__tl_run = {error: String(error)}; });
"""

_KERNEL = _PANEL + """
const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
return kernel ? kernel.status : 'none';
"""

_CELL_ERRORS = _PANEL + r"""
const found = [];
const cells = panel.content.model.cells;
for (let i = 0; i < cells.length; i++) {
  const cell = cells.get(i);
  if (cell.type !== 'code') continue;
  for (const out of cell.outputs.toJSON()) {
    if (out.output_type === 'error') found.push(`cell ${i}: ${out.ename}: ${out.evalue}`);
  }
}
// errors shown inside widgets (an interact's Output) are not in the cell model: read the page
panel.content.widgets.forEach((widget, i) => {
  widget.node.querySelectorAll('.widget-output .jp-OutputArea-output').forEach(node => {
    const text = node.innerText || '';
    if (text.includes('Traceback (most recent call last)')) {
      const lines = text.trim().split('\n');
      found.push(`cell ${i}, in a widget: ${lines[lines.length - 1]}`);
    }
  });
});
return [...new Set(found)];
"""

_TIMES = _PANEL + """
const cells = panel.content.model.cells;
const times = [];
for (let i = 0; i < cells.length; i++) {
  const run = cells.get(i).getMetadata('execution');
  if (run && run['iopub.execute_input'] && run['shell.execute_reply']) {
    const seconds = (Date.parse(run['shell.execute_reply'])
                     - Date.parse(run['iopub.execute_input'])) / 1000;
    times.push([i, seconds]);
  }
}
return times;
"""

_CELL = _PANEL + """
const [marker, outputFirst] = arguments;
const cells = panel.content.model.cells;
for (let i = 0; i < cells.length; i++) {
  if (cells.get(i).type === 'code' && cells.get(i).sharedModel.getSource().includes(marker)) {
    const node = panel.content.widgets[i].node;
    const output = node.querySelector('.jp-Cell-outputWrapper');
    if (outputFirst && output) {  // the widget at the top, the end of its code above it
      output.scrollIntoView({block: 'start'});
      const scroller = node.closest('.jp-WindowedPanel-outer');
      if (scroller) scroller.scrollTop -= 150;
    } else {
      node.scrollIntoView({block: 'start'});
    }
    return [i, node];
  }
}
return null;
"""

_PAINTED = """
const done = arguments[arguments.length - 1];
const frame = () => new Promise(resolve => requestAnimationFrame(() => resolve()));
Promise.all(Array.from(document.images).map(image => image.decode().catch(() => null)))
  .then(frame).then(frame).then(() => done(true));
"""

_LOG = _PANEL + """
const [done] = arguments;
const app = window.jupyterapp;
const path = panel.context.path;
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));
const closeConsoles = () => {  // the console opens in the 'down' area; its command toggles
  for (const widget of Array.from(app.shell.widgets('down'))) {
    if (widget.hasClass('jp-LogConsole')) widget.dispose();
  }
};
(async () => {
  closeConsoles();
  await app.commands.execute('logconsole:open', {source: path, insertMode: 'split-bottom'});
  let area = null;
  for (let i = 0; i < 100 && !area; i++) {  // the console renders its source's entries lazily
    await sleep(100);
    area = Array.from(document.querySelectorAll('.jp-LogConsolePanel .jp-OutputArea'))
      .find(node => node.id === 'source:' + path);
  }
  await sleep(300);
  if (!area) return [['error', 'the Log Console never showed ' + path]];
  const found = Array.from(area.querySelectorAll('.jp-OutputArea-child')).map(child => {
    const prompt = child.querySelector('[data-log-level]');
    return [prompt ? prompt.dataset.logLevel : '?', (child.innerText || '').trim().slice(0, 2000)];
  });
  closeConsoles();
  return found;
})().then(done, error => done([['error', 'reading the Log Console: ' + error]]));
"""

_CLOSE = """
const app = window.jupyterapp;
if (app) {
  for (const area of ['main', 'down']) {
    for (const widget of Array.from(app.shell.widgets(area))) widget.dispose();
  }
}
window.__tl_panel = null;
"""


class Lab:
    """One browser page on a JupyterLab server, showing one notebook at a time."""

    def __init__(self, driver: WebDriver, server: LabServer):
        self.driver, self.server = driver, server
        self.loaded = False

    def open(self, relpath: str) -> None:
        """Open the notebook at ``relpath``, loading JupyterLab (clean workspace) first unless
        the page already shows it with nothing open."""
        if not self.loaded:
            self.driver.get(f"{self.server.url}/lab?reset&token={self.server.token}")
            wait_until(lambda: self.driver.execute_script("return !!window.jupyterapp"), 90,
                       "JupyterLab did not load in the browser (window.jupyterapp)")
            self.loaded = True
        kernel = self.driver.execute_async_script(_OPEN, relpath)
        assert kernel == "python3", f"opening {relpath}: kernel {kernel!r}"

    def kernel_status(self) -> str:
        """The notebook's kernel status as JupyterLab shows it (idle, busy, ...)."""
        return self.driver.execute_script(_KERNEL)

    def wait_idle(self, timeout: float, settle: float = 1.0) -> None:
        """Wait until the kernel has been idle for ``settle`` seconds."""
        idle_since: list[float] = []

        def settled() -> bool:
            if self.kernel_status() != "idle":
                idle_since.clear()
                return False
            idle_since.append(time.monotonic())
            return idle_since[-1] - idle_since[0] >= settle

        wait_until(settled, timeout, f"the kernel is still {self.kernel_status()}")

    def run_all(self, timeout: float) -> dict:
        """Run > Run All Cells (the menu's command) and wait until every cell has run and the
        kernel is idle; JupyterLab's answer: ``{'ok': true}`` when no cell failed."""
        self.driver.execute_script(_RUN_ALL)
        result = wait_until(lambda: self.driver.execute_script("return window.__tl_run"),
                            timeout, "Run All Cells did not finish", every=1.0)
        self.wait_idle(60)
        return result

    def cell_errors(self) -> list[str]:
        """Every error output of the notebook, in a cell or inside a widget of a cell."""
        return self.driver.execute_script(_CELL_ERRORS)

    def log_entries(self) -> list[tuple[str, str]]:
        """Open the Log Console on the notebook; its entries as (level, text). Widget callback
        errors land there (level 'error'), not in a cell."""
        return [tuple(entry) for entry in self.driver.execute_async_script(_LOG)]

    def log_count(self) -> int:
        """The number of Log Console messages of the notebook, as the status bar shows it."""
        text = self.driver.execute_script(
            "const item = document.querySelector('.jp-LogConsoleStatusItem');"
            "return item ? item.innerText : '';")
        return int(match.group()) if (match := re.search(r"\d+", text or "")) else 0

    def cell_seconds(self) -> list[tuple[int, float]]:
        """(cell index, seconds) of each code cell's last run, as JupyterLab recorded it."""
        return [tuple(pair) for pair in self.driver.execute_script(_TIMES)]

    def cell(self, marker: str, output_first: bool = False) -> WebElement:
        """The code cell whose source contains ``marker``, scrolled to the top of the view (its
        output at the top with ``output_first``)."""
        found = self.driver.execute_script(_CELL, marker, output_first)
        assert found, f"no code cell contains {marker!r}"
        return found[1]

    def close(self, reload: bool = False) -> None:
        """Close every tab without saving and shut down every kernel (also when the page broke,
        without hiding the test's own error); ``reload``: the next ``open`` loads a new page."""
        self.loaded = self.loaded and not reload
        try:
            self.driver.execute_script(_CLOSE)
        except Exception as error:  # a broken page, or a browser that is gone
            self.loaded = False
            print(f"closing the notebook in the browser: {error}")
        finally:
            try:
                self.server.shutdown_kernels()
            except OSError as error:
                print(f"shutting the kernels down: {error}")


# -- widgets, found by their ipywidgets class and description label -----------------------------

WIDGET_CLASSES = {"slider": ".widget-slider", "selection-slider": ".widget-slider",
                  "text": ".widget-text",
                  "dropdown": ".widget-dropdown", "select-multiple": ".widget-select-multiple",
                  "toggle": ".widget-toggle-buttons", "button": ".widget-button"}


def find_widget(cell: WebElement, kind: str, label: str) -> WebElement:
    """The ``kind`` widget in ``cell`` whose description (a button: its text) is ``label``."""
    from selenium.webdriver.common.by import By

    seen = []
    for node in cell.find_elements(By.CSS_SELECTOR, WIDGET_CLASSES[kind]):
        if kind == "button":
            name = node.text.strip()
        else:
            labels = node.find_elements(By.CSS_SELECTOR, ".widget-label")
            name = labels[0].text.strip() if labels else ""
        if name == label:
            return node
        seen.append(name)
    raise AssertionError(f"no {kind} widget labelled {label!r} in the cell (found {seen})")


def drive_widget(cell: WebElement, kind: str, label: str, value: Any) -> None:
    """Use one widget as a student does: type into a slider's readout or a text box and press
    Enter, pick from a dropdown or a list, click a button or a toggle."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    node = find_widget(cell, kind, label)
    node.parent.execute_script("arguments[0].scrollIntoView({block: 'center'})", node)
    if kind in ("slider", "selection-slider"):
        _move_slider(node, value, typed=kind == "slider")
    elif kind == "text":
        box = node.find_element(By.CSS_SELECTOR, "input, textarea")
        box.click()
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(Keys.DELETE, str(value), Keys.ENTER)
    elif kind in ("dropdown", "select-multiple"):
        select = Select(node.find_element(By.TAG_NAME, "select"))
        if kind == "select-multiple":
            select.deselect_all()
        for option in ([value] if kind == "dropdown" else value):
            select.select_by_visible_text(str(option))
    elif kind == "toggle":
        [button] = [b for b in node.find_elements(By.TAG_NAME, "button") if b.text == str(value)]
        button.click()
    else:
        node.click()


def _move_slider(node: WebElement, value: Any, typed: bool) -> None:
    """Type the value into the readout (a number slider), or step the handle with the arrow
    keys until the readout shows it (a selection slider: typing into its readout blanks it)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    readout = node.find_element(By.CSS_SELECTOR, ".widget-readout")
    if typed:
        readout.click()
        readout.send_keys(Keys.CONTROL, "a")
        readout.send_keys(str(value), Keys.ENTER)
        return
    handle = node.find_element(By.CSS_SELECTOR, ".noUi-handle")

    def position() -> int:
        return int(float(handle.get_attribute("aria-valuenow")))

    at, last = position(), int(float(handle.get_attribute("aria-valuemax")))
    for key in [Keys.ARROW_LEFT] * at + [Keys.ARROW_RIGHT] * last:  # to the first, then on
        if readout.text.strip() == str(value):
            return
        before, shows = position(), readout.text.strip()
        handle.send_keys(key)  # then wait for the handle and the readout to follow
        wait_until(lambda b=before, r=shows: (position() != b
                                              and readout.text.strip() not in ("", r)),
                   10, f"the slider did not move from {shows!r}", every=0.05)
    if readout.text.strip() != str(value):
        raise AssertionError(f"the slider never showed {value!r} (it shows {readout.text!r})")


@dataclass(frozen=True)
class Shown:
    """What a widget's output shows: its text and the sources of its images."""

    text: str
    images: tuple[str, ...]


def shown(cell: WebElement) -> Shown:
    """The first ipywidgets Output (an interact's output, or the Output a button writes to) in
    ``cell``; the whole cell output when the cell has none."""
    text, images = cell.parent.execute_script("""
        const cell = arguments[0];
        const out = cell.querySelector('.widget-output') || cell.querySelector('.jp-OutputArea');
        if (!out) return ['', []];
        return [out.innerText || '', Array.from(out.querySelectorAll('img')).map(i => i.src)];
    """, cell)
    return Shown(text, tuple(images))


def copy_clean(source: Path, target: Path) -> None:
    """Copy a notebook without its outputs or saved widget state, so that all the page shows
    comes from this run."""
    notebook = json.loads(source.read_text("utf-8"))
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    notebook["metadata"].pop("widgets", None)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(notebook, indent=1), "utf-8")


def save_png(driver: WebDriver, path: Path, max_bytes: int | None = None) -> None:
    """A screenshot of the window once the page has stopped changing (a starved CPU paints a
    plot tile by tile); re-encoded with a 256-colour palette when over ``max_bytes``."""
    from selenium.common.exceptions import WebDriverException

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        driver.execute_async_script(_PAINTED)  # every image decoded and painted
    except WebDriverException as error:
        print(f"waiting for the page to paint: {error.msg}")
    shot = driver.get_screenshot_as_png()
    for _ in range(20):
        time.sleep(0.5)
        shot, previous = driver.get_screenshot_as_png(), shot
        if shot == previous:
            break
    path.write_bytes(shot)
    if max_bytes is not None and path.stat().st_size > max_bytes:
        from PIL import Image

        with Image.open(path) as image:
            image.convert("RGB").quantize(256).save(path, optimize=True)


def tidy_text(text: str) -> str:
    """Whitespace squeezed, for messages."""
    return re.sub(r"\s+", " ", text).strip()

