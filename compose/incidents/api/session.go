package main

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

const sessionSize = 256 << 10

type entry struct {
	at   time.Time
	blob []byte
}

var (
	sessionTTL time.Duration
	sessionsMu sync.Mutex
	sessions   []entry // oldest first
)

// session creates a session of 256 KiB and keeps it in memory for -session-ttl (3 s): the
// working set is the request rate x 3 s x 256 KiB (10 req/s: 7.5 MiB; 100 req/s: 75 MiB),
// and the Go heap grows to about twice that before a collection.
func session(w http.ResponseWriter, r *http.Request) {
	blob := make([]byte, sessionSize) // culprit:oom
	for i := 0; i < len(blob); i += 4096 {
		blob[i] = 1 // touch every page: the memory is really used
	}
	now := time.Now()
	sessionsMu.Lock()
	sessions = append(sessions, entry{now, blob})
	old := 0
	for old < len(sessions) && now.Sub(sessions[old].at) > sessionTTL {
		old++
	}
	sessions = append(sessions[:0], sessions[old:]...)
	n := len(sessions)
	sessionsMu.Unlock()
	w.Write([]byte(strconv.Itoa(n) + " sessions\n"))
}
