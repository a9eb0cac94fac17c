package h1

import (
	"errors"
	"io"
	"os"
	"strconv"
	"time"
)

// queue serves a request that found no local slot and no sibling: it
// waits in the balancer's queue (Hooks.Queue) and then goes to the app,
// or is answered 503. It reports whether the connection stays open.
//
// The connection stays on the fast path either way. (Handing it to the
// fallback server, as before, kept it there for good: after a burst the
// connections that had queued all took the slower path, with net/http's
// buffers.) While the request waits, a watcher notices a client that
// closes or resets its connection, as net/http's background read does,
// and its place in the queue is given up at once.
func (c *conn) queue() (keep bool) {
	if c.hang == nil {
		c.handoff() // nothing can watch the socket here: the fallback queues
		return false
	}
	start := time.Now()
	gone, stop := c.watchGone()
	ok := c.s.hooks.Queue(gone)
	left := stop()
	if ok {
		c.queuedAt = start
		return c.proxy()
	}
	if left {
		return false // nobody to answer
	}
	return c.shed(start)
}

// watchGone watches the client's socket while its request waits: gone is
// closed when the client closes or resets the connection. stop ends the
// watch, restores the read deadline, and reports whether the client left.
// Bytes from the client (a pipelined request) end the watch too; they are
// left for the next read.
func (c *conn) watchGone() (gone <-chan struct{}, stop func() (left bool)) {
	g := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := c.hang.waitHangup()
		if err == io.EOF || err != nil && !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, os.ErrClosed) {
			close(g)
		}
	}()
	return g, func() bool {
		_ = c.c.SetReadDeadline(aLongTimeAgo) // wakes the watcher
		<-done
		_ = c.c.SetReadDeadline(c.deadline)
		select {
		case <-g:
			return true
		default:
			return false
		}
	}
}

// aLongTimeAgo is a deadline that has passed.
var aLongTimeAgo = time.Unix(1, 0)

// shed answers 503 with Retry-After, as balancer.Handler does, for a
// request the queue did not admit. The connection stays open when the
// request had no body and the client keeps connections alive.
func (c *conn) shed(start time.Time) (keep bool) {
	c.fin = Outcome{Kind: Shed, Start: start, End: time.Now()}
	c.s.hooks.Finish(&c.fin)
	retryAfter := c.fin.RetryAfter
	req := &c.req
	keep = req.minor == 1 && !req.connClose && req.contentLength <= 0 && !req.chunked && c.s.keepAlives()
	isHead := string(req.method) == "HEAD"
	_, _ = c.br.Discard(req.size)
	w := c.bw
	_, _ = w.WriteString("HTTP/1.1 503 Service Unavailable\r\nRetry-After: " + retryAfter + "\r\nContent-Type: text/plain; charset=utf-8\r\n")
	_, _ = w.Write(c.s.replicaLine)
	_, _ = w.Write(c.hsts)
	_, _ = w.WriteString("Content-Length: " + strconv.Itoa(len(ShedBody)) + "\r\n")
	if !keep {
		_, _ = w.WriteString("Connection: close\r\n")
	}
	_, _ = w.WriteString("\r\n")
	if !isHead {
		_, _ = w.WriteString(ShedBody)
	}
	c.lastEnd = time.Now()
	return w.Flush() == nil && keep
}
