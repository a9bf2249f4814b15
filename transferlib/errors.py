"""The project's own exception types.

Every *expected* failure (bad input file, mismatched checkpoint, diverging training) raises one of
these, with a message that names the file, line or field. The CLI prints the message and exits
non-zero without a traceback; anything else is a bug and keeps its traceback.
"""


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
