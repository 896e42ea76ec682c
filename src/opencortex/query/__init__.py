"""The Cortex ``where``/``sort`` language: parse to an AST, validate, compile to SQL per dialect."""
