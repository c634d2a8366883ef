"""A Go function in an ELF binary: where it starts, how long it is, where its RETs are, and the
`perf probe -x BIN -a ...` arguments that put a uprobe on its entry and on each RET.

The symbol comes from .symtab (pyelftools), the RETs from `go tool objdump` (the same toolchain
that built the service disassembles it). A name missing from .symtab but present in .gopclntab
is a function the compiler inlined everywhere: Go keeps such names only for tracebacks.

Probe form: the probes are placed by file offset (`GROUP:f0_in=0x9a380 ...` with -x BIN),
not by name (`main.(*Store).Get+51`), although perf probe (6.1) accepts Go names with
`(*T)`, `/` and `.` unquoted. With DWARF in the binary, perf probe resolves a name through
the debug info and also probes every inlined copy of the function in its callers
(`internal/runtime/atomic.(*Int32).Store` got a second probe inside
`internal/runtime/exithook.Run.deferwrap1`), entries with no RET probes of their own.
Names with spaces or commas (generic instances: `[go.shape.interface {},...]`) or a colon
(`go:...`) do not survive perf's argument syntax at all. A raw address with -x is written
to uprobe_events as it is, i.e. it is a file offset, not a virtual address (0x49a380 was
placed at file offset 0x49a380): the offset is vaddr - p_vaddr + p_offset of the PT_LOAD
segment holding the function.
"""
from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from harness import proc
from harness.errors import HarnessError
from rundir.gosource import go_binary

# What each probe fetches: the goroutine (R14 in Go's amd64 ABI), g.stack.hi, the stack pointer.
FETCH = "g=%r14 hi=+8(%r14):u64 sp=%sp"
GROUP_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
NAME_FORMS = 'the full name, e.g. "main.handler" or "example.com/x/store.(*Store).Get"'


@dataclass(frozen=True)
class GoFunction:
    """One function of a binary: its code, where it came from, and its RETs."""

    name: str
    address: int                 # virtual address of the first instruction
    size: int                    # bytes of code
    file_offset: int             # where the first instruction lies in the file (what uprobes take)
    file: str | None             # source file of the first instruction
    line: int | None             # and its line (the func line)
    returns: tuple[int, ...]     # byte offsets of every RET from the first instruction


def find_function(binary: Path, name: str, *, go: str | None = None) -> GoFunction:
    """The function `name` (exact Go symbol name) of `binary`, with its RETs.

    Raises HarnessError when the binary has no such function (near names in `seen`), when the
    function was inlined everywhere, or when it has no RET to put an exit probe on.
    """
    binary = Path(binary)
    with _open_elf(binary) as elf:
        funcs = _func_symbols(elf, binary)
        if name not in funcs:
            raise _not_found(elf, binary, name, funcs)
        address, size = funcs[name]
        offset = _file_offset(elf, binary, address)
    file, line, rets = _disassemble(go or go_binary(), binary, name)
    returns = tuple(sorted(a - address for a in rets if address <= a < address + size))
    if not returns:
        raise HarnessError(f"{name} has no RET instruction: its exit cannot be probed",
                           where=str(binary), seen=f"{size} bytes of code at {address:#x}",
                           hint="a function that never returns (a loop, os.Exit, panic) has no "
                                "latency; probe a function it calls, or its caller")
    return GoFunction(name, address, size, offset, file, line, returns)


def probe_specs(group: str, index: int, fn: GoFunction) -> list[str]:
    """The `perf probe -x BIN -a` arguments for `fn`: `f<index>_in` on its entry and
    `f<index>_r<k>` on its k-th RET, each by file offset (see the module docstring)."""
    if not GROUP_RE.match(group):
        raise HarnessError(f"probe group {group!r} is not a valid perf event group",
                           hint="use letters, digits and underscores, not starting with a digit")
    specs = [f"{group}:f{index}_in={fn.file_offset:#x} {FETCH}"]
    specs += [f"{group}:f{index}_r{k}={fn.file_offset + off:#x} {FETCH}"
              for k, off in enumerate(fn.returns, 1)]
    return specs


@contextmanager
def _open_elf(path: Path) -> Iterator[ELFFile]:
    """The parsed ELF of `path`, open for the block; unreadable input as HarnessError."""
    try:
        with open(path, "rb") as f:
            try:
                elf = ELFFile(f)
            except ELFError as e:
                raise HarnessError("the file is not an ELF binary", where=str(path), seen=str(e),
                                   hint="give the path of the service's Go executable") from None
            yield elf
    except OSError as e:
        raise HarnessError("cannot open the binary", where=str(path), seen=str(e),
                           hint="give the path of the service's Go executable") from None


