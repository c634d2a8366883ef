// Command uprobeprog has functions of each kind the uprobe latency capture must handle:
// one that sleeps, one with two return paths, a recursive one, a method on a pointer type,
// a small one the compiler always inlines, and a generic function and method (their code is
// per shape: main.Sum[go.shape.int]). main calls them in a loop until killed.
package main

import (
	"fmt"
	"time"
)

// Store is a tiny map behind a pointer, for a method named (*Store).Get.
type Store struct {
	m     map[string]int
	order []int
}

//go:noinline
func slow(d time.Duration) {
	time.Sleep(d)
}

//go:noinline
func twoWays(n int) int {
	if n%2 == 0 {
		return n / 2
	}
	fmt.Sprint(n)
	return 3*n + 1
}

//go:noinline
func recurse(n int) int {
	if n <= 0 {
		return 0
	}
	return 1 + recurse(n-1)
}

//go:noinline
func (s *Store) Get(k string) (int, bool) {
	v, ok := s.m[k]
	return v, ok
}

// tiny is small enough that the compiler always inlines it: it has no code of its own. It can
// panic (an index, a division), so its name stays in the binary's tables for tracebacks.
func tiny(xs []int, i int) int { return xs[i%len(xs)] }

//go:noinline
func Sum[T int | float64](xs []T) T {
	var s T
	for _, x := range xs {
		s += x
	}
	return s
}

// Box is a generic type, for a method named (*Box[...]).Get.
type Box[T any] struct{ v T }

//go:noinline
func (b *Box[T]) Get() T { return b.v }

func main() {
	s := &Store{m: map[string]int{"a": 1}, order: []int{1, 2, 3}}
	total := 0
	for i := 0; ; i++ {
		slow(10 * time.Millisecond)
		total += twoWays(i) + recurse(i%5) + tiny(s.order, i) + Sum(s.order) + int(Sum([]float64{1.5}))
		total += (&Box[int]{v: i}).Get()
		if v, ok := s.Get("a"); ok {
			total += v
		}
		if i%1000 == 999 {
			fmt.Println(total)
		}
	}
}
