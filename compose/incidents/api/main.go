// Command api is the service of the incident library (scenarios/incident-*.yaml): an HTTP
// API in front of a real Redis, with one handler per production failure mode. Each handler
// lives in its own file, and its culprit line carries a `// culprit:<name>` comment.
//
//	/checkout  pool.go      connection-pool exhaustion (a pool of 4 Redis connections)
//	/group     group.go     N+1: one GET per group member (?mget=1: one MGET)
//	/feed      feed.go      GC storm: the feed rebuilt from short-lived objects on a cache miss
//	/notify    notify.go    goroutine leak: a send nobody receives after a timeout
//	/token     token.go     lock contention: a global mutex held across a Redis call
//	/price     price.go     CPU work per request (for a squeezed CPU quota)
//	/session   session.go   sessions of 256 KiB kept in memory for 3 s (for a squeezed memory limit)
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	_ "net/http/pprof"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"example.com/resp"
)

var (
	shared       *Pool // the service's Redis connections
	checkoutPool *Pool // the checkout's own, small pool
	ready        atomic.Bool
)

func main() {
	addr := flag.String("redis", "redis:6379", "Redis address")
	size := flag.Int("pool", 64, "connections in the shared pool")
	checkout := flag.Int("checkout-pool", 4, "connections in the checkout pool")
	flag.DurationVar(&sessionTTL, "session-ttl", 3*time.Second, "how long a session (256 KiB) stays in memory")
	flag.Parse()
	shared, checkoutPool = NewPool(*addr, *size), NewPool(*addr, *checkout)
	go func() {
		http.HandleFunc("/debug/harness/rates", setRates)
		log.Println(http.ListenAndServe(":6060", nil))
	}()
	go seed()
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", healthz)
	mux.HandleFunc("/checkout", checkoutHandler)
	mux.HandleFunc("/group", group)
	mux.HandleFunc("/feed", feed)
	mux.HandleFunc("/notify", notify)
	mux.HandleFunc("/token", tokenHandler)
	mux.HandleFunc("/price", price)
	mux.HandleFunc("/session", session)
	log.Fatal(http.ListenAndServe(":8080", mux))
}

// seed writes the data the handlers read, retrying until Redis answers; /healthz is 503 until then.
func seed() {
	for {
		err := shared.Do(func(c *resp.Conn) error {
			args := []string{"MSET", "auth:token", "t0k3n", "price:base", "100"}
			for i := 0; i < members; i++ {
				args = append(args, memberKey(i), "member "+strconv.Itoa(i))
			}
			_, err := c.Do(args...)
			return err
		})
		if err == nil {
			ready.Store(true)
			return
		}
		log.Printf("seeding Redis: %v", err)
		time.Sleep(200 * time.Millisecond)
	}
}

func healthz(w http.ResponseWriter, r *http.Request) {
	if !ready.Load() {
		http.Error(w, "waiting for Redis", http.StatusServiceUnavailable)
		return
	}
	io.WriteString(w, "ok\n")
}

// intParam reads ?name=N within [lo, hi], or def.
func intParam(r *http.Request, name string, def, lo, hi int) int {
	n, err := strconv.Atoi(r.URL.Query().Get(name))
	if err != nil || n < lo || n > hi {
		return def
	}
	return n
}

func fail(w http.ResponseWriter, err error) {
	http.Error(w, fmt.Sprintf("redis: %v", err), http.StatusBadGateway)
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
