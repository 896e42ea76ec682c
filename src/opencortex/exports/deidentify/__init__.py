"""De-identification profiles: an org's named rules that exports apply to every document (``deidentify``).

``rules`` reads and checks a profile's settings, ``profiles`` stores them (with the profile's
sealed key) and is the entry point of every operation, ``transform`` applies them in a run.
"""
