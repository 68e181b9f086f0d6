"""Bring a keras-hub preset into keras_lm: `import_preset` writes a run directory from it.

`folder.py` reads a preset folder as untrusted input, `fetch.py` finds or downloads it,
`architectures.py` maps a backbone to the module that converts it (`gpt2.py`, `bert.py`;
`fields.py` reads their configs field by field), and `importer.py` checks the conversion
against keras-hub (`checks.py`) and writes the run.
"""

from __future__ import annotations
