package matrix_test

import (
	"os/exec"
	"syscall"
)

// dieWithTest makes the homeserver die with the test binary, even when a
// panic skips the test's cleanup.
func dieWithTest(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
