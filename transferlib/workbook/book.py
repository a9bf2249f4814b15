"""Taught in notebook 00 (how to read the course): the workbook as a static website.

``build_book(out)`` builds the course with Jupyter Book 1.x (``pip install .[book]``) into
``out/html``, a folder that works offline when served from any static file server:

* ``out/src``: the staged book source: the committed notebooks (never executed: their saved
  outputs and widget state are what the pages show) and the ``solutions/`` their exercise cells
  link to, a landing page ``intro.md``, ``results.md`` (the tables of
  ``python -m transferlib.experiments.report results`` and the PNGs of ``results/``),
  ``bibliography.md`` (every paper the notebooks link to, collected from their markdown),
  ``_config.yml`` and ``_toc.yml``;
* ``out/vendor``: RequireJS, the ipywidgets HTML manager and MathJax 3, fetched once with
  ``npm pack`` from the npm registry and kept, so that a rebuild fetches nothing. The site loads
  them from its own ``_static/``: no CDN, no thebe, no launch buttons.

Command line: ``python -m transferlib.workbook book --out DIR``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

from transferlib.config import REPO_ROOT
from transferlib.experiments.report import markdown_tables

NOTEBOOKS = REPO_ROOT / "notebooks"
SOLUTIONS = REPO_ROOT / "solutions"
RESULTS = REPO_ROOT / "results"
TITLE = "Transfer learning for text classification with an LSTM"
MATHJAX_TOP = {"tex-mml-chtml.js", "core.js", "loader.js", "startup.js"}

# (npm package spec, folder of the tarball to take files from, which of its files, where under
# _static/). MathJax: its es5/ components (what tex-mml-chtml.js loads on demand: TeX extensions,
# fonts, menu, accessibility), not the other combined builds.
VENDOR: tuple[tuple[str, str, Callable[[str], bool], str], ...] = (
    ("requirejs@2.3.8", "package/", lambda rel: rel == "require.js", ""),
    ("@jupyter-widgets/html-manager@1.0.15", "package/dist/",
     lambda rel: rel == "embed-amd.js" or rel.endswith((".woff2", ".woff", ".ttf", ".eot",
                                                         ".svg")), "widgets"),
    ("mathjax@3.2.2", "package/es5/", lambda rel: "/" in rel or rel in MATHJAX_TOP, "mathjax"),
)
# Loaded before require.js on a page with widgets: (1) RequireJS resolves the HTML manager's
# module ids (``@jupyter-widgets/...``) next to embed-amd.js, where its webpack bundles then find
# their fonts (not under the page's folder); (2) ipywidgets 8 typesets widget labels through
# MathJax 2's ``MathJax.Hub.Queue``, which MathJax 3 lacks: a hidden ``Hub`` passes the
# job on to MathJax 3.
WIDGETS_SHIM = """\
// written by transferlib.workbook.book: see WIDGETS_SHIM there
(function () {
  var here = document.currentScript.src.replace(/[^/]*$/, "");
  window.require = {paths: {"@jupyter-widgets/html-manager/dist": here + ".",
                            "@jupyter-widgets": here.slice(0, -1)}};
  var hub = {Queue: function (job) {
    var mj = current, element = job && job[2];
    if (element && mj && mj.typesetPromise && mj.startup && mj.startup.promise) {
      mj.startup.promise.then(function () { return mj.typesetPromise([element]); });
    }  // before MathJax 3 has started, its first typeset of the page covers the widgets
  }};
  var current = window.MathJax;
  Object.defineProperty(window, "MathJax", {configurable: true, enumerable: true,
    get: function () {
      if (current && typeof current === "object" && !("Hub" in current)) {
        Object.defineProperty(current, "Hub", {value: hub, configurable: true, writable: true});
      }
      return current;
    },
    set: function (value) { current = value; }});
})();
"""
# the site's own icon, so that no browser asks for a /favicon.ico that is not there
FAVICON = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
           '<rect width="32" height="32" rx="6" fill="#2f5d8a"/>'
           '<text x="16" y="22" font-family="sans-serif" font-size="15" font-weight="bold" '
           'fill="#fff" text-anchor="middle">TL</text></svg>\n')
IPYWIDGETS_JS = {"widgets/shim.js": {}, "require.js": {}, "widgets/embed-amd.js": {}}
MATHJAX_PATH = "mathjax/tex-mml-chtml.js"
PAPER_HOSTS = re.compile(r"arxiv\.org|doi\.org|aclanthology\.org|aclweb\.org|jmlr\.org/papers"
                         r"|proceedings\.mlr\.press|papers\.nips\.cc|openreview\.net")
URL = re.compile(r"https?://[^\s)>\]]+")
BULLET = re.compile(r"^\s*(?:[*+-]|\d+\.)\s")


def _npm_pack(spec: str, cache: Path) -> Path:
    """The tarball of ``spec`` in ``cache``, fetched with ``npm pack`` unless already there."""
    name, version = spec.rsplit("@", 1)
    tarball = cache / f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"
    if tarball.is_file():
        return tarball
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is needed once to fetch the book's scripts (apt-get install npm)")
    cache.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([npm, "pack", spec, "--pack-destination", str(cache), "--silent"],
                          capture_output=True, text=True)
    if done.returncode != 0 or not tarball.is_file():
        raise RuntimeError(f"npm pack {spec} failed: {done.stderr.strip()[-1000:]}")
    return tarball


def vendor_scripts(cache: Path) -> Path:
    """RequireJS, the ipywidgets HTML manager and MathJax 3, unpacked under ``cache/static``
    (fetched from the npm registry the first time, then reused); that folder."""
    static, marker = cache / "static", cache / "static.done"
    wanted = "\n".join(spec for spec, *_ in VENDOR) + "\n"
    if marker.is_file() and static.is_dir() and marker.read_text() == wanted:
        return static  # the same pinned packages: reuse; a version bump refetches
    shutil.rmtree(static, ignore_errors=True)
    for spec, prefix, keep, target in VENDOR:
        with tarfile.open(_npm_pack(spec, cache)) as tar:
            for member in tar.getmembers():
                rel = member.name.removeprefix(prefix)
                if not (member.isfile() and member.name.startswith(prefix) and keep(rel)):
                    continue
                dest = static / target / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                assert source is not None
                dest.write_bytes(source.read())
    marker.write_text(wanted)
    return static


def _markdown(notebook: Path) -> list[str]:
    """The markdown cells of a notebook, as text."""
    cells = json.loads(notebook.read_text("utf-8"))["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]


def notebook_title(notebook: Path) -> str:
    """The notebook's first ``# `` heading (its file name when it has none)."""
    for text in _markdown(notebook):
        for line in text.splitlines():
            if line.startswith("# "):
                return line[2:].strip()
    return notebook.stem


