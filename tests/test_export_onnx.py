"""ONNX export of a classifier: ONNX Runtime gives PyTorch's predictions on variable-length,
padded batches, and its int8 quantization still runs."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from transferlib.export_onnx import (
    check_export,
    compare_runtimes,
    export_classifier,
    quantize_int8,
    run_session,
    session,
)
from transferlib.model import Classifier, ModelConfig
from transferlib.text import Vocab, tokenize

pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def exported(tmp_path_factory, request):
    texts = [f"{a} film {b} and {c}" for a in ("a great", "an awful", "the")
             for b in ("moving", "dull", "long") for c in ("fun", "flat , lifeless", "ok")]
    vocab = Vocab.build(tokenize(t) for t in texts)
    torch.manual_seed(0)
    model = Classifier(ModelConfig(vocab_size=len(vocab), emb_dim=12, hidden_dim=16,
                                   num_layers=2, out_dim=10, n_classes=2)).eval()
    path = export_classifier(model, tmp_path_factory.mktemp("onnx") / "m.onnx")
    return model, vocab, texts, path


def test_onnx_runtime_matches_pytorch_on_padded_variable_length_batches(exported):
    model, vocab, texts, path = exported
    report = check_export(model, session(path), vocab, texts * 3)
    assert report["same_predictions"] and report["within_tolerance"], report
    ids = torch.tensor([[5, 6, 7, 8, 9, 10, 11], [5, 6, 0, 0, 0, 0, 0]])
    lengths = torch.tensor([7, 2])
    with torch.no_grad():
        torch.testing.assert_close(run_session(session(path), ids, lengths),
                                   model(ids, lengths), atol=1e-4, rtol=1e-4)


def test_int8_quantized_model_runs_and_compare_reports_every_runtime(exported, tmp_path):
    model, vocab, texts, path = exported
    q = quantize_int8(path, tmp_path / "q.onnx")
    assert q.stat().st_size > 0
    test = pd.DataFrame({"text": texts * 3, "label": ["positive", "negative"] * (len(texts) * 3
                                                                             // 2)
                         + ["positive"] * (len(texts) * 3 % 2)})
    frame = compare_runtimes(model, vocab, ["negative", "positive"], test, tmp_path, repeats=2)
    assert list(frame["runtime"]) == ["pytorch fp32 eager", "pytorch int8 dynamic",
                                      "onnxruntime fp32", "onnxruntime int8"]
    assert frame["test_accuracy"].between(0, 1).all()
    assert frame.loc[2, "acc_delta"] == 0  # fp32 ONNX predicts exactly as PyTorch
    assert frame.loc[1, "size_bytes"] < 0.5 * frame.loc[0, "size_bytes"]  # int8 weights
