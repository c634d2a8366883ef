// Command demo is the service the bundled scenario runs: an HTTP API with one
// planted hot line (checksum), an allocation-heavy endpoint, a lock held during
// slow work, and a call to a dependency ("store") that faults can slow down.
//
// The same binary runs both roles: -role api (default) or -role store.
package main

import (
	"flag"
	"fmt"
	"hash/crc64"
	"io"
	"log"
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	role := flag.String("role", "api", "api or store")
	addr := flag.String("addr", ":8080", "service address")
	pprofAddr := flag.String("pprof", ":6060", "pprof address (publish it on loopback only)")
	storeURL := flag.String("store", "http://store:8080", "base URL of the store service")
	flag.Parse()

	go func() {
		// The profiling endpoints live on their own listener, which the harness
		// publishes on 127.0.0.1 only: they expose the program's internals.
		http.HandleFunc("/debug/harness/rates", setRates)
		log.Println(http.ListenAndServe(*pprofAddr, nil))
	}()

	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	if *role == "store" {
		mux.HandleFunc("/lookup", lookup)
	} else {
		client := &http.Client{Timeout: 5 * time.Second}
		mux.HandleFunc("/work", work)
		mux.HandleFunc("/alloc", alloc)
		mux.HandleFunc("/lock", lock)
		mux.HandleFunc("/fetch", func(w http.ResponseWriter, r *http.Request) { fetch(w, client, *storeURL) })
	}
	log.Printf("demo %s listening on %s", *role, *addr)
	if err := http.ListenAndServe(*addr, mux); err != nil {
		log.Fatal(err)
	}
}

// work burns CPU in one line: the planted hot spot of the demo. /work?n=N hashes
// N bytes (about 0.7 ms of CPU per MB).
func work(w http.ResponseWriter, r *http.Request) {
	n := intParam(r, "n", 1<<20)
	fmt.Fprintf(w, "%d\n", checksum(n))
}

// payload is what checksum hashes, one 16 KiB round at a time.
var (
	payload = make([]byte, 16<<10)
	table   = crc64.MakeTable(crc64.ECMA)
)

// checksum hashes n bytes. All of its CPU is spent inside crc64.Update, so the
// profile charges it to the one line that calls it, on any CPU.
func checksum(n int) uint64 {
	var h uint64
	for ; n > 0; n -= len(payload) {
		h = crc64.Update(h, table, payload) // hot line
	}
	return h
}

// alloc builds short-lived strings and maps: garbage for the collector.
func alloc(w http.ResponseWriter, r *http.Request) {
	n := intParam(r, "n", 2000)
	parts := make(map[string]string, 16)
	var b strings.Builder
	for i := 0; i < n; i++ {
		parts[keys[i%len(keys)]] = strings.Repeat("x", 32) + strconv.Itoa(i) // allocation hot line
	}
	for k, v := range parts {
		b.WriteString(k)
		b.WriteString(v[:4])
	}
	fmt.Fprintf(w, "%d\n", b.Len())
}

// keys are made once, so that the allocation hot line is the only line of alloc
// that allocates per iteration.
var keys = func() []string {
	k := make([]string, 64)
	for i := range k {
		k[i] = "k" + strconv.Itoa(i)
	}
	return k
}()

var (
	mu     sync.Mutex
	shared int
)

// lock holds a global mutex during slow work: contention under load.
func lock(w http.ResponseWriter, r *http.Request) {
	mu.Lock()
	shared += int(checksum(16<<10) & 1)
	time.Sleep(time.Millisecond)
	mu.Unlock()
	io.WriteString(w, "ok\n")
}

// fetch calls the store; a slow or paused store makes requests wait here.
func fetch(w http.ResponseWriter, client *http.Client, base string) {
	resp, err := client.Get(base + "/lookup")
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	io.Copy(w, resp.Body)
}

func lookup(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintf(w, "value-%d\n", checksum(16<<10)%1000)
}

// setRates turns on block and mutex profiling: /debug/harness/rates?block=N&mutex=N.
func setRates(w http.ResponseWriter, r *http.Request) {
	if v := r.URL.Query().Get("block"); v != "" {
		n, _ := strconv.Atoi(v)
		runtime.SetBlockProfileRate(n)
	}
	if v := r.URL.Query().Get("mutex"); v != "" {
		n, _ := strconv.Atoi(v)
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

func init() {
	if os.Getenv("DEMO_BLOCK_RATE") != "" {
		n, _ := strconv.Atoi(os.Getenv("DEMO_BLOCK_RATE"))
		runtime.SetBlockProfileRate(n)
		runtime.SetMutexProfileFraction(n)
	}
}
