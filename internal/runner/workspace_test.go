package runner

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/bench/tasks"
	"github.com/goatbench/goatbench/internal/sandbox"
)

func newTestWorkspace(t *testing.T, setup ...tasks.File) *Workspace {
	t.Helper()
	w, err := NewWorkspace(t.TempDir(), tasks.Task{ID: "t", Setup: setup}, sandbox.Plain{})
	require.NoError(t, err)
	t.Cleanup(func() { w.Close(false) })
	return w
}

func TestWorkspaceSeedsAndConfines(t *testing.T) {
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret.txt")
	require.NoError(t, os.WriteFile(secret, []byte("top secret"), 0o600))

	w := newTestWorkspace(t, tasks.File{Path: "a/b.txt", Content: "seed"})
	b, _, err := w.ReadFile("a/b.txt", 100)
	require.NoError(t, err)
	require.Equal(t, "seed", string(b))
	require.NoError(t, os.Symlink(outside, filepath.Join(w.Dir, "link-dir")))
	require.NoError(t, os.Symlink(secret, filepath.Join(w.Dir, "link-file")))
	rel, err := filepath.Rel(w.Dir, secret)
	require.NoError(t, err)

	for _, p := range []string{"../secret.txt", rel, secret, "/etc/passwd", "link-file", "link-dir/secret.txt", "a/../../x"} {
		t.Run("read "+p, func(t *testing.T) {
			_, _, err := w.ReadFile(p, 100)
			require.Error(t, err)
		})
		t.Run("write "+p, func(t *testing.T) {
			require.Error(t, w.WriteFile(p, []byte("pwned")))
		})
		t.Run("list "+p, func(t *testing.T) {
			_, err := w.ListDir(p)
			require.Error(t, err)
		})
	}
	got, err := os.ReadFile(secret)
	require.NoError(t, err)
	require.Equal(t, "top secret", string(got), "nothing outside was written")
	entries, err := os.ReadDir(outside)
	require.NoError(t, err)
	require.Len(t, entries, 1)
}

func TestToolsThroughTheWorkspace(t *testing.T) {
	w := newTestWorkspace(t)
	ctx := context.Background()
	out, err := callTool(ctx, w, "write_file", `{"path":"d/x.txt","content":"hello"}`)
	require.NoError(t, err)
	require.Equal(t, "wrote 5 bytes to d/x.txt", out)
	out, err = callTool(ctx, w, "read_file", `{"path":"d/x.txt"}`)
	require.NoError(t, err)
	require.Equal(t, "hello", out)
	out, err = callTool(ctx, w, "list_dir", `{"path":"."}`)
	require.NoError(t, err)
	require.Equal(t, "d/", out)
	out, err = callTool(ctx, w, "bash", `{"command":"cat d/x.txt; exit 4"}`)
	require.NoError(t, err)
	require.Equal(t, "hello\n[exit code 4]", out)
	out, err = callTool(ctx, w, "read_file", `{"path":"../../etc/passwd"}`)
	require.NoError(t, err, "a refused path is the model's problem, not a crash")
	require.Contains(t, out, "error:")

	for _, bad := range []struct{ name, args string }{
		{"rm_rf", `{}`}, {"bash", `{"command":`}, {"bash", `[1,2]`}, {"bash", `{"cmd":"ls"}`}, {"write_file", `{"path":"x"}`},
	} {
		out, err := callTool(ctx, w, bad.name, bad.args)
		require.ErrorIs(t, err, errBadCall, "%s %s", bad.name, bad.args)
		require.Contains(t, out, "error:")
	}
}

func TestToolOutputIsTruncatedVisibly(t *testing.T) {
	w := newTestWorkspace(t)
	out, err := callTool(context.Background(), w, "bash", `{"command":"head -c 100000 /dev/zero | tr '\\0' y"}`)
	require.NoError(t, err)
	require.LessOrEqual(t, len(out), toolOutputCap+200)
	tail := out[toolOutputCap:]
	require.Contains(t, tail, "[... truncated ")
	require.Contains(t, tail, "more bytes of output dropped ...]")
	require.True(t, strings.HasSuffix(tail, "[exit code 0]"), tail)
}

func TestContainsWord(t *testing.T) {
	for _, tc := range []struct {
		text, word string
		want       bool
	}{
		{"the answer is 391.", "391", true},
		{"391", "391", true},
		{"3910", "391", false},
		{"1391", "391", false},
		{"x391y", "391", false},
		{"it is notes/meadow.txt", "meadow.txt", true},
		{"MEADOW.TXT", "meadow.txt", true},
		{"meadow.txt2", "meadow.txt", false},
		{"", "391", false},
	} {
		require.Equal(t, tc.want, containsWord(tc.text, tc.word), "%q in %q", tc.word, tc.text)
	}
}

// A model can leave a FIFO or a huge file where a tool or a check expects a
// file: neither may hang the attempt or load the whole file.
func TestSpecialAndHugeFiles(t *testing.T) {
	w := newTestWorkspace(t, tasks.File{Path: "kept.txt", Content: "seed"})
	require.NoError(t, syscall.Mkfifo(filepath.Join(w.Dir, "pipe"), 0o644))
	require.NoError(t, os.Remove(filepath.Join(w.Dir, "kept.txt")))
	require.NoError(t, syscall.Mkfifo(filepath.Join(w.Dir, "kept.txt"), 0o644))
	big, err := os.Create(filepath.Join(w.Dir, "big"))
	require.NoError(t, err)
	require.NoError(t, big.Truncate(1<<30))
	require.NoError(t, big.Close())

	done := make(chan struct{})
	go func() {
		defer close(done)
		ctx := context.Background()
		for _, call := range []struct{ tool, args string }{
			{"read_file", `{"path":"pipe"}`}, {"write_file", `{"path":"pipe","content":"x"}`}, {"list_dir", `{"path":"pipe"}`},
		} {
			out, err := callTool(ctx, w, call.tool, call.args)
			require.NoError(t, err)
			require.Contains(t, out, "error:", call.tool)
		}
		out, err := callTool(ctx, w, "read_file", `{"path":"big"}`)
		require.NoError(t, err)
		require.Len(t, out, toolOutputCap+len("\n[... truncated: the file is longer ...]"))
		unchanged, err := Evaluate(ctx, w, tasks.Task{Checks: []tasks.Check{{FileUnchanged: "kept.txt"}, {FileContains: &tasks.FileText{Path: "pipe", Text: "x"}}}}, "")
		require.NoError(t, err)
		require.False(t, unchanged[0].Pass)
		require.False(t, unchanged[1].Pass)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("a tool or a check blocked on a FIFO")
	}
}
