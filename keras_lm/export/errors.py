"""The error an export raises when a converter or a verification step fails.

Example:
>>> err = ExportError("onnx graph 'decode': Erfc is not supported")
>>> isinstance(err, KerasLMError), str(err)
(True, "onnx graph 'decode': Erfc is not supported")
"""

from __future__ import annotations

from keras_lm.errors import KerasLMError


class ExportError(KerasLMError):
    """A format could not be written or verified: names the format, the graph and the reason.

    Raised instead of the converter's own exception, and only after any partial file was
    removed, so a failed export leaves nothing behind.
    """
