"""`python -m keras_lm` is `keras-lm`."""

from keras_lm.cli.main import entry

entry()
