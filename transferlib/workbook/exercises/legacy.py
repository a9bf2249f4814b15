"""Checkers for the workbook's exercises: one function per notebook exercise.

Each checker takes what the learner typed. An exercise cell starts with a placeholder (``...`` or
``None``): the checker then prints "Not answered yet" and returns None, so a notebook run top to
bottom never fails on it. Otherwise it prints "Right" with a short explanation and returns True,
or "Not yet" with a specific hint and returns False. Half the exercises ask the learner to change
code (a λ, a temperature, a threshold, a strategy field, a function) and check the measured
effect, not a formula. The correct values are computed here from the
shipped data and from transferlib itself, never stored, so a checker stays right when the data
or the code changes. Notebook N's checker is named after its exercise and listed in
``CHECKERS`` under the notebook's number.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

RIGHT, WRONG, PENDING = "✅ Right", "❌ Not yet", "⏳ Not answered yet"


def is_placeholder(answer) -> bool:
    """True for an unanswered exercise: ``...``/``None``, or a dict/list holding one."""
    if answer is ... or answer is None:
        return True
    if isinstance(answer, dict):
        return any(is_placeholder(v) for v in answer.values())
    if isinstance(answer, (list, tuple)):
        return any(v is ... for v in answer)
    return False


def answerable(checker: Callable[..., bool]) -> Callable[..., bool | None]:
    """Decorator: a placeholder answer prints "Not answered yet" (returns None, never raises)."""
    @functools.wraps(checker)
    def wrapper(answer, *args, **kwargs):
        if is_placeholder(answer):
            print(f"{PENDING}: replace every ... in the cell with your answer and run it again.")
            return None
        return checker(answer, *args, **kwargs)
    return wrapper


def _verdict(ok: bool, message: str, hint: str) -> bool:
    print(f"{RIGHT}: {message}" if ok else f"{WRONG}: {hint}")
    return ok


def _close(a, b, rel: float = 1e-3, abs_: float = 1e-6) -> bool:
    try:
        return math.isclose(float(a), float(b), rel_tol=rel, abs_tol=abs_)
    except (TypeError, ValueError):
        return False


def _fraction(answer) -> tuple[float, str]:
    """``answer`` as a fraction, or the hint that says why it is not one (a percentage, text)."""
    try:
        value = float(answer)
    except (TypeError, ValueError):
        return float("nan"), f"type a number between 0 and 1, got {answer!r}"
    if 1 < value <= 100:
        return value, "give a fraction between 0 and 1, not a percentage"
    return value, ""


# -- notebook 00 ---------------------------------------------------------------------------------

@answerable
def check_positive_share(answer: float) -> bool:
    """Notebook 00: the share of positive reviews in the Rotten Tomatoes training split (±0.01),
    i.e. the accuracy of always answering 'positive': the baseline every classifier must beat."""
    from transferlib.datasets import load_rotten_tomatoes

    share = float((load_rotten_tomatoes("train")["label"] == "positive").mean())
    value, problem = _fraction(answer)
    if problem:
        return _verdict(False, "", problem)
    return _verdict(
        abs(value - share) <= 0.01,
        f"{share:.3f} of the training reviews are positive, so a classifier that always says "
        f"'positive' is right {share:.1%} of the time on data like this.",
        "load the split with datasets.load_rotten_tomatoes('train') and take the mean of "
        "(df['label'] == 'positive').")


# -- notebook 01 ---------------------------------------------------------------------------------

CONCEPT_SCENARIOS = {
    "a": "A model is trained on 8,000 labelled reviews, starting from random weights.",
    "b": "The pretrained language model's encoder is copied into a classifier, which is then "
         "trained on 500 labelled reviews.",
    "c": "The pretrained language model labels a review by comparing how likely it finds "
         "'... It was great.' and '... It was terrible.' after it; no labelled review is used.",
    "d": "Each class is represented by the average pretrained sentence vector of 5 labelled "
         "reviews; a new review gets the class of the nearest average.",
}
CONCEPT_ANSWERS = {"a": "scratch", "b": "fine-tuning", "c": "zero-shot", "d": "few-shot"}
_CONCEPT_HINTS = {
    "scratch": "nothing was learned before the labelled data arrived",
    "fine-tuning": "pretrained weights are *trained further* on the labelled data",
    "zero-shot": "no labelled example of the task is used at all",
    "few-shot": "a handful of labelled examples, and no gradient step",
}


@answerable
def check_concepts(answer: dict[str, str]) -> bool:
    """Notebook 01: name each scenario in ``CONCEPT_SCENARIOS`` with one of 'scratch',
    'fine-tuning', 'zero-shot', 'few-shot'."""
    if not isinstance(answer, dict):
        return _verdict(False, "", "answer with a dict like {'a': 'scratch', 'b': ...}")
    given = {k: str(v).strip().lower().replace(" ", "-").replace("_", "-")
             for k, v in answer.items()}
    given = {k: {"fine-tune": "fine-tuning", "transfer": "fine-tuning",
                 "from-scratch": "scratch", "zeroshot": "zero-shot",
                 "fewshot": "few-shot"}.get(v, v) for k, v in given.items()}
    wrong = [k for k in sorted(CONCEPT_ANSWERS) if given.get(k) != CONCEPT_ANSWERS[k]]
    if not wrong:
        return _verdict(True, "scratch, fine-tuning (transfer), zero-shot, few-shot.", "")
    k = wrong[0]
    return _verdict(False, "", f"{len(wrong)} of {len(CONCEPT_ANSWERS)} wrong; look again at "
                    f"({k}): {_CONCEPT_HINTS[CONCEPT_ANSWERS[k]]}.")


# -- notebook 02 ---------------------------------------------------------------------------------

@answerable
def check_l2sp_penalty(fn: Callable) -> bool:
    """Notebook 02: ``fn(w, w0, lam)`` must return λ·‖w − w₀‖² for tensors ``w`` and ``w0``,
    the L2-SP term of the objective. Compared with ``regularizers.L2SP`` on random weights."""
    from transferlib.regularizers import L2SP

    if not callable(fn):
        return _verdict(False, "", "define a function: def penalty(w, w0, lam): return ...")
    gen = torch.Generator().manual_seed(0)
    for lam in (0.5, 3.0):
        layer = nn.Linear(4, 3, bias=False)
        model = nn.ModuleDict({"encoder": layer})
        w0 = torch.randn(3, 4, generator=gen)
        with torch.no_grad():
            layer.weight.copy_(w0)
        reg = L2SP(model, lam=lam)
        with torch.no_grad():
            layer.weight.add_(torch.randn(3, 4, generator=gen))
        with torch.no_grad():
            expected = reg.lam * float(reg())
        try:
            got = fn(layer.weight.detach().clone(), w0.clone(), lam)
        except Exception as exc:  # the learner's code: report any error as a hint
            return _verdict(False, "", f"your function raised {type(exc).__name__}: {exc}")
        if not _close(got, expected):
            sqrt = _close(got, lam * math.sqrt(expected / lam))
            hint = ("R(w) is the *squared* distance ‖w − w₀‖²: no square root."
                    if sqrt else "sum the squared differences (w - w0) ** 2 over all entries, "
                    "then multiply by lam.")
            return _verdict(False, "", f"for λ={lam} expected {expected:.4f}, got {got}; {hint}")
    return _verdict(True, "λ·Σ(w − w₀)² — zero at the pretrained weights, growing "
                    "quadratically as fine-tuning moves away from them.", "")


# -- notebook 03 ---------------------------------------------------------------------------------

@answerable
def check_padding(answer: dict, lengths: Sequence[int] = (5, 3, 7)) -> bool:
    """Notebook 03: for a batch of sentences with ``lengths``, give ``shape`` (of the padded
    id tensor), ``pads`` (how many padding tokens) and ``last`` (for each sentence, the
    position ``pool_valid`` reads as its last real token). Computed with ``collate_padded``."""
    from transferlib.batching import collate_padded

    batch = [(torch.arange(1, n + 1), torch.tensor(0)) for n in lengths]
    ids, lens, _ = collate_padded(batch)
    truth = {"shape": tuple(ids.shape), "pads": int((ids == 0).sum()),
             "last": [int(n) - 1 for n in lens]}
    if not isinstance(answer, dict) or set(truth) - set(answer):
        return _verdict(False, "", "answer with a dict with keys 'shape', 'pads' and 'last'")
    try:
        shape, last = tuple(answer["shape"]), [int(i) for i in answer["last"]]
    except (TypeError, ValueError):
        return _verdict(False, "", "'shape' must be a pair and 'last' a list of positions")
    if shape != truth["shape"]:
        return _verdict(False, "", "the batch is [number of sentences, longest length]")
    if answer["pads"] != truth["pads"]:
        return _verdict(False, "", "each sentence gets (longest − its length) pads; add them up")
    if last != truth["last"]:
        hint = ("positions count from 0: the last real token of a length-n sentence is n − 1"
                if last == [n for n in lengths] else
                "the naive model reads the last column for everyone; pool_valid reads each "
                "sentence's own last real token")
        return _verdict(False, "", hint)
    return _verdict(True, f"shape {truth['shape']}, {truth['pads']} pads, last real tokens at "
                    f"{truth['last']} — the naive model would read position "
                    f"{truth['shape'][1] - 1} for all of them.", "")


# -- notebook 04 ---------------------------------------------------------------------------------

@answerable
def check_perplexity(answer: dict) -> bool:
    """Notebook 04: ``answer['loss_4']`` is the perplexity of a model whose mean next-word
    cross-entropy is 4.0 nats, ``answer['uniform_10000']`` that of a model guessing uniformly
    among 10,000 words (±0.5%)."""
    if not isinstance(answer, dict) or {"loss_4", "uniform_10000"} - set(answer):
        return _verdict(False, "", "answer with a dict with keys 'loss_4' and 'uniform_10000'")
    if not _close(answer["loss_4"], math.exp(4.0), rel=5e-3):
        return _verdict(False, "", "perplexity = exp(mean cross-entropy in nats): math.exp(4.0)")
    if not _close(answer["uniform_10000"], 10_000, rel=5e-3):
        return _verdict(False, "", "a uniform guess gives every word probability 1/V; its "
                        "cross-entropy is log V, so its perplexity is exp(log V) = ...")
    return _verdict(True, f"exp(4) ≈ {math.exp(4.0):.1f}: as unsure as a uniform choice among "
                    "about 55 words; a uniform guess over V words has perplexity V.", "")


CHECKERS: dict = {  # notebook → checker name; resolved at the end of the module
    "00": "check_test_floor", "01": "check_concepts", "02": "check_anchor_lambda",
    "03": "check_last_state", "04": "check_temperature",
}


# -- notebook 05 ---------------------------------------------------------------------------------

CONFUSION_EXAMPLE = {"negative": {"negative": 40, "positive": 10},
                     "positive": {"negative": 5, "positive": 45}}  # rows: true, columns: predicted


@answerable
def check_confusion(answer: dict) -> bool:
    """Notebook 05: from ``CONFUSION_EXAMPLE`` (rows true, columns predicted) give
    ``accuracy``, ``precision`` and ``recall`` of the class 'positive' (±0.005)."""
    m = CONFUSION_EXAMPLE
    total = sum(sum(row.values()) for row in m.values())
    truth = {"accuracy": sum(m[c][c] for c in m) / total,
             "precision": m["positive"]["positive"] / sum(m[t]["positive"] for t in m),
             "recall": m["positive"]["positive"] / sum(m["positive"].values())}
    if not isinstance(answer, dict) or set(truth) - set(answer):
        return _verdict(False, "", "answer with a dict with keys 'accuracy', 'precision', "
                        "'recall'")
    hints = {"accuracy": "accuracy = the diagonal (right answers) divided by all reviews",
             "precision": "precision = right 'positive' answers / every 'positive' answer "
                          "(the predicted-positive column)",
             "recall": "recall = right 'positive' answers / every truly positive review "
                       "(the true-positive row)"}
    for key in ("accuracy", "precision", "recall"):
        if not _close(answer[key], truth[key], rel=0, abs_=0.005):
            swapped = key != "accuracy" and _close(
                answer[key], truth["recall" if key == "precision" else "precision"], 0, 0.005)
            return _verdict(False, "", hints[key] + (" — you swapped precision and recall"
                                                     if swapped else ""))
    return _verdict(True, f"accuracy {truth['accuracy']:.3f}, precision {truth['precision']:.3f}, "
                    f"recall {truth['recall']:.3f}: the model says 'positive' a little too "
                    "often (10 negative reviews called positive, 5 the other way).", "")


# -- notebook 06 ---------------------------------------------------------------------------------

@answerable
def check_rates(answer: dict, total_steps: int = 200, lr: float = 0.01) -> bool:
    """Notebook 06: for the slanted triangular schedule over ``total_steps`` steps with peak
    ``lr``, give ``peak_step`` (the first step at the peak, counting from 0) and ``first_lr``
    (the rate at step 0); and ``embedding_lr``, the discriminative rate of the embedding of a
    2-layer classifier whose head gets ``lr``. Computed with ``param_groups``."""
    from transferlib.model import Classifier, ModelConfig
    from transferlib.param_groups import discriminative_groups
    from transferlib.schedules import slanted_triangular

    param = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=lr)
    scheduler = slanted_triangular(optimizer, total_steps)
    rates = []
    for _ in range(total_steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    model = Classifier(ModelConfig(vocab_size=10, emb_dim=4, hidden_dim=4, num_layers=2,
                                   n_classes=2))
    truth = {"peak_step": rates.index(max(rates)), "first_lr": rates[0],
             "embedding_lr": discriminative_groups(model, lr)[0]["lr"]}
    if not isinstance(answer, dict) or set(truth) - set(answer):
        return _verdict(False, "", "answer with a dict with keys 'peak_step', 'first_lr', "
                        "'embedding_lr'")
    if answer["peak_step"] != truth["peak_step"]:
        return _verdict(False, "", "the rate rises for cut_frac = 10% of the steps: the peak is "
                        "at step cut_frac × total_steps")
    if not _close(answer["first_lr"], truth["first_lr"], rel=1e-3):
        return _verdict(False, "", "STLR starts at lr / ratio, with ratio = 32")
    if not _close(answer["embedding_lr"], truth["embedding_lr"], rel=1e-3):
        return _verdict(False, "", "the groups are embedding, lstm 0, lstm 1, head; each group "
                        "gets the rate of the one above divided by 2.6")
    return _verdict(True, f"peak at step {truth['peak_step']}, start at "
                    f"{truth['first_lr']:.6f}, embedding {truth['embedding_lr']:.6f} "
                    "(lr / 2.6³): the lowest layers, the most general ones, move the least.", "")


# -- notebook 07 ---------------------------------------------------------------------------------

@answerable
def check_pad_fraction(answer: dict, lengths: Sequence[int] = (3, 10, 4, 9),
                       batch_size: int = 2) -> bool:
    """Notebook 07: the share of padding tokens in the padded batches when ``lengths`` are
    batched in the given order (``random``) and after sorting by length (``bucketed``)
    (±0.005). Computed with ``batching.collate_padded``."""
    from transferlib.batching import collate_padded

    def pad_share(order: Sequence[int]) -> float:
        pads = total = 0
        for start in range(0, len(order), batch_size):
            batch = [(torch.arange(1, n + 1), torch.tensor(0))
                     for n in order[start:start + batch_size]]
            ids, _, _ = collate_padded(batch)
            pads, total = pads + int((ids == 0).sum()), total + ids.numel()
        return pads / total

    truth = {"random": pad_share(list(lengths)), "bucketed": pad_share(sorted(lengths))}
    if not isinstance(answer, dict) or set(truth) - set(answer):
        return _verdict(False, "", "answer with a dict with keys 'random' and 'bucketed'")
    for key in ("random", "bucketed"):
        if not _close(answer[key], truth[key], rel=0, abs_=0.005):
            return _verdict(False, "", f"'{key}': each batch is padded to its longest member; "
                            "share = padding tokens / all tokens of the padded batches")
    return _verdict(True, f"{truth['random']:.1%} of the computed tokens are padding in the "
                    f"given order, {truth['bucketed']:.1%} after bucketing: that is the work "
                    "bucketing saves.", "")


# -- notebook 08 ---------------------------------------------------------------------------------

@answerable
def check_global_batch(answer: dict) -> bool:
    """Notebook 08: 2 machines × 4 GPUs, a micro-batch of 16 per GPU and ``accumulate=4``:
    give ``global_batch`` (examples per optimizer step) and ``steps`` (optimizer steps per
    epoch over 8,192 examples). Checked against ``parallel.per_rank_batch``."""
    from transferlib.parallel import DistContext, per_rank_batch

    world, micro, k, n = 2 * 4, 16, 4, 8192
    ctx = DistContext(0, world, 0, torch.device("cpu"), "gloo")
    global_batch = micro * world * k
    assert per_rank_batch(global_batch, ctx, k) == micro
    truth = {"global_batch": global_batch, "steps": math.ceil(n / global_batch)}
    if not isinstance(answer, dict) or set(truth) - set(answer):
        return _verdict(False, "", "answer with a dict with keys 'global_batch' and 'steps'")
    if answer["global_batch"] != truth["global_batch"]:
        return _verdict(False, "", "one optimizer step sees micro-batch × processes (machines "
                        "× GPUs) × accumulation steps examples")
    if answer["steps"] != truth["steps"]:
        return _verdict(False, "", "steps per epoch = examples / global batch")
    return _verdict(True, f"{truth['global_batch']} examples per step, {truth['steps']} steps "
                    "per epoch: 8 processes and 4 accumulation steps give the update of one "
                    "batch 32× the micro-batch.", "")


# -- notebook 09 ---------------------------------------------------------------------------------

ZEROSHOT_EXAMPLE = {"after_review": {"positive": -9.0, "negative": -9.5},
                    "prior": {"positive": -7.0, "negative": -8.0}}  # log-probabilities


@answerable
def check_calibration(answer: dict) -> bool:
    """Notebook 09: with the log-probabilities of ``ZEROSHOT_EXAMPLE`` (each label phrase after
    the review, and after no text: its prior), give the zero-shot label ``raw`` and the
    ``calibrated`` one (scores minus priors, as in ``zeroshot.zero_shot_scores``)."""
    ex = ZEROSHOT_EXAMPLE
    classes = sorted(ex["prior"])
    scores = torch.tensor([[ex["after_review"][c] for c in classes]])
    prior = torch.tensor([ex["prior"][c] for c in classes])
    truth = {"raw": classes[int(scores.argmax(1))],
             "calibrated": classes[int((scores - prior).argmax(1))]}
    if not isinstance(answer, dict) or set(truth) - set(answer):
        return _verdict(False, "", "answer with a dict with keys 'raw' and 'calibrated'")
    given = {k: str(answer[k]).strip().lower() for k in truth}
    if given["raw"] != truth["raw"]:
        return _verdict(False, "", "raw: the label whose phrase is more probable after the "
                        "review (the larger log-probability)")
    if given["calibrated"] != truth["calibrated"]:
        return _verdict(False, "", "calibrated: subtract each phrase's prior first; which "
                        "phrase became *more* likely because of the review?")
    return _verdict(True, f"raw '{truth['raw']}', calibrated '{truth['calibrated']}': the "
                    "positive phrase is likelier everywhere, but this review made the negative "
                    "one less unlikely than usual.", "")


CHECKERS.update({"05": "check_threshold", "06": "check_embedding_rate",
                 "07": "check_fastest_lever", "08": "check_global_batch",
                 "09": "check_calibration"})


# -- the notebooks' current exercises (placeholders first, hidden worked solutions) -------------

@answerable
def check_test_floor(answer: float) -> bool:
    """Notebook 00: the accuracy of always answering the training split's majority label, on the
    **test** split (±0.005): the floor every classifier of the workbook is measured against."""
    from transferlib.baselines import majority_accuracy
    from transferlib.datasets import load_rotten_tomatoes

    train, test = load_rotten_tomatoes("train"), load_rotten_tomatoes("test")
    floor = majority_accuracy(list(train["label"]), list(test["label"]))
    train_share = float((train["label"] == train["label"].mode()[0]).mean())
    value, problem = _fraction(answer)
    if problem:
        return _verdict(False, "", problem)
    if abs(value - train_share) <= 0.005:
        return _verdict(False, "", "that is the share on the training split; the floor is "
                        "measured where the models are scored: the test split")
    if abs(value - (1 - floor)) <= 0.005:
        return _verdict(False, "", "that is the minority class; answer the share of the "
                        "training split's most frequent label among the test reviews")
    return _verdict(abs(value - floor) <= 0.005,
                    f"always answering the training majority scores {floor:.3f} on the test "
                    f"split (not the {train_share:.3f} of the training split): the test reviews "
                    "come from other movies, with another class balance.",
                    "count the test reviews whose label is the training split's most frequent "
                    "label, divided by all test reviews")


@answerable
def check_anchor_lambda(answer: float, settings=None) -> bool:
    """Notebook 02: the smallest λ of ``objective.LAMBDAS`` at which L2-SP keeps the encoder's
    drift below half the drift of the unregularised run (measured with
    ``objective.retrain_with_lambda``; cached, so cheap after the notebook's curve)."""
    from transferlib.workbook.objective import LAMBDAS, retrain_with_lambda

    free = retrain_with_lambda(0.0, "none", settings)["drift"]
    drifts = {lam: retrain_with_lambda(lam, "l2sp", settings)["drift"] for lam in LAMBDAS}
    below = [lam for lam in LAMBDAS if drifts[lam] < free / 2]
    try:
        value = float(answer)
    except (TypeError, ValueError):
        return _verdict(False, "", f"answer with one of {LAMBDAS}, got {answer!r}")
    if not below:
        return _verdict(False, "", "no λ of the grid halves the drift in this run; compare the "
                        "drift column with the free run's")
    best = min(below)
    if not any(_close(value, lam) for lam in LAMBDAS):
        return _verdict(False, "", f"pick one of the grid's values {LAMBDAS}")
    if value > best:
        return _verdict(False, "", f"λ = {value:g} halves the drift, but a smaller λ does too: "
                        "try the next smaller one")
    return _verdict(_close(value, best),
                    f"λ = {best:g}: drift {drifts[best]:.2f} vs {free:.2f} without a "
                    "regularizer; the drift column shows how the pull toward w₀ grows with λ.",
                    f"at λ = {value:g} the drift is {drifts.get(value, float('nan')):.2f}, not "
                    f"below half of {free:.2f}: increase λ")


@answerable
def check_last_state(fn: Callable) -> bool:
    """Notebook 03: ``fn(output, lengths)`` must return, for an LSTM ``output [B, T, H]`` of
    right-padded sentences, each sentence's output at its last real position ``[B, H]`` (the
    fix of the seed's bug #5). Tested on random outputs and on padded copies of one batch."""
    if not callable(fn):
        return _verdict(False, "", "define a function: def last_state(output, lengths): ...")
    gen = torch.Generator().manual_seed(0)
    output = torch.randn(3, 7, 4, generator=gen)
    lengths = torch.tensor([5, 3, 7])
    truth = output[torch.arange(3), lengths - 1]
    padded = torch.cat([output, torch.randn(3, 5, 4, generator=gen)], dim=1)
    try:
        got, got_padded = fn(output, lengths), fn(padded, lengths)
    except Exception as exc:  # the learner's code: report any error as a hint
        return _verdict(False, "", f"your function raised {type(exc).__name__}: {exc}")
    if got is ...:
        print(f"{PENDING}: replace the ... in the function body with your code.")
        return None
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != (3, 4):
        return _verdict(False, "", "return one vector per sentence: shape [B, H]")
    if torch.allclose(got, output[:, -1]):
        return _verdict(False, "", "that is the last *column*, after the padding (the seed's "
                        "bug); index each row at its own length − 1")
    if torch.allclose(got, output[torch.arange(3), lengths.clamp(max=6)]):
        return _verdict(False, "", "off by one: the last real token of a length-n sentence is "
                        "at position n − 1")
    return _verdict(torch.allclose(got, truth) and torch.allclose(got_padded, truth),
                    "output[arange(B), lengths − 1]: the same vector however many pads follow, "
                    "which is what model.pool_valid takes as its first part.",
                    "select output[b, lengths[b] − 1] for every b (torch.arange(B) as rows)")


ENTROPY_BAND = (2.5, 3.5)


@answerable
def check_temperature(temperature: float, lm, vocab, prompt: str = "the president said that",
                      n_words: int = 25) -> bool:
    """Notebook 04: a temperature at which ``generate.sample_text(lm, vocab, prompt, n_words,
    seed=0)`` has a mean entropy inside ``ENTROPY_BAND`` nats (measured here with the learner's
    temperature)."""
    from transferlib.generate import sample_text

    try:
        t = float(temperature)
        if t <= 0:
            raise ValueError
    except (TypeError, ValueError):
        return _verdict(False, "", f"a temperature is a positive number, got {temperature!r}")
    h = sample_text(lm, vocab, prompt, n_words=n_words, temperature=t, seed=0).mean_entropy
    low, high = ENTROPY_BAND
    if h < low:
        return _verdict(False, "", f"at T = {t:g} the mean entropy is {h:.2f} nats: too sure; "
                        "raise the temperature")
    if h > high:
        return _verdict(False, "", f"at T = {t:g} the mean entropy is {h:.2f} nats: too "
                        "random; lower the temperature")
    return _verdict(True, f"T = {t:g} gives {h:.2f} nats per word (about e^{h:.1f} ≈ "
                    f"{math.exp(h):.0f} equally likely choices per step).", "")


@answerable
def check_threshold(threshold: float, p_positive: Sequence[float], labels: Sequence[str]) -> bool:
    """Notebook 05: a decision threshold on P(positive) at which the share of 'positive'
    answers is within 0.03 of the true share of positive reviews; prints the accuracy at 0.5
    and at the learner's threshold (both measured on ``p_positive`` and ``labels``)."""
    p = torch.as_tensor(list(p_positive), dtype=torch.float64)
    truth = torch.tensor([label == "positive" for label in labels])
    try:
        t = float(threshold)
    except (TypeError, ValueError):
        return _verdict(False, "", f"a threshold is a number between 0 and 1, got {threshold!r}")
    share, true_share = float((p >= t).double().mean()), float(truth.double().mean())
    acc = float(((p >= t) == truth).double().mean())
    acc_half = float(((p >= 0.5) == truth).double().mean())
    note = (f"at {t:.3f} the model says 'positive' for {share:.1%} of the reviews (truly "
            f"positive: {true_share:.1%}); accuracy {acc:.3f} vs {acc_half:.3f} at 0.5")
    if share > true_share + 0.03:
        return _verdict(False, "", note + ": too many 'positive' answers; raise the threshold")
    if share < true_share - 0.03:
        return _verdict(False, "", note + ": too few 'positive' answers; lower the threshold")
    return _verdict(True, note + ".", "")


@answerable
def check_embedding_rate(strategy) -> bool:
    """Notebook 06: change exactly one field of ``STARVED`` (``gradual`` with the embedding at
    its ULMFiT rate and frozen until the last epoch) so that the embedding trains at the head's
    rate from the first epoch; every other lever must stay as it is."""
    from dataclasses import fields

    from transferlib.strategies import Strategy, get_strategy

    starved = get_strategy("gradual", embedding_lr=0.0)
    if not isinstance(strategy, Strategy):
        return _verdict(False, "", "answer with a Strategy, e.g. get_strategy('gradual', "
                        "some_field=some_value)")
    changed = [f.name for f in fields(Strategy)
               if getattr(strategy, f.name) != getattr(starved, f.name)]
    if changed != ["embedding_lr"]:
        if not changed:
            return _verdict(False, "", "that is STARVED itself: change one field")
        other = [c for c in changed if c != "embedding_lr"]
        return _verdict(False, "", f"you changed {other}: that switches off a lever, it does "
                        "not feed the embedding. Find the field that gives the embedding its "
                        "own rate (strategies.Strategy)")
    return _verdict(strategy.embedding_lr >= 0.5,
                    f"embedding_lr = {strategy.embedding_lr:g}: the embedding trains from epoch "
                    "1 at that multiple of the head's rate, while the LSTM layers keep their "
                    "discriminative rates and gradual unfreezing.",
                    "a multiple of the head's rate far below 1 starves it again; use about 1")


@answerable
def check_fastest_lever(answer: str, table) -> bool:
    """Notebook 07: the lever with the largest speedup in ``table`` (the learner's own
    ``run_levers`` measurement, at least three levers), and whether it clears the noise bar
    of 1.1×."""
    rows = table[table["row"] != "baseline"]
    if len(rows) < 3:
        return _verdict(False, "", "measure at least three levers: run_levers([...], "
                        "bench_data) with three names from lever_names()")
    best = rows.loc[rows["speedup"].idxmax()]
    given = str(answer).strip()
    if given not in set(rows["row"]):
        return _verdict(False, "", f"name one of the levers you measured: {list(rows['row'])}")
    bar = "above" if best["speedup"] >= 1.1 else "below"
    return _verdict(given == best["row"],
                    f"{best['row']} at {best['speedup']:.2f}× the baseline, {bar} the 1.1× "
                    "noise bar of this notebook.",
                    f"{given} measured {float(rows.set_index('row').loc[given, 'speedup']):.2f}×;"
                    " look for the largest number in the speedup column")


CHECKERS = {nb: globals()[name] for nb, name in CHECKERS.items()}
