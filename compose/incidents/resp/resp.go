// Package resp is a small Redis client: one connection speaking RESP2 (the Redis
// serialization protocol), with the commands the incident services use. It is a library
// to the services (its own module), as a Redis client from the module cache would be:
// profiles charge its time to the service line that called it.
package resp

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"
)

// Error is a reply of type error from the server ("-ERR ...").
type Error string

func (e Error) Error() string { return string(e) }

// ErrNil is returned by Get for a key that does not exist.
var ErrNil = errors.New("resp: nil reply")

// Conn is one connection. It is not safe for concurrent use: callers pool connections.
type Conn struct {
	c       net.Conn
	r       *bufio.Reader
	w       *bufio.Writer
	Timeout time.Duration // per command; 0: none
}

// Dial connects to addr (host:port).
func Dial(addr string, timeout time.Duration) (*Conn, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	return &Conn{c: c, r: bufio.NewReader(c), w: bufio.NewWriter(c), Timeout: timeout}, nil
}

// Close closes the connection.
func (c *Conn) Close() error { return c.c.Close() }

// Do sends one command and reads its reply: a string, an int64, nil, an Error or a []any.
func (c *Conn) Do(args ...string) (any, error) {
	if c.Timeout > 0 {
		c.c.SetDeadline(time.Now().Add(c.Timeout))
	}
	fmt.Fprintf(c.w, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(c.w, "$%d\r\n%s\r\n", len(a), a)
	}
	if err := c.w.Flush(); err != nil {
		return nil, err
	}
	v, err := c.read()
	if err != nil {
		return nil, err
	}
	if e, ok := v.(Error); ok {
		return nil, e
	}
	return v, nil
}

func (c *Conn) line() (string, error) {
	s, err := c.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	if len(s) < 3 || s[len(s)-2] != '\r' {
		return "", fmt.Errorf("resp: malformed line %q", s)
	}
	return s[:len(s)-2], nil
}

func (c *Conn) read() (any, error) {
	s, err := c.line()
	if err != nil {
		return nil, err
	}
	switch s[0] {
	case '+':
		return s[1:], nil
	case '-':
		return Error(s[1:]), nil
	case ':':
		return strconv.ParseInt(s[1:], 10, 64)
	case '$':
		return c.bulk(s[1:])
	case '*':
		n, err := strconv.Atoi(s[1:])
		if err != nil || n < 0 {
			return nil, err
		}
		out := make([]any, n)
		for i := range out {
			if out[i], err = c.read(); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("resp: unknown reply type %q", s[0])
}

func (c *Conn) bulk(size string) (any, error) {
	n, err := strconv.Atoi(size)
	if err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, nil
	}
	buf := make([]byte, n+2)
	if _, err := readFull(c.r, buf); err != nil {
		return nil, err
	}
	return string(buf[:n]), nil
}

func readFull(r *bufio.Reader, buf []byte) (int, error) {
	got := 0
	for got < len(buf) {
		n, err := r.Read(buf[got:])
		got += n
		if err != nil {
			return got, err
		}
	}
	return got, nil
}

// Ping checks the connection.
func (c *Conn) Ping() error {
	_, err := c.Do("PING")
	return err
}

// Get returns the value of key, or ErrNil.
func (c *Conn) Get(key string) (string, error) {
	v, err := c.Do("GET", key)
	if err != nil {
		return "", err
	}
	if v == nil {
		return "", ErrNil
	}
	s, _ := v.(string)
	return s, nil
}

// Set sets key to value.
func (c *Conn) Set(key, value string) error {
	_, err := c.Do("SET", key, value)
	return err
}

// MGet returns the values of keys in one round trip ("" for a missing key).
func (c *Conn) MGet(keys ...string) ([]string, error) {
	v, err := c.Do(append([]string{"MGET"}, keys...)...)
	if err != nil {
		return nil, err
	}
	items, _ := v.([]any)
	out := make([]string, len(items))
	for i, it := range items {
		out[i], _ = it.(string)
	}
	return out, nil
}
