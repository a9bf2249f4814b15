"""Small measured lessons the notebooks show beside their main computation.

* ``embedding_neighbours`` / ``neighbours_before_after`` / ``pair_cosines``: distributional
  vectors put antonyms together (*good* next to *bad*, in GloVe too); fine-tuning on sentiment
  labels pulls them apart, measured (notebooks 01, 05, 06);
* ``shares_note``: each predicted class's share beside an accuracy, so a constant answer is
  never mistaken for a classifier (notebooks 01, 06, 10);
* ``ddp_live_timing``: a small live DDP measurement, world size 1 vs 2 (notebook 09);
* ``vocabulary_diagnosis``: coverage of the target tokens by the source model and GloVe, and
  the most frequent words nobody knows (notebook 07).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

from transferlib.text import Vocab, tokenize

SENTIMENT_PAIRS: tuple[tuple[str, str], ...] = (
    ("good", "bad"), ("best", "worst"), ("funny", "boring"), ("brilliant", "dull"),
    ("great", "terrible"),
)


def embedding_neighbours(weight: torch.Tensor, vocab: Vocab, word: str, k: int = 6,
                         limit: int | None = None) -> list[tuple[str, float]]:
    """The ``k`` nearest words of ``word`` by cosine in the rows of ``weight`` (one row per
    vocabulary id; specials skipped; only the first ``limit`` ids searched when given)."""
    full = weight.detach().float()
    w = full[: limit or full.shape[0]]
    i = vocab.stoi[word]
    sims = F.cosine_similarity(w, full[i][None, :], dim=1)
    sims[: 4] = -2.0  # <pad>, <unk>, <bos>, <eos>
    if i < len(sims):
        sims[i] = -2.0
    top = sims.topk(k)
    return [(vocab.itos[int(j)], float(s)) for s, j in zip(top.values, top.indices)]


def pair_cosines(weight: torch.Tensor, vocab: Vocab,
                 pairs: Sequence[tuple[str, str]] = SENTIMENT_PAIRS) -> dict[str, float]:
    """cos(a, b) of each word pair present in ``vocab``, keyed ``'a/b'``."""
    w = weight.detach().float()
    return {f"{a}/{b}": float(F.cosine_similarity(w[vocab.stoi[a]], w[vocab.stoi[b]], dim=0))
            for a, b in pairs if a in vocab.stoi and b in vocab.stoi}


def neighbours_before_after(before: torch.Tensor, after: torch.Tensor, vocab: Vocab,
                            words: Sequence[str], k: int = 5, limit: int = 10000
                            ) -> pd.DataFrame:
    """One row per word: its neighbours in the embedding before fine-tuning and after (both
    searched among the ``limit`` first ids, the frequent words), notebook 06."""
    rows = []
    for word in words:
        if word not in vocab.stoi:
            continue
        rows.append({"word": word,
                     "before (GloVe, the source)": ", ".join(
                         w for w, _ in embedding_neighbours(before, vocab, word, k, limit)),
                     "after fine-tuning": ", ".join(
                         w for w, _ in embedding_neighbours(after, vocab, word, k, limit))})
    return pd.DataFrame(rows).set_index("word")


def pair_table(before: torch.Tensor, after: torch.Tensor, vocab: Vocab,
               pairs: Sequence[tuple[str, str]] = SENTIMENT_PAIRS) -> pd.DataFrame:
    """cos of each antonym pair before and after fine-tuning (notebook 06)."""
    b, a = pair_cosines(before, vocab, pairs), pair_cosines(after, vocab, pairs)
    return pd.DataFrame({"cos before": b, "cos after": a}).rename_axis("pair")


def shares_note(pred: Sequence[int] | torch.Tensor, classes: Sequence[str]) -> str:
    """'negative 12%, positive 88%': the share of each predicted class."""
    p = torch.as_tensor(pred)
    n = max(1, len(p))
    return ", ".join(f"{c} {float((p == i).sum()) / n:.0%}" for i, c in enumerate(classes))


@contextlib.contextmanager
def _quiet_fds():
    """Send the OS-level stdout/stderr (what child processes write) to /dev/null meanwhile."""
    import sys

    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 1)
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def ddp_live_timing(steps: int = 6, fast: bool = True) -> pd.DataFrame:
    """Tokens/s of the same DDP fine-tuning steps (global batch 64) with 1 process × every core
    and 2 processes sharing the cores, measured now with ``torchrun`` (``distributed.scale``:
    also 1 process × 1 thread). ``fast`` uses the tiny stand-in model (notebook 09)."""
    from transferlib.distributed import scale

    start = time.perf_counter()
    with _quiet_fds():  # torchrun's own log lines would land in the notebook
        rows = scale(fast, steps, amp=False)
    table = pd.DataFrame(rows)[["processes", "threads_per_process", "tokens_per_s", "ratio"]]
    table.attrs["seconds"] = time.perf_counter() - start
    table.attrs["cores"] = os.cpu_count()
    return table


def vocabulary_diagnosis(texts: Sequence[str], source_vocab: Vocab, vectors) -> dict:
    """How many target tokens the source model's vocabulary covers, how many GloVe covers,
    and the most frequent words neither knows (notebook 07)."""
    counts = Counter(tok for t in texts for tok in tokenize(t))
    total = sum(counts.values())
    in_source = sum(n for w, n in counts.items() if w in source_vocab.stoi)
    glove = vectors.coverage(counts)
    missing = [w for w, _ in counts.most_common()
               if w not in source_vocab.stoi and vectors.get(w)[0] is None][:12]
    return {"tokens": total, "source_coverage": in_source / max(1, total),
            "glove_coverage": glove["token_coverage"], "unknown_to_both": missing}


def mode_step_time(fast: bool, steps: int = 3, batch_size: int = 64, seed: int = 0) -> dict:
    """One measured training step of a classifier with the LM sizes of the fast or the full
    mode (``pipeline.default_sizes``) on ``batch_size`` real training reviews: milliseconds per
    step (median of ``steps``), parameters, and the epoch time that implies (notebook 00)."""
    import statistics

    from transferlib import datasets
    from transferlib.batching import DEFAULT_MAX_LEN, TextClassificationDataset, collate_padded
    from transferlib.model import Classifier, ModelConfig, count_parameters
    from transferlib.pipeline import default_sizes
    from transferlib.tasks import ClassificationTask

    sizes = default_sizes(fast)
    train = datasets.load_rotten_tomatoes("train")
    vocab = Vocab.build((tokenize(t) for t in train["text"]), min_freq=2)
    torch.manual_seed(seed)
    cfg = ModelConfig(vocab_size=len(vocab), n_classes=2,
                      emb_dim=sizes.pretrain.emb_dim, hidden_dim=sizes.pretrain.hidden_dim,
                      num_layers=sizes.pretrain.num_layers, out_dim=sizes.pretrain.out_dim)
    model = Classifier(cfg)
    sample = train.sample(n=batch_size, random_state=seed)
    data = TextClassificationDataset(sample["text"], sample["label"], vocab,
                                     ["negative", "positive"], DEFAULT_MAX_LEN)
    batch = collate_padded([data[i] for i in range(len(data))])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    task, times = ClassificationTask(), []
    model.train()
    for _ in range(steps + 1):  # the first step warms up
        start = time.perf_counter()
        loss = task.step(model, batch, torch.device("cpu"))[0]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    ms = 1000 * statistics.median(times[1:])
    n_train = sizes.max_train or len(train)
    return {"mode": "fast" if fast else "full", "parameters": count_parameters(model),
            "ms_per_step": ms, "epoch_seconds": ms / 1000 * -(-n_train // batch_size),
            "n_train": n_train, "epochs": sizes.epochs}


NOISE_BAR = 0.1  # speedups within ±10 % of 1.0 are run-to-run noise on a shared machine


def lever_verdicts(table: pd.DataFrame, bar: float = NOISE_BAR) -> pd.DataFrame:
    """``table`` (``run_levers``'s) with a ``verdict`` per row: faster / slower / within noise
    (±``bar`` around 1.0), notebook 08."""
    def verdict(s: float) -> str:
        return "faster" if s >= 1 + bar else "slower" if s <= 1 - bar else "within noise"
    out = table.copy()
    out["verdict"] = [("baseline" if r == "baseline" else verdict(s))
                      for r, s in zip(out["row"], out["speedup"])]
    return out


def speedup_comparison(live: pd.DataFrame, committed: dict[str, str | Path]) -> pd.DataFrame:
    """Speedup per training lever: measured now (``live``) and in committed benchmarks
    (``{column label: bench.csv}``: this machine's full run on source model v2, the previous
    round's AVX-512-bf16 CPU and H200 GPU on v1), notebook 08."""
    cols = {"live (this machine, short budget)": live.set_index("row")["speedup"]}
    for label, path in committed.items():
        frame = pd.read_csv(path)
        cols[label] = frame[frame["section"] == "train"].set_index("row")["speedup"]
    frame = pd.DataFrame(cols)
    order = list(live["row"]) + [r for r in frame.index if r not in set(live["row"])]
    return frame.reindex(order).rename_axis("lever")


def neighbour_frame(weight: torch.Tensor, vocab: Vocab, words: Sequence[str], k: int = 6,
                    limit: int | None = 10000) -> pd.DataFrame:
    """Side by side, each word's ``k`` nearest neighbours and their cosines (notebooks 01,
    05)."""
    parts = {}
    for word in words:
        if word in vocab.stoi:
            near = embedding_neighbours(weight, vocab, word, k, limit)
            parts[word] = pd.DataFrame(near, columns=["word", "cosine"]).round(3)
    return pd.concat(parts, axis=1)


def strategy_probe(strategies: dict, train: pd.DataFrame, valid: pd.DataFrame,
                   test: pd.DataFrame, pretrained: str, n_labels: int, epochs: int,
                   seed: int = 0) -> pd.DataFrame:
    """Each named ``Strategy`` fine-tuned on the same ``n_labels`` class-stratified reviews
    for ``epochs`` (no early stopping): test/valid accuracy, the share of the most-predicted
    class and the seconds (notebook 07's embedding-rate probe and its exercise)."""
    from transferlib.experiments.runs import stratified_subsample
    from transferlib.pipeline import FinetuneConfig, finetune_classifier

    subset = stratified_subsample(train, n_labels, seed)
    rows = []
    for name, strategy in strategies.items():
        cfg = FinetuneConfig(epochs=epochs, batch_size=32, patience=None, seed=seed)
        m = finetune_classifier(subset, valid, test, strategy, cfg, pretrained=pretrained,
                                progress=False).metrics
        rows.append({"strategy": name, "embedding_lr": strategy.embedding_lr,
                     "test_accuracy": m["test_accuracy"], "valid_accuracy": m["valid_accuracy"],
                     "test_top_share": m["test_top_share"], "seconds": round(m["seconds"], 1)})
    return pd.DataFrame(rows)


def lora_finetune(train: pd.DataFrame, valid: pd.DataFrame, test: pd.DataFrame,
                  pretrained: str, rank: int = 8, epochs: int = 3, lr: float = 2e-3,
                  seed: int = 0, train_embedding: bool = False) -> dict:
    """Fine-tune a classifier transferred from ``pretrained`` with LoRA (rank ``rank``) on its
    LSTM layers + the head, everything else frozen (the embedding too, unless
    ``train_embedding``), through ``training.fit`` with early stopping on ``valid``; returns
    test accuracy, top share, trainable parameters and seconds (notebook 10)."""
    from transferlib.batching import DEFAULT_MAX_LEN, TextClassificationDataset, make_loader
    from transferlib.compression import apply_lora
    from transferlib.devices import pick_device
    from transferlib.model import count_parameters
    from transferlib.pipeline import classifier_from_source
    from transferlib.tasks import ClassificationTask
    from transferlib.training import TrainConfig, fit, predictions, set_seed

    set_seed(seed)
    classes = sorted(train["label"].unique())
    model, _, _, vocab, _ = classifier_from_source(pretrained, list(train["text"]), len(classes))
    apply_lora(model, rank=rank)
    model.encoder.embedding.weight.requires_grad_(train_embedding)
    device = pick_device("auto")
    model.to(device)
    loaders = [make_loader(TextClassificationDataset(f["text"], f["label"], vocab, classes,
                                                     DEFAULT_MAX_LEN),
                           64 if i == 0 else 256, shuffle=i == 0, seed=seed)
               for i, f in enumerate((train, valid, test))]
    trainable = [p for p in model.parameters() if p.requires_grad]
    start = time.perf_counter()
    fit(model, loaders[0], loaders[1], ClassificationTask(), torch.optim.AdamW(trainable, lr=lr),
        TrainConfig(epochs=epochs, device=device, patience=2, progress=False))
    pred, truth = predictions(model, loaders[2], device, False)
    top = float(torch.bincount(pred, minlength=len(classes)).max()) / len(pred)
    return {"method": f"LoRA rank {rank}" + (" + embedding" if train_embedding else ""),
            "test_accuracy": float((pred == truth).double().mean()), "test_top_share": top,
            "trainable_params": count_parameters(model), "seconds": time.perf_counter() - start}
