// Command shop is the incident fixture of the verdict tests: one HTTP service ("app") in
// front of a dependency ("backend"), with one handler per incident shape. Each planted
// culprit line carries a `// culprit:<shape>` comment that the tests look up.
//
//	/checkout  a pool of 4 backend slots: a slow backend makes requests queue at the pool
//	/render    a cache on the backend: when it fails, the page is computed here (CPU)
//	/report    when the backend fails, a large error context is built per request (garbage)
//	/work      steady CPU work (for a squeezed CPU quota)
//	/notify    a backend call raced against a timeout; the loser's send blocks forever (leak)
//	/ping      nothing (the incident-free run)
package main

import (
	"errors"
	"flag"
	"fmt"
	"hash/crc64"
	"io"
	"log"
	"net/http"
	_ "net/http/pprof"
	"runtime"
	"strconv"
	"time"
)

var (
	backendURL string
	client     = &http.Client{Timeout: 5 * time.Second}
	fast       = &http.Client{Timeout: 2 * time.Second}
	pool       = make(chan struct{}, 4)
	payload    = make([]byte, 16<<10)
	table      = crc64.MakeTable(crc64.ECMA)
	sink       []byte
)

func main() {
	role := flag.String("role", "app", "app or backend")
	flag.StringVar(&backendURL, "backend", "http://backend:8080", "base URL of the backend")
	flag.Parse()
	go func() {
		http.HandleFunc("/debug/harness/rates", setRates)
		log.Println(http.ListenAndServe(":6060", nil))
	}()
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	if *role == "backend" {
		mux.HandleFunc("/get", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "value\n") })
	} else {
		mux.HandleFunc("/checkout", checkout)
		mux.HandleFunc("/render", render)
		mux.HandleFunc("/report", report)
		mux.HandleFunc("/work", work)
		mux.HandleFunc("/notify", notify)
		mux.HandleFunc("/ping", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "pong\n") })
	}
	log.Fatal(http.ListenAndServe(":8080", mux))
}

// get calls the backend once.
func get(c *http.Client) error {
	resp, err := c.Get(backendURL + "/get")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return err
}

func checkout(w http.ResponseWriter, r *http.Request) {
	pool <- struct{}{} // culprit:pool
	defer func() { <-pool }()
	if err := get(client); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	io.WriteString(w, "ok\n")
}

// render serves the page from the backend's cache; without it, the page is computed here.
func render(w http.ResponseWriter, r *http.Request) {
	if get(fast) == nil {
		io.WriteString(w, "cached\n")
		return
	}
	fmt.Fprintf(w, "%d\n", compute(16<<20))
}

// compute spends all of its CPU inside crc64.Update: one line takes it all, on any CPU.
func compute(n int) uint64 {
	var h uint64
	for ; n > 0; n -= len(payload) {
		h = crc64.Update(h, table, payload) // culprit:cpu
	}
	return h
}

// work burns n bytes' worth of CPU (/work?n=N, default 1 MiB).
func work(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.URL.Query().Get("n"))
	if err != nil || n <= 0 || n > 64<<20 {
		n = 1 << 20
	}
	fmt.Fprintf(w, "%d\n", burn(n))
}

// burn is the same work as compute, on its own line: the squeezed service's hot line.
func burn(n int) uint64 {
	var h uint64
	for ; n > 0; n -= len(payload) {
		h = crc64.Update(h, table, payload) // culprit:quota
	}
	return h
}

// report builds a large, short-lived error context for every failed backend call.
func report(w http.ResponseWriter, r *http.Request) {
	if err := get(fast); err != nil {
		n := 0
		for i := 0; i < 64; i++ {
			sink = make([]byte, 64<<10) // culprit:alloc
			n += len(sink)
		}
		http.Error(w, strconv.Itoa(n), http.StatusBadGateway)
		return
	}
	io.WriteString(w, "ok\n")
}

// notify waits at most 20 ms for the backend; the call's goroutine then has nobody to
// hand its result to and blocks on the send forever.
func notify(w http.ResponseWriter, r *http.Request) {
	done := make(chan error)
	go func() {
		done <- get(client) // culprit:leak
	}()
	select {
	case err := <-done:
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		io.WriteString(w, "sent\n")
	case <-time.After(20 * time.Millisecond):
		io.WriteString(w, "queued\n")
	}
}

// setRates turns on block and mutex profiling: /debug/harness/rates?block=N&mutex=N.
func setRates(w http.ResponseWriter, r *http.Request) {
	if n, err := strconv.Atoi(r.URL.Query().Get("block")); err == nil {
		runtime.SetBlockProfileRate(n)
	}
	if n, err := strconv.Atoi(r.URL.Query().Get("mutex")); err == nil {
		runtime.SetMutexProfileFraction(n)
	}
	io.WriteString(w, "ok\n")
}
