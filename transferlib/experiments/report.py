"""The experiments' output files: CSVs, a PNG per experiment and a JSON of how it ran.

Taught in notebook 01 (where the committed results come from). ``experiments.run_experiment``
calls ``write_outputs``; ``plot_summary`` draws with matplotlib's Agg canvas (no pyplot, so it
works headless and does not touch a notebook's figures).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from transferlib.stats import (
    Runs,
    compare,
    compare_to,
    mean_interval,
    records_from_strings,
    runs_from_frame,
)


def _curves(ax, summary: pd.DataFrame, group: str, x: str, y: str) -> None:
    for name, part in summary.groupby(group, sort=False):
        ax.errorbar(part[x], part[f"{y}_mean"], yerr=part[f"{y}_std"].fillna(0), marker="o",
                    capsize=3, label=str(name))
    ax.set_xscale("log")
    ticks = sorted(set(summary[x]))
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.minorticks_off()


def correct_frame(runs: pd.DataFrame) -> pd.DataFrame | None:
    """The per-review right/wrong strings of the runs that have one (``*_correct.csv``)."""
    if "test_correct" not in runs.columns or runs["test_correct"].isna().all():
        return None
    keys = [c for c in ("strategy", "domain", "method", "k", "n_labels", "seed")
            if c in runs.columns]
    return runs[runs["test_correct"].notna()][[*keys, "test_correct"]]


def ablation_intervals(runs: pd.DataFrame, reference: str = "scratch") -> pd.DataFrame:
    """Every strategy's Δ test accuracy against ``reference`` with its 95 % interval and
    verdict (``stats.compare_to``; paired over reviews where the runs kept their records)."""
    return compare_to(runs, reference, correct=correct_frame(runs))


def lowres_comparisons(runs: pd.DataFrame) -> list[dict]:
    """At each label count: what the LSTM LM adds over its word vectors (``full`` and
    ``full-lm`` − ``vectors``) and the best arm by mean *validation* accuracy − ``scratch``."""
    correct, out = correct_frame(runs), []
    for n, part in runs.groupby("n_labels"):
        arms = set(part["strategy"])
        pairs = [(a, "vectors") for a in ("full", "full-lm") if a in arms and "vectors" in arms]
        # the best arm is chosen on validation, never on the test set it is then scored on
        best = part.groupby("strategy")["valid_accuracy"].mean().drop("scratch", errors="ignore")
        if "scratch" in arms and len(best):
            pairs.append((str(best.idxmax()), "scratch"))
        here = None if correct is None else correct[correct["n_labels"] == n]
        for a, b in pairs:
            c = compare(runs_from_frame(part, a, here), runs_from_frame(part, b, here),
                        show=False)
            out.append({"n_labels": int(n), **c.to_dict(), "text": str(c)})
    return out


def _runs(rows: pd.DataFrame, name: str, value: str, size: str) -> Runs:
    """The ``Runs`` of some rows, with their per-item records when every row kept one."""
    records = None
    if "test_correct" in rows.columns and rows["test_correct"].notna().all():
        records = records_from_strings(rows["test_correct"])
    return Runs(name, tuple(rows[value]), int(rows[size].iloc[0]), records)


def domain_comparisons(runs: pd.DataFrame) -> list[dict]:
    """Per domain and k: the adapted RT model against the RT model as is and against scratch
    on the same k sentences, scored on the same held-out sentences of the domain; paired over
    those sentences when the runs kept their right/wrong records (``domains_correct.csv``)."""
    out = []
    for (domain, k), part in runs[runs["k"] > 0].groupby(["domain", "k"], sort=False):
        get = {m: _runs(rows, f"{domain}, {m} (k = {k})", "accuracy", "n_eval")
               for m, rows in part.groupby("method")}
        for other in ("rt-as-is", "scratch"):
            c = compare(get["rt-adapted"], get[other], show=False,
                        scored_on=f"{domain} sentences")
            out.append({"domain": domain, "k": int(k), "versus": other, **c.to_dict(),
                        "text": str(c)})
    return out


def zeroshot_comparisons(runs: pd.DataFrame) -> list[dict]:
    """Every zero- and few-shot method against answering the majority class, on the test
    reviews (unpaired; a method without seeds has the test-set part of the interval only)."""
    name = runs["method"] + [f" (k = {k})" if k else "" for k in runs["k"]]
    get = {n: _runs(rows, n, "accuracy", "n_test") for n, rows in runs.groupby(name, sort=False)}
    return [{**(c := compare(model, get["majority"], show=False)).to_dict(), "text": str(c)}
            for n, model in get.items() if n != "majority"]


def transfer_vs_scratch(summary: pd.DataFrame, strategy: str, n_transfer: int = 100,
                        n_scratch: int = 1000) -> str:
    """The sentence answering "does transfer with 100 labels ≥ scratch with 1000?" from a
    ``run_lowres`` summary (notebook 01)."""
    def get(name: str, n: int) -> pd.Series | None:
        hit = summary[(summary["strategy"] == name) & (summary["n_labels"] == n)]
        return None if hit.empty else hit.iloc[0]

    t, s = get(strategy, n_transfer), get("scratch", n_scratch)
    if t is None or s is None:
        return (f"cannot answer: the run lacks {strategy} with {n_transfer} labels or scratch "
                f"with {n_scratch} labels")
    verdict = "yes" if t["test_accuracy_mean"] >= s["test_accuracy_mean"] else "no"
    return (f"{verdict}: {strategy} with {n_transfer} labels reaches "
            f"{t['test_accuracy_mean']:.3f} ± {np.nan_to_num(t['test_accuracy_std']):.3f} "
            f"test accuracy, scratch with {n_scratch} labels "
            f"{s['test_accuracy_mean']:.3f} ± {np.nan_to_num(s['test_accuracy_std']):.3f} "
            f"(mean ± std over {int(min(t['n_seeds'], s['n_seeds']))} seeds)")


def plot_summary(name: str, summary: pd.DataFrame, path: Path) -> Path:
    """The PNG of one experiment's summary (matplotlib's Agg canvas, no pyplot) (notebook 01)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4.5) if name == "domains" else (7, 4.5), layout="constrained")
    if name == "ablation" and "ci_low" in summary.columns:
        ax = fig.subplots()
        rows = summary[summary["ci_low"].notna()]
        delta = 100 * rows["delta_vs_scratch"]
        err = [delta - 100 * rows["ci_low"], 100 * rows["ci_high"] - delta]
        ax.errorbar(delta, rows["strategy"], xerr=err, fmt="o", capsize=3)
        ax.axvline(0, color="gray", ls="--", label="scratch")
        ax.invert_yaxis()
        ax.set_xlabel("test accuracy − scratch (points), 95 % interval (seeds + test set)")
        ax.set_ylabel("strategy")
        ax.legend()
    elif name == "ablation":
        ax = fig.subplots()
        ax.barh(summary["strategy"], summary["test_accuracy_mean"],
                xerr=summary["test_accuracy_std"].fillna(0), capsize=3)
        ax.invert_yaxis()
        ax.set_xlabel("test accuracy (mean ± std over seeds)")
    elif name == "lowres":
        ax = fig.subplots()
        _curves(ax, summary, "strategy", "n_labels", "test_accuracy")
        ax.set_xlabel("labelled training examples (log scale)")
        ax.set_ylabel("test accuracy")
    elif name == "sources":
        ax = fig.subplots()
        _curves(ax, summary, "source", "n_labels", "test_accuracy")
        ax.set_xlabel("labelled training examples (log scale)")
        ax.set_ylabel("test accuracy")
        ax.legend(title="source model")
    elif name == "domains":
        for ax, (domain, part) in zip(fig.subplots(1, 3, sharey=True),
                                      summary.groupby("domain", sort=False)):
            _curves(ax, part[part["k"] > 0], "method", "k", "accuracy")
            base = part[(part["k"] == 0) & (part["method"] == "rt-as-is")]["accuracy_mean"]
            ax.axhline(float(base.iloc[0]), color="gray", ls="--", label="rt-as-is (all)")
            ax.set_title(domain)
            ax.set_xlabel("k labelled sentences")
        ax.legend()
    else:
        ax = fig.subplots()
        _curves(ax, summary[summary["method"] == "prototype"], "method", "k", "accuracy")
        for (method, part), color in zip(summary[summary["k"] == 0].groupby("method", sort=False),
                                         ("gray", "C1", "C2")):
            ax.axhline(float(part["accuracy_mean"].iloc[0]), ls="--", color=color, label=method)
        ax.set_xlabel("k labelled examples per class")
        ax.set_ylabel("test accuracy")
    if name in ("lowres", "zeroshot"):
        ax.legend()
    fig.suptitle(name)
    fig.savefig(path, dpi=110, format="png")
    return path


