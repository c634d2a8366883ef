"""The undo journal: whatever the harness changes on the host (a qdisc, an iptables rule, a
helper process, a container's limits, a uprobe) is written here with its exact undo BEFORE it is
changed, so the watchdog and `harness clean` (another process, after a SIGKILL) can revert it.

ledger.py  the journal file (run_dir/faults.ledger, JSONL, fsync'd) and its replay
steps.py   the step runner: undo steps are JSON data; each owner (harness/faults/steps.py,
           harness/capture/uprobes/probes.py) registers the step operations it writes, and the
           generic ones (helper processes, a container's host PID) live here

It sits below faults/ and capture/ and imports neither; whoever replays a journal imports the
owners of its steps (harness/host/recovery.py does)."""
