package h1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
)

var errBadChunk = errors.New("h1: malformed chunked encoding")

// Body copies read from a bufio.Reader's buffer straight into a
// bufio.Writer (no third buffer) and flush the writer before they block on
// the reader: the receiver sees every byte as soon as the sender's side
// has nothing more ready, which is what lets a slow stream (server-sent
// events, a large download) flow through without being held back.

// copyN copies exactly n bytes.
func copyN(dst *bufio.Writer, src *bufio.Reader, n int64) error {
	for n > 0 {
		if src.Buffered() == 0 {
			if err := dst.Flush(); err != nil {
				return err
			}
			if _, err := src.Peek(1); err != nil {
				return noEOF(err)
			}
		}
		k := src.Buffered()
		if int64(k) > n {
			k = int(n)
		}
		b, _ := src.Peek(k)
		if _, err := dst.Write(b); err != nil {
			return err
		}
		_, _ = src.Discard(k)
		n -= int64(k)
	}
	return nil
}

// copyEOF copies until src ends.
func copyEOF(dst *bufio.Writer, src *bufio.Reader) error {
	for {
		if src.Buffered() == 0 {
			if err := dst.Flush(); err != nil {
				return err
			}
			if _, err := src.Peek(1); err != nil {
				if err == io.EOF {
					return nil
				}
				return err
			}
		}
		b, _ := src.Peek(src.Buffered())
		if _, err := dst.Write(b); err != nil {
			return err
		}
		_, _ = src.Discard(len(b))
	}
}

// copyChunked copies a chunked body through to its end, trailers
// included (less those forbiddenTrailer names), re-emitting chunk-size
// lines without extensions, so what goes out is unambiguous whatever came
// in. With decode it writes only the data (for an HTTP/1.0 client).
// maxTrailer bounds the trailer section.
func copyChunked(dst *bufio.Writer, src *bufio.Reader, decode bool, maxTrailer int, nm *fieldNames) error {
	for {
		line, err := readLine(dst, src)
		if err != nil {
			return err
		}
		size, ok := parseChunkSize(line)
		if !ok {
			return errBadChunk
		}
		if !decode {
			if dst.Available() < 20 {
				if err := dst.Flush(); err != nil {
					return err
				}
			}
			b := strconv.AppendInt(dst.AvailableBuffer(), size, 16)
			if _, err := dst.Write(append(b, '\r', '\n')); err != nil {
				return err
			}
		}
		if size == 0 {
			break
		}
		if err := copyN(dst, src, size); err != nil {
			return err
		}
		if line, err = readLine(dst, src); err != nil {
			return err
		}
		if len(line) != 0 {
			return errBadChunk
		}
		if !decode {
			if _, err := dst.WriteString("\r\n"); err != nil {
				return err
			}
		}
	}
	for total := 0; ; {
		line, err := readLine(dst, src)
		if err != nil {
			return err
		}
		if len(line) == 0 {
			if !decode {
				_, err = dst.WriteString("\r\n")
			}
			return err
		}
		if total += len(line); total > maxTrailer {
			return errHeadTooLarge
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !validToken(line[:colon]) || !validValue(line[colon+1:]) {
			return errBadChunk
		}
		if !decode && !forbiddenTrailer(line[:colon], nm) {
			_, _ = dst.Write(line)
			if _, err := dst.WriteString("\r\n"); err != nil {
				return err
			}
		}
	}
}

// readLine reads one line of chunked framing (CRLF, not returned); the
// slice is valid until the next read. A line longer than src's buffer, a
// bare LF or a CR elsewhere in the line is errBadChunk: unlike a head, a
// chunked body allows no bare LF (RFC 9112 §7.1, erratum 7633), as
// net/http's reader does not.
func readLine(dst *bufio.Writer, src *bufio.Reader) ([]byte, error) {
	if buf, _ := src.Peek(src.Buffered()); bytes.IndexByte(buf, '\n') < 0 {
		if err := dst.Flush(); err != nil {
			return nil, err
		}
	}
	line, err := src.ReadSlice('\n')
	if err != nil {
		if err == bufio.ErrBufferFull {
			return nil, errBadChunk
		}
		return nil, noEOF(err)
	}
	if cr := bytes.IndexByte(line, '\r'); cr < 0 || cr != len(line)-2 {
		return nil, errBadChunk
	}
	return line[:len(line)-2], nil
}

// parseChunkSize parses "hex[ws][;ext]"; sizes up to 2^60 (15 hex digits).
func parseChunkSize(line []byte) (int64, bool) {
	var n int64
	i := 0
	for ; i < len(line) && isHex(line[i]); i++ {
		if i == 15 {
			return 0, false
		}
		c := line[i]
		switch {
		case c <= '9':
			c -= '0'
		case c >= 'a':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		n = n<<4 | int64(c)
	}
	if i == 0 {
		return 0, false
	}
	rest := trimBlanks(line[i:])
	if len(rest) > 0 && (rest[0] != ';' || !validValue(rest)) {
		return 0, false
	}
	return n, true
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
