package main

import (
	"fmt"
	"net/http"
	"strconv"

	"example.com/resp"
)

const feedKey = "feed:page"

type post struct {
	id    int
	title string
	score int
}

// feed serves the rendered feed from Redis; on a miss or when Redis fails, it renders the
// feed again, for every request, and tries to cache it.
func feed(w http.ResponseWriter, r *http.Request) {
	var page string
	err := shared.Do(func(c *resp.Conn) (err error) {
		page, err = c.Get(feedKey)
		return err
	})
	if err != nil {
		page = render(20000)
		shared.Do(func(c *resp.Conn) error { return c.Set(feedKey, page) })
	}
	fmt.Fprintln(w, page)
}

// render builds the feed from n posts: short-lived objects, all allocated on one line.
func render(n int) string {
	posts := make([]*post, n)
	for i := range posts {
		posts[i] = &post{id: i, title: "post " + strconv.Itoa(i), score: i % 97} // culprit:gc
	}
	best := posts[0]
	for _, p := range posts {
		if p.score > best.score || (p.score == best.score && len(p.title) > len(best.title)) {
			best = p
		}
	}
	return fmt.Sprintf("feed of %d posts, top: %s", n, best.title)
}
