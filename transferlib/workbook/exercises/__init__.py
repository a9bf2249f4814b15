"""Checkers for the workbook's exercises: one module per notebook, named after its topic.

Each checker takes what the learner wrote. An exercise cell starts with a placeholder (``...``,
``None``, or a function whose body returns ``...``): the checker then prints "Not answered yet"
and returns None, so a notebook run top to bottom never fails on it. Otherwise it prints
"Right" with a short explanation and returns True, or "Not yet" with a specific hint and returns
False; it never raises on a half-filled answer. The right answers are computed from the shipped
data and from transferlib itself, never stored. Worked solutions live in the repository's
``solutions/`` folder, one file per exercise, outside the notebooks a student opens.
"""