def _blocks(text: str) -> list[tuple[bool, str]]:
    """A markdown text cut into list items and paragraphs: (is a list item, its text on one
    line)."""
    blocks: list[tuple[bool, list[str]]] = []
    for line in text.splitlines():
        if not line.strip():
            blocks.append((False, []))
        elif BULLET.match(line) or not blocks:
            blocks.append((bool(BULLET.match(line)), [line]))
        else:
            blocks[-1][1].append(line)
    return [(item, " ".join(" ".join(lines).split())) for item, lines in blocks if lines]


def cited_papers(notebooks: list[Path]) -> dict[str, tuple[str, list[str]]]:
    """Every paper link (arXiv, DOI, ACL Anthology, JMLR, PMLR, NeurIPS, OpenReview) of the
    notebooks' markdown: URL -> (the reference as the notebooks write it, the notebooks citing
    it). The reference is the shortest list item holding the link (a reference list's entry),
    else the shortest paragraph."""
    found: dict[str, tuple[list[tuple[bool, str]], list[str]]] = {}
    for notebook in notebooks:
        for text in _markdown(notebook):
            for item, block in _blocks(text):
                for url in URL.findall(block):
                    if not PAPER_HOSTS.search(url):
                        continue
                    texts, cited_by = found.setdefault(url, ([], []))
                    texts.append((item, BULLET.sub("", block, count=1)))
                    if notebook.stem not in cited_by:
                        cited_by.append(notebook.stem)
    papers = {}
    for url, (texts, cited_by) in found.items():
        pool = [t for item, t in texts if item] or [t for _, t in texts]
        papers[url] = (min(pool, key=len), cited_by)
    return papers


