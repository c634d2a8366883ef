// Command pileapp is the runtime sampler's target: on request it piles up goroutines that
// all wait at one planted line (a channel receive) and lets them go after a while, so the
// pile drains long before a phase ends.
package main

import (
	"io"
	"log"
	"net/http"
	_ "net/http/pprof"
	"strconv"
	"time"
)

func main() {
	go func() {
		log.Println(http.ListenAndServe(":6060", nil))
	}()
	mux := http.NewServeMux()
	mux.HandleFunc("/pile", pile)
	log.Fatal(http.ListenAndServe(":8080", mux))
}

// pile starts n goroutines that wait on one channel and closes it after hold_ms; it answers
// once they are all started.
func pile(w http.ResponseWriter, r *http.Request) {
	n, hold := intParam(r, "n", 300), intParam(r, "hold_ms", 3000)
	gate := make(chan struct{})
	for i := 0; i < n; i++ {
		go wait(gate)
	}
	time.AfterFunc(time.Duration(hold)*time.Millisecond, func() { close(gate) })
	io.WriteString(w, strconv.Itoa(n)+" waiting\n")
}

func wait(gate chan struct{}) {
	<-gate // PILE LINE
}

func intParam(r *http.Request, name string, def int) int {
	if v, err := strconv.Atoi(r.URL.Query().Get(name)); err == nil && v > 0 && v <= 100000 {
		return v
	}
	return def
}
