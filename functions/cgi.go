package functions

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
)

// errHeadersTooLarge: the request's CGI environment would pass MaxEnv.
var errHeadersTooLarge = errors.New("functions: request headers too large for a function")

// maxEnvHeaders is the most request headers passed as HTTP_* variables.
const maxEnvHeaders = 100

// skippedHeaders never become HTTP_* variables: the body's own (given as
// CONTENT_TYPE and CONTENT_LENGTH), hop-by-hop fields (RFC 9110 7.6.1),
// and Proxy, whose HTTP_PROXY would set the proxy of HTTP clients in the
// function ("httpoxy", CVE-2016-5385).
var skippedHeaders = map[string]bool{
	"Content-Type": true, "Content-Length": true, "Proxy": true,
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Te": true,
	"Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
}

// requestEnv is the CGI environment (RFC 3875, in spirit) of a request to
// function f, whose body has n bytes. Header policy: a header becomes
// HTTP_<NAME> (upper case, '-' as '_') only if its name is letters, digits
// and '-' (so no name can make another variable or hold '='), it is not
// in skippedHeaders or X-Mitosis-* (the tier's own), and no value holds a
// NUL or line break; others are dropped. Values of one header are joined
// with ", " (Cookie with "; "). Past maxEnvHeaders headers or maxEnv bytes
// in all it returns errHeadersTooLarge: the caller answers 431 and runs
// nothing.
func requestEnv(r *http.Request, f *Function, n int, maxEnv int) ([]string, error) {
	pathInfo := strings.TrimPrefix(r.URL.Path, f.Path)
	script := f.Path
	if f.Path == "/" {
		script, pathInfo = "", r.URL.Path
	}
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil {
		host, port = r.Host, ""
	}
	remote, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		remote = r.RemoteAddr
	}
	env := []string{
		"GATEWAY_INTERFACE=CGI/1.1",
		"SERVER_SOFTWARE=mitosis",
		"SERVER_PROTOCOL=" + r.Proto,
		"SERVER_NAME=" + host,
		"SERVER_PORT=" + port,
		"REQUEST_METHOD=" + r.Method,
		"REQUEST_URI=" + r.URL.RequestURI(),
		"SCRIPT_NAME=" + script,
		"PATH_INFO=" + pathInfo,
		"QUERY_STRING=" + r.URL.RawQuery,
		"REMOTE_ADDR=" + remote,
	}
	if n > 0 || r.Header.Get("Content-Type") != "" {
		env = append(env, "CONTENT_LENGTH="+strconv.Itoa(n), "CONTENT_TYPE="+r.Header.Get("Content-Type"))
	}
	for _, kv := range env {
		if strings.ContainsAny(kv, "\x00") {
			return nil, errHeadersTooLarge // a NUL cannot be in an environment
		}
	}
	size := 0
	for _, kv := range env {
		size += len(kv) + 1
	}
	names := make([]string, 0, len(r.Header))
	for k := range r.Header {
		names = append(names, k)
	}
	slices.Sort(names)
	passed := 0
	for _, k := range names {
		v, ok := headerValue(k, r.Header[k])
		if !ok {
			continue
		}
		passed++
		kv := "HTTP_" + envName(k) + "=" + v
		size += len(kv) + 1
		if passed > maxEnvHeaders || size > maxEnv {
			return nil, errHeadersTooLarge
		}
		env = append(env, kv)
	}
	return env, nil
}

// headerValue applies the header policy: the joined value of header k, or
// false when it must not be passed.
func headerValue(k string, vs []string) (string, bool) {
	if k == "" || len(k) > 64 || skippedHeaders[textproto.CanonicalMIMEHeaderKey(k)] ||
		strings.HasPrefix(strings.ToLower(k), "x-mitosis-") {
		return "", false
	}
	for _, c := range []byte(k) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return "", false
		}
	}
	sep := ", "
	if textproto.CanonicalMIMEHeaderKey(k) == "Cookie" {
		sep = "; "
	}
	v := strings.Join(vs, sep)
	if strings.ContainsAny(v, "\x00\r\n") {
		return "", false
	}
	return v, true
}

// envName turns a checked header name into its variable suffix.
func envName(k string) string {
	b := []byte(strings.ToUpper(k))
	for i, c := range b {
		if c == '-' {
			b[i] = '_'
		}
	}
	return string(b)
}

// maxHeaderBlock caps the header block at the start of a function's output.
const maxHeaderBlock = 16 << 10

// droppedResponseHeaders are never taken from a function's header block:
// framing is mitosis's (it sets Content-Length), hop-by-hop fields are
// per connection, and X-Mitosis-* are the tier's.
var droppedResponseHeaders = map[string]bool{
	"Content-Length": true, "Transfer-Encoding": true, "Connection": true, "Keep-Alive": true,
	"Proxy-Connection": true, "Te": true, "Trailer": true, "Upgrade": true, "Status": true,
}

// errBadHeaderBlock: the output starts like a header block but is not one.
var errBadHeaderBlock = errors.New("functions: malformed header block in the function's output")

// parseOutput splits a function's stdout into a response. If it starts
// with a "Status:" or "Content-Type:" line (any case), the lines up to the
// first empty line are header fields (CGI style: "Status: 404 Not Found",
// "Location: /" alone means 302); otherwise all of it is a 200 text/plain
// body.
func parseOutput(out []byte) (status int, h http.Header, body []byte, err error) {
	h = http.Header{}
	if !startsWithFold(out, "status:") && !startsWithFold(out, "content-type:") {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		return http.StatusOK, h, out, nil
	}
	status = http.StatusOK
	sawStatus := false
	rest := out
	for i := 0; ; i++ {
		line, after, found := bytes.Cut(rest, []byte("\n"))
		if !found || len(out)-len(after) > maxHeaderBlock {
			return 0, nil, nil, fmt.Errorf("%w: no empty line ends it within %d bytes", errBadHeaderBlock, maxHeaderBlock)
		}
		rest = after
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		k := textproto.CanonicalMIMEHeaderKey(string(name))
		v := strings.TrimSpace(string(value))
		if !ok || !validFieldName(name) || !validFieldValue(v) {
			return 0, nil, nil, fmt.Errorf("%w: line %d", errBadHeaderBlock, i+1)
		}
		switch {
		case k == "Status":
			code, _, _ := strings.Cut(v, " ")
			n, err := strconv.Atoi(code)
			if err != nil || len(code) != 3 || n < 200 || n > 599 {
				return 0, nil, nil, fmt.Errorf("%w: Status %q must be a code in [200; 599]", errBadHeaderBlock, v)
			}
			status, sawStatus = n, true
		case droppedResponseHeaders[k] || strings.HasPrefix(k, "X-Mitosis-"):
		default:
			h.Add(k, v)
		}
	}
	if h.Get("Location") != "" && !sawStatus {
		status = http.StatusFound
	}
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "text/plain; charset=utf-8")
	}
	return status, h, rest, nil
}

func startsWithFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && strings.EqualFold(string(b[:len(prefix)]), prefix)
}

// validFieldName: a header name of letters, digits and '-' only.
func validFieldName(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// validFieldValue: no control characters but tab (RFC 9110 5.5).
func validFieldValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
