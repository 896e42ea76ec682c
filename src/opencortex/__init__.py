"""OpenCortex: a self-hostable server that speaks the Medable Cortex v2 API."""

__version__ = "0.1.0"
