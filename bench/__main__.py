"""``python -m bench --docs N --db sqlite|postgres [--runs 3]``: see ``bench/run.py``.

Aggregation (``$group`` against hand-written SQL) and streamed NDJSON lists have their own entry,
on the same data sets: ``python -m bench.aggregation --docs N --db sqlite|postgres`` (``bench/aggregation.py``).
"""

from bench.run import main

if __name__ == "__main__":
    main()
