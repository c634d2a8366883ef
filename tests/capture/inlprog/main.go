// Command inlprog has a call inlined into its caller, for the perf symbolizer's test:
// the CALL in step (inlined into run) must read as step's line, then run's line.
package main

import (
	"fmt"
	"hash/crc64"
	"os"
)

var table = crc64.MakeTable(crc64.ECMA)

func step(h uint64, data []byte) uint64 {
	return crc64.Update(h, table, data) // STEP LINE
}

//go:noinline
func run(data []byte) uint64 {
	var h uint64
	for i := 0; i < 3; i++ {
		h = step(h, data) // RUN LINE
	}
	return h
}

func main() { fmt.Println(run([]byte(os.Args[0]))) }
