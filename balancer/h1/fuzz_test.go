package h1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http/httputil"
	"testing"
)

// FuzzParseResponse: the response parser never panics, and what it
// accepts is a status line with a 3-digit code and a head of exactly the
// bytes given, with one framing at most decided (the relay closes the
// connection of a response that has both).
func FuzzParseResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n",
		"HTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.0 304 Not Modified\nX: y\n\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\n",
		"HTTP/1.1 200\r\nX-Mitosis-Load: i=1\r\nConnection: close, x\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, _ := findHeadEnd(b, 0)
		if n < 0 {
			return
		}
		var h head
		if !parseResponse(b[:n], &h, testNames) {
			return
		}
		if h.status < 100 || h.status > 999 || h.size != n || h.minor > 1 {
			t.Fatalf("accepted %q as status %d, size %d, minor %d", b[:n], h.status, h.size, h.minor)
		}
		if h.hasTE && !h.chunked {
			t.Fatalf("accepted a transfer coding other than chunked: %q", b[:n])
		}
		for i := range h.fields {
			h.namedByConnection(h.fields[i].name)
		}
	})
}

// FuzzChunked: the chunked copier and the framer the guards use read a
// body alike: both accept it or both refuse it, at the same length, and
// what the copier writes is one unambiguous chunked body that net/http's
// reader decodes to the same data as the copier's decoding mode.
func FuzzChunked(f *testing.F) {
	for _, s := range []string{
		"3\r\nabc\r\n0\r\n\r\n",
		"3;x=y\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nX-T: 1\r\n\r\nNEXT",
		"3\nabc\r\n0\r\n\r\n",
		"3\r\nabcd\r\n0\r\n\r\n",
		"0\r\nContent-Length: 5\r\n\r\n",
		"fffffffffffffff\r\n",
	} {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, b []byte, split uint8) {
		var out bytes.Buffer
		in := bytes.NewReader(b)
		src := bufio.NewReaderSize(in, 64)
		w := bufio.NewWriter(&out)
		err := copyChunked(w, src, false, 1024, testNames)
		_ = w.Flush()
		used := len(b) - in.Len() - src.Buffered() // what the copier read of b
		// The framer, fed in two pieces, must agree.
		var fr bodyFramer
		fr.maxTrailer = 1024
		fr.start(-1, true)
		cut := int(split) % (len(b) + 1)
		k := fr.feed(b[:cut])
		if fr.inBody() {
			k += fr.feed(b[cut:])
		}
		switch {
		case err == nil && fr.st != fDone:
			t.Fatalf("the copier accepts %q, the framer ends in state %d", b, fr.st)
		case err == nil && k != used:
			t.Fatalf("the copier reads %d bytes of %q, the framer %d", used, b, k)
		case err != nil && fr.st == fDone && !errors.Is(err, errHeadTooLarge):
			t.Fatalf("the framer accepts %q, the copier refuses it: %v", b, err)
		}
		if err != nil {
			return
		}
		var dec bytes.Buffer
		dw := bufio.NewWriter(&dec)
		if err := copyChunked(dw, bufio.NewReaderSize(bytes.NewReader(out.Bytes()), 64), true, 1024, testNames); err != nil {
			t.Fatalf("the copier refuses its own output %q: %v", out.Bytes(), err)
		}
		_ = dw.Flush()
		std, err := io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(out.Bytes())))
		if err != nil || !bytes.Equal(std, dec.Bytes()) {
			t.Fatalf("net/http reads %q from %q (%v), the copier %q", std, out.Bytes(), err, dec.Bytes())
		}
	})
}
