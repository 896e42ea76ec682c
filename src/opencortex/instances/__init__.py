"""Reading and writing instances: the one place where definitions, access control and queries meet.

The API and the export pipeline both go through here, so that a property hidden from a caller
is hidden in both, and an export serialises documents exactly as the read API does.
"""
