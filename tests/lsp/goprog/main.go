// Command hot makes known lines hot and profiles itself.
//
// Each line the tests look for carries a marker comment (HOT:cpu, HOT:alloc,
// HOT:block, HOT:extra): the tests find the line number by the marker.
//
// The CPU-hot lines are calls into the standard library (crc64) that do all
// the work: own-code attribution charges everything below such a call to the one
// calling line, so which line of a loop the CPU's sampling skid lands on cannot
// move the hot spot (see "Tests that hold anywhere" in docs/DESIGN.md).
package main

import (
	"flag"
	"fmt"
	"hash/crc64"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"syscall"
	"time"
)

// payload is what the hot lines hash: 16 KiB, about 10 µs of crc64.
var (
	payload  = make([]byte, 16<<10)
	crcTable = crc64.MakeTable(crc64.ECMA)
)

// step is small enough to be inlined into burn: its line is an inlined frame.
func step(h uint64, i int) uint64 {
	return crc64.Update(h+uint64(i), crcTable, payload) // HOT:cpu
}

//go:noinline
func burn(n int) uint64 {
	var h uint64 = 1
	for i := 0; i < n; i++ {
		h = step(h, i)
	}
	return h
}

// fib is recursive: its lines appear many times in one stack.
//
//go:noinline
func fib(n int) int {
	if n < 2 {
		return n
	}
	return fib(n-1) + fib(n-2) // HOT:fib
}

//go:noinline
func extra(n int) uint64 {
	var h uint64 = 7
	for i := 0; i < n; i++ {
		h = crc64.Update(h, crcTable, payload) // HOT:extra
	}
	return h
}

var sink [][]byte

//go:noinline
func allocate(n int) {
	for i := 0; i < n; i++ {
		b := make([]byte, 4096) // HOT:alloc
		sink = append(sink[:0], b)
	}
}

//go:noinline
func smallAllocs(n int) {
	for i := 0; i < n; i++ {
		sink = append(sink[:0], make([]byte, 16))
	}
}

//go:noinline
func block(n int) {
	ch := make(chan int)
	for i := 0; i < n; i++ {
		go func() {
			time.Sleep(time.Millisecond)
			ch <- i
		}()
		<-ch // HOT:block
	}
}

//go:noinline
func contend(n int) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n; i++ {
				mu.Lock()
				burn(2)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// cpuTime is the CPU time (user + system) this process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuWork runs for `seconds` of CPU time, not wall time: the profiler takes ~100 samples
// per CPU second, so a busy machine costs time, not samples (capped at 10x in wall time).
func cpuWork(seconds float64, withExtra bool) {
	budget := time.Duration(seconds * float64(time.Second))
	start, stop := cpuTime(), time.Now().Add(10*budget)
	var acc uint64
	for cpuTime()-start < budget && time.Now().Before(stop) {
		acc += burn(800)       // ~9 ms
		acc += uint64(fib(24)) // ~0.5 ms
		if withExtra {
			acc += extra(100) // ~1 ms
		}
	}
	fmt.Fprintln(os.Stderr, "acc", acc)
}

func write(dir, name string, profile func(f *os.File) error) {
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer f.Close()
	if err := profile(f); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func main() {
	out := flag.String("out", ".", "directory for the profiles")
	seconds := flag.Float64("seconds", 1.0, "CPU seconds of work under the CPU profiler")
	withExtra := flag.Bool("extra", false, "also run extra() (the 'fault' workload)")
	flag.Parse()
	runtime.MemProfileRate = 4096
	runtime.SetBlockProfileRate(1)
	runtime.SetMutexProfileFraction(1)

	f, err := os.Create(filepath.Join(*out, "cpu.pb.gz"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cpuWork(*seconds, *withExtra)
	pprof.StopCPUProfile()
	f.Close()

	allocate(20000)
	smallAllocs(2000)
	block(200)
	contend(20)
	for _, name := range []string{"allocs", "heap", "block", "mutex", "goroutine"} {
		p := pprof.Lookup(name)
		write(*out, name+".pb.gz", func(f *os.File) error { return p.WriteTo(f, 0) })
	}
}
