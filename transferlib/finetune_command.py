"""``python -m transferlib finetune`` (and ``evaluate``/``predict``'s reading of a saved model):
read the CSV, choose how to read the texts, fine-tune, write the model and metrics.json.

Taught in notebook 06 (the pipeline) and 09 (under torchrun). Light to import, like ``cli``: each
function imports torch and the pipeline when it runs.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import time
from pathlib import Path

from transferlib.cli_helpers import device_arg, print_epoch, writable_dir, write_json
from transferlib.config import fast_mode, source_model_dir
from transferlib.errors import DataError
from transferlib.strategies import get_strategy

LONG_LM_EPOCHS = 1  # target-LM stage chosen automatically for long texts: one epoch


def read_splits(args: argparse.Namespace):
    from transferlib.csvdata import read_labelled_csv, split_frame

    df, report = read_labelled_csv(args.data, args.text_column, args.label_column,
                                   args.split_column)
    if report.total or report.notes:
        print(f"{args.data}: {report}", file=sys.stderr)
    if "split" not in df:
        df = split_frame(df, seed=args.seed)
        print(f"{args.data}: no {args.split_column!r} column; made a seeded 80/10/10 split",
              file=sys.stderr)
    return df, report


def finetune_inputs(args: argparse.Namespace) -> dict:
    """What a ``finetune`` command asks for: the splits (capped in fast mode), the strategy, the
    source model folder, the unlabelled LM texts, the skip report and the sizes. Shared by the
    single-process command and every torchrun process."""
    from transferlib.pipeline import default_sizes

    sizes = default_sizes(args.fast or fast_mode())
    df, report = read_splits(args)
    train, valid, test = (df[df["split"] == s].reset_index(drop=True)
                          for s in ("train", "valid", "test"))
    cap = args.max_train or sizes.max_train
    if cap:
        train = train.sample(n=min(cap, len(train)), random_state=args.seed)
    if sizes.max_eval:
        valid, test = valid.head(sizes.max_eval), test.head(sizes.max_eval)
    reading, truncated, note = _reading(args, train, valid, test)
    auto_long = reading.chunked and args.chunk_len is None
    strategy_name = args.strategy or ("full-lm" if auto_long else "full")
    strategy = get_strategy(strategy_name, regularizer=args.regularizer, lam=args.lam,
                            schedule=args.schedule)
    pretrained = (args.pretrained or str(source_model_dir())) if strategy.pretrained else None
    lm_texts = read_unlabelled(args.lm_data, args.lm_text_column) if args.lm_data else []
    lm_epochs = args.lm_epochs or (LONG_LM_EPOCHS if auto_long else sizes.lm_epochs)
    choice = f"{reading.reason}" + (f"; target-LM stage {lm_epochs} epoch(s)"
                                    if strategy.target_lm else "")
    return {"train": train, "valid": valid, "test": test, "strategy": strategy,
            "strategy_name": strategy_name, "lm_epochs": lm_epochs,
            "pretrained": pretrained, "lm_texts": lm_texts, "report": report, "sizes": sizes,
            "max_len": reading.max_len, "chunk_len": reading.chunk_len, "truncated": truncated,
            "max_len_note": note, "choice": choice,
            "reading": {"chunk_len": reading.chunk_len, "max_len": reading.max_len,
                        "median_tokens": reading.median_tokens, "automatic": args.max_len is None
                        and args.chunk_len is None, "target_lm": strategy.target_lm,
                        "lm_epochs": lm_epochs if strategy.target_lm else 0,
                        "why": choice}}


def _reading(args: argparse.Namespace, train, valid, test):
    """How the texts are read (``baselines.choose_reading``: whole documents in chunks when the
    training texts are long, else the 95th percentile, 32..400; ``--max-len`` truncates) and
    how many texts of each split ``max_len`` truncates → ``(reading, truncated, note)``."""
    from transferlib.baselines import choose_reading, count_truncated

    reading = choose_reading(list(train["text"]), args.max_len, args.chunk_len)
    max_len = reading.max_len
    truncated = {name: count_truncated(list(f["text"]), max_len)
                 for name, f in (("train", train), ("valid", valid), ("test", test))}
    note = (f"max_len {max_len} tokens ({reading.reason}); texts truncated to it: "
            + ", ".join(f"{k} {v} of {n}" for (k, v), n in
                        zip(truncated.items(), (len(train), len(valid), len(test)))))
    return reading, truncated, note


def baseline_metrics(train, test, seed: int) -> dict:
    """Majority class and TF-IDF + logistic regression on the same split as the model."""
    from transferlib.baselines import majority_accuracy, tfidf_logreg_accuracy

    if len(test) == 0:
        return {}
    return {"majority_accuracy": majority_accuracy(list(train["label"]), list(test["label"])),
            "tfidf_logreg_accuracy": tfidf_logreg_accuracy(
                list(train["text"]), list(train["label"]), list(test["text"]),
                list(test["label"]), seed=seed)}


def save_finetune_outputs(out: Path, result, args: argparse.Namespace, inputs: dict,
                          command: str, shown: tuple[str, ...]) -> dict:
    """Write the model, history.csv and metrics.json of a finetune run; print a summary."""
    from transferlib.checkpoint import save_model

    metrics = {**result.metrics, **baseline_metrics(inputs["train"], inputs["test"], args.seed),
               "strategy_name": inputs["strategy_name"], "max_len": inputs["max_len"],
               "reading": inputs["reading"], "truncated": inputs["truncated"],
               "pretrained": inputs["pretrained"],
               "data": str(args.data), "skipped_rows": inputs["report"].skipped,
               "command": command}
    save_model(out, result.model, result.vocab, classes=result.classes, meta=metrics)
    result.history.to_csv(out / "history.csv", index=False)
    write_json(out / "metrics.json", metrics)
    print(result.history.to_string(index=False))
    print(json.dumps({k: metrics[k] for k in shown if k in metrics}))
    return metrics


def cmd_finetune(args: argparse.Namespace) -> int:
    """``finetune``: one process, or one DDP replica per process under torchrun (then rank 0
    alone reads aloud, writes the model folder and scores the test split; notebook 09)."""
    from transferlib.parallel import init_distributed, is_distributed, shutdown

    if not is_distributed():
        return _finetune(args, None)
    if args.resume:
        raise DataError("--resume is not supported under torchrun yet; resume in one process")
    ctx = init_distributed(device_arg(args))
    try:
        return _finetune(args, ctx)
    finally:
        shutdown()


def _finetune(args: argparse.Namespace, ctx) -> int:
    import torch.distributed as dist

    from transferlib.pipeline import FinetuneConfig, finetune_classifier

    main_rank = ctx is None or ctx.is_main
    out = writable_dir(args.out) if main_rank else Path(args.out)
    quiet = contextlib.nullcontext() if main_rank else contextlib.redirect_stderr(io.StringIO())
    with quiet:  # rank 0 alone reports skipped rows
        inputs = finetune_inputs(args)
    sizes = inputs["sizes"]
    if main_rank:
        print(inputs["choice"], flush=True)
    start = time.perf_counter()
    cfg = FinetuneConfig(epochs=args.epochs or sizes.epochs, lm_epochs=inputs["lm_epochs"],
                         lr=args.lr, batch_size=args.batch_size, accumulate=args.accumulate,
                         max_len=inputs["max_len"], chunk_len=inputs["chunk_len"],
                         seed=args.seed, amp=not args.no_amp, device=device_arg(args))
    result = finetune_classifier(
        inputs["train"], inputs["valid"], inputs["test"], inputs["strategy"], cfg,
        pretrained=inputs["pretrained"], lm_texts=inputs["lm_texts"],
        progress=main_rank and sys.stderr.isatty(),
        on_epoch_end=print_epoch if main_rank else None,
        checkpoint_dir=out / "checkpoints" if ctx is None else None, resume=args.resume, ctx=ctx)
    result.metrics["total_seconds"] = time.perf_counter() - start
    if result.lm_history is not None:
        result.metrics["target_lm_seconds"] = float(result.lm_history["seconds"].sum())
    if main_rank:
        if result.transfer is not None:
            print(result.transfer)
        print(inputs["max_len_note"])
        command = args.command_line if ctx is None else \
            "torchrun ... " + args.command_line.removeprefix("python ")
        save_finetune_outputs(out, result, args, inputs, command,
                              ("valid_accuracy", "test_accuracy", "majority_accuracy",
                               "tfidf_logreg_accuracy", "n_train", "n_test", "max_len",
                               "chunk_len", "world_size", "seconds", "total_seconds"))
    if ctx is not None:
        dist.barrier()
    return 0


def read_unlabelled(path: str, column: str) -> list[str]:
    """Texts of the train split (or all rows when there is no split column) of a CSV."""
    from transferlib.csvdata import read_text_csv

    texts, report = read_text_csv(path, column)
    if report.total:
        print(f"{path}: {report}", file=sys.stderr)
    return texts


def saved_max_len(config: dict) -> int:
    """The max_len a saved classifier was trained and tested with (``DEFAULT_MAX_LEN`` for
    models saved before it was recorded, the value ``finetune`` used then)."""
    from transferlib.batching import DEFAULT_MAX_LEN

    return int(config.get("meta", {}).get("max_len", DEFAULT_MAX_LEN))


def saved_chunk_len(config: dict) -> int:
    """The chunk length a saved classifier reads texts in (0: one piece; models saved before
    whole-document reading)."""
    return int(config.get("meta", {}).get("chunk_len", 0))
