package engine

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/bench/tasks"
	"github.com/goatbench/goatbench/internal/deploy"
	"github.com/goatbench/goatbench/internal/reference"
	"github.com/goatbench/goatbench/internal/results"
)

func TestParseShard(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want results.Shard
		err  bool
	}{
		{"", results.Shard{}, false},
		{"1/1", results.Shard{Index: 1, Count: 1}, false},
		{"3/4", results.Shard{Index: 3, Count: 4}, false},
		{"0/4", results.Shard{}, true},
		{"5/4", results.Shard{}, true},
		{"1/0", results.Shard{}, true},
		{"2", results.Shard{}, true},
		{"a/b", results.Shard{}, true},
		{"-1/2", results.Shard{}, true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseShard(tc.in)
			if tc.err {
				require.ErrorContains(t, err, "--shard must be i/n")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestShardOfSplitsEveryAttemptOnce(t *testing.T) {
	for _, tc := range []struct {
		models, tasks []string
		repeat, n     int
	}{
		{[]string{"b", "a"}, []string{"t2", "t1", "t3"}, 3, 2},
		{[]string{"b", "a", "c"}, []string{"t1", "t2"}, 1, 3},
		{[]string{"a"}, []string{"t1", "t2", "t3", "t4", "t5"}, 3, 4},
		{[]string{"m1", "m2", "m3", "m4", "m5", "m6"}, []string{"x", "y"}, 3, 6},
		{[]string{"a", "b"}, []string{"t"}, 1, 2},
	} {
		t.Run(fmt.Sprintf("%d×%d×%d in %d", len(tc.models), len(tc.tasks), tc.repeat, tc.n), func(t *testing.T) {
			all := len(tc.models) * len(tc.tasks) * tc.repeat
			whole := results.ShardOf(results.Shard{}, tc.models, tc.tasks, tc.repeat)
			require.Len(t, whole, all)
			seen := map[string]int{}
			var sizes []int
			for i := 1; i <= tc.n; i++ {
				s := results.Shard{Index: i, Count: tc.n}
				own := results.ShardOf(s, tc.models, tc.tasks, tc.repeat)
				// Another machine lists the models and tasks in another order:
				// it must compute the same share.
				again := results.ShardOf(s, reversed(tc.models), reversed(tc.tasks), tc.repeat)
				require.Equal(t, own, again, "shard %s depends on the order of the names", s)
				for k := range own {
					require.True(t, whole[k])
					seen[k]++
				}
				sizes = append(sizes, len(own))
			}
			require.Len(t, seen, all, "every attempt is in a shard")
			for k, n := range seen {
				require.Equal(t, 1, n, "%q is in %d shards", k, n)
			}
			require.LessOrEqual(t, slices.Max(sizes)-slices.Min(sizes), 1, "shards are near-equal: %v", sizes)
			if len(tc.models) == tc.n {
				for i := 1; i <= tc.n; i++ {
					models := map[string]bool{}
					for k := range results.ShardOf(results.Shard{Index: i, Count: tc.n}, tc.models, tc.tasks, tc.repeat) {
						model, _, _ := strings.Cut(k, "\x00")
						models[model] = true
					}
					require.Len(t, models, 1, "as many shards as models: one model per shard")
				}
			}
		})
	}
}

func reversed(s []string) []string {
	r := slices.Clone(s)
	slices.Reverse(r)
	return r
}

func TestAShardRunsAndDeploysOnlyItsShare(t *testing.T) {
	qwen, llama := modalTarget(t, "qwen3-4b"), modalTarget(t, "llama-3.1-8b")
	for _, tc := range []struct {
		shard results.Shard
		model string
	}{
		{results.Shard{Index: 1, Count: 2}, llama.Name}, // sorted: llama before qwen
		{results.Shard{Index: 2, Count: 2}, qwen.Name},
	} {
		t.Run(tc.shard.String(), func(t *testing.T) {
			f := newFixture(t, Plan{Suite: noteSuite(t, 2), Targets: []Target{qwen, llama}, Repeat: 2, Agent: writer{}, Shard: tc.shard})
			f.dep.ready["qwen3-4b"] = deploy.Endpoint{URL: "http://qwen.invalid"}
			f.dep.ready["llama-3.1-8b"] = deploy.Endpoint{URL: "http://llama.invalid"}
			_, attempts, man := f.run(t)
			require.Len(t, attempts, 4)
			for _, a := range attempts {
				require.Equal(t, tc.model, a.Model)
			}
			for _, ev := range f.ev.of("DeployPhase") {
				require.Equal(t, tc.model, modalKey(t, ev.(DeployPhase).Key), "a shard warms only the models it runs")
			}
			require.NotEmpty(t, f.ev.of("DeployPhase"))
			started := f.ev.of("RunStarted")[0].(RunStarted)
			require.Equal(t, 4, started.Total)
			require.Equal(t, map[string]int{tc.model: 4, otherOf(tc.model, qwen.Name, llama.Name): 0}, started.ByModel,
				"the progress lines count this shard's attempts")
			var done []string
			for _, ev := range f.ev.of("ModelDone") {
				done = append(done, ev.(ModelDone).Model)
			}
			require.ElementsMatch(t, []string{qwen.Name, llama.Name}, done, "the model with nothing to run is done at once")
			require.Equal(t, &tc.shard, man.Shard, "run.json records the shard")
			require.Len(t, man.Models, 2, "run.json lists every model of the run")
		})
	}
}

func otherOf(name, a, b string) string {
	if name == a {
		return b
	}
	return a
}

func modalKey(t *testing.T, key string) string {
	t.Helper()
	return modalTarget(t, key).Name
}

func TestAShardThatOwnsNothingIsRefused(t *testing.T) {
	f := newFixture(t, Plan{Suite: noteSuite(t, 1), Targets: []Target{{Name: "api", Info: results.ModelInfo{Name: "api"}}},
		Agent: writer{}, Shard: results.Shard{Index: 1, Count: 2}})
	_, err := Run(t.Context(), f.opts)
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	require.Contains(t, err.Error(), "--shard 1/2 owns no attempt: the run has only 1")
	entries, _ := os.ReadDir(f.opts.Plan.Out)
	require.Empty(t, entries)
}

func TestResumeKeepsTheShard(t *testing.T) {
	api := Target{Name: "api", Info: results.ModelInfo{Name: "api"}}
	s1 := results.Shard{Index: 1, Count: 2}
	first := newFixture(t, Plan{Suite: noteSuite(t, 2), Targets: []Target{api}, Agent: writer{}, Shard: s1})
	out, _, _ := first.run(t)
	prev, _, err := OpenPrevious(out.Dir)
	require.NoError(t, err)
	for _, other := range []results.Shard{{Index: 2, Count: 2}, {}} {
		f := newFixture(t, Plan{Suite: noteSuite(t, 2), Targets: []Target{api}, Agent: writer{}, Shard: other, Resume: prev})
		_, err = Run(t.Context(), f.opts)
		require.ErrorContains(t, err, "cannot resume "+out.Dir+" as shard "+shardName(other)+": it ran as shard 1/2")
	}
	f := newFixture(t, Plan{Suite: noteSuite(t, 2), Targets: []Target{api}, Agent: writer{}, Shard: s1, Resume: prev, RetryErrors: true})
	_, all, man := f.run(t)
	require.Len(t, all, 1, "nothing left to run in shard 1/2, and shard 2/2's attempt is not this shard's")
	require.Equal(t, &s1, man.Shard)
}

// mixedSuite is the smoke suite plus a task whose reference solution fails
// its checks, so that a merge that mixed up attempts shows in the statuses.
func mixedSuite(t *testing.T) tasks.Suite {
	t.Helper()
	s, err := tasks.Load("smoke")
	require.NoError(t, err)
	wrong, err := tasks.Parse("wrong.yaml", []byte(`id: wrong
prompt: make x
checks: [{file_exists: x}]
reference: [{tool: write_file, args: {path: y, content: "1"}}, {answer: done}]
`))
	require.NoError(t, err)
	s.Tasks, s.Hash = append(s.Tasks, wrong), "mixed-"+s.Hash
	return s
}

// runShards runs the reference model on the mixed suite as n shards, one
// after another, and returns their folders (n = 0: one unsharded run).
func runShards(t *testing.T, n int, args ...string) []string {
	t.Helper()
	suite := mixedSuite(t)
	var dirs []string
	for i := 1; i <= max(n, 1); i++ {
		tg, err := ResolveTargets(registry(t), Selection{Names: []string{reference.ModelID}, Temperature: -1})
		require.NoError(t, err)
		var s results.Shard
		if n > 0 {
			s = results.Shard{Index: i, Count: n}
		}
		f := newFixture(t, Plan{Suite: suite, Targets: tg, Repeat: 2, Parallel: 4, Shard: s,
			Args: append([]string{"--models=reference", "--shard=" + s.String(), fmt.Sprintf("--out=shard-%d", i)}, args...)})
		out, _, _ := f.run(t)
		dirs = append(dirs, out.Dir)
	}
	return dirs
}

func statusOf(t *testing.T, dir string) map[string]results.Status {
	t.Helper()
	as, _, err := results.ReadAttempts(dir)
	require.NoError(t, err)
	m := map[string]results.Status{}
	for _, a := range results.Latest(as) {
		m[fmt.Sprintf("%s/%s#%d", a.Model, a.Task, a.Repeat)] = a.Status
	}
	return m
}

func TestShardsMergeToTheUnshardedRun(t *testing.T) {
	whole := runShards(t, 0)[0]
	want := statusOf(t, whole)
	require.Len(t, want, 12)
	require.Contains(t, want, "reference/wrong#1")
	require.Equal(t, results.StatusFail, want["reference/wrong#1"])

	shards := runShards(t, 3)
	for _, d := range shards {
		require.Len(t, statusOf(t, d), 4, "12 attempts in 3 shards")
	}
	out := filepath.Join(t.TempDir(), "merged")
	// Given in any order.
	m, err := Merge([]string{shards[2], shards[0], shards[1]}, out)
	require.NoError(t, err)
	require.Empty(t, m.Warnings)
	require.Equal(t, 12, m.Attempts)
	require.Equal(t, want, statusOf(t, out))

	man, err := results.ReadManifest(out)
	require.NoError(t, err)
	first, err := results.ReadManifest(shards[0])
	require.NoError(t, err)
	require.Nil(t, man.Shard, "the merged run is whole")
	require.Equal(t, first.RunID, man.RunID)
	require.Len(t, man.MergedFrom, 3)
	require.NotNil(t, man.Ended)
	as, _, err := results.ReadAttempts(out)
	require.NoError(t, err)
	for _, a := range as {
		require.Equal(t, man.RunID, a.RunID)
		require.FileExists(t, filepath.Join(out, a.Transcript))
	}
}

// Shards run on machines of different sizes merge: --parallel (given or
// left at its default), --deadline and the like shape no attempt.
func TestShardsOfDifferentMachinesMerge(t *testing.T) {
	small := runShards(t, 2)
	big := runShards(t, 2, "--parallel=16", "--deadline=6h0m0s", "--color=never")
	m, err := Merge([]string{small[0], big[1]}, filepath.Join(t.TempDir(), "merged"))
	require.NoError(t, err)
	require.Equal(t, 12, m.Attempts)
}

func TestMergeRefusesWhatIsNotOneRun(t *testing.T) {
	shards := runShards(t, 2)
	other := runShards(t, 2, "--temperature=0.5")
	three := runShards(t, 3)
	whole := runShards(t, 0)[0]

	// A copy of shard 2 whose folder also holds an attempt of shard 1.
	tampered := t.TempDir()
	for _, f := range []string{results.ManifestFile, results.AttemptsFile} {
		b, err := os.ReadFile(filepath.Join(shards[1], f))
		require.NoError(t, err)
		if f == results.AttemptsFile {
			extra, err := os.ReadFile(filepath.Join(shards[0], f))
			require.NoError(t, err)
			b = append(b, extra[:slices.Index(extra, '\n')+1]...)
		}
		require.NoError(t, os.WriteFile(filepath.Join(tampered, f), b, 0o644))
	}
	// A copy of shard 2 with another suite hash.
	rehashed := t.TempDir()
	man, err := results.ReadManifest(shards[1])
	require.NoError(t, err)
	man.SuiteHash = "0123456789abcdef"
	require.NoError(t, results.WriteManifest(rehashed, man))

	// A copy of shard 2, transcripts and all, whose second attempt names
	// the first one's transcript.
	shared := t.TempDir()
	require.NoError(t, os.CopyFS(shared, os.DirFS(shards[1])))
	lines := strings.SplitAfter(string(must(os.ReadFile(filepath.Join(shared, results.AttemptsFile)))), "\n")
	var first, second results.Attempt
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &first))
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &second))
	require.NotEmpty(t, first.Transcript)
	second.Transcript = first.Transcript
	lines[1] = string(must(json.Marshal(second))) + "\n"
	require.NoError(t, os.WriteFile(filepath.Join(shared, results.AttemptsFile), []byte(strings.Join(lines, "")), 0o644))

	for _, tc := range []struct {
		name string
		dirs []string
		want string
	}{
		{"two attempts, one transcript", []string{shards[0], shared}, "name the same transcript"},
		{"a shard missing", shards[:1], "shard 2/2 missing"},
		{"a shard twice", []string{shards[0], shards[0], shards[1]}, "are both shard 1/2"},
		{"another split", []string{shards[0], three[1], three[2]}, "they split different runs"},
		{"other flags", []string{shards[0], other[1]}, "ran with flags"},
		{"another suite", []string{shards[0], rehashed}, "(hash 012345678"},
		{"not a shard", []string{whole, shards[1]}, "is not a shard"},
		{"an attempt of another shard", []string{shards[0], tampered}, "which is not shard 2/2's"},
		{"not a run folder", []string{shards[0], t.TempDir()}, "not a run folder"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "merged")
			_, err := Merge(tc.dirs, out)
			var ce *ConfigError
			require.ErrorAs(t, err, &ce)
			require.Contains(t, err.Error(), tc.want)
			require.NotContains(t, err.Error(), "\n")
			require.NoDirExists(t, out, "nothing written")
		})
	}
	out := filepath.Join(t.TempDir(), "merged")
	_, err = Merge(shards, out)
	require.NoError(t, err)
	_, err = Merge(shards, out)
	require.ErrorContains(t, err, "already holds a run")
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// A merge that fails while writing (here a transcript that cannot be read)
// leaves nothing behind, so running it again once mended just works; an
// empty folder is merged into.
func TestAFailedMergeLeavesNothing(t *testing.T) {
	shards := runShards(t, 2)
	as, _, err := results.ReadAttempts(shards[1])
	require.NoError(t, err)
	transcript := filepath.Join(shards[1], as[0].Transcript)
	saved, err := os.ReadFile(transcript)
	require.NoError(t, err)
	require.NoError(t, os.Remove(transcript))
	require.NoError(t, os.Mkdir(transcript, 0o755)) // reading it fails

	parent := t.TempDir()
	out := filepath.Join(parent, "merged")
	_, err = Merge(shards, out)
	require.ErrorContains(t, err, "not a regular file")
	entries, err := os.ReadDir(parent)
	require.NoError(t, err)
	require.Empty(t, entries, "no merged folder, no half-written one")

	require.NoError(t, os.Remove(transcript))
	require.NoError(t, os.WriteFile(transcript, saved, 0o644))
	require.NoError(t, os.Mkdir(out, 0o755))
	m, err := Merge(shards, out)
	require.NoError(t, err)
	require.Equal(t, 12, m.Attempts)
	require.FileExists(t, filepath.Join(out, as[0].Transcript))
	entries, err = os.ReadDir(parent)
	require.NoError(t, err)
	require.Len(t, entries, 1, "only the merged folder")
	_, err = Merge(shards, filepath.Join(parent, "merged"))
	require.ErrorContains(t, err, "already holds a run")
}

