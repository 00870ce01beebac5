package sandbox

import (
	"context"
	"os/exec"
)

// Plain runs commands directly on the host as the invoking user, in their own
// process group, with nothing of goatbench's environment but a minimal PATH and
// locale, and with Limits. It is the fallback where bubblewrap does not work:
// a command can still read and write whatever the user can, reach the network,
// and keep a process alive by leaving its process group (setsid).
//
// RLIMIT_NPROC counts every process of the user, not only the command's (and
// the kernel does not apply it to root at all), so Plain sets it to the
// processes running on the machine plus Limits.Processes: a fork bomb is
// stopped before it exhausts the machine, not at Limits.Processes.
type Plain struct {
	Limits Limits // zero fields take DefaultLimits
}

// Mode names the sandbox in run.json and reports.
func (Plain) Mode() string { return ModePlain }

// Run runs c and returns its result.
func (p Plain) Run(ctx context.Context, c Command) (Result, error) {
	l := p.Limits.withDefaults()
	procs := int64(l.Processes)
	if procs >= 0 {
		procs += tasksOnMachine()
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = l.Timeout
	}
	return run(ctx, c, l, spec{
		cmd:    exec.Command(bash(), "-c", c.Script),
		env:    Env(c.Dir, c.Dir),
		ulimit: l.ulimit(timeout, procs),
	})
}
