"""`python -m keras_lm` is `keras-lm`."""

from keras_lm.cli.main import entry

if __name__ == "__main__":  # not when a spawned process (the serve engine) imports it
    entry()
