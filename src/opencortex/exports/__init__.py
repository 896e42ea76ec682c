"""Exports: the typed job (``jobs``), its operations (``operations``), the queue (``queue``), the
worker and the reaper, the run in phases (``pipeline``), the format registry (``formats``), and the
streaming parts: zip archive, manifest, verification."""
