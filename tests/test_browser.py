"""Every notebook in a real browser: JupyterLab in headless Chromium, driven by Selenium.

For each notebook, in fast mode, on a copy in a temporary root: Run All Cells, wait for the
kernel, assert that no cell and no widget shows an error and that the Log Console (where widget
callback errors go) has no error; then use the notebook's main widget as a student does and
assert that the output it drives changed as it should, read from the page. A screenshot of each
notebook goes to ``test-artifacts/browser/``.

When a notebook's widget changes, update its row of ``WIDGETS`` below and nothing else.

README screenshots: ``TRANSFERLIB_FAST=1 TRANSFERLIB_SCREENSHOTS=docs/screenshots
pytest -m browser tests/test_browser.py -k "03_ or 05_"`` also writes the notebooks of
``README_SHOTS`` there.

Needs Chromium and chromedriver from Debian (``apt-get install chromium chromium-driver``) and
selenium; without one of them the module skips with one line that names it.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from browser_support import (
    Lab,
    LabServer,
    Shown,
    chromium,
    copy_clean,
    drive_widget,
    lab_server,
    missing_piece,
    save_png,
    shown,
    tidy_text,
    wait_until,
)

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
ARTIFACTS = REPO / "test-artifacts" / "browser"
SCREENSHOTS_ENV = "TRANSFERLIB_SCREENSHOTS"

Move = tuple[str, str, Any]  # (widget kind, description label or button text, value)


@dataclass(frozen=True)
class Drive:
    """How a student uses a notebook's main widget, and what its output must show then.

    ``cell``: text in the source of the widget's code cell (finds the cell wherever it is);
    ``moves``: (kind, label, value) in order, kind one of slider, selection-slider, text,
    dropdown, select-multiple, toggle, button (label: the button's text, value unused);
    ``expect``: a regex (multiline) the widget's output text must match afterwards; ``absent``:
    one it must not match; ``image``: the output shows a plot that must be a new one;
    ``known_bug``: (text of the failure it causes, what is wrong) for a notebook bug that this
    test finds and nobody fixed yet: that failure is then an xfail, any other still fails, and
    the test fails once the bug is gone, so that the entry gets removed."""

    cell: str
    moves: tuple[Move, ...]
    expect: str
    absent: str | None = None
    image: bool = False
    timeout: float = 120
    known_bug: tuple[str, str] | None = None


FLOAT, ACC = r"\d+\.\d+", r"[01]\.\d{3}"

# One row per notebook: the only place that knows the notebooks' widgets.
WIDGETS: dict[str, Drive] = {
    "00_start_here": Drive(
        "widgets.interact(show_reviews",
        (("dropdown", "split", "test"), ("dropdown", "label", "negative"), ("slider", "n", 3)),
        expect=r"\A(\[[^\]\n]+\] [^\n]+\n?){3}\Z"),
    "01_concepts": Drive(
        "widgets.interact_manual(show_comparison",
        (("selection-slider", "n_labels", 50), ("button", "Run Interact", None)),
        expect=rf"^50 labelled reviews → transfer {ACC}, scratch {ACC} \(majority class {ACC}"),
    "02_text_pipeline": Drive(
        "widgets.interact(show_compare",
        (("text", "sentence", "a dull and lifeless film"), ("slider", "n_pads", 50)),
        expect=r"^5 tokens \+ 50 pads$"),
    "03_lstm_from_scratch": Drive(
        "widgets.interact(show_gates",
        (("text", "sentence", "a dull and lifeless film"), ("slider", "step", 2)),
        expect=rf"^step 2 of 5 \('(dull|<unk>)'\): input gate {ACC}, forget gate {ACC}, "
               rf"output gate {ACC}, ‖c‖ {FLOAT}; P\(positive\) of the words so far {ACC}$",
        image=True),
    "04_regularized_objective": Drive(
        "regularizer=widgets.Dropdown",
        (("dropdown", "regularizer", "l2"), ("slider", "lam", 1), ("button", "Run Interact", None)),
        expect=rf"^l2, λ = 1: validation accuracy {ACC}, drift ‖w − w₀‖ = {FLOAT}", image=True),
    "05_source_task": Drive(
        "temperature=widgets.FloatSlider",
        (("slider", "temperature", 0.5), ("slider", "seed", 3)),
        expect=rf"^T = 0\.50, mean entropy {FLOAT} nats"),
    "06_finetuning_pipeline": Drive(
        "button.on_click(on_classify)",
        (("text", "review", "a dull , lifeless zzyzx of a film"), ("button", "Classify", None)),
        expect=rf"^(negative|positive) \(negative {FLOAT}, positive {FLOAT}\); "
               r"unknown words: \['zzyzx'\]"),
    "07_strategies": Drive(
        "run_button.on_click(on_run)",
        (("select-multiple", "strategies", ("scratch", "full")), ("dropdown", "labels", 50),
         ("button", "Run", None)),
        expect=r"^full (is (better|worse) than scratch|vs scratch: no detectable difference): "
               r"Δ = [+-]\d+\.\d points",
        absent=r"ulmfit"),
    "08_efficiency": Drive(
        "measure.on_click(on_measure)",
        (("select-multiple", "levers", ("packed",)), ("button", "Measure", None)),
        expect=r"^1\s+packed", absent=r"bucketing|autocast"),
    "09_scaling_out": Drive(
        "widgets.interact(show_shards",
        (("slider", "world", 4),),
        expect=r"^4 process\(es\): \d+ steps each", image=True),
    "10_beyond": Drive(
        "fewshot_button.on_click(on_fewshot)",
        (("dropdown", "k per class", 1), ("button", "Run", None)),
        expect=r"^k=1: accuracy 0\.\d{3} ± 0\.\d{3} over 3 support sets, 'positive' for "
               r"\d+% of the reviews"),
}

# Notebooks whose screenshot also goes to $TRANSFERLIB_SCREENSHOTS (the README's pictures).
README_SHOTS = ("03_lstm_from_scratch", "05_source_task")
README_SHOT_BYTES = 150_000
RUN_ALL_TIMEOUT = 300

MISSING = missing_piece()
if MISSING:
    pytest.skip(f"browser tests: {MISSING}", allow_module_level=True)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Iterator[LabServer]:
    """One JupyterLab for all notebooks, fast mode in its (and so its kernels') environment."""
    tmp = tmp_path_factory.mktemp("jupyterlab")
    root = tmp / "root"
    root.mkdir()
    # one thread per kernel unless told otherwise: tiny models train faster so on a small,
    # shared machine, and the server and the browser need the rest
    env = {"TRANSFERLIB_FAST": "1", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    with lab_server(root, tmp, env) as running:
        yield running


@pytest.fixture(scope="session")
def lab(server, tmp_path_factory) -> Iterator[Lab]:
    """One headless Chromium for all notebooks, on ``server``."""
    with chromium(tmp_path_factory.mktemp("chromium")) as driver:
        yield Lab(driver, server)


def _wait_for_change(lab: Lab, drive: Drive, before: Shown, cell: Any, logged: int) -> Shown:
    """The widget's output once it shows ``drive.expect`` (and a new plot when asked for) and
    the kernel is idle again. Fails at once when the kernel went idle with a new Log Console
    message (``logged``: the count before) and without the expected output."""
    def ready() -> Shown | str | None:
        now = shown(cell)
        new_image = not drive.image or (now.images and now.images != before.images)
        if re.search(drive.expect, now.text, re.M) and new_image:
            return now
        if lab.log_count() > logged and lab.kernel_status() == "idle" and _log_errors(lab):
            return "logged"  # an error in the Log Console: fail now (other messages: wait on)
        return None

    try:
        result = wait_until(ready, drive.timeout, "")
    except TimeoutError:
        result = "timeout"
    if not isinstance(result, Shown):
        pytest.fail(f"the output never showed {drive.expect!r} after {drive.moves} ({result}); "
                    f"it shows {tidy_text(shown(cell).text)[:600]!r}; "
                    f"Log Console: {_log_errors(lab)}")
    lab.wait_idle(drive.timeout)
    return shown(cell)


def _log_errors(lab: Lab) -> list[str]:
    """Log Console entries at level error or above (widget callback exceptions, stderr)."""
    return [f"{level}: {text.strip().splitlines()[-1]}" for level, text in lab.log_entries()
            if level in ("error", "critical") and text.strip()]


def _record(name: str, times: dict[str, float], lab: Lab) -> None:
    """Seconds of Run All, of the widget's update and of the slowest cells, beside the
    screenshot (also of a failed run, as far as it got)."""
    try:
        cells = sorted(lab.cell_seconds(), key=lambda pair: -pair[1])[:5]
    except Exception as error:  # a broken page must not hide the test's own error
        cells = [(-1, float("nan"))]
        print(f"reading the cell times: {error}")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"{name}.json").write_text(json.dumps(
        {**{k: round(v, 1) for k, v in times.items()},
         "slowest_cells": [{"cell": i, "s": round(t, 1)} for i, t in cells]}, indent=1))


def _screenshots(name: str, lab: Lab, passed: bool) -> None:
    """The test artifact (also of a failure), and the README's copy when asked for and the
    notebook passed."""
    try:
        save_png(lab.driver, ARTIFACTS / f"{name}.png")
        target = os.environ.get(SCREENSHOTS_ENV)
        if target and passed and name in README_SHOTS:
            save_png(lab.driver, REPO / target / f"{name}.png", max_bytes=README_SHOT_BYTES)
    except Exception as error:  # a broken page must not hide the test's own error
        print(f"screenshot of {name}: {error}")


def _check(name: str, drive: Drive, lab: Lab, times: dict[str, float]) -> None:
    """Run All, no error; the widget driven, its output changed as ``drive`` says; no error."""
    started = time.monotonic()
    lab.open(f"notebooks/{name}.ipynb")
    times["open_s"] = time.monotonic() - started
    started = time.monotonic()
    result = lab.run_all(RUN_ALL_TIMEOUT)
    times["run_all_s"] = time.monotonic() - started
    errors = lab.cell_errors()
    assert not errors, f"{name}: error output after Run All: {errors}"
    assert result == {"ok": True}, f"{name}: Run All Cells answered {result}"
    cell = lab.cell(drive.cell)
    before, logged = shown(cell), lab.log_count()
    started = time.monotonic()
    for kind, label, value in drive.moves:
        drive_widget(cell, kind, label, value)
    after = _wait_for_change(lab, drive, before, cell, logged)
    times["widget_s"] = time.monotonic() - started
    assert after != before, f"{name}: the widget's output did not change"
    if drive.absent:
        assert not re.search(drive.absent, after.text, re.M), tidy_text(after.text)[:600]
    errors = lab.cell_errors()
    assert not errors, f"{name}: error output after using the widget: {errors}"
    logged_errors = _log_errors(lab)
    assert not logged_errors, f"{name}: the Log Console shows an error: {logged_errors}"
    lab.cell(drive.cell, output_first=True)  # the widget at the top of the screenshot


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_and_its_widget_works_in_jupyterlab(path: Path, lab: Lab) -> None:
    name = path.stem
    if name not in WIDGETS:
        pytest.fail(f"{name} has no row in WIDGETS (tests/test_browser.py): say which widget "
                    "to drive")
    drive, times, passed, interrupted = WIDGETS[name], {}, False, False
    copy_clean(path, lab.server.root / "notebooks" / path.name)
    started = time.monotonic()
    try:
        _check(name, drive, lab, times)
        passed = True
    except (AssertionError, pytest.fail.Exception) as failure:
        if drive.known_bug and drive.known_bug[0] in str(failure):
            pytest.xfail(f"known bug: {drive.known_bug[1]}")
        raise
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: no more page work, straight to teardown
        interrupted = True
        raise
    finally:
        if not interrupted:
            times["test_s"] = time.monotonic() - started
            _record(name, times, lab)
            _screenshots(name, lab, passed)
            lab.close(reload=not passed)
    if drive.known_bug:
        pytest.fail(f"{name} works now: remove its known_bug ({drive.known_bug[1]!r}) from WIDGETS")
