//go:build !linux

package app

import "syscall"

func childSysProcAttr() *syscall.SysProcAttr { return nil }
