"""``python -m benchmarks``: see benchmarks/runner.py and BENCHMARKS.md."""

from benchmarks.runner import main

if __name__ == "__main__":
    main()
