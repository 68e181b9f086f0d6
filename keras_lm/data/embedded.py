"""The embedded default corpus: built at run time from the docstrings of Python's own standard library.

No download and no third-party text in the repository: every machine with
Python 3.11 has these files. Two data sets come from it:
- `stdlib-docs` (text): every public docstring, one after another, a blank line between;
- `stdlib-sigs` (parallel): a function's one-line summary -> its name and signature,
  e.g. "Remove any common leading whitespace from every line in `text`." -> "dedent(text)".
The content depends on the Python version, so the version and a content hash are recorded.

Example:
>>> docs = collect_docstrings(modules=("textwrap",))
>>> any(d.name == "textwrap.dedent" for d in docs)
True
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import inspect
import re
import sys
import sysconfig
from collections.abc import Iterator
from collections.abc import Sequence
from pathlib import Path

from keras_lm.data.corpus import Corpus
from keras_lm.data.corpus import LabelledRecord
from keras_lm.data.corpus import PairRecord
from keras_lm.data.corpus import TextRecord

# Folders of the standard library that are tests, demos or vendored code, not documentation.
SKIP_DIRS = frozenset(
    {
        "test",
        "tests",
        "idle_test",
        "idlelib",
        "lib2to3",
        "turtledemo",
        "ensurepip",
        "site-packages",
        "__pycache__",
    }
)


@dataclasses.dataclass(frozen=True)
class Docstring:
    name: str  # qualified: module.Class.method
    text: str  # cleaned with inspect.cleandoc
    signature: str | None  # "dedent(text)" for functions, None for modules and classes
    kind: str = "function"  # "module", "class" or "function"


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def collect_docstrings(
    modules: Sequence[str] | None = None, root: Path | None = None
) -> list[Docstring]:
    """Public docstrings of the standard library (or of `modules` only), in a fixed order."""
    root = root or stdlib_root()
    found: list[Docstring] = []
    for path in _module_files(root, modules):
        module = ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
        try:
            tree = ast.parse(path.read_bytes(), filename=str(path))
        except (SyntaxError, ValueError):
            continue
        found.extend(_docstrings(tree, module))
    return tuple(found)


def stdlib_docs_corpus(max_chars: int = 2_000_000) -> Corpus:
    """The `stdlib-docs` text corpus: docstrings as lines, a blank line after each, up to `max_chars`."""
    lines: list[str] = []
    size = 0
    for doc in collect_docstrings():
        block = [*doc.text.splitlines(), ""]
        size += sum(len(line) + 1 for line in block)
        if size > max_chars:
            break
        lines.extend(block)
    records = tuple(TextRecord(text, i + 1) for i, text in enumerate(lines))
    return Corpus("text", records, "stdlib-docs")


def stdlib_sigs_corpus(max_summary: int = 100, max_signature: int = 48) -> Corpus:
    """The `stdlib-sigs` parallel corpus: function summary line -> `name(signature)`, distinct pairs."""
    seen: set[tuple[str, str]] = set()
    records = []
    for doc in collect_docstrings():
        summary = doc.text.split("\n\n")[0].replace("\n", " ").strip()
        if doc.signature is None or not (8 <= len(summary) <= max_summary):
            continue
        if len(doc.signature) > max_signature or (summary, doc.signature) in seen:
            continue
        seen.add((summary, doc.signature))
        records.append(PairRecord(summary, doc.signature, len(records) + 1, (doc.name,)))
    return Corpus("parallel", tuple(records), "stdlib-sigs")


def stdlib_kinds_corpus(max_summary: int = 120) -> Corpus:
    """The `stdlib-kinds` labelled corpus: a docstring's summary line -> what it documents
    ("module", "class" or "function"), distinct summaries only."""
    seen: set[str] = set()
    records = []
    for doc in collect_docstrings():
        summary = doc.text.split("\n\n")[0].replace("\n", " ").strip()
        if not (8 <= len(summary) <= max_summary) or summary in seen:
            continue
        seen.add(summary)
        records.append(LabelledRecord(summary, doc.kind, len(records) + 1))
    return Corpus("labelled", tuple(records), "stdlib-kinds", KIND_LABELS)


KIND_LABELS = ("module", "class", "function")


def provenance(corpus: Corpus) -> dict[str, str]:
    """What the embedded corpus was built from: the Python version and a hash of its content."""
    digest = hashlib.sha256("\n".join(corpus.texts()).encode("utf-8")).hexdigest()
    return {
        "python": sys.version.split()[0],
        "stdlib": str(stdlib_root()),
        "content_sha256": digest,
    }


def _module_files(root: Path, modules: Sequence[str] | None) -> Iterator[Path]:
    if modules is not None:
        for name in modules:
            base = root.joinpath(*name.split("."))
            yield base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
        return
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        if any(p in SKIP_DIRS or p.startswith("_") and p != "__init__.py" for p in parts):
            continue
        yield path


def _docstrings(tree: ast.Module, module: str) -> Iterator[Docstring]:
    text = ast.get_docstring(tree, clean=False)
    if text:
        yield Docstring(module, inspect.cleandoc(text), None, "module")
    yield from _walk(tree.body, module)


def _walk(body: list[ast.stmt], prefix: str) -> Iterator[Docstring]:
    for node in body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        if node.name.startswith("_"):
            continue
        name = f"{prefix}.{node.name}"
        text = ast.get_docstring(node, clean=False)
        if text:
            is_class = isinstance(node, ast.ClassDef)
            signature = None if is_class else _signature(node)
            yield Docstring(
                name, inspect.cleandoc(text), signature, "class" if is_class else "function"
            )
        if isinstance(node, ast.ClassDef):
            yield from _walk(node.body, name)


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """`name(args)` without the `self`/`cls` of methods."""
    args = _SELF.sub("", ast.unparse(node.args))
    return f"{node.name}({args})"


_SELF = re.compile(r"^(self|cls)(, |$)")
