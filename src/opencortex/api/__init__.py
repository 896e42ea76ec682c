"""The HTTP API: routing, request parsing, envelopes and faults. Thin by design."""
