"""Judging a run: the verdict (what happened in each phase, against the baseline) and the
scenario's `expect` rules, over typed records of summary.json (records.py). Rendering (report
HTML, JUnit, the terminal) lives in harness/report and only reads what judging wrote."""
