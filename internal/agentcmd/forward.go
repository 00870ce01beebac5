package agentcmd

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"
)

// ForwardCommand is the hidden goatbench subcommand that runs ForwardMain.
const ForwardCommand = "agent-forward"

// ForwardMain is the small program goatbench runs inside the sandbox in front
// of an agent (`goatbench agent-forward`, the goatbench binary bound
// read-only). It does two things the sandbox cannot do from outside:
//
//   - Network. Under bubblewrap the agent has a network namespace of its own
//     with only a loopback, so it can reach nothing of the host. With
//     --socket, ForwardMain listens on --listen (127.0.0.1:PORT of that
//     loopback) and joins every connection to the proxy's Unix socket, bound
//     into the sandbox. The agent reaches the proxy and nothing else: no host
//     port, no other socket, no internet. A socket bound in, rather than a
//     shared network, keeps the kernel's isolation whole, and a TCP endpoint
//     inside is what every OpenAI client can use (few speak HTTP over a Unix
//     socket).
//   - Time. It runs the agent (the arguments after --) in its process group
//     and, at --timeout, sends SIGTERM to the group, then SIGKILL after
//     --grace: bwrap passes no signal on to the processes it sandboxes, so a
//     graceful stop has to start inside.
//
// In bwrap mode the PID namespace ends with this process and takes every
// process left in it; in plain mode an agent's process that left its group
// (setsid) can outlive it, as Plain documents.
//
// The exit code is the agent's (128+signal when a signal ended it), 124 when
// it stopped at the timeout, 125 when ForwardMain itself failed.
func ForwardMain(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet(ForwardCommand, flag.ContinueOnError)
	fs.SetOutput(stderr)
	socket := fs.String("socket", "", "the proxy's Unix socket")
	listen := fs.String("listen", "127.0.0.1:4000", "where the agent connects, with --socket")
	timeout := fs.Duration("timeout", 0, "stop the agent after this long (0: never)")
	grace := fs.Duration("grace", 5*time.Second, "between SIGTERM and SIGKILL")
	if err := fs.Parse(args); err != nil {
		return 125
	}
	argv := fs.Args()
	if len(argv) == 0 {
		fmt.Fprintln(stderr, "goatbench agent-forward: no command after --")
		return 125
	}
	if *socket != "" {
		ln, err := net.Listen("tcp", *listen)
		if err != nil {
			fmt.Fprintf(stderr, "goatbench agent-forward: %v\n", err)
			return 125
		}
		defer ln.Close()
		go serve(ln, *socket)
	}

	// Stopped from outside (plain mode), pass the signal on. A handled
	// signal is reset to its default in the child at exec.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// A group of its own, so that the agent and all it starts can be
	// signalled, and killed when it ends, without this process.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "goatbench agent-forward: %v\n", err)
		return 125
	}
	group := -cmd.Process.Pid
	defer syscall.Kill(group, syscall.SIGKILL) // whatever the agent left behind
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var deadline <-chan time.Time
	if *timeout > 0 {
		t := time.NewTimer(*timeout)
		defer t.Stop()
		deadline = t.C
	}
	timedOut := false
	for {
		select {
		case err := <-exited:
			if timedOut {
				return 124
			}
			return exitCode(cmd, err)
		case <-sigs:
			_ = syscall.Kill(group, syscall.SIGTERM)
		case <-deadline:
			timedOut = true
			fmt.Fprintf(stderr, "goatbench: the agent ran past its timeout (%s): SIGTERM, then SIGKILL after %s\n", *timeout, *grace)
			_ = syscall.Kill(group, syscall.SIGTERM)
			deadline = nil
			go func() {
				time.Sleep(*grace)
				_ = syscall.Kill(group, syscall.SIGKILL)
			}()
		}
	}
}

func exitCode(cmd *exec.Cmd, err error) int {
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return 125
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return cmd.ProcessState.ExitCode()
}

// serve joins every connection on ln to a new connection to the socket.
func serve(ln net.Listener, socket string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			u, err := net.Dial("unix", socket)
			if err != nil {
				return
			}
			defer u.Close()
			done := make(chan struct{}, 2)
			pipe := func(dst, src net.Conn) {
				_, _ = io.Copy(dst, src)
				if cw, ok := dst.(interface{ CloseWrite() error }); ok {
					_ = cw.CloseWrite()
				}
				done <- struct{}{}
			}
			go pipe(u, c)
			go pipe(c, u)
			<-done
			<-done
		}()
	}
}
