// Command capapp is the capture tests' target: one CPU-hot line, a handler
// that waits on a global mutex, one that allocates, one that sleeps in a
// syscall, and a switch for the block and mutex profile rates.
//
// The hot line is one call into the standard library (crc64) that does all the
// work: own-code attribution charges everything below it to that line, whichever
// instruction of the loop the CPU's sampling skid lands on.
package main

import (
	"fmt"
	"hash/crc64"
	"io"
	"log"
	"net/http"
	_ "net/http/pprof"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

var mu sync.Mutex

func main() {
	go func() {
		http.HandleFunc("/debug/harness/rates", setRates)
		log.Println(http.ListenAndServe(":6060", nil))
	}()
	mux := http.NewServeMux()
	mux.HandleFunc("/spin", spin)
	mux.HandleFunc("/lock", lock)
	mux.HandleFunc("/alloc", alloc)
	mux.HandleFunc("/grow", grow)
	mux.HandleFunc("/nap", nap)
	log.Fatal(http.ListenAndServe(":8080", mux))
}

func spin(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintf(w, "%d\n", burn(intParam(r, "n", 300000)))
}

// payload is what burn hashes: 16 KiB, about 10 µs of crc64 per round.
var (
	payload = make([]byte, 16<<10)
	table   = crc64.MakeTable(crc64.ECMA)
)

// burn hashes n bytes (rounded up to whole rounds of the payload).
func burn(n int) uint64 {
	var h uint64
	for ; n > 0; n -= len(payload) {
		h = crc64.Update(h, table, payload) // HOT LINE
	}
	return h
}

func lock(w http.ResponseWriter, r *http.Request) {
	mu.Lock()
	time.Sleep(2 * time.Millisecond) // held during slow work
	mu.Unlock()
	io.WriteString(w, "ok\n")
}

func alloc(w http.ResponseWriter, r *http.Request) {
	parts := make([]string, 0, 64)
	for i := 0; i < 2000; i++ {
		parts = append(parts, strconv.Itoa(i)+"-"+strings.Repeat("x", 1024)) // ALLOC LINE
	}
	io.WriteString(w, strconv.Itoa(len(strings.Join(parts, ","))))
}

var kept [][]byte

// grow keeps n MiB alive (touched), so that a small memory limit ends in an OOM kill.
func grow(w http.ResponseWriter, r *http.Request) {
	for i := 0; i < intParam(r, "mib", 64); i++ {
		b := make([]byte, 1<<20)
		for j := range b {
			b[j] = byte(j)
		}
		kept = append(kept, b)
	}
	io.WriteString(w, "grown\n")
}

// nap blocks its thread in the kernel for ms milliseconds: a raw nanosleep, not time.Sleep
// (which parks only the goroutine), so the off-CPU profile has sleeping time at an own line.
func nap(w http.ResponseWriter, r *http.Request) {
	ts := syscall.NsecToTimespec(int64(intParam(r, "ms", 5)) * 1e6)
	syscall.Nanosleep(&ts, nil) // NAP LINE
	io.WriteString(w, "ok\n")
}

func setRates(w http.ResponseWriter, r *http.Request) {
	if n, err := strconv.Atoi(r.URL.Query().Get("block")); err == nil {
		runtime.SetBlockProfileRate(n)
	}
	if n, err := strconv.Atoi(r.URL.Query().Get("mutex")); err == nil {
		runtime.SetMutexProfileFraction(n)
	}
	io.WriteString(w, "ok\n")
}

func intParam(r *http.Request, name string, def int) int {
	if v, err := strconv.Atoi(r.URL.Query().Get(name)); err == nil && v > 0 && v <= 50_000_000 {
		return v
	}
	return def
}
