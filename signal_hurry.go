package main

import (
	"os"
	"os/signal"
	"syscall"
)

// notifyHurry reports a second Ctrl-C (SIGINT) during the drain: the
// operator wants out now. A repeated SIGTERM is not a hurry: platforms and
// drivers may send it twice, and the drain timeout bounds the wait anyway.
func notifyHurry(ch chan os.Signal) { signal.Notify(ch, syscall.SIGINT) }
