// Command flame has a known call structure and profiles itself (CPU and allocations), for the
// flame-graph tests (tests/flame); the tests find lines by their FLAME:<name> comments. Root first:
//
//	main.main -> main.cpuWork -> main.outer -> main.middle -> main.leaf (inlined) -> crc64.Update
//	main.main -> main.cpuWork -> main.recurse -> main.recurse ... (recursion) -> crc64.Update
//	main.main -> main.cpuWork -> main.extra -> crc64.Update            (with -extra only)
//	main.main -> main.allocWork -> main.makeBig / main.makeSmall       (allocations)
//
// The CPU work is calls into the standard library (crc64), as docs/DESIGN.md "Tests that hold
// anywhere" asks: which instruction of our own loop a sample lands on does not matter here.
package main

import (
	"flag"
	"fmt"
	"hash/crc64"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"
)

var (
	payload = make([]byte, 16<<10)
	table   = crc64.MakeTable(crc64.ECMA)
	sink    [][]byte
)

// leaf is small enough to be inlined into middle: an inlined frame of its own in the profile.
func leaf(h uint64) uint64 {
	return crc64.Update(h, table, payload) // FLAME:leaf
}

//go:noinline
func middle(n int) uint64 {
	var h uint64 = 1
	for i := 0; i < n; i++ {
		h = leaf(h + uint64(i)) // FLAME:middle
	}
	return h
}

//go:noinline
func outer(n int) uint64 {
	return middle(n) + 1 // FLAME:outer
}

//go:noinline
func recurse(depth, n int) uint64 {
	if depth == 0 {
		var h uint64 = 3
		for i := 0; i < n; i++ {
			h = crc64.Update(h, table, payload)
		}
		return h
	}
	return recurse(depth-1, n) + 1 // FLAME:recurse
}

//go:noinline
func extra(n int) uint64 {
	var h uint64 = 7
	for i := 0; i < n; i++ {
		h = crc64.Update(h, table, payload)
	}
	return h
}

//go:noinline
func makeBig(n int) {
	for i := 0; i < n; i++ {
		sink = append(sink[:0], make([]byte, 64<<10))
	}
}

//go:noinline
func makeSmall(n int) {
	for i := 0; i < n; i++ {
		sink = append(sink[:0], make([]byte, 48))
	}
}

//go:noinline
func allocWork() {
	makeBig(2000)
	makeSmall(20000)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuWork runs for `seconds` of CPU time (not wall time: ~100 samples per CPU second however busy
// the machine is; capped at 10x in wall time).
//
//go:noinline
func cpuWork(seconds float64, withExtra bool) uint64 {
	budget := time.Duration(seconds * float64(time.Second))
	start, stop := cpuTime(), time.Now().Add(10*budget)
	var acc uint64
	for cpuTime()-start < budget && time.Now().Before(stop) {
		acc += outer(600)      // ~6 ms
		acc += recurse(6, 250) // ~2.5 ms
		if withExtra {
			acc += extra(400) // ~4 ms
		}
	}
	return acc
}

func main() {
	out := flag.String("out", ".", "directory for the profiles")
	seconds := flag.Float64("seconds", 3.5, "CPU seconds of work under the CPU profiler")
	withExtra := flag.Bool("extra", false, "also run extra() (the 'fault' workload)")
	flag.Parse()
	runtime.MemProfileRate = 512
	f, err := os.Create(filepath.Join(*out, "cpu.pb.gz"))
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "acc", cpuWork(*seconds, *withExtra))
	pprof.StopCPUProfile()
	f.Close()
	allocWork()
	runtime.GC() // the allocs profile shows what happened up to the last completed GC
	a, err := os.Create(filepath.Join(*out, "allocs.pb.gz"))
	if err == nil {
		err = pprof.Lookup("allocs").WriteTo(a, 0)
		a.Close()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
