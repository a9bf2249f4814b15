"""transferlib: transfer learning for text classification with an LSTM, in plain PyTorch.

The helper package of the workbook in ``notebooks/``. One module per idea, in five layers, each
importing only its own and lower ones (``tests/test_import_graph.py`` keeps it so):

foundation
- ``errors``, ``config``  exception types; paths, fast mode, machine info
- ``text``         tokenizer, ``Vocab``, ``numericalize``                    (notebook 03)
- ``datasets/``    the shipped corpora, checksum-verified; their builders     (notebooks 00, 03)
- ``vectors``      the shipped GloVe word vectors                             (notebooks 01, 05)
- ``csvdata``      your own CSV, with clear errors                             (notebook 05)
core
- ``model``        ``LSTMEncoder``, ``LanguageModel``, ``Classifier``          (notebooks 03-05)
- ``batching``     datasets, length bucketing, padding, LM streams            (notebook 03)
- ``training``     the one training loop ``fit``, ``evaluate``, devices, AMP   (notebook 05)
- ``param_groups`` freezing, discriminative learning rates, gradual unfreezing (notebook 06)
- ``schedules``    slanted triangular, one-cycle, ``make_scheduler``           (notebook 06)
- ``regularizers`` L2 and L2-SP for  L + λ R(w)                               (notebook 02)
- ``strategies``   fine-tuning strategies as plain values                     (notebook 06)
- ``parallel``     DistributedDataParallel's parts: process group, per-rank batches (notebook 08)
- ``checkpoint``, ``resume``, ``predict``, ``baselines``, ``compression``, ``export_onnx``,
  ``generate``, ``naive``                                                     (notebooks 03-07)
transfer recipes
- ``transfer``     vocabulary transfer and loading a pretrained encoder        (notebook 05)
- ``pipeline``     pretrain the source LM, fine-tune a classifier              (notebooks 04-06)
- ``zeroshot``, ``fewshot``  no labels (LM scoring, GloVe); a few (prototypes)  (notebook 09)
applications
- ``experiments/`` ablation, low-resource curve, domain transfer              (notebooks 01, 06, 09)
- ``bench/``       the efficiency benchmarks                                  (notebook 07)
- ``distributed``  measuring DDP scaling under torchrun                       (notebook 08)
- ``cli``          ``python -m transferlib ...``
workbook helpers
- ``workbook/``    objective demo, lessons, widgets, exercises; nothing else imports them

Submodules are imported explicitly (``from transferlib.model import Classifier``); nothing is
re-exported here, so every name says where it lives.
"""

__version__ = "0.1.0"
