"""The errors keras_lm raises for bad input, each naming where the problem is.

Example:
>>> err = InputError("bad.tsv", "expected 2 columns, found 3", line=7)
>>> str(err)
'bad.tsv:7: expected 2 columns, found 3'
"""

from __future__ import annotations


class KerasLMError(Exception):
    """Base class of every error keras_lm raises on purpose; the CLI exits 2 on it."""


class InputError(KerasLMError, ValueError):
    """Bad input data: names the file, and the line, byte offset or field when known.

    Args:
        path: str. The file (or data set name) the problem is in.
        message: str. What is wrong and what was expected.
        line: int | None. 1-based line number.
        field: str | None. Column or field name.
        offset: int | None. Byte offset from the start of the file.
    """

    def __init__(
        self,
        path: str,
        message: str,
        *,
        line: int | None = None,
        field: str | None = None,
        offset: int | None = None,
    ):
        self.path = str(path)
        self.message = message
        self.line = line
        self.field = field
        self.offset = offset
        where = self.path
        if line is not None:
            where += f":{line}"
        if field is not None:
            where += f" [{field}]"
        if offset is not None:
            where += f" (byte {offset})"
        super().__init__(f"{where}: {message}")


class ConfigError(KerasLMError, ValueError):
    """A configuration key that is unknown, or a value of the wrong type."""


class DatasetNotFoundError(KerasLMError, FileNotFoundError):
    """A registered data set is neither in the data directory nor downloadable."""
