// Command inlines prints the source positions of code addresses in a Go ELF binary with
// inlined calls expanded, from the binary's DWARF (what `go tool addr2line` does not do:
// it names the outer function with the innermost file and line).
//
// Usage: inlines BINARY < addresses (one hex address a line)
//
// For each address one line of JSON, innermost frame first:
//
//	[["hash/crc64.update","/go/src/hash/crc64/crc64.go",161],["main.checksum","/src/main.go",63]]
//
// An address that no function covers prints []. A binary without DWARF (built with
// -ldflags=-w or stripped) is an error on stderr and exit code 3, so that the caller can
// fall back to plain symbol tables.
package main

import (
	"bufio"
	"debug/dwarf"
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

// scope is a function body or an inlined call in it, with the address ranges it covers.
type scope struct {
	ranges   [][2]uint64
	name     string
	callFile string // where the call of an inlined scope stands in its parent
	callLine int
	inner    []*scope
	cu       *dwarf.Entry
}

func (s *scope) covers(pc uint64) bool {
	for _, r := range s.ranges {
		if r[0] <= pc && pc < r[1] {
			return true
		}
	}
	return false
}

type index struct {
	d     *dwarf.Data
	funcs []*scope // sorted by first range start
	names map[dwarf.Offset]string
	lines map[*dwarf.Entry]*dwarf.LineReader
}

func load(d *dwarf.Data) (*index, error) {
	ix := &index{d: d, names: map[dwarf.Offset]string{}, lines: map[*dwarf.Entry]*dwarf.LineReader{}}
	r := d.Reader()
	var cu *dwarf.Entry
	var files []*dwarf.LineFile
	var stack []*scope // open scopes; nil marks a DIE with children that is not a scope
	for {
		e, err := r.Next()
		if err != nil {
			return nil, err
		}
		if e == nil {
			break
		}
		if e.Tag == 0 { // end of a DIE's children
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			continue
		}
		var s *scope
		switch e.Tag {
		case dwarf.TagCompileUnit:
			cu, files, stack = e, nil, nil
			if lr, err := d.LineReader(e); err == nil && lr != nil {
				ix.lines[e] = lr
				files = lr.Files()
			}
		case dwarf.TagSubprogram:
			if name, ok := e.Val(dwarf.AttrName).(string); ok {
				ix.names[e.Offset] = name
			}
			if rs, err := d.Ranges(e); err == nil && len(rs) > 0 {
				s = &scope{ranges: rs, name: nameOf(e, ix), cu: cu}
				ix.funcs = append(ix.funcs, s)
			}
		case dwarf.TagInlinedSubroutine:
			rs, err := d.Ranges(e)
			parent := innermost(stack)
			if err == nil && len(rs) > 0 && parent != nil {
				s = &scope{ranges: rs, name: nameOf(e, ix), cu: cu}
				if line, ok := e.Val(dwarf.AttrCallLine).(int64); ok {
					s.callLine = int(line)
				}
				if f, ok := e.Val(dwarf.AttrCallFile).(int64); ok && f >= 0 && int(f) < len(files) && files[f] != nil {
					s.callFile = files[f].Name
				}
				parent.inner = append(parent.inner, s)
			}
		}
		if e.Children {
			stack = append(stack, s)
		}
	}
	sort.Slice(ix.funcs, func(i, j int) bool { return ix.funcs[i].ranges[0][0] < ix.funcs[j].ranges[0][0] })
	return ix, nil
}

// nameOf is a DIE's name, or the name of its abstract origin (inlined calls and
// concrete copies of inlined functions carry only the origin). Origins come first in
// Go's DWARF; a late one is looked up when the frames are printed.
func nameOf(e *dwarf.Entry, ix *index) string {
	if name, ok := e.Val(dwarf.AttrName).(string); ok {
		return name
	}
	if off, ok := e.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset); ok {
		if name, ok := ix.names[off]; ok {
			return name
		}
		return "@" + strconv.FormatUint(uint64(off), 10)
	}
	return "?"
}

func innermost(stack []*scope) *scope {
	for i := len(stack) - 1; i >= 0; i-- {
		if stack[i] != nil {
			return stack[i]
		}
	}
	return nil
}

type frame [3]any // function, file, line

func (ix *index) frames(pc uint64) []frame {
	i := sort.Search(len(ix.funcs), func(i int) bool { return ix.funcs[i].ranges[0][0] > pc })
	var fn *scope
	for j := i - 1; j >= 0 && j >= i-64; j-- { // functions do not nest; a few may share a start
		if ix.funcs[j].covers(pc) {
			fn = ix.funcs[j]
			break
		}
	}
	if fn == nil {
		return []frame{}
	}
	chain := []*scope{fn}
	for s := fn; ; {
		var next *scope
		for _, in := range s.inner {
			if in.covers(pc) {
				next = in
				break
			}
		}
		if next == nil {
			break
		}
		chain = append(chain, next)
		s = next
	}
	file, line := ix.position(fn.cu, pc)
	out := make([]frame, 0, len(chain))
	for k := len(chain) - 1; k >= 0; k-- {
		out = append(out, frame{ix.resolve(chain[k].name), file, line})
		file, line = chain[k].callFile, chain[k].callLine
	}
	return out
}

func (ix *index) resolve(name string) string {
	if strings.HasPrefix(name, "@") {
		if off, err := strconv.ParseUint(name[1:], 10, 64); err == nil {
			if found, ok := ix.names[dwarf.Offset(off)]; ok {
				return found
			}
		}
	}
	return name
}

func (ix *index) position(cu *dwarf.Entry, pc uint64) (string, int) {
	lr := ix.lines[cu]
	if lr == nil {
		return "?", 0
	}
	var le dwarf.LineEntry
	if err := lr.SeekPC(pc, &le); err != nil || le.File == nil {
		return "?", 0
	}
	return le.File.Name, le.Line
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: inlines BINARY < addresses")
		os.Exit(2)
	}
	f, err := elf.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	d, err := f.DWARF()
	if err != nil {
		fmt.Fprintln(os.Stderr, "no DWARF:", err)
		os.Exit(3)
	}
	ix, err := load(d)
	if err != nil {
		fmt.Fprintln(os.Stderr, "reading DWARF:", err)
		os.Exit(3)
	}
	in := bufio.NewScanner(os.Stdin)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	for in.Scan() {
		text := strings.TrimPrefix(strings.TrimSpace(in.Text()), "0x")
		pc, err := strconv.ParseUint(text, 16, 64)
		if err != nil {
			enc.Encode([]frame{})
			continue
		}
		enc.Encode(ix.frames(pc))
	}
}
