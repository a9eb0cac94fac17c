package h1

import (
	"bufio"
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestCheckRequest(t *testing.T) {
	long := strings.Repeat("A", 5000)
	tests := []struct {
		name string
		raw  string
		ok   bool
		want framing
	}{
		{"simple", "GET / HTTP/1.1\r\nHost: h\r\n\r\n", true, framing{length: -1}},
		{"bare LF lines", "GET / HTTP/1.1\nHost: h\n\n", true, framing{length: -1}},
		{"absolute form", "GET http://h/x HTTP/1.1\r\nHost: h\r\n\r\n", true, framing{length: -1}},
		{"connect", "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", true, framing{length: -1}},
		{"length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n", true, framing{length: 10}},
		{"chunked any case", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ChUnKeD\r\n\r\n", true, framing{length: -1, chunked: true}},
		{"upgrade", "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n", true, framing{length: -1, upgrade: true}},
		{"1.0 without host", "GET / HTTP/1.0\r\n\r\n", true, framing{length: -1}},

		{"CL and TE", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", false, framing{}},
		{"TE and CL", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", false, framing{}},
		{"TE twice", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", false, framing{}},
		{"TE list", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", false, framing{}},
		{"TE identity", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n", false, framing{}},
		{"TE vertical tab", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\x0bchunked\r\n\r\n", false, framing{}},
		{"TE space before colon", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n", false, framing{}},
		{"TE folded", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n chunked\r\n\r\n", false, framing{}},
		{"TE in 1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", false, framing{}},
		{"CL twice equal", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", false, framing{}},
		{"CL list", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\n", false, framing{}},
		{"CL sign", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +3\r\n\r\n", false, framing{}},
		{"CL hex", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x3\r\n\r\n", false, framing{}},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n", false, framing{}},
		{"bare CR in value", "GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", false, framing{}},
		{"bare CR line end", "GET / HTTP/1.1\rHost: h\r\n\r\n", false, framing{}},
		{"NUL in value", "GET / HTTP/1.1\r\nHost: h\r\nX: a\x00\r\n\r\n", false, framing{}},
		{"long method", long + " / HTTP/1.1\r\nHost: h\r\n\r\n", false, framing{}},
		{"method with slash", "GE/T / HTTP/1.1\r\nHost: h\r\n\r\n", false, framing{}},
		{"double space", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", false, framing{}},
		{"trailing space", "GET / HTTP/1.1 \r\nHost: h\r\n\r\n", false, framing{}},
		{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", false, framing{}},
		{"HTTP/1.2", "GET / HTTP/1.2\r\nHost: h\r\n\r\n", false, framing{}},
		{"no host", "GET / HTTP/1.1\r\n\r\n", false, framing{}},
		{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", false, framing{}},
		{"target with DEL", "GET /\x7f HTTP/1.1\r\nHost: h\r\n\r\n", false, framing{}},
		{"leading empty line", "\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", false, framing{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := []byte(tt.raw)
			n, _ := findHeadEnd(b, 0)
			if n < 0 {
				t.Fatal("no complete head")
			}
			f, ok := checkRequest(b[:n])
			if ok != tt.ok || (ok && f != tt.want) {
				t.Errorf("checkRequest = %+v %v, want %+v %v", f, ok, tt.want, tt.ok)
			}
			// The fast path never serves what the strict check refuses.
			var h head
			if parseRequest(b[:n], &h, testNames) && !ok {
				t.Errorf("parseRequest accepts what checkRequest refuses")
			}
		})
	}
}

func TestChunkedStrict(t *testing.T) {
	tests := []struct {
		name, in, out string
		err           error
	}{
		{"plain", "3\r\nabc\r\n0\r\n\r\n", "3\r\nabc\r\n0\r\n\r\n", nil},
		{"extension dropped", "3;x=y\r\nabc\r\n0\r\n\r\n", "3\r\nabc\r\n0\r\n\r\n", nil},
		{"bare LF after size", "3\nabc\r\n0\r\n\r\n", "", errBadChunk},
		{"bare LF after data", "3\r\nabc\n0\r\n\r\n", "", errBadChunk},
		{"bare LF at the end", "3\r\nabc\r\n0\r\n\n", "", errBadChunk},
		{"CR inside size line", "3\r;x\r\nabc\r\n0\r\n\r\n", "", errBadChunk},
		{"chunk overruns", "3\r\nabcd\r\n0\r\n\r\n", "", errBadChunk},
		{"bad size", "x\r\nabc\r\n0\r\n\r\n", "", errBadChunk},
		{"trailer kept", "0\r\nX-Sum: 1\r\n\r\n", "0\r\nX-Sum: 1\r\n\r\n", nil},
		{
			"framing trailers dropped",
			"0\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\nHost: evil\r\nTrailer: x\r\nContent-Type: a/b\r\nX-Forwarded-For: 1.2.3.4\r\nX-Sum: 1\r\n\r\n",
			"0\r\nX-Sum: 1\r\n\r\n", nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			w := bufio.NewWriter(&out)
			err := copyChunked(w, bufio.NewReader(strings.NewReader(tt.in)), false, 1024, testNames)
			_ = w.Flush()
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if err == nil && out.String() != tt.out {
				t.Errorf("out = %q, want %q", out.String(), tt.out)
			}
		})
	}
}
