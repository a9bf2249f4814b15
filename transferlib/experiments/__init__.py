"""The transfer experiments behind the committed results/ tables (notebooks 01, 07, 10).

- ``runs``    ``python -m transferlib experiments NAME``: the ablation, the low-resource curve,
              domain transfer, zero-/few-shot; ``stratified_subsample`` and the shared ``Context``
- ``report``  the CSV, JSON, Markdown and PNG files each experiment writes
              (``python -m transferlib.experiments.report`` prints the committed tables)

An application layer on top of ``pipeline``; import the module you need
(``from transferlib.experiments.runs import stratified_subsample``); this file imports nothing.
"""
