"""Worked solution of notebook 09's exercise: the micro-batch of one process, and the global
batch of a run on 4 machines × 8 GPUs with a micro-batch of 12 and ``accumulate=2``.

One optimizer step sees W processes × k accumulation steps × b examples, so each process's
micro-batch is the global batch divided by W·k, once, and only when it divides exactly.
"""

import math

from transferlib.workbook.exercises.scaling import check_scaling


def per_rank_batch(global_batch, world_size, accumulate):
    if world_size < 1 or accumulate < 1:
        raise ValueError(f"world_size and accumulate must be >= 1, got {world_size}, {accumulate}")
    parts = world_size * accumulate
    if global_batch % parts:
        raise ValueError(f"a global batch of {global_batch} does not split into {world_size} "
                         f"processes x {accumulate} accumulation steps; use a multiple of {parts}")
    return global_batch // parts


global_batch = 12 * (4 * 8) * 2            # micro-batch × processes (machines × GPUs) × k
steps = math.ceil(10_000 / global_batch)   # the last, smaller step counts too

check_scaling({"per_rank_batch": per_rank_batch, "global_batch": global_batch, "steps": steps})
