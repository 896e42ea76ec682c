"""File properties: uploads, facets, upload targets, signed URLs, and what writes mean for files.

This package sits above ``instances``: it writes instance bodies and checks write access through
``Instances``, and stores bytes through the encrypted byte store below (``opencortex.files``,
one instance per process on ``Runtime.file_store``).
"""
