package sandbox

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkCommand measures what one command costs in each mode and what
// bubblewrap adds to it. The modes alternate within one loop so that all see
// the same load on the machine. "bwrap" is the way taken for a workspace in
// the system temp dir (the runner's default); "bwrap-setpriv" the way taken,
// as root, for one behind a private directory.
//
//	go test ./internal/sandbox -run '^$' -bench Command -benchtime 200x
func BenchmarkCommand(b *testing.B) {
	modes := []struct {
		name string
		sb   Sandbox
	}{{"plain", Plain{}}, {"bwrap", needBwrap(b, Limits{})}}
	if bw := needBwrap(b, Limits{}); bw.root && bw.setpriv != "" && !bw.noUserns {
		bw.noUserns = true
		modes = append(modes, struct {
			name string
			sb   Sandbox
		}{"bwrap-setpriv", bw})
	}
	for _, bc := range []struct{ name, script string }{
		{"true", "true"},
		{"python3", "python3 -c pass"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			dirs := make([]string, len(modes)) // one sandbox per workspace, as in a run
			for i := range dirs {
				dirs[i] = workspace(b)
			}
			sums := make([]time.Duration, len(modes))
			for b.Loop() {
				for i, m := range modes {
					start := time.Now()
					res, err := m.sb.Run(context.Background(), Command{Dir: dirs[i], Script: bc.script})
					sums[i] += time.Since(start)
					if err != nil || res.ExitCode != 0 {
						b.Fatalf("%s: %v %d %s", m.name, err, res.ExitCode, res.Output)
					}
				}
			}
			ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) / float64(b.N) }
			for i, m := range modes {
				b.ReportMetric(ms(sums[i]), m.name+"-ms/cmd")
				if i > 0 {
					b.ReportMetric(ms(sums[i]-sums[0]), m.name+"-added-ms/cmd")
				}
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkWorkspace measures what bubblewrap adds to a whole workspace of n
// commands ("true"), from its first command to its release, in wall time and
// in the machine's CPU time (see machineCPU). Each workspace is warmed, as
// the runner's agent does (see Warmer), and its first command comes 30 ms
// later, as after a model's first reply (the tiny llama-server's takes 80
// ms; a real model's longer): the pause is not counted in the wall time,
// and its CPU is; what Warm takes before it returns is counted in both. "bwrap" is a run's way: run by root, a workspace takes
// over the session the one before left idle (see slot), so after a run's
// first workspaces none starts one. "fresh" starts a session for every
// workspace, as a run's first ones do and as every one does run by anyone
// else. "cold" is "fresh" not warmed, as for a command that comes at once.
// Run by root, a warmed workspace's commands end sooner than plain's: the
// first of plain's pays for its uid's cgroups (on cgroup v1, a move into
// them after a pause waits for an RCU grace period), which a warmed
// session paid while the model thought. The init is goatbench's own binary, built for the benchmark as the
// workflows build it (CGO_ENABLED=0), not the test's: how soon a binary
// starts depends on all it links (see pid1).
//
//	go test ./internal/sandbox -run '^$' -bench Workspace -benchtime 50x
func BenchmarkWorkspace(b *testing.B) {
	initBinary = goatbenchBinary(b)
	defer func() { initBinary = "/proc/self/exe" }()
	fresh, cold := needBwrap(b, Limits{}), needBwrap(b, Limits{})
	fresh.keep, cold.keep = 0, 0
	modes := []struct {
		name string
		sb   Sandbox
		warm bool
	}{{"plain", Plain{}, false}, {"bwrap", needBwrap(b, Limits{}), true}, {"fresh", fresh, true}, {"cold", cold, false}}
	const think = 30 * time.Millisecond
	for _, n := range []int{1, 2, 3, 10} {
		b.Run(fmt.Sprintf("commands=%d", n), func(b *testing.B) {
			sums, cpus := make([]time.Duration, len(modes)), make([]time.Duration, len(modes))
			for b.Loop() {
				for i, m := range modes {
					dir := workspace(b)
					c0, asked := machineCPU(b), time.Now()
					if w, ok := m.sb.(Warmer); ok && m.warm {
						w.Warm(dir)
					}
					warming := time.Since(asked) // the runner waits for Warm's own part
					time.Sleep(think)
					start := time.Now().Add(-warming)
					for range n {
						res, err := m.sb.Run(context.Background(), Command{Dir: dir, Script: "true"})
						if err != nil || res.ExitCode != 0 {
							b.Fatalf("%s: %v %d %s", m.name, err, res.ExitCode, res.Output)
						}
					}
					if r, ok := m.sb.(Releaser); ok {
						if err := r.Release(dir); err != nil {
							b.Fatal(err)
						}
					}
					sums[i] += time.Since(start)
					cpus[i] += machineCPU(b) - c0
				}
			}
			ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) / float64(b.N) }
			b.ReportMetric(ms(sums[0]), "plain-ms/workspace")
			for i, m := range modes[1:] {
				b.ReportMetric(ms(cpus[i+1]-cpus[0]), m.name+"-added-cpu-ms/workspace")
				b.ReportMetric(ms(sums[i+1]-sums[0]), m.name+"-added-ms/workspace")
				b.ReportMetric(ms(sums[i+1]-sums[0])/float64(n), m.name+"-added-ms/cmd")
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}

// goatbenchBinary builds goatbench's binary for a benchmark.
func goatbenchBinary(b *testing.B) string {
	bin := filepath.Join(b.TempDir(), "goatbench")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/goatbench/goatbench/cmd/goatbench")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// BenchmarkSpacedCommand measures a command ("true") that comes 100 ms after
// the one before, as after a model's turn (the pause is not counted), in
// each mode, from a workspace's third command on. Run by root on cgroup v1,
// a command that moved itself into its workspace's cgroups waited here for
// an RCU grace period whenever no move came just before; one born there
// (see attemptCgroup) does not.
//
//	go test ./internal/sandbox -run '^$' -bench SpacedCommand -benchtime 20x
func BenchmarkSpacedCommand(b *testing.B) {
	modes := []struct {
		name string
		sb   Sandbox
	}{{"plain", Plain{}}, {"bwrap", needBwrap(b, Limits{})}}
	dirs := make([]string, len(modes))
	for i, m := range modes {
		dirs[i] = workspace(b)
		for range 3 {
			if _, err := m.sb.Run(context.Background(), Command{Dir: dirs[i], Script: "true"}); err != nil {
				b.Fatal(err)
			}
		}
		if r, ok := m.sb.(Releaser); ok {
			b.Cleanup(func() { _ = r.Release(dirs[i]) })
		}
	}
	sums := make([]time.Duration, len(modes))
	for b.Loop() {
		for i, m := range modes {
			time.Sleep(100 * time.Millisecond)
			start := time.Now()
			res, err := m.sb.Run(context.Background(), Command{Dir: dirs[i], Script: "true"})
			sums[i] += time.Since(start)
			if err != nil || res.ExitCode != 0 {
				b.Fatalf("%s: %v %d %s", m.name, err, res.ExitCode, res.Output)
			}
		}
	}
	for i, m := range modes {
		b.ReportMetric(float64(sums[i])/float64(time.Millisecond)/float64(b.N), m.name+"-ms/cmd")
	}
	b.ReportMetric(0, "ns/op")
}

// machineCPU is the time the machine's CPUs spent busy (/proc/stat: user,
// nice, system, irq and softirq, in ticks of 10 ms), so a benchmark needs
// many rounds and an otherwise idle machine. goatbench's own RUSAGE_CHILDREN
// would not do for bwrap mode: it misses much of what bwrap's processes
// spend (here it showed 1.6 ms added by a command's own bwrap where the
// machine spent 6.5 ms more).
func machineCPU(b *testing.B) time.Duration {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		b.Fatal(err)
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq ...
	if len(f) < 8 || f[0] != "cpu" {
		b.Fatalf("/proc/stat: %q", line)
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7} {
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			b.Fatalf("/proc/stat: %q", line)
		}
		ticks += v
	}
	return time.Duration(ticks) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}
