"""The `keras-lm` command line: one module per command group, each calling one library function."""
