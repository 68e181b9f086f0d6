"""Pitfall: an LSTM exported on a GPU machine bakes cuDNN ops (`CudnnRNNV3`) into its graphs."""

from __future__ import annotations

import keras
import pytest

from keras_lm.export.signatures import export_graphs
from keras_lm.models import registry


def _lstms(model):
    for layer in model.layers:
        inner = [getattr(layer, "forward_layer", None), getattr(layer, "backward_layer", None)]
        for lstm in [layer, *inner]:
            if isinstance(lstm, keras.layers.LSTM):
                yield lstm


@pytest.mark.parametrize("family", ["lstm_lm", "lstm_seq2seq"])
def test_export_turns_cudnn_off_again_after_a_reload(family, tmp_path):
    config = registry.get_family(family).config.tiny().to_dict()
    model = registry.build_model(family, config)
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    assert any(lstm.use_cudnn == "auto" for lstm in _lstms(reloaded)), "Keras now keeps use_cudnn"
    graphs = export_graphs(reloaded, family)
    lstms = list(_lstms(reloaded))
    assert lstms and all(lstm.use_cudnn is False for lstm in lstms)
    for name, fn in graphs.items():
        graph = fn.get_concrete_function().graph.as_graph_def()
        ops = {node.op for node in graph.node} | {
            node.op for f in graph.library.function for node in f.node_def
        }
        assert not any("Cudnn" in op for op in ops), (
            name,
            sorted(op for op in ops if "Cudnn" in op),
        )
