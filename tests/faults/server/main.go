// faultsrv: the target/peer service of the fault tests (standard library only).
//
//	GET  /                      "ok"
//	GET  /bytes?n=N             N bytes (egress throughput of the container)
//	POST /upload                reads the body, answers its length (ingress throughput)
//	GET  /probe?addr=&n=&timeout_ms=&keepalive=&gap_ms=   N sequential HTTP GETs from inside the
//	                            container to addr; JSON: latencies (ms) and error classes
//	GET  /udpsend?addr=&n=&tag=&gap_us=           N UDP datagrams (payload = tag) to addr
//	GET  /push?addr=&n=         POSTs n bytes to addr/upload; answers bit/s
//	GET  /rawget?addr=          HTTP/1.0 GET over raw TCP, read to EOF; answers ms
//	GET  /udpcount?tag=         datagrams received on :9000 with that payload
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

var (
	mu     sync.Mutex
	counts = map[string]int{}
)

func intArg(r *http.Request, key string, def int) int {
	if v, err := strconv.Atoi(r.URL.Query().Get(key)); err == nil {
		return v
	}
	return def
}

func classify(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	}
	return "other"
}

func probe(w http.ResponseWriter, r *http.Request) {
	addr := r.URL.Query().Get("addr")
	n := intArg(r, "n", 10)
	timeout := time.Duration(intArg(r, "timeout_ms", 2000)) * time.Millisecond
	gap := time.Duration(intArg(r, "gap_ms", 0)) * time.Millisecond
	tr := &http.Transport{DisableKeepAlives: r.URL.Query().Get("keepalive") != "1"}
	client := &http.Client{Transport: tr, Timeout: timeout}
	lat := []float64{}
	errs := map[string]int{}
	errLat := []float64{}
	for i := 0; i < n; i++ {
		if i > 0 {
			time.Sleep(gap)
		}
		t0 := time.Now()
		resp, err := client.Get("http://" + addr + "/")
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		ms := float64(time.Since(t0).Microseconds()) / 1000
		if err != nil {
			errs[classify(err)]++
			errLat = append(errLat, ms)
			continue
		}
		lat = append(lat, ms)
	}
	json.NewEncoder(w).Encode(map[string]any{"lat_ms": lat, "errors": errs, "err_ms": errLat})
}

// push POSTs n bytes to addr/upload and answers the rate in bit/s (the container's egress to addr).
func push(w http.ResponseWriter, r *http.Request) {
	n := intArg(r, "n", 1<<20)
	body := io.LimitReader(zeros{}, int64(n))
	t0 := time.Now()
	resp, err := http.Post("http://"+r.URL.Query().Get("addr")+"/upload", "application/octet-stream", body)
	if err != nil {
		http.Error(w, err.Error(), 502)
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	fmt.Fprintf(w, "%.0f", float64(n)*8/time.Since(t0).Seconds())
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 0
	}
	return len(p), nil
}

// rawget sends an HTTP/1.0 request over a raw TCP connection and reads until the server's
// close arrives; it answers the milliseconds that took (close included).
func rawget(w http.ResponseWriter, r *http.Request) {
	conn, err := net.DialTimeout("tcp", r.URL.Query().Get("addr"), 5*time.Second)
	if err != nil {
		http.Error(w, err.Error(), 502)
		return
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	t0 := time.Now()
	conn.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
	io.Copy(io.Discard, conn)
	fmt.Fprintf(w, "%.3f", float64(time.Since(t0).Microseconds())/1000)
}

func udpsend(w http.ResponseWriter, r *http.Request) {
	conn, err := net.Dial("udp", r.URL.Query().Get("addr"))
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	defer conn.Close()
	tag := []byte(r.URL.Query().Get("tag"))
	n, gap := intArg(r, "n", 100), time.Duration(intArg(r, "gap_us", 100))*time.Microsecond
	sent := 0
	for i := 0; i < n; i++ {
		if _, err := conn.Write(tag); err == nil {
			sent++
		}
		time.Sleep(gap)
	}
	fmt.Fprintf(w, "%d", sent)
}

func udpListen() {
	pc, err := net.ListenPacket("udp", listenHost+":9000")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buf := make([]byte, 2048)
	for {
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			continue
		}
		mu.Lock()
		counts[string(buf[:n])]++
		mu.Unlock()
	}
}

// LISTEN_HOST (default: every address) lets a test run the server in the host's network
// namespace listening on loopback only
var listenHost = os.Getenv("LISTEN_HOST")

// pprofListen serves the runtime's profiles on :6060, a port of their own as services in
// scenarios have (tests fetch a CPU profile across a fault's apply and revert); a second
// server in the same namespace only logs that the port is taken
func pprofListen() {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	if err := http.ListenAndServe(listenHost+":6060", mux); err != nil {
		fmt.Fprintln(os.Stderr, "pprof:", err)
	}
}

func main() {
	go udpListen()
	go pprofListen()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	http.HandleFunc("/bytes", func(w http.ResponseWriter, r *http.Request) {
		n := intArg(r, "n", 1024)
		buf := make([]byte, 32768)
		w.Header().Set("Content-Length", strconv.Itoa(n))
		for n > 0 {
			k := min(n, len(buf))
			if _, err := w.Write(buf[:k]); err != nil {
				return
			}
			n -= k
		}
	})
	http.HandleFunc("/upload", func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "%d", n)
	})
	http.HandleFunc("/probe", probe)
	http.HandleFunc("/udpsend", udpsend)
	http.HandleFunc("/push", push)
	http.HandleFunc("/rawget", rawget)
	http.HandleFunc("/udpcount", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(w, "%d", counts[r.URL.Query().Get("tag")])
	})
	if err := http.ListenAndServe(listenHost+":8080", nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
