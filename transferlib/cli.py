"""Command line: ``python -m transferlib {pretrain,finetune,evaluate,predict} --help``.

Start-up stays light: torch, pandas and each command's modules are imported when that command
runs, and the heavy subcommands (``experiments``, ``bench``, ``bench-tta``) are listed in
``LAZY_COMMANDS`` and register their own flags only when they are the command asked for.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import io
import json
import shlex
import sys
import time
import warnings
from pathlib import Path
from types import ModuleType

from transferlib.config import (
    fast_mode,
    machine_info,
    positive_int,
    repo_relative,
    source_model_dir,
)
from transferlib.errors import DataError, TransferlibError
from transferlib.strategies import DESCRIPTIONS, PRESETS, REGULARIZERS, SCHEDULES, get_strategy

LONG_LM_EPOCHS = 1  # target-LM stage chosen automatically for long texts: one epoch
DTYPES = {"fp32": None, "bf16": "bfloat16", "fp16": "float16"}  # --save-dtype -> torch dtype

# (subcommand, module that registers and runs it, help shown by ``--help``)
LAZY_COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("experiments", "experiments", "ablation, low-resource, domains, zero-shot"),
    ("bench", "bench", "measure every efficiency lever side by side (table + CSV + PNG + JSON)"),
    ("distill", "distill", "the MiniLM teacher and the LSTM distilled from it (optional extra "
                           "[teacher])"),
    ("bench-tta", "bench_tta", "time to accuracy: the seed's loop vs transferlib's arms, + the "
                               "ONNX deployment table (CSV + PNG + JSON)"),
)


def _writable_dir(path: str) -> Path:
    """Create ``path`` and prove it is writable *before* any training starts."""
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise DataError(f"output folder {out} is not writable ({exc.strerror})") from None
    return out


def _device(args: argparse.Namespace) -> str:
    """``--device``; with ``--allow-cpu-fallback`` an unavailable device becomes 'cpu' with a
    warning on stderr (without it, the pipeline raises a clear error)."""
    from transferlib.devices import pick_device

    if not args.allow_cpu_fallback:
        return args.device
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        device = pick_device(args.device, allow_cpu_fallback=True)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    return str(device)


def _write_json(path: Path, payload: dict) -> None:
    from transferlib.checkpoint import atomic_write_text

    atomic_write_text(path, json.dumps(payload, indent=2, default=str))


def _print_epoch(epoch: int, history) -> None:
    row = history.iloc[-1]
    shown = {k: round(float(v), 4) for k, v in row.items() if k.startswith(("train_", "valid_"))}
    print(f"epoch {int(row['epoch'])}: {shown} ({row['seconds']:.0f} s)", flush=True)


def cmd_pretrain(args: argparse.Namespace) -> int:
    import torch

    from transferlib.batching import LanguageModelStream
    from transferlib.checkpoint import save_model
    from transferlib.pipeline import default_sizes, load_source_corpus, pretrain_language_model
    from transferlib.tasks import LanguageModelTask
    from transferlib.training import evaluate

    out = _writable_dir(args.out)
    fast = args.fast or fast_mode()  # read once, here at the entry point
    sizes = default_sizes(fast)
    p = sizes["pretrain"]
    train = load_source_corpus(args.corpus, fast=fast, split="train")
    valid = load_source_corpus(args.corpus, fast=fast, split="valid")
    vectors = None
    if not args.no_vectors:
        from transferlib.vectors import load_word_vectors

        vectors = load_word_vectors()
    result = pretrain_language_model(
        train, valid, vocab_size=args.vocab_size or p["vocab_size"],
        emb_dim=args.emb_dim or p["emb_dim"], hidden_dim=args.hidden_dim or p["hidden_dim"],
        num_layers=args.layers or p["num_layers"], epochs=args.epochs or sizes["pretrain_epochs"],
        batch_size=args.batch_size or p["batch_size"], bptt=args.bptt or p["bptt"], lr=args.lr,
        seed=args.seed, amp=not args.no_amp, device=_device(args), max_tokens=args.max_tokens,
        progress=sys.stderr.isatty(), on_epoch_end=_print_epoch,
        checkpoint_dir=out / "checkpoints", resume=args.resume, vectors=vectors,
        out_dim=p["out_dim"] if args.out_dim is None else args.out_dim,
        output_vocab_size=p["output_vocab_size"] if args.output_vocab is None
        else args.output_vocab)
    test = load_source_corpus(args.corpus, fast=fast, split="test")
    stream = LanguageModelStream(test, result.vocab, batch_size=16, bptt=result.metrics["bptt"])
    result.metrics["test_perplexity"] = evaluate(result.model, stream, LanguageModelTask(),
                                                 amp=not args.no_amp)["perplexity"]
    meta = {**result.metrics, "command": args.command_line,
            "corpus": args.corpus, "seed": args.seed, "fast_mode": fast,
            "machine": machine_info()}
    dtype = DTYPES[args.save_dtype]
    save_model(out, result.model, result.vocab, meta=meta,
               dtype=getattr(torch, dtype) if dtype else None)
    result.history.to_csv(out / "history.csv", index=False)
    _write_json(out / "metrics.json", meta)
    print(result.history.to_string(index=False))
    m = result.metrics
    print(f"saved the language model to {out} (perplexity: valid {m['valid_perplexity']:.1f}, "
          f"test {m['test_perplexity']:.1f})")
    return 0


def _read_splits(args: argparse.Namespace):
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
    df, report = _read_splits(args)
    train, valid, test = (df[df["split"] == s].reset_index(drop=True)
                          for s in ("train", "valid", "test"))
    cap = args.max_train or sizes["max_train"]
    if cap:
        train = train.sample(n=min(cap, len(train)), random_state=args.seed)
    if sizes["max_eval"]:
        valid, test = valid.head(sizes["max_eval"]), test.head(sizes["max_eval"])
    reading, truncated, note = _reading(args, train, valid, test)
    auto_long = reading.chunked and args.chunk_len is None
    strategy_name = args.strategy or ("full-lm" if auto_long else "full")
    strategy = get_strategy(strategy_name, regularizer=args.regularizer, lam=args.lam,
                            schedule=args.schedule)
    pretrained = (args.pretrained or str(source_model_dir())) if strategy.pretrained else None
    lm_texts = _read_unlabelled(args.lm_data, args.lm_text_column) if args.lm_data else []
    lm_epochs = args.lm_epochs or (LONG_LM_EPOCHS if auto_long else sizes["lm_epochs"])
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
    _write_json(out / "metrics.json", metrics)
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
    ctx = init_distributed(_device(args))
    try:
        return _finetune(args, ctx)
    finally:
        shutdown()


def _finetune(args: argparse.Namespace, ctx) -> int:
    import torch.distributed as dist

    from transferlib.pipeline import finetune_classifier

    main_rank = ctx is None or ctx.is_main
    out = _writable_dir(args.out) if main_rank else Path(args.out)
    quiet = contextlib.nullcontext() if main_rank else contextlib.redirect_stderr(io.StringIO())
    with quiet:  # rank 0 alone reports skipped rows
        inputs = finetune_inputs(args)
    sizes = inputs["sizes"]
    if main_rank:
        print(inputs["choice"], flush=True)
    start = time.perf_counter()
    result = finetune_classifier(
        inputs["train"], inputs["valid"], inputs["test"], inputs["strategy"],
        pretrained=inputs["pretrained"], lm_texts=inputs["lm_texts"],
        epochs=args.epochs or sizes["epochs"], lm_epochs=inputs["lm_epochs"],
        chunk_len=inputs["chunk_len"],
        lr=args.lr, seed=args.seed, amp=not args.no_amp, device=_device(args),
        max_len=inputs["max_len"], batch_size=args.batch_size, accumulate=args.accumulate,
        progress=main_rank and sys.stderr.isatty(),
        on_epoch_end=_print_epoch if main_rank else None,
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


def _read_unlabelled(path: str, column: str) -> list[str]:
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


def cmd_evaluate(args: argparse.Namespace) -> int:
    from transferlib.batching import TextClassificationDataset, make_loader
    from transferlib.checkpoint import load_model
    from transferlib.devices import pick_device
    from transferlib.tasks import ClassificationTask
    from transferlib.training import evaluate

    model, vocab, config = load_model(args.model)
    df, _ = _read_splits(args)
    if args.split != "all":
        df = df[df["split"] == args.split]
    unknown = sorted(set(df["label"]) - set(config["classes"]))
    if unknown:
        raise DataError(f"{args.data}: labels {unknown[:5]} are not among the model's classes "
                        f"{config['classes']}")
    ds = TextClassificationDataset(df["text"], df["label"], vocab, config["classes"],
                                   max_len=saved_max_len(config))
    device = pick_device(_device(args))
    metrics = evaluate(model.to(device), make_loader(ds, 256, shuffle=False),
                       ClassificationTask(chunk_len=saved_chunk_len(config)), device)
    print(json.dumps({**metrics, "n": len(ds)}))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from transferlib.checkpoint import load_model
    from transferlib.devices import pick_device
    from transferlib.predict import predict_texts

    model, vocab, config = load_model(args.model)
    model.to(pick_device(_device(args)))
    for text, probs in zip(args.texts, predict_texts(model, vocab, args.texts,
                                                     max_len=saved_max_len(config),
                                                     chunk_len=saved_chunk_len(config))):
        best = max(range(len(probs)), key=probs.__getitem__)
        print(f"{config['classes'][best]}\t{probs[best]:.3f}\t{text}")
    return 0


def _command_module(module: str) -> ModuleType:
    """The module of a ``LAZY_COMMANDS`` subcommand, imported now (and only that one)."""
    if module == "experiments":
        from transferlib.experiments import runs as loaded
    elif module == "bench":
        from transferlib.bench import levers as loaded
    elif module == "distill":
        from transferlib.experiments import distill as loaded
    elif module == "bench_tta":
        from transferlib.bench import tta as loaded
    else:
        raise ValueError(f"no subcommand module {module!r}")
    return loaded


def requested_command(argv: list[str]) -> str:
    """The subcommand ``argv`` asks for ('' when none, e.g. ``--help`` alone)."""
    return next((a for a in argv if not a.startswith("-")), "")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The full parser; with ``command`` (what :func:`main` passes), only that subcommand's
    ``LAZY_COMMANDS`` module is imported, the others are listed by name and help alone."""
    parser = argparse.ArgumentParser(prog="python -m transferlib",
                                     description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    _add_core_commands(sub)
    for name, module, help_text in LAZY_COMMANDS:
        if command is None or command == name:
            _command_module(module).add_parser(sub)
        else:  # never parsed: another subcommand was asked for
            sub.add_parser(name, help=help_text, add_help=False)
    return parser


def _add_core_commands(sub: argparse._SubParsersAction) -> None:
    """``pretrain``, ``finetune``, ``evaluate`` and ``predict`` (their runners are above)."""
    p, f = _add_pretrain(sub), _add_finetune(sub)
    e = sub.add_parser("evaluate", help="accuracy of a saved classifier on a CSV")
    e.add_argument("--model", required=True)
    e.add_argument("--data", required=True)
    e.add_argument("--split", default="test", choices=["train", "valid", "test", "all"])
    e.set_defaults(func=cmd_evaluate)

    r = sub.add_parser("predict", help="classify texts given on the command line")
    r.add_argument("--model", required=True)
    r.add_argument("texts", nargs="+")
    r.add_argument("--device", default="cpu", help="auto, cpu, cuda, cuda:N or mps")
    r.add_argument("--allow-cpu-fallback", action="store_true",
                   help="use the CPU (with a warning) when --device is not available")
    r.set_defaults(func=cmd_predict)

    for q in (f, e):
        q.add_argument("--text-column", default="text")
        q.add_argument("--label-column", default="label")
        q.add_argument("--split-column", default="split")
    for q in (p, f, e):
        q.add_argument("--seed", type=int, default=0)
        q.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
        q.add_argument("--allow-cpu-fallback", action="store_true",
                       help="use the CPU (with a warning) when --device is not available")
    for q in (p, f):
        q.add_argument("--no-amp", action="store_true", help="train in fp32 (no autocast)")
        q.add_argument("--fast", action="store_true",
                       help="fast mode: small data, sizes and epochs (as TRANSFERLIB_FAST=1)")
        q.add_argument("--resume", action="store_true",
                       help="continue an interrupted run from OUT/checkpoints (saved per epoch)")


def _add_pretrain(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("pretrain", help="train the source LSTM language model")
    p.add_argument("--corpus", default="both", choices=["brown", "sotu", "both"])
    p.add_argument("--out", required=True, help="model folder to write")
    p.add_argument("--epochs", type=positive_int)
    p.add_argument("--vocab-size", type=positive_int)
    p.add_argument("--emb-dim", type=positive_int)
    p.add_argument("--hidden-dim", type=positive_int)
    p.add_argument("--layers", type=positive_int)
    p.add_argument("--batch-size", type=positive_int)
    p.add_argument("--bptt", type=positive_int)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--max-tokens", type=int, help="use only the first N training tokens")
    p.add_argument("--no-vectors", action="store_true",
                   help="random embedding, trained (source model v1) instead of the shipped "
                        "GloVe vectors, frozen (v2)")
    p.add_argument("--out-dim", type=int, help="width of the last LSTM layer (0: emb-dim)")
    p.add_argument("--output-vocab", type=int,
                   help="softmax over the N most frequent words only (0: all)")
    p.add_argument("--save-dtype", choices=list(DTYPES), default="fp32")
    p.set_defaults(func=cmd_pretrain)
    return p


def _add_finetune(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    f = sub.add_parser("finetune", help="fine-tune a classifier on a CSV of labelled texts")
    f.add_argument("--data", required=True, help="CSV with a text and a label column")
    f.add_argument("--out", required=True, help="model folder to write (+ metrics.json)")
    f.add_argument("--pretrained", help="source model folder (default: the shipped one)")
    f.add_argument("--strategy", choices=list(PRESETS),
                   help="default: full (full-lm when the texts are long and read in chunks); "
                        + "; ".join(f"{k}: {v}" for k, v in DESCRIPTIONS.items()))
    f.add_argument("--regularizer", choices=REGULARIZERS, help="override the strategy's R(w)")
    f.add_argument("--lam", type=float, help="λ for the regularizer")
    f.add_argument("--schedule", choices=SCHEDULES, help="override the strategy's schedule")
    f.add_argument("--lm-data", help="CSV of unlabelled in-domain texts for the target-LM stage")
    f.add_argument("--lm-text-column", default="text")
    f.add_argument("--epochs", type=positive_int)
    f.add_argument("--lm-epochs", type=positive_int)
    f.add_argument("--lr", type=float, default=2e-3)
    f.add_argument("--max-train", type=positive_int,
                   help="use at most N labelled training examples")
    f.add_argument("--batch-size", type=positive_int, default=64, help="global batch size")
    f.add_argument("--accumulate", type=positive_int, default=1,
                   help="sum the gradients of k micro-batches of batch-size/k per optimizer "
                        "step (same result, less memory)")
    f.add_argument("--max-len", type=positive_int,
                   help="tokens kept per text, in one piece (default: chosen from the training "
                        "texts: when their median is above 140 tokens, whole documents up to "
                        "2000 tokens read in chunks of 70; else their 95th percentile, 32..400; "
                        "the count of truncated texts is reported)")
    f.add_argument("--chunk-len", type=positive_int,
                   help="read whole documents (up to --max-len, default 2000 tokens) in chunks "
                        "of N tokens, carrying the LSTM state (ULMFiT's BPT3C)")
    f.set_defaults(func=cmd_finetune)
    return f


def main(argv: list[str] | None = None) -> int:
    """Run one command; expected failures print ``error: ...`` (no traceback) and exit 2."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(requested_command(argv)).parse_args(argv)
    args.command_line = shlex.join(["python", "-m", "transferlib",
                                    *(repo_relative(a) if a.startswith("/") else a
                                      for a in argv)])
    try:
        if getattr(args, "threads", None):  # --threads N: for this command only
            from transferlib.devices import torch_threads

            with torch_threads(args.threads):
                return args.func(args)
        return args.func(args)
    except TransferlibError as exc:  # expected failures; a bug keeps its traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EACCES, errno.EROFS, errno.EDQUOT):
            raise
        print(f"error: {exc} (is the disk full or the folder read-only?)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
