"""The host layer, above faults/ and env/: checks of what this host can do (doctor.py) and
recovery from runs whose harness died (recovery.py: one owner-alive check, ledger replay and
teardown by label, for `harness clean` and for the watchdog process, watchdog.py).

faults/ and env/ never import this package; the FaultController starts the watchdog by its
module path (`python -m harness.host.watchdog`).
"""
