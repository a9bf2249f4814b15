"""The project's own exception types.

Every *expected* failure (bad input file, mismatched checkpoint, diverging training) raises one of
these, with a message that names the file, line or field. The CLI prints the message and exits
non-zero without a traceback (``exit_status``, shared by every command line of the package);
anything else is a bug and keeps its traceback.
"""

import errno
import sys
from collections.abc import Callable


class TransferlibError(Exception):
    """Base class for every error transferlib raises on purpose."""


class ArgumentError(TransferlibError, ValueError):
    """A function or CLI argument is outside what it accepts (names it and the allowed values).
    A ``ValueError`` too, so ``except ValueError`` keeps working."""


class DataError(TransferlibError, ValueError):
    """A data file or an in-memory dataset is unusable (names the file, row and field)."""


class CheckpointError(TransferlibError):
    """A checkpoint is missing, unsafe (not safetensors) or does not match its config/vocabulary."""


class TrainingError(TransferlibError):
    """Training cannot go on, e.g. the loss became NaN/inf (names the step and the rate)."""


# a full disk or a read-only folder is the user's to fix, like bad input; other OSErrors are bugs
_USER_OS_ERRORS = (errno.ENOSPC, errno.EACCES, errno.EROFS, errno.EDQUOT)


def exit_status(run: Callable[[], int]) -> int:
    """``run()``'s exit status; an expected failure prints ``error: ...`` without a traceback and
    gives 2, Ctrl-C gives 130. Every command line of transferlib ends in this one handler."""
    try:
        return run()
    except TransferlibError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.errno not in _USER_OS_ERRORS:
            raise
        print(f"error: {exc} (is the disk full or the folder read-only?)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
