//go:build linux && race

package h1

import "syscall"

// Under the race detector the raw path uses syscall.Read and Write: the
// same system calls, plus the annotations that let the detector see a
// write to a socket happen before the read of those bytes at the other
// end (RawSyscall has none, and every test would report the data the two
// sides share as a race).
func sysRead(fd uintptr, p []byte) (int, syscall.Errno) {
	n, err := syscall.Read(int(fd), p)
	return max(n, 0), errno(err)
}

func sysWrite(fd uintptr, p []byte) (int, syscall.Errno) {
	n, err := syscall.Write(int(fd), p)
	return max(n, 0), errno(err)
}

// errno: syscall.Read and Write return a bare syscall.Errno.
func errno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	if e, ok := err.(syscall.Errno); ok {
		return e
	}
	return syscall.EIO
}

func sysPeek(fd uintptr, p []byte) (int, syscall.Errno) {
	n, _, err := syscall.Recvfrom(int(fd), p, syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return max(n, 0), errno(err)
}
