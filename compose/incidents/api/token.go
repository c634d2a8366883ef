package main

import (
	"net/http"
	"sync"

	"example.com/resp"
)

var (
	tokenMu sync.Mutex
	token   string
)

// tokenHandler refreshes the service's access token from Redis under a global lock: every
// request waits while one of them talks to Redis.
func tokenHandler(w http.ResponseWriter, r *http.Request) {
	tokenMu.Lock() // culprit:lock
	err := shared.Do(func(c *resp.Conn) (err error) {
		token, err = c.Get("auth:token")
		return err
	})
	t := token
	tokenMu.Unlock()
	if err != nil {
		fail(w, err)
		return
	}
	w.Write([]byte(t + "\n"))
}
