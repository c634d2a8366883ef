package main

import (
	"fmt"
	"hash/crc64"
	"net/http"

	"example.com/resp"
)

var (
	table   = crc64.MakeTable(crc64.ECMA)
	payload = make([]byte, 16<<10)
)

// price reads the base price from Redis and computes the quote: n bytes of work
// (?n=N, default 16 MiB).
func price(w http.ResponseWriter, r *http.Request) {
	var base string
	err := shared.Do(func(c *resp.Conn) (err error) {
		base, err = c.Get("price:base")
		return err
	})
	if err != nil {
		fail(w, err)
		return
	}
	fmt.Fprintf(w, "%s %d\n", base, quote(intParam(r, "n", 16<<20, 1, 64<<20)))
}

// quote spends all of its CPU inside crc64.Update: one line takes it all, on any CPU.
func quote(n int) uint64 {
	var h uint64
	for ; n > 0; n -= len(payload) {
		h = crc64.Update(h, table, payload) // culprit:quota
	}
	return h
}
