package main

import (
	"errors"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"example.com/resp"
)

// Pool hands out at most size connections to Redis, dialled on first use; Get waits while
// all of them are in use.
type Pool struct {
	addr string
	idle chan *resp.Conn
}

func NewPool(addr string, size int) *Pool {
	p := &Pool{addr: addr, idle: make(chan *resp.Conn, size)}
	for i := 0; i < size; i++ {
		p.idle <- nil
	}
	return p
}

// Get takes a connection, waiting for one while the pool is exhausted.
func (p *Pool) Get() (*resp.Conn, error) {
	c := <-p.idle // culprit:pool
	if c != nil {
		return c, nil
	}
	c, err := resp.Dial(p.addr, 2*time.Second)
	if err != nil {
		p.idle <- nil
		return nil, err
	}
	return c, nil
}

// Put gives a connection back; a broken one is closed and dialled again by the next Get.
func (p *Pool) Put(c *resp.Conn, err error) {
	if c != nil && broken(err) {
		c.Close()
		c = nil
	}
	p.idle <- c
}

// broken tells a failed connection (a network error) from a reply of Redis.
func broken(err error) bool {
	var reply resp.Error
	return err != nil && !errors.Is(err, resp.ErrNil) && !errors.As(err, &reply)
}

// Do runs f on a pooled connection. When that connection turns out broken (closed by the
// server or the network while it sat in the pool), f runs once more on a new one, as Redis
// clients do.
func (p *Pool) Do(f func(c *resp.Conn) error) error {
	c, err := p.Get()
	if err != nil {
		return err
	}
	if err = f(c); broken(err) {
		c.Close()
		if c, err = resp.Dial(p.addr, 2*time.Second); err == nil {
			err = f(c)
		}
	}
	p.Put(c, err)
	return err
}

var orders atomic.Int64

// checkoutHandler places an order: one command on a connection of the checkout pool.
func checkoutHandler(w http.ResponseWriter, r *http.Request) {
	id := strconv.FormatInt(orders.Add(1)%1000, 10)
	err := checkoutPool.Do(func(c *resp.Conn) error {
		_, err := c.Do("INCR", "orders:"+id)
		return err
	})
	if err != nil {
		fail(w, err)
		return
	}
	w.Write([]byte("placed\n"))
}
