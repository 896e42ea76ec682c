"""Exports: the pure, streaming parts of the pipeline (formats, zip archive, manifest, verification)."""
