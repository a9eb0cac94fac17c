package h1

import (
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

// rawSock reads and writes a non-blocking socket with syscall.RawSyscall
// inside syscall.RawConn's Read and Write, which wait on the runtime's
// network poller (deadlines and Close included) when the socket is not
// ready.
//
// Why not net.Conn's Read and Write: they tell the scheduler about every
// system call. With GOMAXPROCS=1 a loopback write that wakes the peer is
// often descheduled inside the kernel; the runtime's monitor then sees the
// only P "blocked in a system call", hands it to another thread and wakes
// that one, and keeps polling every 20 µs while that goes on. Measured
// under wrk: 14,000 monitor wake-ups and about 6,000 futex calls per
// second, and a tenth of the proxy's CPU in switching threads. A read or
// write on a non-blocking socket never blocks, so it may keep the P, as
// nginx keeps its only thread.
type rawSock struct {
	c       net.Conn // for deadlines
	rc      syscall.RawConn
	wc      *wakeClock // told when a read had to wait for the poller
	readFn  func(fd uintptr) bool
	writeFn func(fd uintptr) bool

	// The call in progress (one reader and one writer at a time, as
	// RawConn serialises each side).
	rbuf   []byte
	rn     int
	rerr   syscall.Errno
	rcalls int // of read in this Read: the second follows a wait
	wbuf   []byte
	wn     int
	werr   syscall.Errno

	// waitFill in progress: fill runs inside the poller callback, and
	// Read then reads fd at once instead of waiting.
	fill   func() bool
	fillFn func(fd uintptr) bool
	inFill bool
	fillFd uintptr

	// quiet's peek (a method value made once: a closure would allocate).
	peekFn  func(fd uintptr)
	peekErr syscall.Errno
	peekBuf [1]byte

	// Deadlines armed only when a call has to wait (setReadWait,
	// setWriteWait): nothing is done on a read or write that does not.
	readWait, writeWait time.Duration
	stalled             func()
	rarmed, warmed      bool
}

// wakeTracking: reads that wait are reported to the wakeClock.
const wakeTracking = true

func newRawSock(c net.Conn, wc *wakeClock) *rawSock {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	s := &rawSock{c: c, rc: rc, wc: wc}
	s.readFn = s.read
	s.writeFn = s.write
	s.fillFn = s.fillAt
	s.peekFn = s.peek
	return s
}

func (s *rawSock) read(fd uintptr) bool {
	if s.rcalls++; s.rcalls == 2 && s.wc != nil {
		s.wc.woke()
	}
	for {
		n, e := sysRead(fd, s.rbuf)
		switch e {
		case 0:
			s.rn = int(n)
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			if s.readWait > 0 {
				_ = s.c.SetReadDeadline(time.Now().Add(s.readWait))
				s.rarmed = true
			}
			return false // wait until readable
		default:
			s.rerr = e
			return true
		}
	}
}

// Read reads into p: at least one byte, or io.EOF, or an error.
func (s *rawSock) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if s.inFill {
		return s.readNow(p)
	}
	s.rbuf, s.rn, s.rerr, s.rcalls = p, 0, 0, 0
	err := s.rc.Read(s.readFn)
	s.rbuf = nil
	if s.rarmed {
		// A later read that does not wait must not meet this deadline.
		_ = s.c.SetReadDeadline(time.Time{})
		s.rarmed = false
	}
	if err != nil {
		return 0, err
	}
	return readResult("read", s.rn, s.rerr)
}

