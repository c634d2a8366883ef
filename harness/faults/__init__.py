"""Faults on a timeline: network, resource and process faults that always revert.

One module per fault kind (harness/faults/kinds/), registered by name; backends build
plans of data-only steps (harness/faults/steps.py) so that the ledger can hold the exact
undo of every fault and a detached watchdog can replay it. See docs/faults.md.
"""
