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


class FieldError(ConfigError):
    """A config field's value outside what the field allows, named by its dotted path.

    Args:
        field: str. The field (`num_layers`; `model.num_layers` once its section is known).
        expected: str. What the field takes ("an integer >= 1").
        value: object. What it got.
        owner: type | None. The config class whose own field this is, until the name is
            qualified with its section (`Config.from_dict` does that).

    >>> str(FieldError("model.num_layers", "an integer >= 1", -1))
    'model.num_layers: expected an integer >= 1, got -1'
    """

    def __init__(self, field: str, expected: str, value: object, owner: type | None = None):
        self.field, self.expected, self.value, self.owner = field, expected, value, owner
        super().__init__(f"{field}: expected {expected}, got {value!r}")

    def within(self, prefix: str) -> FieldError:
        """The same error, its field named under `prefix` (`"model."`)."""
        return FieldError(prefix + self.field, self.expected, self.value)


class DatasetNotFoundError(KerasLMError, FileNotFoundError):
    """A registered data set is neither in the data directory nor downloadable."""
