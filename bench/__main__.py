"""``python -m bench --docs N --db sqlite|postgres [--runs 3]``: see ``bench/run.py``."""

from bench.run import main

if __name__ == "__main__":
    main()
