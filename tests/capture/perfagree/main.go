// Command perfagree burns CPU through one planted hot line while it writes its own CPU
// profile, so that a perf recording of the same window can be compared with pprof's.
//
// Usage: perfagree inlined|called PROFILE CPU_SECONDS
//
// "inlined": the hot line is in hotInlined, which the compiler inlines into loopInlined.
// "called":  the hot line is in hotCalled, which is never inlined.
// Either way the hot line is one call into the standard library (crc64), so own-code
// attribution charges it whatever instruction the CPU's skid lands on.
//
// It prints "ready" once profiling, waits for a line on stdin (perf is attached), burns
// CPU_SECONDS of CPU time, stops the profile, prints "done" and waits for stdin to close
// (the caller reads /proc/PID/exe while it is still alive).
package main

import (
	"bufio"
	"fmt"
	"hash/crc64"
	"io"
	"os"
	"runtime/pprof"
	"strconv"
	"syscall"
	"time"
)

var (
	payload = make([]byte, 16<<10)
	table   = crc64.MakeTable(crc64.ECMA)
	sink    uint64
)

func hotInlined(h uint64) uint64 {
	return crc64.Update(h, table, payload) // HOT INLINED
}

func loopInlined(rounds int) uint64 {
	var h uint64
	for i := 0; i < rounds; i++ {
		h = hotInlined(h) // CALLS INLINED
	}
	return h
}

//go:noinline
func hotCalled(h uint64) uint64 {
	return crc64.Update(h, table, payload) // HOT CALLED
}

//go:noinline
func loopCalled(rounds int) uint64 {
	var h uint64
	for i := 0; i < rounds; i++ {
		h = hotCalled(h) // CALLS CALLED
	}
	return h
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: perfagree inlined|called PROFILE CPU_SECONDS")
		os.Exit(2)
	}
	loop := loopCalled
	if os.Args[1] == "inlined" {
		loop = loopInlined
	}
	seconds, err := strconv.ParseFloat(os.Args[3], 64)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	out, err := os.Create(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := pprof.StartCPUProfile(out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println("ready")
	in := bufio.NewReader(os.Stdin)
	in.ReadString('\n')
	end := cpuTime() + time.Duration(seconds*float64(time.Second))
	for cpuTime() < end {
		sink += loop(100)
	}
	pprof.StopCPUProfile()
	out.Close()
	fmt.Println("done")
	io.Copy(io.Discard, in)
}