def bibliography_page(notebooks: list[Path]) -> str:
    """``bibliography.md``: each reference once (a list item naming several papers once), as
    its notebooks give it, and the notebooks that cite it."""
    entries: dict[str, list[str]] = {}
    papers = cited_papers(notebooks)
    for url, (text, cited_by) in papers.items():
        text = re.sub(r"^Papers?:\s*", "", text)
        text = re.sub(r"(?<![(<])" + re.escape(url) + r"(?![)>])", f"<{url}>", text)
        if url not in text:
            text += f" <{url}>"
        cited = entries.setdefault(text, [])
        cited += [stem for stem in cited_by if stem not in cited]
    lines = ["# Bibliography", "",
             f"The {len(papers)} papers the notebooks link to, collected from their markdown "
             "when this site was built, each as the notebook's reference list gives it and with "
             "the notebooks that cite it.", ""]
    for text, cited_by in sorted(entries.items(), key=lambda kv: kv[0].lower()):
        links = ", ".join(f"[{stem[:2]}](notebooks/{stem}.ipynb)" for stem in sorted(cited_by))
        lines.append(f"* {text} (cited in notebook {links})")
    return "\n".join(lines) + "\n"


def _readme_intro() -> str:
    """The README's opening paragraphs (between its title and its first section)."""
    text = (REPO_ROOT / "README.md").read_text("utf-8")
    body = text.split("\n## ", 1)[0].split("\n", 1)[1]
    return body.strip()


def intro_page(notebooks: list[Path]) -> str:
    """``intro.md``: what the course teaches, prerequisites, how to run it, the reading order."""
    order = [f"{i}. [{notebook_title(nb)}](notebooks/{nb.name})"
             for i, nb in enumerate(notebooks, 1)]
    return "\n".join([
        f"# {TITLE}", "", "## What the course teaches", "", _readme_intro(), "",
        "## Prerequisites", "",
        "Python (functions, classes, list comprehensions), NumPy-style arrays, the first steps of "
        "PyTorch (tensors, autograd, `nn.Module`), and the calculus and probability of a first "
        "machine-learning course (gradients, softmax, cross-entropy). Notebook 00 lists them "
        "with the notation and a glossary.", "",
        "## Run it on your machine", "",
        "From the repository root, with Python 3.11 (no GPU needed, nothing downloads at run "
        "time):", "", "```bash", "python3 -m venv .venv && . .venv/bin/activate",
        "pip install -r requirements.txt", "jupyter lab notebooks/00_start_here.ipynb", "```",
        "", "These pages show the notebooks as committed (fast-mode outputs, widgets in their "
        "saved state); a widget recomputes only in a running notebook.", "",
        "## Reading order", "", *order, "",
        "Then the [results](results.md) of the experiments and the "
        "[bibliography](bibliography.md).", ""])


def results_page(stage: Path) -> str:
    """``results.md``: the committed result tables and plots (the plots copied into ``stage``)."""
    tables = markdown_tables(RESULTS).replace(f"{REPO_ROOT}/", "")
    lines = ["# Results", "",
             "The experiments' tables, printed from the committed CSVs of `results/` by "
             "`python -m transferlib.experiments.report results`, and their plots.", ""]
    for line in tables.splitlines():
        heading = re.fullmatch(r"(\w+) \((.+)\):", line.strip())
        lines.append(f"## {heading[1]}\n\nFrom `{heading[2]}`.\n" if heading else line)
    for png in sorted(RESULTS.glob("*.png")):
        (stage / "results").mkdir(exist_ok=True)
        shutil.copy2(png, stage / "results" / png.name)
        lines += ["", f"## {png.stem} (plot)", "", f"![{png.stem}](results/{png.name})"]
    return "\n".join(lines) + "\n"