def write_outputs(out: Path, name: str, runs: pd.DataFrame, summary: pd.DataFrame,
                  meta: dict) -> dict[str, Path]:
    """``NAME_runs.csv``, ``NAME.csv``, ``NAME.png`` and ``NAME.json`` in ``out``, and
    ``NAME_correct.csv`` (each run's per-review right/wrong string, which the paired intervals
    of ``stats`` read) when the runs carry one (notebook 01)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"runs": out / f"{name}_runs.csv", "summary": out / f"{name}.csv",
             "png": out / f"{name}.png", "json": out / f"{name}.json"}
    correct = correct_frame(runs)
    if correct is not None:
        paths["correct"] = out / f"{name}_correct.csv"
        correct.to_csv(paths["correct"], index=False)
    runs = runs.drop(columns="test_correct", errors="ignore")
    runs.to_csv(paths["runs"], index=False)
    summary.to_csv(paths["summary"], index=False)
    plot_summary(name, summary, paths["png"])
    paths["json"].write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")
    return paths


def _pct(mean: float, std: float | None = None) -> str:
    if pd.isna(mean):
        return "–"
    return f"{100 * mean:.1f} ± {100 * std:.1f} %" if std is not None and not pd.isna(std) \
        else f"{100 * mean:.1f} %"


def _ablation_md(ablation: pd.DataFrame) -> list[str]:
    out = ["| strategy | test accuracy (mean ± std) | seeds | Δ vs scratch (95 % CI) | verdict "
           "| valid | top-class share | s / epoch |\n| --- | --- | --- | --- | --- | --- | --- "
           "| --- |"]
    for r in ablation.itertuples():
        share = getattr(r, "test_top_share", float("nan"))
        low = getattr(r, "ci_low", float("nan"))
        delta = "–" if pd.isna(low) else (f"{100 * r.delta_vs_scratch:+.1f} ({100 * low:+.1f} … "
                                          f"{100 * r.ci_high:+.1f})")
        out.append(f"| {r.strategy} | {_pct(r.test_accuracy_mean, r.test_accuracy_std)} | "
                   f"{r.n_seeds} | {delta} | {getattr(r, 'verdict', '–') if delta != '–' else '–'}"
                   f" | {_pct(r.valid_accuracy)} | {'–' if pd.isna(share) else f'{share:.2f}'} | "
                   f"{r.seconds_per_epoch:.1f} |")
    return out


def _with_interval(rows: pd.DataFrame) -> str:
    """"mean ± half-width of its 95 % interval (seeds)" of some runs' test accuracies."""
    if rows.empty:
        return "–"
    runs = Runs("", tuple(rows["test_accuracy"]), int(rows["n_test"].iloc[0]))
    return f"{100 * runs.mean:.1f} ± {100 * mean_interval(runs):.1f} % ({runs.seeds})"


