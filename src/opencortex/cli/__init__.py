"""The ``opencortex`` command."""
