package main

import (
	"fmt"
	"net/http"
	"strconv"

	"example.com/resp"
)

const members = 1000

func memberKey(i int) string { return "member:" + strconv.Itoa(i) }

// group returns the names of a chat group's members (?items=N, default 100): one GET per
// member, N round trips to Redis; ?mget=1 asks for all of them in one MGET.
func group(w http.ResponseWriter, r *http.Request) {
	n := intParam(r, "items", 100, 1, members)
	keys := make([]string, n)
	for i := range keys {
		keys[i] = memberKey(i)
	}
	names := make([]string, 0, n)
	err := shared.Do(func(c *resp.Conn) error {
		if r.URL.Query().Get("mget") == "1" {
			all, err := c.MGet(keys...)
			names = append(names, all...)
			return err
		}
		for _, k := range keys {
			name, err := c.Get(k) // culprit:nplusone
			if err != nil && err != resp.ErrNil {
				return err
			}
			names = append(names, name)
		}
		return nil
	})
	if err != nil {
		fail(w, err)
		return
	}
	fmt.Fprintf(w, "%d members\n", len(names))
}
