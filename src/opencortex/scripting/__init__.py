"""A sandbox for user JavaScript (the Export API's ``afterScript``).

``run_script(source, arguments=..., principal=..., limits=ScriptLimits())`` runs one script in a
fresh child process with QuickJS and returns a ``ScriptRun``: ``ok``, ``result``, ``error`` (a dict
with a stable ``name``, see ``model.ERROR_NAMES``), the script's ``logs`` and ``duration_ms``.
``compile_script(source, limits=...)`` only compiles it, in the same child and limits (an export's
``afterScript`` is checked so when the export is created). See docs/scripting.md for the design
and the measurements behind it.
"""

from opencortex.scripting.limits import DEFAULT_LIMITS, ScriptLimits
from opencortex.scripting.model import ERROR_NAMES, LogRecord, ScriptRun
from opencortex.scripting.runner import compile_script, run_script

__all__ = ["DEFAULT_LIMITS", "ERROR_NAMES", "LogRecord", "ScriptLimits", "ScriptRun", "compile_script", "run_script"]
