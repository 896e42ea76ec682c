"""Tests of the export pipeline's pure parts: formats, zip archive, manifest, verification."""
