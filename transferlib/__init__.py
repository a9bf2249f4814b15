"""transferlib: transfer learning for text classification with an LSTM, in plain PyTorch.

The helper package of the workbook in ``notebooks/``. One module per idea:

- ``text``         tokenizer, ``Vocab``, ``numericalize``                    (notebook 03)
- ``batching``     datasets, length bucketing, padding, LM streams            (notebook 03)
- ``datasets``     the shipped corpora, checksum-verified                      (notebooks 00, 03)
- ``model``        ``LSTMEncoder``, ``LanguageModel``, ``Classifier``          (notebooks 03-05)
- ``transfer``     vocabulary transfer and loading a pretrained encoder        (notebook 05)
- ``training``     the one training loop ``fit``, ``evaluate``, devices, AMP   (notebook 05)
- ``layers``       layer groups: freezing, discriminative LRs, schedules       (notebook 06)
- ``regularizers`` L2 and L2-SP for  L + λ R(w)                               (notebook 02)
- ``strategies``   fine-tuning strategies as plain values                     (notebook 06)
- ``pipeline``     pretrain the source LM, fine-tune a classifier              (notebooks 04-06)
- ``checkpoint``   safetensors + JSON, atomic writes, checked loading          (notebook 05)
- ``resume``       per-epoch training checkpoints, exact resume               (notebook 05)
- ``csvdata``      your own CSV, with clear errors                             (notebook 05)
- ``predict``      class probabilities for raw sentences                       (notebook 05)
- ``experiments``  ablation, low-resource curve, domain transfer              (notebooks 01, 06, 09)
- ``zeroshot``     zero-shot LM label scoring, nearest-prototype few-shot     (notebooks 01, 09)
- ``bench*``       the efficiency benchmark harness                           (notebook 07)
- ``compression``  int8 quantization, pruning, distillation, LoRA             (notebook 07)
- ``distributed``  DistributedDataParallel under torchrun                      (notebook 08)
- ``objective``, ``generate``, ``naive``, ``exercises``: notebook helpers      (notebooks 02-04)
- ``cli``          ``python -m transferlib ...``

Submodules are imported explicitly (``from transferlib.model import Classifier``); nothing is
re-exported here, so every name says where it lives.
"""

__version__ = "0.1.0"
