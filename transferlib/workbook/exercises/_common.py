"""What every exercise checker shares: placeholders, verdict lines, safe calls of the
learner's code, tolerant number parsing (the checkers of every notebook use them)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

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


def pending() -> None:
    """Print the "not answered yet" line (the checker then returns None)."""
    print(f"{PENDING}: replace every ... in the cell with your answer and run it again.")


def answerable(checker: Callable[..., bool]) -> Callable[..., bool | None]:
    """Decorator: a placeholder answer prints "Not answered yet" and returns None; an exception
    raised while checking (a half-written function, a wrong type) prints "Not yet" with the
    error and returns False. A checker never raises on what the learner typed."""
    @functools.wraps(checker)
    def wrapper(answer, *args, **kwargs):
        if is_placeholder(answer):
            pending()
            return None
        try:
            return checker(answer, *args, **kwargs)
        except Unanswered:
            pending()
            return None
        except ReturnsNone:
            print(f"{WRONG}: your function returns None: end it with a return statement")
            return False
        except Exception as error:  # the learner's code may raise anything
            print(f"{WRONG}: checking your answer raised {type(error).__name__}: {error}")
            return False
    return wrapper


class Unanswered(Exception):
    """Raised inside a checker when the learner's function still returns the placeholder."""


class ReturnsNone(Exception):
    """Raised inside a checker when the learner's function returns None (no ``return``)."""


def call(fn: Callable, *args, **kwargs):
    """``fn(*args, **kwargs)``; raises ``Unanswered`` when it returns ``...`` (a body still
    ``return ...`` reads as not answered) and ``ReturnsNone`` when it returns None (a function
    that forgot its ``return`` is a wrong answer with its own hint, not an unanswered one)."""
    value = fn(*args, **kwargs)
    if value is ...:
        raise Unanswered
    if value is None:
        raise ReturnsNone
    return value


def verdict(ok: bool, message: str, hint: str) -> bool:
    """Print "Right: message" or "Not yet: hint"; return ``ok``."""
    print(f"{RIGHT}: {message}" if ok else f"{WRONG}: {hint}")
    return ok


def close(a, b, rel: float = 1e-3, abs_: float = 1e-6) -> bool:
    """``a`` ≈ ``b`` as floats; False for anything that is not a number."""
    try:
        return math.isclose(float(a), float(b), rel_tol=rel, abs_tol=abs_)
    except (TypeError, ValueError):
        return False


def fraction(answer) -> tuple[float, str]:
    """``answer`` as a fraction, or the hint that says why it is not one (a percentage, text)."""
    try:
        value = float(answer)
    except (TypeError, ValueError):
        return float("nan"), f"type a number between 0 and 1, got {answer!r}"
    if 1 < value <= 100:
        return value, "give a fraction between 0 and 1, not a percentage"
    return value, ""
