"""String-in/string-out SavedModel signatures: tokenization and greedy decoding inside the graph.

    lm families        generate(text [B], max_new_tokens []) -> text [B]
    seq2seq families   translate(text [B], max_new_tokens []) -> text [B]
    classifiers        classify_text(text [B]) -> label [B], probabilities [B, C]

The loop inside each is chosen by the family's stepper (its graph contract: a cached
or a recurrent decoder), the in-graph twin of `keras_lm.inference.steppers`.

They need TensorFlow and tensorflow-text (for the tokenizer ops: `import tensorflow_text`
before `tf.saved_model.load`), not keras_lm. Decoding is greedy with the same
prefill/decode graphs as every other format; the LM signature stops at the model's
context (no sliding window inside the graph).

Example:
>>> import tensorflow as tf
>>> cut_at_end(tf.constant([[5, 3, 7], [6, 8, 9]]), end_id=3).numpy().tolist()
[[5, 0, 0], [6, 8, 9]]
"""

from __future__ import annotations

import tensorflow as tf

from keras_lm.framing import Framing
from keras_lm.inference.steppers import CachedLMStepper
from keras_lm.inference.steppers import CachedSeq2SeqStepper
from keras_lm.inference.steppers import RecurrentLMStepper
from keras_lm.models.family import Family


def cut_at_end(tokens, end_id: int):
    """Zero (pad) every token from a row's first `end_id` on; detokenize then drops them."""
    ended = tf.cumsum(tf.cast(tf.equal(tokens, end_id), tf.int32), axis=1) > 0
    return tf.where(ended, tf.zeros_like(tokens), tokens)


def left_pad_ragged(ragged):
    """`(ids, mask)` int32 `(B, T)` from a ragged batch, each row at the right end."""
    lengths = tf.cast(ragged.row_lengths(), tf.int32)
    dense = ragged.to_tensor()
    dense = tf.pad(dense, [[0, 0], [0, 1 - tf.minimum(tf.shape(dense)[1], 1)]])  # width >= 1
    width = tf.shape(dense)[1]
    pad = width - lengths  # (B,)
    columns = tf.range(width)[None, :] - pad[:, None]  # (B, T): source column per slot
    mask = columns >= 0
    ids = tf.gather(dense, tf.maximum(columns, 0), batch_dims=1)
    return tf.where(mask, ids, 0), tf.cast(mask, tf.int32)


def text_signatures(model, family: Family, tokenizer, facts: dict) -> tuple[dict, tf.Module]:
    """The family's string signature(s) as `tf.function`s, and the graph tokenizer they use.

    `tokenizer` is the run's (pure) tokenizer; save the returned `tf.Module` with the
    signatures (its lookup tables are resources the SavedModel must track).
    """
    graphs = family.export_graphs(model)
    text = tf.TensorSpec([None], tf.string, name="text")
    steps = tf.TensorSpec([], tf.int32, name="max_new_tokens")
    tok = tokenizer.to_tf()
    specials = tokenizer.specials
    if family.task == "classify":
        return {"classify_text": _classify(graphs, tok, text, facts)}, tok
    if family.stepper is CachedLMStepper:
        return {"generate": _generate_transformer(graphs, tok, text, steps, facts, specials)}, tok
    if family.stepper is RecurrentLMStepper:
        return {"generate": _generate_lstm(graphs, tok, text, steps, facts, specials)}, tok
    cached = family.stepper is CachedSeq2SeqStepper
    return {"translate": _translate(graphs, cached, tok, text, steps, facts, specials)}, tok


def _greedy_loop(step, first_logits, state, steps):
    """Greedy tokens `(B, steps)`: `step(tokens, state) -> (logits (B, V), state)`."""
    tokens = tf.TensorArray(tf.int32, size=steps)

    def body(i, logits, state, tokens):
        token = tf.argmax(logits, axis=-1, output_type=tf.int32)
        logits, state = step(token, state)
        return i + 1, logits, state, tokens.write(i, token)

    _, _, _, tokens = tf.while_loop(
        lambda i, *_: i < steps, body, (0, first_logits, state, tokens), parallel_iterations=1
    )
    return tf.transpose(tokens.stack())  # (B, steps)


def _generate_transformer(graphs, tok, text, steps, facts, specials):
    context = facts["context"]

    head = facts.get("prompt_head") or []

    @tf.function(input_signature=[text, steps])
    def generate(text, max_new_tokens):
        ragged = tok.tokenize(text)
        if head:  # Llama's <s>: every prompt starts with it (`Framing.prompt_head`)
            start = tf.tile(tf.constant([head], ragged.dtype), [ragged.nrows(), 1])
            ragged = tf.concat([tf.RaggedTensor.from_tensor(start), ragged], axis=1)
        ids, mask = left_pad_ragged(ragged)
        out = graphs["prefill"](token_ids=ids, padding_mask=mask)
        positions = tf.reduce_sum(mask, axis=1)  # (B,) next position per row
        room = context - tf.reduce_max(positions)  # no window slides inside the graph
        limit = tf.maximum(tf.minimum(max_new_tokens, room), 0)

        def step(token, state):
            cache, pos = state
            out = graphs["decode"](
                token_ids=token[:, None], positions=pos[:, None], past_cache=cache
            )
            return out["logits"][:, -1], (out["cache"], pos + 1)

        tokens = _greedy_loop(step, out["logits"][:, -1], (out["cache"], positions), limit)
        return {"text": tok.detokenize(cut_at_end(tokens, specials.end_id))}

    return generate


