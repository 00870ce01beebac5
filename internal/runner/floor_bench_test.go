package runner

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
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

// isolatedFloorAttempt is floorAttempt with the isolation goatbench pays
// for every attempt whatever the harness does: the attempt's own Workspace
// (a size-capped tmpfs run by root) and every command in sandbox.Plain (run by
// root: a uid of its own, the workspace's memory and pids cgroup, rlimits).
// What goatbench spends beyond it is the harness's own work.
func isolatedFloorAttempt(ctx context.Context, root string, t tasks.Task) error {
	ws, err := newWorkspace(root, "floor-", sandbox.DefaultWorkspaceDisk, nil, t, sandbox.Plain{})
	if err != nil {
		return err
	}
	defer ws.Close(false)
	arg := func(s tasks.Step, k string) string { v, _ := s.Args[k].(string); return v }
	for _, s := range t.Reference {
		switch s.Tool {
		case "bash":
			if _, err := ws.Run(ctx, arg(s, "command"), 0); err != nil {
				return err
			}
		case "write_file":
			_ = ws.WriteFile(arg(s, "path"), []byte(arg(s, "content")))
		case "read_file":
			_, _, _ = ws.ReadFile(arg(s, "path"), 1<<20)
		case "list_dir":
			_, _ = ws.ListDir(arg(s, "path"))
		}
	}
	for _, c := range t.Checks {
		switch {
		case c.Command != nil:
			if _, err := ws.Run(ctx, c.Command.Run, 0); err != nil {
				return err
			}
		case c.FileExists != "":
			_ = ws.Exists(c.FileExists)
		case c.FileContains != nil:
			b, _, _ := ws.ReadFile(c.FileContains.Path, 1<<20)
			_ = strings.Contains(string(b), c.FileContains.Text)
		case c.FileUnchanged != "":
			_, _, _ = ws.ReadFile(c.FileUnchanged, 1<<20)
		}
	}
	return nil
}

// BenchmarkSmokeVersusFloor is goatbench's smoke throughput against the
// reference server, unisolated at --parallel 8, over the throughput of the
// same seeding, reference tool calls and check commands done by hand with
// the same parallelism; both arms interleaved in one process. A third arm,
// the isolated floor, does the same by hand with the isolation goatbench
// pays around each attempt and command (see isolatedFloorAttempt), so
// goatbench/isolated-floor is the cost of the harness alone.
//
//	go test ./internal/runner -run '^$' -bench SmokeVersusFloor -benchtime 5x
func BenchmarkSmokeVersusFloor(b *testing.B) {
	suite := smoke(b)
	srv := httptest.NewServer(reference.New(suite))
	defer srv.Close()
	m := Model{Name: "reference", ModelID: reference.ModelID, Client: NewClient(srv.URL+"/v1", "")}
	const repeat = 8
	byHand := func(root string, attempt func(context.Context, string, tasks.Task) error) {
		g, ctx := errgroup.WithContext(context.Background())
		g.SetLimit(8)
		for range repeat {
			for _, t := range suite.Tasks {
				g.Go(func() error { return attempt(ctx, root, t) })
			}
		}
		require.NoError(b, g.Wait())
	}
	arms := []func(){
		func() {
			r, err := New(suite, Options{RunID: "bench", RunDir: b.TempDir(), Parallel: 8, Repeat: repeat, Retry: DefaultRetry, Sandbox: sandbox.Plain{}})
			require.NoError(b, err)
			require.NoError(b, r.RunModel(context.Background(), m))
			require.NoError(b, r.Close())
		},
		func() { byHand(b.TempDir(), floorAttempt) },
		func() {
			// As the harness's: a directory every workspace uid can pass through.
			root, err := os.MkdirTemp("", "goatbench-floor-")
			require.NoError(b, err)
			defer os.RemoveAll(root)
			require.NoError(b, os.Chmod(root, 0o755))
			byHand(root, isolatedFloorAttempt)
		},
	}
	// Per arm: wall and CPU time. The arms take turns going first, so that
	// a change in the machine's load does not always fall on the same one.
	wall, cpu, self := make([]time.Duration, len(arms)), make([]time.Duration, len(arms)), make([]time.Duration, len(arms))
	var vsFloor, vsIsolated []float64 // each round's ratios
	n, round := 0, 0
	for b.Loop() {
		this := make([]time.Duration, len(arms))
		for k := range arms {
			i := (k + round) % len(arms)
			c, s, start := cpuTime(), selfTime(), time.Now()
			arms[i]()
			this[i] = time.Since(start)
			wall[i] += this[i]
			cpu[i] += cpuTime() - c
			self[i] += selfTime() - s
		}
		vsFloor = append(vsFloor, this[1].Seconds()/this[0].Seconds())
		vsIsolated = append(vsIsolated, this[2].Seconds()/this[0].Seconds())
		round++
		n += repeat * len(suite.Tasks)
	}
	harness, floor, isolated := wall[0], wall[1], wall[2]
	harnessCPU, floorCPU, isolatedCPU := cpu[0], cpu[1], cpu[2]
	b.ReportMetric(float64(n)/harness.Seconds(), "goatbench-attempts/s")
	b.ReportMetric(float64(n)/floor.Seconds(), "floor-attempts/s")
	b.ReportMetric(floor.Seconds()/harness.Seconds(), "goatbench/floor")
	b.ReportMetric(float64(n)/isolated.Seconds(), "isolated-floor-attempts/s")
	b.ReportMetric(isolated.Seconds()/harness.Seconds(), "goatbench/isolated-floor")
	// The same ratios round by round, their median: a round is a few
	// seconds, so a change in the machine's load that falls on one arm of
	// one round moves this less than the sums above.
	b.ReportMetric(median(vsFloor), "goatbench/floor-median-round")
	b.ReportMetric(median(vsIsolated), "goatbench/isolated-floor-median-round")
	// Wall time on a shared machine swings with everyone else's load; the
	// CPU both arms spend (this process and the commands it waited for, the
	// in-process reference server included in goatbench's) does much less.
	perAttempt := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) / float64(n) }
	b.ReportMetric(perAttempt(harnessCPU), "goatbench-cpu-ms/attempt")
	b.ReportMetric(perAttempt(floorCPU), "floor-cpu-ms/attempt")
	b.ReportMetric(perAttempt(isolatedCPU), "isolated-floor-cpu-ms/attempt")
	// This process's part of it: the commands cost every arm the same, so
	// what goatbench's arm spends beyond the isolated floor's is here (the
	// harness, and the reference server it talks to).
	b.ReportMetric(perAttempt(self[0]), "goatbench-self-cpu-ms/attempt")
	b.ReportMetric(perAttempt(self[1]), "floor-self-cpu-ms/attempt")
	b.ReportMetric(perAttempt(self[2]), "isolated-floor-self-cpu-ms/attempt")
}

// selfTime is the user and system time of this process alone.
func selfTime() time.Duration { return rusage(syscall.RUSAGE_SELF) }

// cpuTime is the user and system time of this process and of every child
// it has waited for.
func cpuTime() time.Duration {
	return rusage(syscall.RUSAGE_SELF) + rusage(syscall.RUSAGE_CHILDREN)
}

// rusage is who's user and system time, or 0 where it cannot be read.
func rusage(who int) time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(who, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// median is the middle value of xs (the mean of the two middle ones when
// their number is even); xs is sorted in place.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	m := len(xs) / 2
	if len(xs)%2 == 0 {
		return (xs[m-1] + xs[m]) / 2
	}
	return xs[m]
}
