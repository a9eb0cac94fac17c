package h1

import "bytes"

// bodyFramer follows the framing of one message body (RFC 9112 §6, §7.1)
// through the bytes of a stream as they pass, without copying the data:
// a Content-Length body is counted, a chunked one parsed line by line
// (chunk-size lines, the CRLF after each chunk, trailers), strictly: a
// bare LF, a CR inside a line or an overrunning chunk breaks it. It tells
// where the body ends, so that whoever reads the stream can tell the next
// message from bytes that belong to none.
type bodyFramer struct {
	st         frameState
	left       int64  // bytes left of the body or chunk, or of a chunk's CRLF
	line       []byte // a chunk-size or trailer line being read
	trailer    int    // bytes of trailer section read
	maxTrailer int
}

type frameState uint8

const (
	fDone      frameState = iota // no body, or it ended
	fLength                      // in a Content-Length body (left)
	fChunkLine                   // in a chunk-size line
	fChunkData                   // in chunk data (left)
	fChunkEnd                    // in the CRLF after chunk data (left: 2, 1)
	fTrailer                     // in the trailer section
	fBad                         // the framing broke
)

// start begins a body: length bytes (-1: none given), or chunked.
func (f *bodyFramer) start(length int64, chunked bool) {
	switch {
	case chunked:
		f.st, f.line = fChunkLine, f.line[:0]
	case length > 0:
		f.st, f.left = fLength, length
	default:
		f.st = fDone
	}
}

// inBody reports whether a body is being followed.
func (f *bodyFramer) inBody() bool { return f.st != fDone && f.st != fBad }

// feed follows the body through b and returns how many bytes of b belong
// to it: all of them, or up to its end (fDone), or up to where the framing
// broke (fBad: the bytes of the broken line are not counted).
func (f *bodyFramer) feed(b []byte) int {
	i := 0
	for i < len(b) && f.inBody() {
		switch f.st {
		case fLength, fChunkData:
			k := int(min(f.left, int64(len(b)-i)))
			i += k
			if f.left -= int64(k); f.left == 0 {
				if f.st == fLength {
					f.st = fDone
				} else {
					f.st, f.left = fChunkEnd, 2
				}
			}
		case fChunkEnd:
			want := byte('\n')
			if f.left == 2 {
				want = '\r'
			}
			if b[i] != want {
				f.st = fBad
				return i
			}
			i++
			if f.left--; f.left == 0 {
				f.st, f.line = fChunkLine, f.line[:0]
			}
		case fChunkLine, fTrailer:
			start := i
			j := bytes.IndexByte(b[i:], '\n')
			end := len(b)
			if j >= 0 {
				end = i + j + 1
			}
			f.line = append(f.line, b[i:end]...)
			if f.trailer += end - i; len(f.line) > maxChunkLine || f.trailer > f.maxTrailer {
				f.st = fBad
				return start
			}
			i = end
			if j >= 0 && !f.endLine() {
				f.st = fBad
				return start // the reader gets a line cut short, then the end
			}
		}
	}
	return i
}

// endLine reads a complete chunk-size or trailer line (with its CRLF) in
// f.line and moves on; false when it is malformed.
func (f *bodyFramer) endLine() bool {
	l := f.line
	if cr := bytes.IndexByte(l, '\r'); cr < 0 || cr != len(l)-2 {
		return false // a bare LF, or a CR inside the line
	}
	l = l[:len(l)-2]
	f.line = f.line[:0]
	if f.st == fChunkLine {
		size, ok := parseChunkSize(l)
		switch {
		case !ok:
			return false
		case size == 0:
			f.st, f.trailer = fTrailer, 0
		default:
			f.st, f.left = fChunkData, size
		}
		return true
	}
	if len(l) == 0 {
		f.st = fDone // the end of the trailer section
		return true
	}
	colon := bytes.IndexByte(l, ':')
	return colon > 0 && validToken(l[:colon]) && validValue(l[colon+1:])
}
