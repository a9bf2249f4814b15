"""Long documents: the automatic way of reading (baselines.choose_reading), the
synthetic movie documents, and chunked reading through the training loop and the pipeline."""

import pandas as pd
import pytest
import torch

from transferlib.baselines import WHOLE_DOCUMENT_CAP, choose_max_len, choose_reading
from transferlib.batching import TextClassificationDataset, make_loader
from transferlib.errors import ArgumentError
from transferlib.model import Classifier
from transferlib.predict import predict_texts
from transferlib.tasks import ClassificationTask
from transferlib.training import evaluate, predictions

LONG = ["word " * 300] * 5 + ["word " * 50] * 4
SHORT = ["a short text of six words"] * 9


def test_long_texts_are_read_whole_in_chunks_short_ones_in_one_piece():
    long = choose_reading(LONG)
    assert (long.chunk_len, long.max_len, long.median_tokens) == (70, WHOLE_DOCUMENT_CAP, 300)
    assert "median 300 tokens > 140: whole-document chunks of 70" in long.reason
    short = choose_reading(SHORT)
    assert short.chunk_len == 0 and short.max_len == choose_max_len(SHORT)
    assert "one piece" in short.reason


def test_the_users_max_len_truncates_and_chunk_len_chunks():
    assert (choose_reading(LONG, max_len=100).chunk_len, choose_reading(LONG, 100).max_len) == \
        (0, 100)
    given = choose_reading(SHORT, chunk_len=20)
    assert (given.chunk_len, given.max_len) == (20, WHOLE_DOCUMENT_CAP)
    assert choose_reading(SHORT, max_len=500, chunk_len=20).max_len == 500
    with pytest.raises(ArgumentError, match="chunk_len"):
        choose_reading(LONG, chunk_len=0)


def test_movie_documents_join_one_movie_and_label_with_a_movie_grouped_split():
    from transferlib import datasets
    from transferlib.text import tokenize

    docs = datasets.make_movie_documents(200, seed=0)
    assert list(docs.columns) == ["text", "label", "movie", "split"]
    assert docs.groupby("movie")["split"].nunique().max() == 1  # no film crosses splits
    assert (docs["split"] == "train").sum() == 160
    rt = datasets.load_rotten_tomatoes()
    row = docs.iloc[0]
    snippets = rt[(rt["movie"] == row["movie"]) & (rt["label"] == row["label"])]["text"]
    assert sum(s in row["text"] for s in snippets) >= 10
    assert pd.Series([len(tokenize(t)) for t in docs["text"]]).median() > 140
    with pytest.raises(ValueError, match="n_docs"):
        datasets.make_movie_documents(5)


def test_the_training_loop_and_predict_read_in_chunks_as_the_model_does(tiny_cfg, tiny_vocab,
                                                                         tiny_texts):
    """Dropout off: evaluate, predictions and predict_texts give the same answers chunked
    (chunks of 3 words) as in one piece, on texts of 1-7 words padded into batches."""
    torch.manual_seed(0)
    model = Classifier(tiny_cfg).eval()
    ds = TextClassificationDataset(*tiny_texts, tiny_vocab, ["negative", "positive"])
    loader = make_loader(ds, 5, shuffle=False)
    whole = evaluate(model, loader, ClassificationTask())
    chunked = evaluate(model, loader, ClassificationTask(chunk_len=3))
    assert chunked == pytest.approx(whole)
    assert torch.equal(predictions(model, loader, chunk_len=3)[0], predictions(model, loader)[0])
    torch.testing.assert_close(torch.tensor(predict_texts(model, tiny_vocab, tiny_texts[0],
                                                          chunk_len=3)),
                               torch.tensor(predict_texts(model, tiny_vocab, tiny_texts[0])))


def test_short_texts_give_exactly_todays_finetune_results():
    """A chunk longer than every text: the pipeline's numbers are identical to unchunked."""
    from conftest import NEGATIVE, POSITIVE

    from transferlib.pipeline import FinetuneConfig, finetune_classifier
    from transferlib.strategies import get_strategy

    texts = POSITIVE + NEGATIVE
    frame = pd.DataFrame({"text": texts * 3, "label": (["positive"] * 7 + ["negative"] * 7) * 3})
    small = {"emb_dim": 8, "hidden_dim": 8, "num_layers": 1, "out_dim": 0}
    runs = [finetune_classifier(frame, frame, frame, get_strategy("scratch"),
                                FinetuneConfig(epochs=2, batch_size=8, amp=False, device="cpu",
                                               chunk_len=chunk),
                                small_model=small, progress=False).metrics for chunk in (0, 70)]
    for key in ("valid_accuracy", "test_accuracy", "test_correct"):
        assert runs[0][key] == runs[1][key]
    assert runs[1]["chunk_len"] == 70 and runs[0]["chunk_len"] == 0
    with pytest.raises(ArgumentError, match="chunk_len"):
        FinetuneConfig(chunk_len=-2)


@pytest.mark.usefixtures("one_thread")
def test_an_onnx_export_reads_whole_documents_as_the_chunked_model_does(tmp_path):
    """The exported graph is the unchunked one; on a long right-padded batch it still gives the
    logits of chunked reading (chunks of 32), because carrying the state equals one pass."""
    pytest.importorskip("onnxruntime")
    from transferlib.export_onnx import export_classifier, run_session, session
    from transferlib.model import ModelConfig

    torch.manual_seed(0)
    model = Classifier(ModelConfig(vocab_size=40, emb_dim=12, hidden_dim=16, num_layers=2,
                                   out_dim=10, n_classes=2)).eval()
    lengths = torch.tensor([300, 257, 140, 33, 1])
    ids = torch.randint(4, 40, (len(lengths), 300))
    ids[torch.arange(300)[None, :] >= lengths[:, None]] = 0  # right padding
    sess = session(export_classifier(model, tmp_path / "m.onnx"))
    with torch.no_grad():
        chunked = model(ids, lengths, chunk_len=32)
    torch.testing.assert_close(run_session(sess, ids, lengths), chunked, atol=1e-4, rtol=1e-4)
