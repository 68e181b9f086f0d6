"""`TextStream`: decoded text handed out token by token, cut at a stop string.

A token may end inside a UTF-8 character (byte-level BPE) or change how the token before
it decodes (SentencePiece's leading space), so each token is decoded with the one before
it and only the difference is handed out (a piece ending in U+FFFD waits for the next
token): constant work per token, however long the text. With stop strings, the end of
the text that could begin one is held back until it cannot.

Example:
>>> from keras_lm.tokenizers.char import CharTokenizer
>>> tok = CharTokenizer.train(["ab.c"])
>>> stream = TextStream(tok, stops=(".c",))
>>> [stream.push(i) for i in tok.encode("ab.c")], stream.stopped, stream.text
(['a', 'b', '', ''], True, 'ab')
"""

from __future__ import annotations


class TextStream:
    """The text of a growing list of token ids; `push` returns the piece it adds."""

    def __init__(self, tokenizer, stops: tuple[str, ...] = ()):
        self.tokenizer, self.stops = tokenizer, stops
        self.ids: list[int] = []
        self.text = ""  # the text so far (up to a stop string, once found)
        self.sent = 0  # how much of it `push` has handed out
        self.stopped = False
        self._prefix = self._read = 0  # ids[_prefix:_read] decode to the context of new ids

    def push(self, token: int) -> str:
        """Add `token`; the text that is now safe to send (may be empty)."""
        self.ids.append(token)
        prefix = self.tokenizer.decode(self.ids[self._prefix : self._read])
        text = self.tokenizer.decode(self.ids[self._prefix :])
        if len(text) <= len(prefix) or text.endswith("\ufffd"):  # wait for the rest
            return ""
        new = text[len(prefix) :]
        self._prefix, self._read = self._read, len(self.ids)
        start = max(0, len(self.text) - max((len(s) for s in self.stops), default=0))
        self.text += new
        found = [i for i in (self.text.find(stop, start) for stop in self.stops) if i >= 0]
        if found:
            self.text, self.stopped = self.text[: min(found)], True
            return self._send(len(self.text))
        return self._send(len(self.text) - self._held(self.text))

    def rest(self) -> str:
        """What is left to send once decoding ends."""
        return self._send(len(self.text))

    def _send(self, end: int) -> str:
        piece = self.text[self.sent : end] if end > self.sent else ""
        self.sent = max(self.sent, end)
        return piece

    def _held(self, text: str) -> int:
        """The length of the longest end of `text` that begins a stop string."""
        return max(
            (n for stop in self.stops for n in range(1, len(stop)) if text.endswith(stop[:n])),
            default=0,
        )