// A shard's transcript that is a symlink out of its folder is never copied.
func TestMergeCopiesNoTranscriptFromOutsideItsShard(t *testing.T) {
	shards := runShards(t, 2)
	as, _, err := results.ReadAttempts(shards[0])
	require.NoError(t, err)
	secret := filepath.Join(t.TempDir(), "shadow")
	require.NoError(t, os.WriteFile(secret, []byte("root:$6$secret"), 0o600))
	transcript := filepath.Join(shards[0], as[0].Transcript)
	require.NoError(t, os.Remove(transcript))
	require.NoError(t, os.Symlink(secret, transcript))
	out := filepath.Join(t.TempDir(), "merged")
	_, err = Merge(shards, out)
	// The shard folder's doing: refused as bad input (exit 2), naming the
	// attempt, not an infrastructure failure.
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	require.ErrorContains(t, err, shards[0]+": "+as[0].Model+" "+as[0].Task+" #")
	require.ErrorContains(t, err, "path escapes from parent")
	require.NoDirExists(t, out)

	// A FIFO in its place is refused the same way, without blocking.
	require.NoError(t, os.Remove(transcript))
	require.NoError(t, syscall.Mkfifo(transcript, 0o644))
	_, err = Merge(shards, out)
	require.ErrorAs(t, err, &ce)
	require.ErrorContains(t, err, "not a regular file")
	require.NoDirExists(t, out)
}