def book_config() -> dict:
    """``_config.yml`` (as JSON, which is YAML): no execution, nothing from a CDN."""
    return {
        "title": TITLE, "author": "transferlib", "copyright": "",
        "only_build_toc_files": True,
        "exclude_patterns": ["_build", "**.ipynb_checkpoints"],
        "execute": {"execute_notebooks": "off"},
        "parse": {"myst_enable_extensions": ["colon_fence", "dollarmath", "linkify",
                                             "substitution", "tasklist"]},
        "html": {"favicon": "favicon.svg", "use_edit_page_button": False,
                 "use_repository_button": False, "use_issues_button": False,
                 "use_multitoc_numbering": False,
                 "home_page_in_navbar": True, "comments": {"hypothesis": False,
                                                           "utterances": False},
                 "analytics": {"google_analytics_id": "", "plausible_analytics_domain": ""}},
        "launch_buttons": {"binderhub_url": "", "jupyterhub_url": "", "thebe": False,
                           "colab_url": "", "deepnote_url": ""},
        "sphinx": {"config": {"html_static_path": ["_vendor"],
                              "mathjax_path": MATHJAX_PATH,
                              "nb_ipywidgets_js": IPYWIDGETS_JS,
                              "html_show_sourcelink": False,
                              # no mode yet: the theme would log an error on a first visit
                              "html_context": {"default_mode": "auto"}}},
    }


def stage_source(src: Path, static: Path) -> list[Path]:
    """Write the book's source folder ``src`` (emptied first); the staged notebooks."""
    shutil.rmtree(src, ignore_errors=True)
    (src / "notebooks").mkdir(parents=True)
    notebooks = []
    for notebook in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        notebooks.append(Path(shutil.copy2(notebook, src / "notebooks" / notebook.name)))
    shutil.copytree(SOLUTIONS, src / "solutions",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copytree(static, src / "_vendor")
    (src / "_vendor" / "widgets" / "shim.js").write_text(WIDGETS_SHIM, "utf-8")
    (src / "favicon.svg").write_text(FAVICON, "utf-8")
    (src / "intro.md").write_text(intro_page(notebooks), "utf-8")
    (src / "results.md").write_text(results_page(src), "utf-8")
    (src / "bibliography.md").write_text(bibliography_page(notebooks), "utf-8")
    (src / "_config.yml").write_text(json.dumps(book_config(), indent=2) + "\n", "utf-8")
    toc = ["format: jb-book", "root: intro", "chapters:",
           *[f"- file: notebooks/{nb.stem}" for nb in notebooks],
           "- file: results", "- file: bibliography"]
    (src / "_toc.yml").write_text("\n".join(toc) + "\n", "utf-8")
    return notebooks


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({done.returncode}):\n{done.stdout[-3000:]}\n"
                           f"{done.stderr[-3000:]}")


def build_book(out: Path, vendor: Path | None = None) -> Path:
    """Stage the book under ``out/src`` and build it into ``out/html`` the way
    ``jupyter-book build`` does (its ``conf.py``, then ``sphinx-build -b html``); the html folder.
    ``vendor``: the cache of the npm scripts (default ``out/vendor``)."""
    out = Path(out).resolve()
    static = vendor_scripts(Path(vendor).resolve() if vendor else out / "vendor")
    src, html = out / "src", out / "html"
    stage_source(src, static)
    jupyter_book = "from jupyter_book.cli.main import main; main()"
    _run([sys.executable, "-c", jupyter_book, "config", "sphinx", str(src)],
         "jupyter-book config sphinx")
    conf = src / "conf.py"  # thebe is off; its extension would still declare its config twice
    conf.write_text(conf.read_text("utf-8").replace("'sphinx_thebe', ", ""), "utf-8")
    shutil.rmtree(html, ignore_errors=True)
    _run([sys.executable, "-m", "sphinx", "-b", "html", "-q", "-E", "-d", str(out / "doctrees"),
          str(src), str(html)], "sphinx-build")
    return html
