"""Deploying a fine-tuned classifier: ONNX export, ONNX Runtime, and its int8 quantization.

Taught in notebook 08. ``export_classifier`` writes the model with ``torch.onnx.export``
with a dynamic batch and sequence length, so one file
serves any batch of right-padded reviews with their lengths; ``check_export`` runs it in ONNX
Runtime beside PyTorch on real batches (same predictions, logits within a tolerance).
``quantize_int8`` applies ONNX Runtime's dynamic int8 quantization (weights int8, activations
quantized on the fly). ``compare_runtimes`` measures latency at batch 1 and 64, file size and
test accuracy of PyTorch fp32 eager, ONNX Runtime fp32 and ONNX Runtime int8.
Needs ``onnx``, ``onnxscript`` and ``onnxruntime`` (pinned in requirements.txt).
"""

from __future__ import annotations

import copy
import statistics
import time
import warnings
from pathlib import Path

import pandas as pd
import torch

from transferlib.batching import DEFAULT_MAX_LEN, TextClassificationDataset, make_loader
from transferlib.compression import model_bytes
from transferlib.compression import quantize_int8 as quantize_dynamic_int8
from transferlib.errors import ArgumentError
from transferlib.model import Classifier
from transferlib.text import Vocab


def export_classifier(model: Classifier, path: str | Path) -> Path:
    """Export ``model`` (eval mode, CPU, fp32) to ONNX with inputs ``ids [B, T]`` (int64,
    right-padded) and ``lengths [B]`` and output ``logits [B, C]``; B and T are dynamic."""
    path = Path(path)
    model = copy.deepcopy(model).cpu().float().eval()
    ids = torch.tensor([[5, 6, 7, 8, 9], [5, 6, 7, 0, 0], [5, 0, 0, 0, 0]])
    lengths = torch.tensor([5, 3, 1])
    # the TorchScript-based exporter: the torch.export-based one (dynamo=True) exports an
    # LSTM too, but a second export in the same process fixes the sequence length to the
    # sample's (torch 2.13), and it takes ~20 s against ~1 s
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=DeprecationWarning)
        torch.onnx.export(model, (ids, lengths), str(path), input_names=["ids", "lengths"],
                          output_names=["logits"], dynamo=False, opset_version=17,
                          dynamic_axes={"ids": {0: "batch", 1: "time"}, "lengths": {0: "batch"},
                                        "logits": {0: "batch"}})
    return path


def session(path: str | Path, threads: int | None = None):
    """An ONNX Runtime CPU session for ``path`` (intra-op threads: torch's count by default)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_session(sess, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Logits of an ONNX Runtime session for one padded batch."""
    return torch.from_numpy(sess.run(None, {"ids": ids.numpy(), "lengths": lengths.numpy()})[0])


