"""keras_lm: train small language models in Keras and ship them to phones and CPU servers.

Importing `keras_lm` loads neither TensorFlow nor Keras: the data, cleaning and
tokenizer modules are pure Python, and the TensorFlow parts are imported only
by the modules that need them (`keras_lm.data.pipelines`, `keras_lm.tokenizers.tf_graph`).

Example:
>>> import keras_lm
>>> keras_lm.__version__.count(".") >= 2
True
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
