// Command loadtestserver is the target of the load tests: it answers /ok at once and
// /sleep?us=N after sleeping N microseconds, so tests know the true latency; /serial?us=N
// sleeps N microseconds holding one lock, so it completes at most 1e6/N requests a second
// (a service whose throughput is bound).
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	flag.Parse()
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/sleep", func(w http.ResponseWriter, r *http.Request) {
		us, err := strconv.Atoi(r.URL.Query().Get("us"))
		if err != nil || us < 0 {
			http.Error(w, "us must be a non-negative integer", http.StatusBadRequest)
			return
		}
		time.Sleep(time.Duration(us) * time.Microsecond)
		fmt.Fprintln(w, "slept", us)
	})
	var serial sync.Mutex
	mux.HandleFunc("/serial", func(w http.ResponseWriter, r *http.Request) {
		us, err := strconv.Atoi(r.URL.Query().Get("us"))
		if err != nil || us < 0 {
			http.Error(w, "us must be a non-negative integer", http.StatusBadRequest)
			return
		}
		serial.Lock()
		time.Sleep(time.Duration(us) * time.Microsecond)
		serial.Unlock()
		fmt.Fprintln(w, "slept alone", us)
	})
	// Replayed traffic: any path under /items/; a request carrying a credential is refused, so a
	// replay that forwarded one shows up as failures.
	mux.HandleFunc("/items/", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" || r.Header.Get("Cookie") != "" {
			http.Error(w, "a credential was replayed", http.StatusForbidden)
			return
		}
		fmt.Fprintln(w, "item", r.URL.Path, r.Header.Get("X-Trace"))
	})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "planned failure", http.StatusServiceUnavailable)
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	// The test reads the chosen port from the first line of standard output.
	fmt.Fprintf(os.Stdout, "listening %s\n", ln.Addr().String())
	log.Fatal(http.Serve(ln, mux))
}
