// A tiny service stand-in for the end-to-end and contract tests: its CPU profile
// has exactly one hot line in the user's own code, the one marked HOT.
//
// Why it is built this way: in a tight loop of our own, which line collects the
// samples (the `for` header or the body) depends on the CPU, the Go version and
// sampling skid. Here all the work is one call into the standard library
// (crc64.Update), and the language server charges library time (inlined or not)
// to the deepest line of the user's own code, so the calling line gets ~all
// samples whichever instruction is sampled. The data
// is filled once, before profiling starts, so nothing else of ours costs CPU.
//
// -seconds is CPU time, not wall time: the profiler takes ~100 samples per CPU
// second, so other processes on the CPU cost fewer samples (e2e/fixture.js
// counts them and runs this again with more time when they are too few).
package main

import (
	"flag"
	"fmt"
	"hash/crc64"
	"os"
	"runtime/pprof"
	"syscall"
	"time"
)

var table = crc64.MakeTable(crc64.ECMA)

func digest(data []byte) uint64 {
	return crc64.Update(0, table, data) // HOT: the line the test looks for
}

// cpuTime is the CPU time (user + system) this process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func main() {
	out := flag.String("cpuprofile", "cpu.pb.gz", "where to write the CPU profile")
	seconds := flag.Float64("seconds", 4, "how much CPU time to burn, in seconds")
	flag.Parse()
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	f, err := os.Create(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	budget := time.Duration(*seconds * float64(time.Second))
	// Wall-clock cap: a starved machine ends with fewer samples (the caller checks), not a hang.
	start, stop := cpuTime(), time.Now().Add(10*budget)
	var sum uint64
	for cpuTime()-start < budget && time.Now().Before(stop) {
		sum = digest(data)
	}
	pprof.StopCPUProfile()
	f.Close()
	fmt.Printf("crc64 %x\n", sum)
}
