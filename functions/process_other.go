//go:build !unix

package functions

import "os/exec"

// ownGroup: without process groups the kill takes the program only.
func ownGroup(cmd *exec.Cmd) {}
