"""The embedded default corpus: built at run time from the docstrings of Python's own standard library.

No download and no third-party text in the repository: every machine with
Python 3.11 has these files. Four data sets come from it:
- `stdlib-docs` (text): every public docstring, one after another, a blank line between;
- `stdlib-sig2text` (parallel, the demo's): a public function's signature -> its description in
  words, written from the syntax tree: "get_close_matches(word, possibilities, n=3)" ->
  "get close matches takes word and possibilities; n defaults to 3";
- `stdlib-sigs` (parallel): a function's one-line summary -> its name and signature,
  e.g. "Remove any common leading whitespace from every line in `text`." -> "dedent(text)";
- `stdlib-kinds` (labelled): a docstring's summary -> module, class or function.
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
    found: list[Docstring] = []
    for path, module in _module_paths(root or stdlib_root(), modules):
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


def stdlib_sig2text_corpus(max_signature: int = 48) -> Corpus:
    """The `stdlib-sig2text` parallel corpus: `name(signature)` -> `describe(...)` of every public
    function and method of the standard library (documented or not), distinct signatures only.

    A mapping a model can learn in a minute on a CPU, and whose output a person checks at a glance:
    identifiers split into words (snake_case and CamelCase), arguments listed in English, defaults
    moved after them. Copying the source scores low (BLEU about 7), so what a model learns shows.
    """
    seen: set[str] = set()
    records = []
    for path, module in _module_paths(stdlib_root(), None):
        try:
            tree = ast.parse(path.read_bytes(), filename=str(path))
        except (SyntaxError, ValueError):
            continue
        for name, node in _functions(tree.body, module):
            signature = _signature(node)
            if len(signature) > max_signature or signature in seen:
                continue
            seen.add(signature)
            records.append(PairRecord(signature, describe(node), len(records) + 1, (name,)))
    return Corpus("parallel", tuple(records), "stdlib-sig2text")


def describe(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """A function's signature in words: its name split into words, what it takes, its defaults.

    >>> describe(ast.parse("def getLogger(self, name, level=0, *args, **kw): pass").body[0])
    'get logger takes name, extra args and extra keywords kw; level defaults to 0'
    """
    args = node.args
    positional = [*args.posonlyargs, *args.args]
    if positional and positional[0].arg in ("self", "cls"):
        positional = positional[1:]
    first_default = len(positional) - len(args.defaults)
    taken = [_words(a.arg) for a in positional[:first_default]]
    defaults = [(a, d) for a, d in zip(positional[first_default:], args.defaults, strict=True)]
    if args.vararg:
        taken.append(f"extra {_words(args.vararg.arg)}")
    for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        if default is None:
            taken.append(f"keyword {_words(arg.arg)}")
        else:
            defaults.append((arg, default))
    if args.kwarg:
        taken.append(f"extra keywords {_words(args.kwarg.arg)}")
    text = f"{_words(node.name)} takes {_listed(taken) if taken else 'nothing'}"
    if defaults:
        text += "; " + ", ".join(
            f"{_words(a.arg)} defaults to {ast.unparse(d)}" for a, d in defaults
        )
    return text


def _words(identifier: str) -> str:
    """`getLogger` and `get_logger` -> "get logger"."""
    spaced = _CAMEL.sub(r"\1_\2", identifier)
    return " ".join(word.lower() for word in spaced.split("_") if word)


def _listed(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


_CAMEL = re.compile(r"([a-z0-9])([A-Z])")


def _functions(body: list[ast.stmt], prefix: str) -> Iterator[tuple[str, ast.FunctionDef]]:
    """Public functions and methods (of public classes, nested ones too), qualified names."""
    for node in body:
        if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            yield from _functions(node.body, f"{prefix}.{node.name}")
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name[0] != "_":
            yield f"{prefix}.{node.name}", node


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


def _module_paths(root: Path, modules: Sequence[str] | None) -> Iterator[tuple[Path, str]]:
    """Each module file and its dotted name."""
    for path in _module_files(root, modules):
        yield path, ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")


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
