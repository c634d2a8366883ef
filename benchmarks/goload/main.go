// Command goload sends GET requests to one URL from -c workers for -d and prints
// {"requests": N, "errors": E, "seconds": S} on stdout: the capture benchmark's load.
package main

import (
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:8080/spin", "target (loopback only)")
	workers := flag.Int("c", 4, "concurrent workers")
	dur := flag.Duration("d", 3*time.Second, "duration")
	flag.Parse()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *workers}}
	var ok, bad atomic.Int64
	deadline := time.Now().Add(*dur)
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < *workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				resp, err := client.Get(*url)
				if err != nil {
					bad.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					ok.Add(1)
				} else {
					bad.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	json.NewEncoder(os.Stdout).Encode(map[string]any{"requests": ok.Load(), "errors": bad.Load(),
		"seconds": time.Since(start).Seconds()})
}
