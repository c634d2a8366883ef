// Command latencysvc is the truth fixture of the function-latency capture: each /truth request
// calls functions whose latency and number of calls are known, and the service counts every
// call itself and prints the counts with every request (the test reads the last line of its log).
//
//	nap        sleeps 20 ms: a known latency (never less)
//	counted    returns at once: its calls are counted exactly
//	twoWays    two return paths: 1 ms for even n, 2 ms for odd n
//	depth      recursive: depth(3) is 4 calls, the innermost sleeps 1 ms
//	bigFrame   a 64 KiB frame on a new goroutine's small stack: grows the stack on entry
//	pair       two goroutines in the same function at once (run with GOMAXPROCS=1: one thread)
package main

import (
	"fmt"
	"log"
	"net/http"
	_ "net/http/pprof"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

var calls struct{ nap, counted, twoWays, depth, bigFrame, pair atomic.Int64 }

//go:noinline
func nap() {
	calls.nap.Add(1)
	time.Sleep(20 * time.Millisecond)
}

//go:noinline
func counted() int64 {
	return calls.counted.Add(1)
}

//go:noinline
func twoWays(n int) int {
	calls.twoWays.Add(1)
	if n%2 == 0 {
		time.Sleep(time.Millisecond)
		return n / 2
	}
	time.Sleep(2 * time.Millisecond)
	return 3*n + 1
}

//go:noinline
func depth(n int) int {
	calls.depth.Add(1)
	if n == 0 {
		time.Sleep(time.Millisecond)
		return 0
	}
	return depth(n-1) + 1
}

//go:noinline
func bigFrame(i int) byte {
	calls.bigFrame.Add(1)
	var buf [64 << 10]byte
	buf[i%len(buf)] = byte(i)
	return buf[(i*7)%len(buf)]
}

//go:noinline
func pair(d time.Duration) {
	calls.pair.Add(1)
	time.Sleep(d)
}

var seq atomic.Int64

func truth(w http.ResponseWriter, r *http.Request) {
	i := int(seq.Add(1))
	nap()
	counted()
	twoWays(i)
	depth(3)
	done := make(chan byte)
	go func() { done <- bigFrame(i) }() // a new goroutine: an 8 KiB stack, grown on entry
	<-done
	var wg sync.WaitGroup
	for k := 0; k < 2; k++ {
		wg.Add(1)
		go func() { defer wg.Done(); pair(3 * time.Millisecond) }()
	}
	wg.Wait()
	line := fmt.Sprintf("counts nap=%d counted=%d twoWays=%d depth=%d bigFrame=%d pair=%d",
		calls.nap.Load(), calls.counted.Load(), calls.twoWays.Load(), calls.depth.Load(),
		calls.bigFrame.Load(), calls.pair.Load())
	fmt.Fprintln(os.Stdout, line)
	fmt.Fprintln(w, line)
}

// hot is the benchmark's target: a cheap function called n times per request (?n=N).
//
//go:noinline
func hot(x int) int { return x*31 + 7 }

func hotHandler(w http.ResponseWriter, r *http.Request) {
	s := 0
	for i := 0; i < 100; i++ {
		s = hot(s)
	}
	fmt.Fprintln(w, s)
}

func main() {
	go func() { log.Println(http.ListenAndServe(":6060", nil)) }()
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/truth", truth)
	mux.HandleFunc("/hot", hotHandler)
	log.Fatal(http.ListenAndServe(":8080", mux))
}