def _func_symbols(elf: ELFFile, binary: Path) -> dict[str, tuple[int, int]]:
    """name -> (address, size) of every STT_FUNC symbol in .symtab."""
    symtab = elf.get_section_by_name(".symtab")
    if not isinstance(symtab, SymbolTableSection):
        raise HarnessError("the binary has no symbol table", where=str(binary),
                           hint="build it without -ldflags=-s (stripped binaries cannot be probed by name)")
    return {s.name: (s["st_value"], s["st_size"]) for s in symtab.iter_symbols()
            if s["st_info"]["type"] == "STT_FUNC" and s.name}


def _not_found(elf: ELFFile, binary: Path, name: str, funcs: dict) -> HarnessError:
    """The error for a name with no symbol: inlined everywhere, or a typo (with near names)."""
    pcln = elf.get_section_by_name(".gopclntab")
    if pcln is not None and b"\0" + name.encode() + b"\0" in pcln.data():
        return HarnessError(f"{name} is inlined into its callers and has no code of its own",
                            where=str(binary), hint="mark it //go:noinline, or probe its caller")
    instances = sorted(n for n in funcs if n != name and _without_type_args(n) == name)
    if instances:       # a generic function or method: its code is per shape of its type arguments
        return HarnessError(f"{name} is generic: name one of its instances", where=str(binary),
                            seen=", ".join(instances[:5]) + (f" (and {len(instances) - 5} more)"
                                                              if len(instances) > 5 else ""),
                            hint="each instance (one per shape of the type arguments) is a function of "
                                 "its own: probe the one your calls use, or several")
    near = difflib.get_close_matches(name, list(funcs), n=5, cutoff=0.6)
    last = "." + name.rsplit(".", 1)[-1]
    near += sorted(n for n in funcs if n.endswith(last) and n not in near)
    return HarnessError(f"no function {name} in {binary}",
                        seen=", ".join(near[:5]) or None, hint=f"give {NAME_FORMS}")


def _without_type_args(symbol: str) -> str:
    """main.Sum[go.shape.int] -> main.Sum; main.(*Box[go.shape.int]).Get -> main.(*Box).Get."""
    out, depth = [], 0
    for ch in symbol:
        if ch == "[":
            depth += 1
        elif ch == "]" and depth:
            depth -= 1
        elif not depth:
            out.append(ch)
    return "".join(out)


def _file_offset(elf: ELFFile, binary: Path, address: int) -> int:
    """The file offset of a virtual address: vaddr - p_vaddr + p_offset of its PT_LOAD."""
    for seg in elf.iter_segments():
        if seg["p_type"] == "PT_LOAD" and seg["p_vaddr"] <= address < seg["p_vaddr"] + seg["p_filesz"]:
            return address - seg["p_vaddr"] + seg["p_offset"]
    raise HarnessError(f"address {address:#x} lies in no loadable segment", where=str(binary),
                       hint="the binary looks damaged; rebuild it")


def _disassemble(go: str, binary: Path, name: str) -> tuple[str | None, int | None, list[int]]:
    """(source file, line of the first instruction, RET addresses) from `go tool objdump`.

    Its output: `TEXT main.slow(SB) /src/main.go`, then rows of tab-separated columns
    `  main.go:12  0x49a0d0  c3  RET`.
    """
    out = proc.run([go, "tool", "objdump", "-s", f"^{re.escape(name)}$", str(binary)], timeout=120,
                   what=f"go tool objdump could not disassemble {name}").stdout
    file = line = None
    rets: list[int] = []
    for row in out.splitlines():
        if row.startswith("TEXT "):
            parts = row.split(None, 2)
            file = parts[2].strip() if len(parts) > 2 else None
            continue
        cols = [c.strip() for c in row.split("\t") if c.strip()]
        if len(cols) < 3 or not cols[1].startswith("0x"):
            continue
        if line is None:
            pos = cols[0].rpartition(":")[2]
            line = int(pos) if pos.isdigit() else 0
        if len(cols) > 3 and cols[3].startswith("RET"):
            rets.append(int(cols[1], 16))
    return file, (line or None), rets
