// A tiny service stand-in for the end-to-end test: checksum() burns CPU on one
// line, so a CPU profile has a clearly hot line in the user's own code.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"time"
)

func checksum(data []byte) uint32 {
	var h uint32 = 2166136261
	for _, b := range data {
		h = (h ^ uint32(b)) * 16777619 // HOT: the line the test looks for
	}
	return h
}

func fill(n int) []byte {
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(i * 7)
	}
	return data
}

func main() {
	out := flag.String("cpuprofile", "cpu.pb.gz", "where to write the CPU profile")
	seconds := flag.Float64("seconds", 2, "how long to burn CPU")
	flag.Parse()
	f, err := os.Create(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	deadline := time.Now().Add(time.Duration(*seconds * float64(time.Second)))
	var sum uint32
	for time.Now().Before(deadline) {
		data := fill(1 << 16)
		for k := 0; k < 4; k++ { // checksum dominates: the hot line is the hottest by far
			sum += checksum(data)
		}
	}
	pprof.StopCPUProfile()
	f.Close()
	fmt.Println("checksum", sum)
}
