"""Command line: ``python -m transferlib {pretrain,finetune,evaluate,predict} --help``.

Start-up stays light: torch, pandas and each command's modules are imported when that command
runs, and the heavy subcommands (``experiments``, ``bench``, ``bench-tta``) are listed in
``LAZY_COMMANDS`` and register their own flags only when they are the command asked for.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from dataclasses import replace
from types import ModuleType

from transferlib.cli_helpers import (
    add_device_arguments,
    device_arg,
    print_epoch,
    writable_dir,
    write_json,
)
from transferlib.config import (
    fast_mode,
    machine_info,
    positive_int,
    recorded_path,
)
from transferlib.errors import DataError, exit_status
from transferlib.finetune_command import cmd_finetune, read_splits, saved_chunk_len, saved_max_len
from transferlib.strategies import DESCRIPTIONS, PRESETS, REGULARIZERS, SCHEDULES

DTYPES = {"fp32": None, "bf16": "bfloat16", "fp16": "float16"}  # --save-dtype -> torch dtype

# (subcommand, module that registers and runs it, help shown by ``--help``)
LAZY_COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("experiments", "experiments", "ablation, low-resource, domains, zero-shot, source size"),
    ("bench", "bench", "measure every efficiency lever side by side (table + CSV + PNG + JSON)"),
    ("distill", "distill", "the MiniLM teacher and the LSTM distilled from it (optional extra "
                           "[teacher])"),
    ("bench-tta", "bench_tta", "time to accuracy: the seed's loop vs transferlib's arms, + the "
                               "ONNX deployment table (CSV + PNG + JSON)"),
)


def cmd_pretrain(args: argparse.Namespace) -> int:
    import torch

    from transferlib.batching import LanguageModelStream
    from transferlib.checkpoint import save_model
    from transferlib.pipeline import default_sizes
    from transferlib.pretrain import load_source_corpus, pretrain_language_model
    from transferlib.tasks import LanguageModelTask
    from transferlib.training import evaluate

    out = writable_dir(args.out)
    fast = args.fast or fast_mode()  # read once, here at the entry point
    sizes = default_sizes(fast)
    train = load_source_corpus(args.corpus, fast=fast, split="train", fraction=args.fraction)
    valid = load_source_corpus(args.corpus, fast=fast, split="valid")
    vectors = None
    if not args.no_vectors:
        from transferlib.vectors import load_word_vectors

        vectors = load_word_vectors()
    given = {"vocab_size": args.vocab_size, "emb_dim": args.emb_dim,
             "hidden_dim": args.hidden_dim, "num_layers": args.layers, "epochs": args.epochs,
             "batch_size": args.batch_size, "bptt": args.bptt, "out_dim": args.out_dim,
             "output_vocab_size": args.output_vocab}  # a flag not given keeps the mode's size
    cfg = replace(sizes.pretrain, **{k: v for k, v in given.items() if v is not None},
                  lr=args.lr, seed=args.seed, amp=not args.no_amp, device=device_arg(args),
                  max_tokens=args.max_tokens, embedding_lr_factor=args.embedding_lr_factor)
    result = pretrain_language_model(
        train, valid, cfg, vectors=vectors, progress=sys.stderr.isatty(),
        on_epoch_end=print_epoch, checkpoint_dir=out / "checkpoints", resume=args.resume)
    test = load_source_corpus(args.corpus, fast=fast, split="test")
    stream = LanguageModelStream(test, result.vocab, batch_size=16, bptt=result.metrics["bptt"])
    result.metrics["test_perplexity"] = evaluate(result.model, stream, LanguageModelTask(),
                                                 amp=not args.no_amp)["perplexity"]
    meta = {**result.metrics, "command": args.command_line,
            "corpus": args.corpus, "source_fraction": args.fraction, "seed": args.seed,
            "fast_mode": fast,
            "machine": machine_info()}
    dtype = DTYPES[args.save_dtype]
    save_model(out, result.model, result.vocab, meta=meta,
               dtype=getattr(torch, dtype) if dtype else None)
    result.history.to_csv(out / "history.csv", index=False)
    write_json(out / "metrics.json", meta)
    print(result.history.to_string(index=False))
    m = result.metrics
    print(f"saved the language model to {out} (perplexity: valid {m['valid_perplexity']:.1f}, "
          f"test {m['test_perplexity']:.1f})")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from transferlib.batching import TextClassificationDataset, eval_loader
    from transferlib.checkpoint import load_model
    from transferlib.devices import pick_device
    from transferlib.tasks import ClassificationTask
    from transferlib.training import evaluate

    model, vocab, config = load_model(args.model)
    df, _ = read_splits(args)
    if args.split != "all":
        df = df[df["split"] == args.split]
    unknown = sorted(set(df["label"]) - set(config["classes"]))
    if unknown:
        raise DataError(f"{args.data}: labels {unknown[:5]} are not among the model's classes "
                        f"{config['classes']}")
    ds = TextClassificationDataset(df["text"], df["label"], vocab, config["classes"],
                                   max_len=saved_max_len(config))
    device = pick_device(device_arg(args))
    metrics = evaluate(model.to(device), eval_loader(ds),
                       ClassificationTask(chunk_len=saved_chunk_len(config)), device)
    print(json.dumps({**metrics, "n": len(ds)}))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from transferlib.checkpoint import load_model
    from transferlib.devices import pick_device
    from transferlib.predict import predict_texts

    model, vocab, config = load_model(args.model)
    model.to(pick_device(device_arg(args)))
    for text, probs in zip(args.texts, predict_texts(model, vocab, args.texts,
                                                     max_len=saved_max_len(config),
                                                     chunk_len=saved_chunk_len(config))):
        best = max(range(len(probs)), key=probs.__getitem__)
        print(f"{config['classes'][best]}\t{probs[best]:.3f}\t{text}")
    return 0


def _command_module(module: str) -> ModuleType:
    """The module of a ``LAZY_COMMANDS`` subcommand, imported now (and only that one)."""
    if module == "experiments":
        from transferlib.experiments import command as loaded
    elif module == "bench":
        from transferlib.bench import levers as loaded
    elif module == "distill":
        from transferlib.experiments import distill_command as loaded
    elif module == "bench_tta":
        from transferlib.bench import tta as loaded
    else:
        raise ValueError(f"no subcommand module {module!r}")
    return loaded


def shown_path(arg: str) -> str:
    """An argument as results record it: a path inside the repository relative to it, one
    outside it as ``…/`` and its last part (no committed file names the machine's folders)."""
    return recorded_path(arg) if arg.startswith("/") else arg


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
    add_device_arguments(r, "cpu", why=" (a few texts do not repay starting a GPU)")
    r.set_defaults(func=cmd_predict)

    for q in (f, e):
        q.add_argument("--text-column", default="text")
        q.add_argument("--label-column", default="label")
        q.add_argument("--split-column", default="split")
    for q in (p, f, e):
        q.add_argument("--seed", type=int, default=0)
        add_device_arguments(q)
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
    p.add_argument("--fraction", type=float, default=1.0,
                   help="train on this share of the source sentences, in blocks spread evenly "
                        "over the corpus (the source-size curve; default 1)")
    p.add_argument("--embedding-lr-factor", type=float, default=0.0,
                   help="fine-tune the GloVe vectors at this fraction of --lr (default 0: "
                        "frozen)")
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
    args.command_line = shlex.join(["python", "-m", "transferlib", *map(shown_path, argv)])

    def run() -> int:
        if getattr(args, "threads", None):  # --threads N: for this command only
            from transferlib.devices import torch_threads

            with torch_threads(args.threads):
                return args.func(args)
        return args.func(args)

    return exit_status(run)


if __name__ == "__main__":
    sys.exit(main())