def _curve_md(runs: pd.DataFrame, group: str, first: list[str]) -> list[str]:
    counts = sorted(runs["n_labels"].unique())
    out = [f"| {' | '.join(first)} | " + " | ".join(f"{n:,} labels" for n in counts)
           + " |\n|" + " --- |" * (len(first) + len(counts))]
    for name, part in runs.groupby(group, sort=False):
        cells = [str(name)] + ([f"{int(part['source_tokens'].iloc[0]):,}"] if len(first) > 1
                               else [])
        out.append("| " + " | ".join(cells + [_with_interval(part[part["n_labels"] == n])
                                              for n in counts]) + " |")
    return out


def _lowres_md(lowres: pd.DataFrame, runs: pd.DataFrame) -> list[str]:
    return _curve_md(runs, "strategy", ["arm"])


def _sources_md(sources: pd.DataFrame, runs: pd.DataFrame) -> list[str]:
    return _curve_md(runs, "source", ["source model", "tokens read"])


def _ci(c: dict) -> str:
    return f"{100 * c['delta']:+.1f} ({100 * c['low']:+.1f} … {100 * c['high']:+.1f})"


def _domains_md(domains: pd.DataFrame, runs: pd.DataFrame) -> list[str]:
    out = ["| domain | k | RT model as is | adapted on k | scratch on k | adapted − as is "
           "(95 % CI) | adapted − scratch (95 % CI) | seeds |\n"
           "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    get = domains.set_index(["domain", "method", "k"])
    pairs = {(c["domain"], c["k"], c["versus"]): c for c in domain_comparisons(runs)}
    for (domain, k), _ in domains[domains["k"] > 0].groupby(["domain", "k"], sort=False):
        cell = [_pct(get.loc[(domain, m, k), "accuracy_mean"],
                     get.loc[(domain, m, k), "accuracy_std"])
                for m in ("rt-as-is", "rt-adapted", "scratch")]
        out.append(f"| {domain} | {k} | " + " | ".join(cell) + " | "
                   f"{_ci(pairs[(domain, k, 'rt-as-is')])} | "
                   f"{_ci(pairs[(domain, k, 'scratch')])} | "
                   f"{get.loc[(domain, 'rt-adapted', k), 'n_seeds']} |")
    return out


def _zeroshot_md(zs: pd.DataFrame, runs: pd.DataFrame) -> list[str]:
    shares = [c for c in zs.columns if c.startswith("pred_share_")]
    out = ["| method | k per class | test accuracy | seeds | − majority class (95 % CI) | "
           + " | ".join(c.replace("pred_share_", "predicted ") for c in shares)
           + " |\n| --- | --- | --- | --- | --- |" + " --- |" * len(shares)]
    deltas = {c["a"]: _ci(c) for c in zeroshot_comparisons(runs)}
    for r in zs.itertuples():
        name = r.method + (f" (k = {r.k})" if r.k else "")
        out.append(f"| {r.method} | {r.k} | {_pct(r.accuracy_mean, r.accuracy_std)} | "
                   f"{r.n_seeds} | {deltas.get(name, '–')} | "
                   + " | ".join(f"{getattr(r, c):.2f}" for c in shares) + " |")
    return out


def distill_table(results: Path) -> pd.DataFrame:
    """Teacher and students (``teacher_runs.csv`` + ``distill_runs.csv``): mean test accuracy
    and every model's Δ against the LSTM trained on labels alone with its 95 % interval
    (``stats.compare_to``, paired over the test reviews), median training seconds."""
    runs, correct = [], []
    for name in ("teacher", "distill"):
        runs.append(pd.read_csv(results / f"{name}_runs.csv"))
        correct.append(pd.read_csv(results / f"{name}_correct.csv", dtype={"test_correct": str}))
    runs, correct = pd.concat(runs, ignore_index=True), pd.concat(correct, ignore_index=True)
    table = compare_to(runs, "lstm-labels", correct=correct).rename(
        columns={"delta_vs_lstm-labels": "delta"})
    stats = runs.groupby("strategy").agg(test_std=("test_accuracy", "std"),
                                         valid=("valid_accuracy", "mean"),
                                         seconds=("seconds", "median"))
    return table.merge(stats, left_on="strategy", right_index=True)


def _distill_md(results: Path) -> list[str]:
    out = ["| model | test accuracy (mean ± std) | seeds | Δ vs lstm-labels (95 % CI) | verdict "
           "| valid | training s (median) |\n| --- | --- | --- | --- | --- | --- | --- |"]
    for r in distill_table(results).itertuples():
        out.append(f"| {r.strategy} | {_pct(r.test_accuracy, r.test_std)} | {r.seeds} | "
                   f"{100 * r.delta:+.1f} ({100 * r.ci_low:+.1f} … "
                   f"{100 * r.ci_high:+.1f}) | {r.verdict} | {_pct(r.valid)} | {r.seconds:.0f} |")
    deploy = results / "distill_deploy.csv"
    if deploy.is_file():
        out.append("\n| model | runtime | ms, batch 1 | ms, batch 64 | reviews/s at 64 | MB | "
                   "test accuracy | throughput vs teacher | size vs teacher |\n"
                   "| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for r in pd.read_csv(deploy).itertuples():
            out.append(f"| {r.model} | {r.runtime} | {r.latency_ms_batch1:.1f} | "
                       f"{r.latency_ms_batch64:.1f} | {r.reviews_per_s_batch64:,.0f} | "
                       f"{r.size_bytes / 1e6:.1f} | {_pct(r.test_accuracy)} | "
                       f"{r.throughput_vs_teacher:.1f} | {r.size_vs_teacher:.2f} |")
    return out


def read_runs(runs_csv: Path) -> pd.DataFrame:
    """An experiment's ``NAME_runs.csv`` with each run's right/wrong record from the
    ``NAME_correct.csv`` beside it when there is one (what the paired intervals read)."""
    runs = pd.read_csv(runs_csv)
    records = Path(runs_csv).with_name(Path(runs_csv).name.replace("_runs.csv", "_correct.csv"))
    if records.is_file():
        correct = pd.read_csv(records, dtype={"test_correct": str})
        runs = runs.merge(correct, how="left",
                          on=[c for c in correct.columns if c != "test_correct"])
    return runs


def markdown_tables(results: Path) -> str:
    """The README's result tables, printed from the committed CSVs (so the README quotes the
    files, never a hand copy): ``python -m transferlib.experiments.report results``. The
    curves' cells are "mean ± half-width of its 95 % interval (seeds)", the interval counting
    the seeds and the test set (``stats.mean_interval``)."""
    out = []
    for name, fmt in (("ablation", _ablation_md), ("lowres", _lowres_md),
                      ("domains", _domains_md), ("zeroshot", _zeroshot_md),
                      ("sources", _sources_md)):
        path = Path(results) / f"{name}.csv"
        if not path.is_file():
            continue
        frames = [pd.read_csv(path)]
        if name in ("domains", "zeroshot", "lowres", "sources"):
            frames.append(read_runs(Path(results) / f"{name}_runs.csv"))
        out += [f"\n{name} ({path}):\n", *fmt(*frames)]
    if all((Path(results) / f"{n}_runs.csv").is_file() for n in ("teacher", "distill")):
        out += [f"\ndistillation ({Path(results) / 'distill_runs.csv'}):\n",
                *_distill_md(Path(results))]
    return "\n".join(out)


if __name__ == "__main__":
    import sys

    print(markdown_tables(Path(sys.argv[1] if len(sys.argv) > 1 else "results")))
