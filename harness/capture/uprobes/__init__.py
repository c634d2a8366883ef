"""Per-call latency of chosen Go functions, measured with uprobes placed by `perf probe`.

Go's way: one uprobe at the function's first instruction and one at every RET, never a
uretprobe (it swaps the return address on the goroutine's stack, which Go's stack copying and
unwinding do not expect: the program crashes). Each probe fetches the goroutine (R14), its
stack top (g.stack.hi) and the stack pointer; an entry and its exit sit at the same depth
hi - sp of the same goroutine, whichever OS thread they run on.

    probes.py  the uprobe groups the harness places (perf probe) and their removal (also an undo step)
    capture.py FunctionProbes: place, record for the whole run, split by phase, remove
    elf.py     the function's symbol, its RETs (go tool objdump) and the perf probe arguments
    events.py  `perf script` lines -> events -> matched calls -> an HdrHistogram per function
"""
