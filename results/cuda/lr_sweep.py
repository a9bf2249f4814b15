"""Learning-rate sweep on CUDA: seed 0, full Rotten Tomatoes data, default epochs (6, early
stopping on valid), selection by *valid* accuracy. Ran once on an H200 (see README.md here):

    PYTHONPATH=. python results/cuda/lr_sweep.py results/cuda/lr_sweep.csv cuda

Each strategy's run is ``experiments.Context.finetune``, the same call as the ablation's.
"""
import sys
import time

import pandas as pd

from transferlib.config import source_model_dir
from transferlib.experiments.runs import Context, experiment_sizes

out, device = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "auto")
sizes = experiment_sizes(False)
rows = []
for lr in (2e-3, 1e-2, 5e-3, 1e-3):
    ctx = Context(source_model_dir(), {**sizes, "lr": lr}, device=device)
    for name in ("full", "ulmfit", "stlr", "feature-extraction", "scratch"):
        start = time.time()
        run = ctx.finetune(name, ctx.pool, 0)
        rows.append({"lr": lr, "strategy": name, "wall_s": round(time.time() - start, 1),
                     **{k: v for k, v in run.items() if k != "result"}})
        print(rows[-1], flush=True)
        pd.DataFrame(rows).to_csv(out, index=False)
