package h1

import (
	"bytes"
	"strings"
)

// kind classifies a header field by what the proxy does with it.
type kind uint8

const (
	kOther            kind = iota
	kHost                  // Host
	kContentLength         // Content-Length: re-emitted by the proxy
	kTransferEncoding      // Transfer-Encoding: re-emitted by the proxy
	kConnection            // Connection: hop-by-hop, names more hop-by-hop fields
	kHop                   // Keep-Alive, Proxy-Connection, Proxy-Authenticate, Proxy-Authorization
	kTE                    // TE: only "trailers" is passed on (as httputil does)
	kTrailer               // Trailer: kept only with a chunked body
	kUpgrade               // Upgrade: hands the request off
	kExpect                // Expect: hands the request off
	kForwarded             // Forwarded, X-Forwarded-For/-Host/-Proto: set by the proxy only
	kPrivate               // Fields.Prefix*: spoken between replicas only
	kPrivateHop            // Fields.Hop: a sibling's hop, if trusted (Hooks.Route)
	kReplica               // Fields.Replica (responses: replaced when we add ours)
)

// field is one header line, its name and value sliced from the head bytes
// (the value without surrounding blanks).
type field struct {
	name, value []byte
	kind        kind
}

// head is a parsed request or response head. Its slices point into the
// bytes it was parsed from and are valid only as long as those are.
type head struct {
	// request line
	method, uri []byte
	// status line: the code and everything after it ("200 OK")
	status     int
	statusText []byte

	minor  byte // HTTP/1.minor
	fields []field
	size   int // bytes of the head including the blank line

	contentLength int64 // -1: none
	chunked       bool
	hasTE         bool // any Transfer-Encoding field
	connClose     bool // Connection: close
	connKeepAlive bool // Connection: keep-alive
	hasConnection bool // a Connection field that may name other fields
	hosts         int
	host          []byte
	upgrade       bool
	expect        bool
	hop           bool
	token         []byte // the first Fields.Token value, or nil
	teTrailers    bool
	connect       bool
	inScratch     bool // a response head copied to conn.scratch
}

func (h *head) reset() {
	fields := h.fields[:0]
	*h = head{fields: fields, contentLength: -1}
}

// findHeadEnd returns the length of the head at the start of b (through
// the first empty line, CRLF or bare LF), or -1 when b holds no complete
// head yet; next is where to resume the scan once more bytes arrived (the
// start of the last, incomplete line).
func findHeadEnd(b []byte, from int) (n, next int) {
	i := from
	for {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1, i
		}
		j += i
		// The line that ends at j is empty if it is "" or "\r".
		if j == i || (j == i+1 && b[i] == '\r') {
			return j + 1, i
		}
		i = j + 1
	}
}

// nextLine returns the line at b[i:] without its CRLF or LF and the index
// after it. The caller guarantees a '\n' follows.
func nextLine(b []byte, i int) (line []byte, next int) {
	j := i + bytes.IndexByte(b[i:], '\n')
	line = b[i:j]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, j + 1
}

// parseRequest parses a complete request head (b[:findHeadEnd(b)]),
// classifying the private fields nm names. It returns false for anything
// it does not accept as plainly valid; the caller then lets net/http
// answer it. It never accepts a head that net/http's ReadRequest rejects
// (FuzzParseHead checks this).
func parseRequest(b []byte, h *head, nm *fieldNames) bool {
	h.reset()
	h.size = len(b)
	line, i := nextLine(b, 0)
	// Request line: method SP request-target SP HTTP-version.
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return false
	}
	h.method = line[:sp1]
	rest := line[sp1+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 <= 0 {
		return false
	}
	h.uri, rest = rest[:sp2], rest[sp2+1:]
	if len(h.method) > maxMethodLen || !validToken(h.method) || !validOriginForm(h.uri) {
		return false
	}
	switch string(rest) {
	case "HTTP/1.1":
		h.minor = 1
	case "HTTP/1.0":
		h.minor = 0
	default:
		return false
	}
	h.connect = string(h.method) == "CONNECT"
	if !parseFields(b, i, h, nm) {
		return false
	}
	if h.hosts > 1 || (h.minor == 1 && h.hosts == 0) || (h.hosts == 1 && !validHost(h.host)) {
		return false
	}
	if h.hasTE && (h.minor == 0 || !h.chunked || h.contentLength >= 0) {
		// net/http ignores Transfer-Encoding on HTTP/1.0 and has its own
		// rules for both framings at once: it decides those.
		return false
	}
	return true
}

// parseResponse parses a complete response head from the upstream,
// classifying the private fields nm names. It is laxer than parseRequest
// where net/http's Transport is (bare LF), and strict on framing: a false
// result is a 502.
func parseResponse(b []byte, h *head, nm *fieldNames) bool {
	h.reset()
	h.size = len(b)
	line, i := nextLine(b, 0)
	// Status line: HTTP/1.x SP 3DIGIT [SP reason].
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || line[8] != ' ' {
		return false
	}
	switch line[7] {
	case '0', '1':
		h.minor = line[7] - '0'
	default:
		return false
	}
	code := line[9:12]
	if !isDigit(code[0]) || !isDigit(code[1]) || !isDigit(code[2]) || code[0] == '0' {
		return false
	}
	h.status = int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0')
	if len(line) > 12 && line[12] != ' ' {
		return false
	}
	h.statusText = line[9:]
	if !validValue(h.statusText) {
		return false
	}
	if !parseFields(b, i, h, nm) {
		return false
	}
	if h.hasTE && !h.chunked {
		return false
	}
	return true
}

