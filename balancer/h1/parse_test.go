package h1

import (
	"bufio"
	"bytes"
	"net/http"
	"strings"
	"testing"
)

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		ok   bool
		fast bool
	}{
		{"simple", "GET / HTTP/1.1\r\nHost: h\r\n\r\n", true, true},
		{"bare LF", "GET / HTTP/1.1\nHost: h\n\n", true, true},
		{"1.0 no host", "GET /x HTTP/1.0\r\n\r\n", true, true},
		{"1.1 no host", "GET / HTTP/1.1\r\n\r\n", false, false},
		{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", false, false},
		{"bad host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", false, false},
		{"HTTP/2", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", false, false},
		{"absolute", "GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n", false, false},
		{"bad escape", "GET /%zz HTTP/1.1\r\nHost: h\r\n\r\n", false, false},
		{"escape in query", "GET /?q=%zz HTTP/1.1\r\nHost: h\r\n\r\n", true, true},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", false, false},
		{"space in name", "GET / HTTP/1.1\r\nHost: h\r\nX Y: a\r\n\r\n", false, false},
		{"ctl in value", "GET / HTTP/1.1\r\nHost: h\r\nX: a\x01\r\n\r\n", false, false},
		{"obs-text value", "GET / HTTP/1.1\r\nHost: h\r\nX: caf\xc3\xa9\r\n\r\n", true, true},
		{"CL", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\n\r\n", true, true},
		{"CL sign", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +12\r\n\r\n", false, false},
		{"CL and TE", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", false, false},
		{"TE gzip", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", false, false},
		{"TE 1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", false, false},
		{"chunked", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n", true, true},
		{"upgrade", "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n", true, false},
		{"expect", "PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n", true, false},
		{"hop", "GET / HTTP/1.1\r\nHost: h\r\nx-mitosis-hop: r2\r\n\r\n", true, true}, // trusted or not: Hooks decide
		{"connect", "CONNECT /x HTTP/1.1\r\nHost: h\r\n\r\n", true, false},
		{"lower method", "get / HTTP/1.1\r\nHost: h\r\n\r\n", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := []byte(tt.raw)
			n, _ := findHeadEnd(b, 0)
			if n != len(b) {
				t.Fatalf("findHeadEnd = %d, want %d", n, len(b))
			}
			var h head
			ok := parseRequest(b, &h, testNames)
			if ok != tt.ok || (ok && h.fast() != tt.fast) {
				t.Fatalf("parseRequest ok=%v fast=%v, want %v %v", ok, ok && h.fast(), tt.ok, tt.fast)
			}
			if ok {
				checkAgainstNetHTTP(t, b, &h)
			}
		})
	}
}

func TestParseRequestAllocs(t *testing.T) {
	b := []byte("POST /api/v1/items?x=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: wrk\r\nAccept: */*\r\n" +
		"Connection: keep-alive, X-Foo\r\nContent-Length: 10\r\nCookie: a=b; c=d\r\nTE: trailers\r\n\r\n")
	var h head
	parseRequest(b, &h, testNames) // grows h.fields once
	if n := testing.AllocsPerRun(100, func() {
		if !parseRequest(b, &h, testNames) || h.namedByConnection([]byte("x-foo")) != true {
			t.Fatal("parse failed")
		}
	}); n != 0 {
		t.Errorf("parseRequest allocates %v times per run, want 0", n)
	}
}

func TestParseChunkSize(t *testing.T) {
	tests := []struct {
		line string
		n    int64
		ok   bool
	}{
		{"0", 0, true}, {"1a", 26, true}, {"FF ; ext=1", 255, true}, {"10;x", 16, true},
		{"", 0, false}, {"g", 0, false}, {"1 2", 0, false}, {"-1", 0, false},
		{"fffffffffffffff", 1<<60 - 1, true}, {"1000000000000000", 0, false},
	}
	for _, tt := range tests {
		n, ok := parseChunkSize([]byte(tt.line))
		if ok != tt.ok || n != tt.n {
			t.Errorf("parseChunkSize(%q) = %d %v, want %d %v", tt.line, n, ok, tt.n, tt.ok)
		}
	}
}

// checkAgainstNetHTTP asserts that net/http reads the same request from b.
func checkAgainstNetHTTP(t *testing.T, b []byte, h *head) {
	t.Helper()
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(b)))
	if err != nil {
		t.Fatalf("parseRequest accepted %q, net/http rejects it: %v", b, err)
	}
	if req.Method != string(h.method) || req.RequestURI != string(h.uri) || req.ProtoMinor != int(h.minor) {
		t.Fatalf("request line differs: net/http %s %s %d, ours %s %s %d", req.Method, req.RequestURI, req.ProtoMinor, h.method, h.uri, h.minor)
	}
	if req.Host != string(h.host) {
		t.Fatalf("host: net/http %q, ours %q", req.Host, h.host)
	}
	if req.ContentLength != h.contentLength && !(h.contentLength < 0 && req.ContentLength == 0) {
		t.Fatalf("content length: net/http %d, ours %d", req.ContentLength, h.contentLength)
	}
	for k, vv := range req.Header {
		for _, v := range vv {
			found := k == "Cache-Control" && req.Header.Get("Pragma") == "no-cache" // added by net/http
			for _, f := range h.fields {
				if strings.EqualFold(string(f.name), k) && string(f.value) == v {
					found = true
				}
			}
			if !found {
				t.Fatalf("header %s: %q seen by net/http, not by us", k, v)
			}
		}
	}
	for _, f := range h.fields {
		if f.kind == kTransferEncoding || f.kind == kHost {
			continue // net/http moves them to TransferEncoding and Host
		}
		found := false
		for _, v := range req.Header[http.CanonicalHeaderKey(string(f.name))] {
			found = found || v == string(f.value)
		}
		if !found {
			t.Fatalf("header %s: %q seen by us, not by net/http", f.name, f.value)
		}
	}
}

// FuzzParseHead: the parsers must not panic, and parseRequest must accept
// nothing that net/http rejects, reading the same method, URI, version,
// host, length and fields. Known, deliberate differences (we hand off, so
// net/http decides): bare CR in lines, obs-fold, repeated Content-Length,
// Transfer-Encoding other than one "chunked", targets not in origin-form,
// versions other than 1.0 and 1.1, heads larger than the read buffer.
func FuzzParseHead(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
		"POST /a?b=%zz HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
		"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"GET / HTTP/1.0\nConnection: keep-alive, x\nX: y\n\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"GET /%41 HTTP/1.1\r\nHost: [::1]:80\r\nX: \xff\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, _ := findHeadEnd(b, 0)
		if n < 0 {
			return
		}
		var h head
		if parseRequest(b[:n], &h, testNames) {
			if _, ok := checkRequest(b[:n]); !ok {
				t.Fatalf("the fast path accepts %q, which the strict check refuses", b[:n])
			}
			checkAgainstNetHTTP(t, b[:n], &h)
			for i := range h.fields {
				h.namedByConnection(h.fields[i].name)
			}
		}
		var r head
		parseResponse(b[:n], &r, testNames)
		// The chunked copier must not panic on the rest either.
		src := bufio.NewReaderSize(bytes.NewReader(b[n:]), 16)
		var out bytes.Buffer
		_ = copyChunked(bufio.NewWriterSize(&out, 16), src, len(b)%2 == 0, 64, testNames)
	})
}
