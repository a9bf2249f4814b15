"""Helpers that exist for the notebooks; nothing else in transferlib imports them.

- ``objective``  notebook 04: the terms of L + λ R(w), retraining across λ, the trade-off plot
- ``lessons``    small measured lessons (neighbours, probes, live timings) for notebooks 00-10
- ``widgets``    the notebooks' interactive pieces: live plot, strategy runs, lever picker, ...
- ``exercises``  each notebook's closing exercise, its hidden solution and the function that
                 checks a student's answer

The top layer of the package: these may import anything below, nothing below imports them.
Import the module you need (``from transferlib.workbook.exercises import check_threshold``).
"""