// parseFields parses the header lines from b[i:] up to the blank line.
func parseFields(b []byte, i int, h *head, nm *fieldNames) bool {
	for {
		line, next := nextLine(b, i)
		i = next
		if len(line) == 0 {
			return true
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return false // no name, or a continuation line (obs-fold)
		}
		name, value := line[:colon], trimBlanks(line[colon+1:])
		if !validToken(name) || !validValue(value) {
			return false
		}
		f := field{name: name, value: value, kind: nm.classify(name)}
		switch f.kind {
		case kHost:
			h.hosts++
			h.host = value
		case kContentLength:
			n, ok := parseContentLength(value)
			if !ok || h.contentLength >= 0 {
				return false // invalid, or more than one
			}
			h.contentLength = n
		case kTransferEncoding:
			if h.hasTE || !equalFold(value, "chunked") {
				return false
			}
			h.hasTE, h.chunked = true, true
		case kConnection:
			h.hasConnection = true
			eachToken(value, func(t []byte) {
				switch {
				case equalFold(t, "close"):
					h.connClose = true
				case equalFold(t, "keep-alive"):
					h.connKeepAlive = true
				}
			})
		case kUpgrade:
			h.upgrade = true
		case kExpect:
			h.expect = true
		case kPrivateHop:
			h.hop = true
		case kPrivate:
			if h.token == nil && equalFold(name, nm.token) {
				h.token = value[:len(value):len(value)]
			}
		case kTE:
			eachToken(value, func(t []byte) {
				if equalFold(t, "trailers") {
					h.teTrailers = true
				}
			})
		}
		h.fields = append(h.fields, f)
	}
}

// classify maps a standard field name to its kind, case-insensitively;
// every other name is kOther.
func classify(name []byte) kind {
	switch len(name) {
	case 2:
		if equalFold(name, "te") {
			return kTE
		}
	case 4:
		if equalFold(name, "host") {
			return kHost
		}
	case 6:
		if equalFold(name, "expect") {
			return kExpect
		}
	case 7:
		if equalFold(name, "upgrade") {
			return kUpgrade
		}
		if equalFold(name, "trailer") {
			return kTrailer
		}
	case 9:
		if equalFold(name, "forwarded") {
			return kForwarded
		}
	case 10:
		if equalFold(name, "connection") {
			return kConnection
		}
		if equalFold(name, "keep-alive") {
			return kHop
		}
	case 14:
		if equalFold(name, "content-length") {
			return kContentLength
		}
	case 15:
		if equalFold(name, "x-forwarded-for") {
			return kForwarded
		}
	case 16:
		if equalFold(name, "proxy-connection") {
			return kHop
		}
		if equalFold(name, "x-forwarded-host") {
			return kForwarded
		}
	case 17:
		if equalFold(name, "transfer-encoding") {
			return kTransferEncoding
		}
		if equalFold(name, "x-forwarded-proto") {
			return kForwarded
		}
	case 18:
		if equalFold(name, "proxy-authenticate") {
			return kHop
		}
	case 19:
		if equalFold(name, "proxy-authorization") {
			return kHop
		}
	}
	return kOther
}

// fieldNames are the private fields a deployment's replicas speak between
// themselves (Config.Fields), lower-case: the parser classifies them by
// these names and knows nothing else of them. The zero value names none.
type fieldNames struct {
	prefix, hop, token, load, replica string
}

func newFieldNames(f Fields) *fieldNames {
	return &fieldNames{
		prefix: strings.ToLower(f.Prefix), hop: strings.ToLower(f.Hop), token: strings.ToLower(f.Token),
		load: strings.ToLower(f.Load), replica: strings.ToLower(f.Replica),
	}
}

// noNames is for parsing where no private field means anything.
var noNames = &fieldNames{}

// classify maps a field name to its kind: a standard one (classify), or
// one of the private names.
func (nm *fieldNames) classify(name []byte) kind {
	k := classify(name)
	if k != kOther || nm.prefix == "" || len(name) < len(nm.prefix) || !equalFold(name[:len(nm.prefix)], nm.prefix) {
		return k
	}
	switch {
	case equalFold(name, nm.hop):
		return kPrivateHop
	case equalFold(name, nm.replica):
		return kReplica
	}
	return kPrivate
}

// namedByConnection reports whether name is listed in one of h's
// Connection fields (RFC 9110 §7.6.1: those are hop-by-hop too).
func (h *head) namedByConnection(name []byte) bool {
	if !h.hasConnection {
		return false
	}
	for k := range h.fields {
		if h.fields[k].kind != kConnection {
			continue
		}
		found := false
		eachToken(h.fields[k].value, func(t []byte) {
			if !found && bytes.EqualFold(t, name) {
				found = true
			}
		})
		if found {
			return true
		}
	}
	return false
}

// eachToken calls fn with each non-empty element of a comma-separated list.
func eachToken(v []byte, fn func([]byte)) {
	for len(v) > 0 {
		var t []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			t, v = v[:i], v[i+1:]
		} else {
			t, v = v, nil
		}
		if t = trimBlanks(t); len(t) > 0 {
			fn(t)
		}
	}
}
