"""The shared behaviour of every exercise checker (``workbook.exercises._common``)."""

from __future__ import annotations

from transferlib.workbook.exercises._common import answerable, call, verdict


@answerable
def check_double(fn) -> bool:
    return verdict(call(fn, 2) == 4, "doubles", "should double its argument")


def test_placeholder_unanswered_none_wrong_raise_wrong_right_right(capsys):
    def placeholder(x):
        return ...

    def forgot_return(x):
        x * 2

    def raises(x):
        return undefined  # noqa: F821

    assert check_double(...) is None and check_double(placeholder) is None
    assert "Not answered yet" in capsys.readouterr().out
    assert check_double(forgot_return) is False
    assert "returns None" in capsys.readouterr().out
    assert check_double(raises) is False
    assert "NameError" in capsys.readouterr().out
    assert check_double(lambda x: 3 * x) is False
    assert check_double(lambda x: 2 * x) is True