def _generate_lstm(graphs, tok, text, steps, facts, specials):
    layers, units = facts["state_shape"]

    @tf.function(input_signature=[text, steps])
    def generate(text, max_new_tokens):
        ids, mask = left_pad_ragged(tok.tokenize(text))
        batch = tf.shape(ids)[0]
        zeros = tf.zeros([batch, layers, units], tf.float32)

        def step(token, state):
            out = graphs["decode"](token_ids=token, past_h=state[0], past_c=state[1])
            return out["logits"], (out["h"], out["c"])

        def prefill(t, logits, h, c):  # left padding: a row's state starts at its first real token
            out = graphs["decode"](token_ids=ids[:, t], past_h=h, past_c=c)
            keep = tf.cast(mask[:, t], tf.bool)[:, None, None]
            return t + 1, out["logits"], tf.where(keep, out["h"], h), tf.where(keep, out["c"], c)

        vocab = graphs["decode"].get_concrete_function().structured_outputs["logits"].shape[-1]
        start = (0, tf.zeros([batch, vocab]), zeros, zeros)
        _, logits, h, c = tf.while_loop(lambda t, *_: t < tf.shape(ids)[1], prefill, start)
        tokens = _greedy_loop(step, logits, (h, c), max_new_tokens)
        return {"text": tok.detokenize(cut_at_end(tokens, specials.end_id))}

    return generate


def _translate(graphs, cached: bool, tok, text, steps, facts, specials):
    @tf.function(input_signature=[text, steps])
    def translate(text, max_new_tokens):
        ragged = tok.tokenize(text)
        ids = ragged.to_tensor()
        mask = tf.cast(tf.sequence_mask(ragged.row_lengths(), tf.shape(ids)[1]), tf.int32)
        batch = tf.shape(ids)[0]
        encoded = graphs["encode"](encoder_token_ids=ids, encoder_padding_mask=mask)
        limit = tf.minimum(max_new_tokens, facts["max_target_length"] - 1)
        start = tf.fill([batch], specials.start_id)
        if cached:
            cache = tf.zeros(tf.concat([[batch], facts["cache_shape"][1:]], 0), tf.float32)

            def step(token, state):
                cache, pos = state
                out = graphs["decode"](
                    token_ids=token[:, None],
                    positions=pos[:, None],
                    past_cache=cache,
                    cross_cache=encoded["cross_cache"],
                    encoder_padding_mask=mask,
                )
                return out["logits"][:, -1], (out["cache"], pos + 1)

            logits, state = step(start, (cache, tf.zeros([batch], tf.int32)))
        else:

            def step(token, state):
                out = graphs["decode"](
                    token_ids=token,
                    past_h=state[0],
                    past_c=state[1],
                    encoded=encoded["encoded"],
                    encoder_padding_mask=mask,
                )
                return out["logits"], (out["h"], out["c"])

            logits, state = step(start, (encoded["h"], encoded["c"]))
        tokens = _greedy_loop(step, logits, state, limit)
        return {"text": tok.detokenize(cut_at_end(tokens, specials.end_id))}

    return translate


def frame_ragged(ragged, framing: Framing):
    """`keras_lm.framing.Framing` in the graph: each row cut to `framing.room`, then framed.

    >>> frame_ragged(tf.ragged.constant([[7, 8, 9], [5]]), Framing(4, 1, 2)).to_list()
    [[1, 7, 8, 2], [1, 5, 2]]
    """
    ragged = ragged[:, : framing.room]
    column = tf.stack([ragged.nrows(), 1])
    head = [tf.RaggedTensor.from_tensor(tf.fill(column, i)) for i in framing.head]
    tail = [tf.RaggedTensor.from_tensor(tf.fill(column, i)) for i in framing.tail]
    return tf.concat([*head, ragged, *tail], axis=1) if head or tail else ragged


def _classify(graphs, tok, text, facts):
    labels = tf.constant(facts.get("labels") or [])
    framing = facts.get("framing") or Framing(facts.get("max_length") or 64)

    @tf.function(input_signature=[text])
    def classify_text(text):
        ragged = frame_ragged(tok.tokenize(text), framing)
        ids = ragged.to_tensor()
        mask = tf.cast(tf.sequence_mask(ragged.row_lengths(), tf.shape(ids)[1]), tf.int32)
        probs = graphs["classify"](token_ids=ids, padding_mask=mask)["probabilities"]
        return {"label": tf.gather(labels, tf.argmax(probs, axis=-1)), "probabilities": probs}

    return classify_text
