package main

import (
	"bytes"
	"io"
	"testing"

	"github.com/creack/pty"
	"github.com/stretchr/testify/require"
)

// runOnTerminal runs the CLI in-process with stdout and stderr on a
// pseudo-terminal and returns what the terminal received.
func runOnTerminal(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	defer ptmx.Close()
	require.NoError(t, pty.Setsize(ptmx, &pty.Winsize{Cols: 100, Rows: 40}))
	var got bytes.Buffer
	read := make(chan struct{})
	go func() { defer close(read); _, _ = io.Copy(&got, ptmx) }()
	code := execute(args, streams{Out: tty, Err: tty})
	tty.Close()
	<-read
	return code, got.String()
}

func TestRunColoursATerminalThroughRedaction(t *testing.T) {
	args := []string{"run", "--models", "reference", "--suite", "smoke", "--sandbox", "plain"}
	for _, tc := range []struct {
		name    string
		noColor string
		extra   []string
		colour  bool
	}{
		{"auto on a terminal", "", nil, true},
		{"NO_COLOR", "1", nil, false},
		{"--color never", "", []string{"--color", "never"}, false},
		{"--color always beats NO_COLOR", "1", []string{"--color", "always"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("NO_COLOR", tc.noColor)
			code, out := runOnTerminal(t, append(append(args, "--out", t.TempDir()), tc.extra...)...)
			require.Equal(t, exitOK, code, out)
			require.Contains(t, out, "reference 5/5")
			require.Equal(t, tc.colour, bytes.Contains([]byte(out), []byte("\x1b[32m")), "green in:\n%s", out)
		})
	}
	code, _, stderr := goatbench(t, "run", "--models", "reference", "--color", "sometimes", "--out", t.TempDir())
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, `unknown --color "sometimes"`)
}
