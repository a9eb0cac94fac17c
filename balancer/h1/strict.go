package h1

import "bytes"

// maxMethodLen bounds a request method. The longest registered methods
// (UPDATEREDIRECTREF, BASELINE-CONTROL) have under 20 bytes; a longer one
// is a probe, answered 400 instead of reaching the app.
const maxMethodLen = 32

// framing is how a request's body is delimited, as checkRequest found it.
type framing struct {
	length  int64 // Content-Length; -1 without one
	chunked bool
	// upgrade: the request asks to switch protocols; if it does, what
	// follows on the connection is not HTTP/1.1.
	upgrade bool
}

// checkRequest is the one strict reading of a complete request head
// (through its blank line) for every request that does not take the fast
// path: it accepts only heads whose framing every HTTP/1.1 parser reads
// alike (RFC 9112 §2.2, §3, §5, §6), and reports how the body is
// delimited. ok false means 400 and a closed connection:
//
//   - a request line of exactly three parts separated by single spaces, a
//     token method of at most maxMethodLen bytes, a target of visible
//     ASCII, and HTTP/1.0 or HTTP/1.1;
//   - lines ending in CRLF or a bare LF (accepted, as net/http and nginx
//     do), never a CR anywhere else;
//   - no line folding (obs-fold), no whitespace between a field name and
//     its colon, token field names, values without control characters;
//   - at most one Content-Length, of digits only; at most one
//     Transfer-Encoding, exactly "chunked", and only in HTTP/1.1; never
//     both (RFC 9112 §6.1: a request smuggling vector);
//   - exactly one Host in HTTP/1.1, at most one in HTTP/1.0.
//
// It knows nothing of mitosis: bytes in, a verdict out.
func checkRequest(b []byte) (f framing, ok bool) {
	f.length = -1
	if bytes.IndexByte(b, '\r') >= 0 && !crOnlyBeforeLF(b) {
		return f, false
	}
	line, i := nextLine(b, 0)
	method, rest, ok1 := bytes.Cut(line, []byte(" "))
	target, version, ok2 := bytes.Cut(rest, []byte(" "))
	if !ok1 || !ok2 || len(method) > maxMethodLen || !validToken(method) || !validTarget(target) {
		return f, false
	}
	var minor byte
	switch string(version) {
	case "HTTP/1.1":
		minor = 1
	case "HTTP/1.0":
	default:
		return f, false
	}
	hosts, tes := 0, 0
	for {
		line, next := nextLine(b, i)
		i = next
		if len(line) == 0 {
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return f, false // no name, or a continuation line (obs-fold)
		}
		name, value := line[:colon], trimBlanks(line[colon+1:])
		if !validToken(name) || !validValue(value) {
			return f, false // whitespace before the colon fails validToken
		}
		switch classify(name) {
		case kHost:
			hosts++
			if !validHost(value) {
				return f, false
			}
		case kContentLength:
			n, valid := parseContentLength(value)
			if !valid || f.length >= 0 {
				return f, false // invalid, or a second one (even if equal)
			}
			f.length = n
		case kTransferEncoding:
			if tes++; tes > 1 || !equalFold(value, "chunked") {
				return f, false
			}
			f.chunked = true
		case kUpgrade:
			f.upgrade = true
		}
	}
	switch {
	case f.chunked && (f.length >= 0 || minor == 0):
		// RFC 9112 §6.1: both framings, or a transfer coding in HTTP/1.0,
		// mean the framing is faulty.
		return f, false
	case hosts > 1 || (minor == 1 && hosts == 0):
		return f, false
	}
	return f, true
}

// crOnlyBeforeLF reports whether every CR in b is followed by LF.
func crOnlyBeforeLF(b []byte) bool {
	for i := 0; i < len(b); i++ {
		if b[i] == '\r' && (i+1 == len(b) || b[i+1] != '\n') {
			return false
		}
	}
	return true
}

// validTarget accepts a request target of visible ASCII: origin-form,
// absolute-form, authority-form (CONNECT) or "*". What the target means is
// for net/http and the app to decide; here it only must not carry bytes
// that other parsers split differently.
func validTarget(t []byte) bool {
	if len(t) == 0 {
		return false
	}
	for _, c := range t {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// forbiddenTrailer reports whether a trailer field must be dropped, not
// passed on: fields that frame or route the message, hop-by-hop fields,
// fields this proxy sets or speaks itself, and fields that describe the
// content or control caching and authentication, which a recipient needs
// before the content (RFC 9110 §6.5.1). A trailer that could change them
// after the fact is a smuggling vector.
func forbiddenTrailer(name []byte, nm *fieldNames) bool {
	if nm.classify(name) != kOther {
		return true
	}
	if len(name) >= 8 && equalFold(name[:8], "content-") {
		return true
	}
	if len(name) >= 3 && equalFold(name[:3], "if-") {
		return true
	}
	for _, s := range forbiddenTrailers {
		if equalFold(name, s) {
			return true
		}
	}
	return false
}

var forbiddenTrailers = [...]string{
	"authorization", "www-authenticate", "cookie", "set-cookie",
	"cache-control", "expires", "pragma", "age", "vary",
	"range", "max-forwards", "location", "retry-after", "date",
}