def quantize_int8(path: str | Path, out: str | Path) -> Path:
    """ONNX Runtime dynamic int8 quantization of an exported model (weights int8)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(path), str(out), weight_type=QuantType.QInt8)
    return Path(out)


def _batches(vocab: Vocab, texts: list[str], batch_size: int, max_len: int,
             labels: list[str] | None = None, classes: list[str] | None = None) -> list:
    """Padded ``(ids, lengths, labels)`` batches (the loader groups texts by length)."""
    labels, classes = labels or ["x"] * len(texts), classes or ["x"]
    ds = TextClassificationDataset(texts, labels, vocab, classes, max_len)
    return list(make_loader(ds, batch_size, shuffle=False))


def check_export(model: Classifier, sess, vocab: Vocab, texts: list[str],
                 max_len: int = DEFAULT_MAX_LEN,
                 atol: float = 1e-4) -> dict:
    """ONNX Runtime vs PyTorch on ``texts`` (batches of 64, variable lengths, padding): the
    largest logit difference and whether every prediction agrees."""
    diffs, agree, n = [], 0, 0
    model = model.cpu().float().eval()
    with torch.no_grad():
        for ids, lengths, _ in _batches(vocab, texts, 64, max_len):
            ref, got = model(ids, lengths), run_session(sess, ids, lengths)
            diffs.append(float((ref - got).abs().max()))
            agree += int((ref.argmax(1) == got.argmax(1)).sum())
            n += len(ids)
    worst = max(diffs)
    return {"max_abs_logit_diff": worst, "same_predictions": agree == n, "n": n,
            "within_tolerance": worst <= atol, "atol": atol}


def median_ms(fn, batch, repeats: int) -> float:
    """Median wall time in ms of ``fn(*batch)`` over ``repeats`` calls, after one warm-up."""
    fn(*batch)  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn(*batch)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def classifier_runners(model: Classifier, vocab: Vocab, classes: list[str],
                       workdir: str | Path) -> dict:
    """``{runtime: (run(ids, lengths) → logits, bytes)}`` for PyTorch fp32 eager, PyTorch int8
    dynamic (its weights as stored, ``compression.model_bytes``), ONNX Runtime fp32 and ONNX
    Runtime int8, files in ``workdir``."""
    from transferlib.checkpoint import save_model

    workdir = Path(workdir)
    model = model.cpu().float().eval()
    fp32 = export_classifier(model, workdir / "classifier.onnx")
    int8 = quantize_int8(fp32, workdir / "classifier.int8.onnx")
    torch_dir = save_model(workdir / "torch", model, vocab, classes)

    def torch_run(ids, lengths):
        with torch.no_grad():
            return model(ids, lengths)

    quantized, _ = quantize_dynamic_int8(model)

    def torch_int8_run(ids, lengths):
        with torch.no_grad():
            return quantized(ids, lengths)

    runners = {"pytorch fp32 eager": (torch_run, (torch_dir / "model.safetensors").stat().st_size),
               "pytorch int8 dynamic": (torch_int8_run, model_bytes(quantized))}
    for name, path in (("onnxruntime fp32", fp32), ("onnxruntime int8", int8)):
        sess = session(path)
        runners[name] = (lambda ids, lengths, s=sess: run_session(s, ids, lengths),
                         path.stat().st_size)
    return runners


def compare_runtimes(model: Classifier, vocab: Vocab, classes: list[str], test: pd.DataFrame,
                     workdir: str | Path, max_len: int = DEFAULT_MAX_LEN,
                     repeats: int = 20) -> pd.DataFrame:
    """PyTorch fp32 eager vs PyTorch int8 dynamic quantization vs ONNX Runtime fp32 vs ONNX
    Runtime int8: latency (median ms) at batch 1 and 64, size (files; the int8 PyTorch row:
    its weights as stored, ``compression.model_bytes``), test accuracy; ratios against
    PyTorch fp32 (notebook 08)."""
    if len(test) < 64:
        raise ArgumentError("compare_runtimes needs at least 64 test rows")
    workdir = Path(workdir)
    runners = classifier_runners(model, vocab, classes, workdir)
    texts = list(test["text"])
    one, sixty_four = (_batches(vocab, texts, b, max_len)[0][:2] for b in (1, 64))
    all_batches = _batches(vocab, texts, 64, max_len, list(test["label"]), classes)
    rows = []
    for name, (fn, size) in runners.items():
        right = sum(int((fn(ids, lengths).argmax(1) == y).sum()) for ids, lengths, y in all_batches)
        rows.append({"runtime": name, "latency_ms_batch1": median_ms(fn, one, repeats),
                     "latency_ms_batch64": median_ms(fn, sixty_four, repeats),
                     "size_bytes": size, "test_accuracy": right / len(test)})
    frame = pd.DataFrame(rows)
    base = frame.iloc[0]
    for b in ("batch1", "batch64"):
        frame[f"speedup_{b}"] = base[f"latency_ms_{b}"] / frame[f"latency_ms_{b}"]
    frame["size_ratio"] = frame["size_bytes"] / base["size_bytes"]
    frame["acc_delta"] = frame["test_accuracy"] - base["test_accuracy"]
    return frame


def main(argv: list[str] | None = None) -> int:
    """``python -m transferlib.export_onnx --model DIR [--out results/bench]``: export a saved
    classifier, check ONNX Runtime against PyTorch on the RT test split, write onnx.csv/.json."""
    import argparse
    import json
    import sys
    import tempfile

    from transferlib import datasets
    from transferlib.checkpoint import load_model
    from transferlib.config import machine_info
    from transferlib.errors import exit_status

    parser = argparse.ArgumentParser(prog="python -m transferlib.export_onnx")
    parser.add_argument("--model", required=True, help="a classifier folder (finetune --out)")
    parser.add_argument("--out", type=Path, default=Path("results/bench"))
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args(argv)

    def run() -> int:
        model, vocab, config = load_model(args.model)
        if not isinstance(model, Classifier):
            raise ArgumentError(f"{args.model} holds a language model, not a classifier")
        max_len = int(config.get("meta", {}).get("max_len", DEFAULT_MAX_LEN))
        test = datasets.load_rotten_tomatoes("test")
        with tempfile.TemporaryDirectory() as tmp:
            path = export_classifier(model, Path(tmp) / "classifier.onnx")
            check = check_export(model, session(path), vocab, list(test["text"]), max_len)
            frame = compare_runtimes(model, vocab, config["classes"], test, tmp, max_len,
                                     args.repeats)
        args.out.mkdir(parents=True, exist_ok=True)
        frame.to_csv(args.out / "onnx.csv", index=False)
        info = {"command": " ".join(["python -m transferlib.export_onnx",
                                     *(argv or sys.argv[1:])]),
                "model": str(args.model), "check": check, "machine": machine_info(),
                "threads": torch.get_num_threads(), "max_len": max_len, "n_test": len(test)}
        (args.out / "onnx.json").write_text(json.dumps(info, indent=2), "utf-8")
        print(json.dumps(check))
        print(frame.to_string(index=False))
        return 0

    return exit_status(run)


if __name__ == "__main__":
    raise SystemExit(main())
