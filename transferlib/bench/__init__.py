"""The efficiency benchmarks (taught in notebook 08), one module per kind of measurement.

- ``levers``   ``python -m transferlib bench``: every fine-tuning lever against one baseline
- ``train``    the fine-tuning lever rows (bucketing, packing, autocast, freezing, LoRA, ...)
- ``infer``    inference rows: int8 quantization, pruning, distilled students
- ``flops``    the machine's matmul peak and the LM pretraining's share of it
- ``measure``  timing and peak-memory helpers shared by the rows
- ``softmax``  ``python -m transferlib.bench.softmax``: full vs sampled vs adaptive softmax
- ``tta``      ``python -m transferlib bench-tta``: time to accuracy, deployment with ONNX

An application layer: the benchmarks use the core and the transfer recipes, nothing below
imports them. Import the module you need (``from transferlib.bench.train import SOLO_LEVERS``);
this file imports nothing, so ``python -m transferlib bench-tta`` does not load the others.
"""
