"""Cortex's aggregation pipelines (``?pipeline=[...]``): parse, compile to SQL, or run in Python.

- ``parse_pipeline(pipeline, schema, arrays)`` validates stages against a ``QuerySchema``;
- ``compile_pipeline(pipeline, dialect, source)`` gives one statement over ``documents``;
- ``run_pipeline(pipeline, instances)`` computes the same in Python (the tests' oracle).
"""

from opencortex.query.pipeline.compile import CompiledPipeline, compile_pipeline
from opencortex.query.pipeline.evaluate import DocumentOutput, run_pipeline
from opencortex.query.pipeline.parse import MAX_STAGES, parse_pipeline

__all__ = ["MAX_STAGES", "CompiledPipeline", "DocumentOutput", "compile_pipeline", "parse_pipeline", "run_pipeline"]
