"""GPT-2's byte-level pre-tokenization, as keras_hub's TensorFlow path does it.

`byte_chars()` is GPT-2's printable stand-in for each byte (" " -> "Ġ"), and
`pretokenize(text)` splits text into the words that BPE merges within. The split is not
GPT-2's regex but what keras_hub's `split_strings_for_bpe` computes in graph mode (in
`tf.data` and SavedModels): it emulates GPT-2's lookahead in RE2 with a marker character
and two passes, uses RE2's ASCII-only `\\s` and TensorFlow's Unicode tables, cuts the text
at NUL, and keeps the end token whole. Each step is copied here with the `regex` module.

Example:
>>> pretokenize("Hello  world!\\n\\n")
['Hello', ' ', ' world', '!', '\\n\\n']
>>> "".join(byte_chars()[b] for b in " é".encode("utf-8"))
'ĠÃ©'
"""

from __future__ import annotations

from collections.abc import Iterator

import regex

END_TOKEN = "<|endoftext|>"

# keras_hub marks "a space before a non-space" with DEVANAGARI DIGIT SIX and drops it after
# splitting (a user's own "६" can vanish too, as there).
_MARK = "\u096c"
_SPECIAL_SPACES = "\u00a0\u2009\u202f\u3000"
_RE2_SPACE = r"\t\n\f\r "  # RE2's \s: ASCII only, and without \v
# keras_hub's stand-in for its first unsplittable token while splitting: a literal "ĴA" in
# the text becomes "<|endoftext|>" too (one piece "ĴA" -> the end id), as in keras_hub.
_ALIAS = "ĴA"
# Code points that `regex` (newer Unicode tables) puts in \p{L} / \p{N} and TensorFlow's RE2
# does not; gaps holding no letter / number are folded into the ranges. `test_byte_bpe.py`
# splits every code point both ways, so a library upgrade that moves these is caught.
_NOT_RE2_LETTERS = (
    r"\u0558\u058B-\u058C\u088F\u0C5C\u0CDC\u1C89-\u1C8A\u208F\u209D-\u209F\uA7CB-\uA7CF"
    r"\uA7D2\uA7D4\uA7DA-\uA7F1\uAB6C-\uAB6D\U000105C0-\U000105F3\U000107BB-\U000107BF"
    r"\U00010940-\U00010959\U00010D4A-\U00010D85\U00010EC2-\U00010EEE\U00011380-\U000113D3"
    r"\U00011B0A-\U00011BE0\U00011DB0-\U00011DF1\U00013460-\U000143FA\U00016100-\U0001611D"
    r"\U00016D40-\U00016D6C\U00016EA0-\U00016ED3\U00016FF2-\U00016FF3\U000187F8-\U000187FF"
    r"\U00018CD6-\U00018CFF\U00018D09-\U000191D2\U0001B123-\U0001B128\U0001B168\U0001D6A6"
    r"\U0001DF1F-\U0001DF24\U0001DF2B-\U0001DFFF\U0001E5D0-\U0001E6FF\U0002B73A-\U0002B73F"
    r"\U0002B81E\U0002CEA2-\U0002CEAD\U0002EBF0-\U0002EE5D\U000323B0-\U0003FC3F"
)
_NOT_RE2_NUMBERS = (
    r"\U00010D40-\U00010D49\U000116D0-\U000116E3\U00011BF0-\U00011BF9\U00011DE0-\U00011DE9"
    r"\U0001246F-\U00016139\U00016D70-\U00016D79\U00016FF4-\U0001CCF9\U0001E5F1-\U0001E5FA"
)
_LETTER = r"[\p{L}--[" + _NOT_RE2_LETTERS + "]]"
_NUMBER = r"[\p{N}--[" + _NOT_RE2_NUMBERS + "]]"
# keras_hub's `split_strings_for_bpe`, pass by pass, in RE2's terms.
_SPACE_BEFORE_WORD = regex.compile(f"( )([^{_RE2_SPACE}{_SPECIAL_SPACES}])")
# keras_hub's "(\s\x{a0}\x{2009}\x{202f}\x{3000})$" is a sequence, not a class: kept as is.
_TRAILING_SPACES = regex.compile(f"([{_RE2_SPACE}]{_SPECIAL_SPACES})\\Z")
_WORD = regex.compile(
    r"('s|'t|'re|'ve|'m|'ll|'d"
    rf"|[{_RE2_SPACE}{_SPECIAL_SPACES}]+[\n\r\t\f{_MARK}{_SPECIAL_SPACES}]"
    rf"| ?{_LETTER}+| ?{_NUMBER}+| ?[^{_RE2_SPACE}{_SPECIAL_SPACES}{_LETTER}{_NUMBER}]+)",
    flags=regex.V1,
)
_LAST_SPACE = frozenset(f" \t\r\f\v{_MARK}{_SPECIAL_SPACES}")


def byte_chars() -> list[str]:
    """GPT-2's printable stand-in of each byte value (index = byte).

    >>> chars = byte_chars()
    >>> chars[ord(" ")], chars[ord("A")], chars[0], chars[0xFF]
    ('Ġ', 'A', 'Ā', 'ÿ')
    """
    printable = {*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)}
    chars, shifted = [], 0
    for b in range(256):
        if b in printable:
            chars.append(chr(b))
        else:
            chars.append(chr(256 + shifted))
            shifted += 1
    return chars


def pretokenize(text: str, end_token: str = END_TOKEN) -> list[str]:
    """Split `text` into the words BPE merges within, as keras_hub's TensorFlow path does.

    GPT-2's pattern (`'s|...| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+`) with
    keras_hub's differences, kept for parity: a whitespace run before a word keeps all but
    its last character apart ("a  b" -> "a", " ", " b") as in GPT-2, but a run ending in a
    line break stays whole ("a\\n\\nb" -> "a", "\\n\\n", "b"; GPT-2: "\\n", "\\n"), a trailing
    run keeps its last character apart ("a   " -> "a", "  ", " "; GPT-2: "   "), `\\s` is
    ASCII plus four special spaces, and `end_token` is always its own word. keras_hub's
    eager (non-graph) path uses Llama 3's pattern instead and gives other ids.

    >>> pretokenize("Don't  stop\\n\\nI'M 123<|endoftext|>")
    ['Don', "'t", ' ', ' stop', '\\n\\n', 'I', "'", 'M', ' 123', '<|endoftext|>']
    """
    # tf-text's regex_split ignores everything from the first NUL character on.
    text = text.partition("\0")[0]
    text = _SPACE_BEFORE_WORD.sub(_MARK + r"\1\2", text)
    text = _TRAILING_SPACES.sub(r"\1" + _MARK, text)
    words = []
    for part in _split_keeping(text, end_token):
        if part == end_token:
            part = _ALIAS
        for word in _WORD.split(part):
            if not word:
                continue
            if len(word) > 1 and word[-1] in _LAST_SPACE:
                words += [word[:-1], word[-1]]
            else:
                words.append(word)
    words = [w.replace(_ALIAS, end_token) for w in words]
    return [w for w in words if w != _MARK]


def _split_keeping(text: str, token: str) -> Iterator[str]:
    """The non-empty parts of `text` around each `token`, and the tokens themselves."""
    head, found, tail = text.partition(token)
    while found:
        if head:
            yield head
        yield token
        head, found, tail = tail.partition(token)
    if head:
        yield head
