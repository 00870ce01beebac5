package runner

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/goatbench/goatbench/bench/tasks"
	"github.com/goatbench/goatbench/internal/reference"
	"github.com/goatbench/goatbench/internal/sandbox"
)

// floorAttempt does by hand what an attempt's commands do, with no harness:
// seed the setup files, carry out the reference tool calls, run the check
// commands (with the environment goatbench gives them), remove the folder.
func floorAttempt(ctx context.Context, root string, t tasks.Task) error {
	dir, err := os.MkdirTemp(root, "floor-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	for _, f := range t.Setup {
		p := filepath.Join(dir, f.Path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		mode := os.FileMode(f.Mode)
		if mode == 0 {
			mode = 0o644
		}
		if err := os.WriteFile(p, []byte(f.Content), mode); err != nil {
			return err
		}
	}
	arg := func(s tasks.Step, k string) string { v, _ := s.Args[k].(string); return v }
	for _, s := range t.Reference {
		switch s.Tool {
		case "bash":
			c := exec.CommandContext(ctx, "bash", "-c", arg(s, "command"))
			c.Dir, c.Env = dir, sandbox.Env(dir, dir)
			_, _ = c.CombinedOutput()
		case "write_file":
			p := filepath.Join(dir, arg(s, "path"))
			_ = os.MkdirAll(filepath.Dir(p), 0o755)
			_ = os.WriteFile(p, []byte(arg(s, "content")), 0o644)
		case "read_file":
			_, _ = os.ReadFile(filepath.Join(dir, arg(s, "path")))
		case "list_dir":
			_, _ = os.ReadDir(filepath.Join(dir, arg(s, "path")))
		}
	}
	for _, c := range t.Checks {
		switch {
		case c.Command != nil:
			cmd := exec.CommandContext(ctx, "bash", "-c", c.Command.Run)
			cmd.Dir, cmd.Env = dir, sandbox.Env(dir, dir)
			_, _ = cmd.CombinedOutput()
		case c.FileExists != "":
			_, _ = os.Stat(filepath.Join(dir, c.FileExists))
		case c.FileContains != nil:
			b, _ := os.ReadFile(filepath.Join(dir, c.FileContains.Path))
			_ = strings.Contains(string(b), c.FileContains.Text)
		case c.FileUnchanged != "":
			_, _ = os.ReadFile(filepath.Join(dir, c.FileUnchanged))
		}
	}
	return nil
}

// BenchmarkSmokeVersusFloor is goatbench's smoke throughput against the
// reference server, unisolated at --parallel 8, over the throughput of the
// same seeding, reference tool calls and check commands done by hand with
// the same parallelism; both arms interleaved in one process.
//
//	go test ./internal/runner -run '^$' -bench SmokeVersusFloor -benchtime 5x
func BenchmarkSmokeVersusFloor(b *testing.B) {
	suite := smoke(b)
	srv := httptest.NewServer(reference.New(suite))
	defer srv.Close()
	m := Model{Name: "reference", ModelID: reference.ModelID, Client: NewClient(srv.URL+"/v1", "")}
	const repeat = 8
	var harness, floor time.Duration
	n := 0
	for b.Loop() {
		start := time.Now()
		r, err := New(suite, Options{RunID: "bench", RunDir: b.TempDir(), Parallel: 8, Repeat: repeat, Retry: DefaultRetry, Sandbox: sandbox.Plain{}})
		require.NoError(b, err)
		require.NoError(b, r.RunModel(context.Background(), m))
		require.NoError(b, r.Close())
		harness += time.Since(start)

		root := b.TempDir()
		start = time.Now()
		g, ctx := errgroup.WithContext(context.Background())
		g.SetLimit(8)
		for range repeat {
			for _, t := range suite.Tasks {
				g.Go(func() error { return floorAttempt(ctx, root, t) })
			}
		}
		require.NoError(b, g.Wait())
		floor += time.Since(start)
		n += repeat * len(suite.Tasks)
	}
	b.ReportMetric(float64(n)/harness.Seconds(), "goatbench-attempts/s")
	b.ReportMetric(float64(n)/floor.Seconds(), "floor-attempts/s")
	b.ReportMetric(floor.Seconds()/harness.Seconds(), "goatbench/floor")
}
