"""transferlib: transfer learning for text classification with an LSTM, in plain PyTorch.

The helper package of the workbook in ``notebooks/``. One module per idea, in five layers, each
importing only its own and lower ones (``tests/test_import_graph.py`` keeps it so):

foundation
- ``errors``, ``config``  exception types; paths, fast mode, machine info
- ``text``         tokenizer, ``Vocab``, ``numericalize``                    (notebook 02)
- ``datasets/``    the shipped corpora, checksum-verified; their builders     (notebooks 00, 02)
- ``vectors``      the shipped GloVe word vectors                             (notebooks 01, 06)
- ``csvdata``      your own CSV, with clear errors                             (notebook 06)
core
- ``model``        ``LSTMEncoder``, ``LanguageModel``, ``Classifier``          (notebooks 02-06)
- ``batching``     datasets, length bucketing, padding, LM streams            (notebook 02)
- ``training``     the one training loop ``fit``, ``evaluate``, devices, AMP   (notebook 06)
- ``param_groups`` freezing, discriminative learning rates, gradual unfreezing (notebook 07)
- ``schedules``    slanted triangular, one-cycle, ``make_scheduler``           (notebook 07)
- ``regularizers`` L2 and L2-SP for  L + λ R(w)                               (notebook 04)
- ``strategies``   fine-tuning strategies as plain values                     (notebook 07)
- ``parallel``     DistributedDataParallel's parts: process group, per-rank batches (notebook 09)
- ``checkpoint``, ``resume``, ``predict``, ``baselines``, ``compression``, ``export_onnx``,
  ``generate``, ``naive``                                                     (notebooks 02-08)
transfer recipes
- ``transfer``     vocabulary transfer and loading a pretrained encoder        (notebook 06)
- ``pipeline``     pretrain the source LM, fine-tune a classifier              (notebooks 05-07)
- ``zeroshot``, ``fewshot``  no labels (LM scoring, GloVe); a few (prototypes)  (notebook 10)
applications
- ``experiments/`` ablation, low-resource curve, domain transfer              (notebooks 01, 07, 10)
- ``bench/``       the efficiency benchmarks                                  (notebook 08)
- ``distributed``  measuring DDP scaling under torchrun                       (notebook 09)
- ``cli``          ``python -m transferlib ...``
workbook helpers
- ``workbook/``    objective demo, lessons, widgets, exercises; nothing else imports them

Submodules are imported explicitly (``from transferlib.model import Classifier``); nothing is
re-exported here, so every name says where it lives.
"""

__version__ = "0.1.0"
