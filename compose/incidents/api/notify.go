package main

import (
	"net/http"
	"time"

	"example.com/resp"
)

// notify counts a notification in Redis but waits at most 20 ms for it: after a timeout the
// handler is gone, and the goroutine it started blocks forever on a send nobody receives.
func notify(w http.ResponseWriter, r *http.Request) {
	done := make(chan error)
	go func() {
		err := shared.Do(func(c *resp.Conn) error {
			_, err := c.Do("INCR", "notifications")
			return err
		})
		done <- err // culprit:leak
	}()
	select {
	case err := <-done:
		if err != nil {
			fail(w, err)
			return
		}
		w.Write([]byte("sent\n"))
	case <-time.After(20 * time.Millisecond):
		http.Error(w, "notification timed out", http.StatusGatewayTimeout)
	}
}
