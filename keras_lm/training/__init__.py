"""Training: the run config, compile defaults, callbacks and `train(config, run_dir)`.

Imports TensorFlow/Keras (through the modules that need them) only when used.
"""