// readResult turns what a read system call returned into Read's answer:
// the error, io.EOF for no bytes, or the count.
func readResult(op string, n int, e syscall.Errno) (int, error) {
	switch {
	case e != 0:
		return 0, os.NewSyscallError(op, e)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

func (s *rawSock) write(fd uintptr) bool {
	for s.wn < len(s.wbuf) {
		rest := s.wbuf[s.wn:]
		n, e := sysWrite(fd, rest)
		switch e {
		case 0:
			s.wn += int(n)
		case syscall.EINTR:
		case syscall.EAGAIN:
			if s.stalled != nil {
				s.stalled()
			}
			if s.writeWait > 0 {
				_ = s.c.SetWriteDeadline(time.Now().Add(s.writeWait))
				s.warmed = true
			}
			return false // wait until writable
		default:
			s.werr = e
			return true
		}
	}
	return true
}

// Write writes all of p or returns an error.
func (s *rawSock) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	s.wbuf, s.wn, s.werr = p, 0, 0
	err := s.rc.Write(s.writeFn)
	s.wbuf = nil
	if s.warmed {
		_ = s.c.SetWriteDeadline(time.Time{})
		s.warmed = false
	}
	switch {
	case err != nil:
		return s.wn, err
	case s.werr != 0:
		return s.wn, os.NewSyscallError("write", s.werr)
	}
	return s.wn, nil
}

// waitFill waits for the socket to become readable without holding a read
// buffer while it waits, so that an idle connection costs no buffers. fill
// is called inside the poller's callback, first at once and then whenever
// the poller reports the socket readable; Reads it makes do not wait but
// fail with errWouldBlock. fill returns false to keep waiting (it should
// give its buffers back first) and true when it is done. The system calls
// are those of a plain Read: one read that finds nothing before each wait.
// waitFill returns the poller's error (deadline, Close) or nil.
func (s *rawSock) waitFill(fill func() bool) error {
	s.fill, s.rcalls = fill, 0
	err := s.rc.Read(s.fillFn)
	s.fill = nil
	if s.rarmed {
		_ = s.c.SetReadDeadline(time.Time{})
		s.rarmed = false
	}
	return err
}

func (s *rawSock) fillAt(fd uintptr) bool {
	if s.rcalls++; s.rcalls == 2 && s.wc != nil {
		s.wc.woke()
	}
	s.inFill, s.fillFd = true, fd
	done := s.fill()
	s.inFill = false
	if !done && s.readWait > 0 {
		// A wait like read's (setReadWait).
		_ = s.c.SetReadDeadline(time.Now().Add(s.readWait))
		s.rarmed = true
	}
	return done
}

// readNow reads fd once, inside waitFill's callback.
func (s *rawSock) readNow(p []byte) (int, error) {
	n, e := sysRead(s.fillFd, p)
	for e == syscall.EINTR {
		n, e = sysRead(s.fillFd, p)
	}
	if e == syscall.EAGAIN {
		return 0, errWouldBlock
	}
	return readResult("read", n, e)
}

// waitHangup waits until the socket is readable and reports what is
// there, reading nothing: nil for bytes, io.EOF when the peer closed,
// the reset or the poller's error (deadline, Close) otherwise. It may run
// in another goroutine while the connection's own does not read.
func (s *rawSock) waitHangup() error {
	var n int
	var e syscall.Errno
	err := s.rc.Read(func(fd uintptr) bool {
		var b [1]byte
		n, e = sysPeek(fd, b[:])
		for e == syscall.EINTR {
			n, e = sysPeek(fd, b[:])
		}
		return e != syscall.EAGAIN // else wait until readable
	})
	if err != nil {
		return err
	}
	_, err = readResult("recvfrom", n, e)
	return err
}

// quiet reports whether the socket has nothing to read and is not closed
// by the peer, without waiting and without consuming anything: one
// non-blocking recv with MSG_PEEK.
func (s *rawSock) quiet() bool {
	if err := s.rc.Control(s.peekFn); err != nil {
		return false
	}
	return s.peekErr == syscall.EAGAIN
}

func (s *rawSock) peek(fd uintptr) {
	_, s.peekErr = sysPeek(fd, s.peekBuf[:])
	for s.peekErr == syscall.EINTR {
		_, s.peekErr = sysPeek(fd, s.peekBuf[:])
	}
}

// setReadWait makes every read that has to wait for the peer arm a read
// deadline d ahead (0: none), cleared again once the read returns: the
// deadline bounds the time between two reads that make progress, not a
// whole transfer, and costs nothing while bytes are there.
func (s *rawSock) setReadWait(d time.Duration) { s.readWait = d }

// setWriteWait does the same for writes; stalled, if not nil, is called
// each time a write has to wait because the peer does not read.
func (s *rawSock) setWriteWait(d time.Duration, stalled func()) {
	s.writeWait, s.stalled = d, stalled
}
