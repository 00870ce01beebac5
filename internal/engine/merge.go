package engine

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/goatbench/goatbench/internal/results"
)

// mergeIgnored are the flags allowed to differ between the shards of one run:
// the shard itself, where each wrote its folder, how a shard was resumed, and
// what suits the machine that ran it (its parallelism, its time limit, its
// output) without changing how any attempt is made or judged.
var mergeIgnored = []string{"shard", "out", "resume", "retry-errors", "parallel", "deadline", "color", "keep-workspaces", "stop-after"}

// Merged is what Merge wrote.
type Merged struct {
	Dir      string
	RunID    string
	Attempts int
	Warnings []string // what did not stop the merge: unfinished shards, attempts without a result
}

// shardRun is one shard folder as Merge reads it.
type shardRun struct {
	dir      string
	man      results.Manifest
	attempts []results.Attempt
}

// Merge joins the folders of the shards of one run (`run --shard i/n`, i =
// 1..n) into one run folder out: results.jsonl, run.json and the transcripts.
// The shards must agree on suite (name and content hash), tasks, models,
// repeats, version and flags, every shard number must be there exactly once,
// and each attempt must be one its shard owns. A *ConfigError says what does
// not agree; nothing is written then.
func Merge(dirs []string, out string) (Merged, error) {
	if len(dirs) == 0 {
		return Merged{}, configError("name the shard folders to merge")
	}
	runs := make([]shardRun, 0, len(dirs))
	for _, d := range dirs {
		man, err := results.ReadManifest(d)
		if err != nil {
			return Merged{}, configError("%s: not a run folder (%v)", d, err)
		}
		all, _, err := results.ReadAttempts(d)
		if err != nil && !errors.Is(err, results.ErrNoRun) {
			return Merged{}, configError("%s: %v", d, err)
		}
		runs = append(runs, shardRun{dir: d, man: man, attempts: results.Latest(all)})
	}
	if err := agree(runs); err != nil {
		return Merged{}, err
	}
	slices.SortFunc(runs, func(a, b shardRun) int { return a.man.Shard.Index - b.man.Shard.Index })
	man, warnings := mergeManifests(runs)
	var attempts []results.Attempt
	seen, transcripts := map[string]string{}, map[string]string{}
	for _, r := range runs {
		own := results.ShardOf(*r.man.Shard, modelNames(r.man), r.man.Tasks, r.man.Repeat)
		for _, a := range r.attempts {
			k := a.Key()
			switch {
			case !own[k]:
				return Merged{}, configError("%s holds %s %s #%d, which is not shard %s's", r.dir, a.Model, a.Task, a.Repeat, r.man.Shard)
			case seen[k] != "":
				return Merged{}, configError("%s and %s both hold %s %s #%d", seen[k], r.dir, a.Model, a.Task, a.Repeat)
			}
			if err := safeRel(a.Transcript); err != nil {
				return Merged{}, configError("%s: %s %s #%d: transcript %q: %v", r.dir, a.Model, a.Task, a.Repeat, a.Transcript, err)
			}
			// Refused here, before anything is written: the second copy
			// would fail halfway through the merged folder.
			if t := filepath.Clean(a.Transcript); a.Transcript != "" && transcripts[t] != "" {
				return Merged{}, configError("%s: %s %s #%d and %s name the same transcript %q", r.dir, a.Model, a.Task, a.Repeat, transcripts[t], a.Transcript)
			} else if a.Transcript != "" {
				transcripts[t] = fmt.Sprintf("%s %s #%d", a.Model, a.Task, a.Repeat)
			}
			seen[k] = r.dir
			a.RunID = man.RunID
			attempts = append(attempts, a)
		}
		if missing := len(own) - len(r.attempts); missing > 0 {
			warnings = append(warnings, fmt.Sprintf("%s: %d of shard %s's %d attempts have no result", r.dir, missing, r.man.Shard, len(own)))
		}
	}
	if err := writeMerged(out, man, seen, attempts); err != nil {
		return Merged{}, err
	}
	return Merged{Dir: out, RunID: man.RunID, Attempts: len(attempts), Warnings: warnings}, nil
}

// agree checks that the folders are the n shards of one run.
func agree(runs []shardRun) error {
	first := runs[0]
	if first.man.Shard == nil {
		return configError("%s is not a shard (run.json records no --shard); only shards of one run can be merged", first.dir)
	}
	n := first.man.Shard.Count
	byIndex := map[int]string{}
	for _, r := range runs {
		m, f := r.man, first.man
		switch {
		case m.Shard == nil:
			return configError("%s is not a shard (run.json records no --shard); only shards of one run can be merged", r.dir)
		case m.Shard.Count != n:
			return configError("%s is shard %s but %s is shard %s: they split different runs", r.dir, m.Shard, first.dir, f.Shard)
		case byIndex[m.Shard.Index] != "":
			return configError("%s and %s are both shard %s", byIndex[m.Shard.Index], r.dir, m.Shard)
		case m.Suite != f.Suite || m.SuiteHash != f.SuiteHash:
			return configError("%s ran suite %s (hash %s) but %s ran %s (hash %s)", r.dir, m.Suite, short(m.SuiteHash), first.dir, f.Suite, short(f.SuiteHash))
		case !slices.Equal(m.Tasks, f.Tasks):
			return configError("%s and %s list different tasks", r.dir, first.dir)
		case !slices.Equal(modelNames(m), modelNames(f)):
			return configError("%s ran models %s but %s ran %s", r.dir, strings.Join(modelNames(m), ","), first.dir, strings.Join(modelNames(f), ","))
		case m.Repeat != f.Repeat:
			return configError("%s ran --repeat %d but %s ran --repeat %d", r.dir, m.Repeat, first.dir, f.Repeat)
		case m.Version != f.Version:
			return configError("%s was run by goatbench %s but %s by %s", r.dir, m.Version, first.dir, f.Version)
		}
		if a, b := keptFlags(m.Args), keptFlags(f.Args); !slices.Equal(a, b) {
			return configError("%s ran with flags %s but %s with %s", r.dir, strings.Join(a, " "), first.dir, strings.Join(b, " "))
		}
		byIndex[m.Shard.Index] = r.dir
	}
	var missing []string
	for i := 1; i <= n; i++ {
		if byIndex[i] == "" {
			missing = append(missing, fmt.Sprintf("%d/%d", i, n))
		}
	}
	if len(missing) > 0 {
		return configError("shard %s missing: merge needs all %d shards of the run", strings.Join(missing, ", "), n)
	}
	return nil
}

// keptFlags are the flags that must agree, sorted.
func keptFlags(args []string) []string {
	var out []string
	for _, a := range args {
		name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !slices.Contains(mergeIgnored, name) {
			out = append(out, a)
		}
	}
	slices.Sort(out)
	return out
}

func modelNames(m results.Manifest) []string {
	out := make([]string, 0, len(m.Models))
	for _, mi := range m.Models {
		out = append(out, mi.Name)
	}
	return out
}

// mergeManifests makes the run.json of the whole run. The run takes shard
// 1's ID; each model's held GPU time is the sum over the shards (each shard
// kept its own replicas busy) and its cold start the longest one seen.
func mergeManifests(runs []shardRun) (results.Manifest, []string) {
	man := runs[0].man
	man.Shard, man.Ended, man.Resumed, man.Parallel = nil, nil, nil, 0
	man.Models = slices.Clone(man.Models)
	var warnings []string
	ended := true
	for _, r := range runs {
		m := r.man
		man.MergedFrom = append(man.MergedFrom, m.RunID)
		man.Parallel = max(man.Parallel, m.Parallel)
		if m.Started.Before(man.Started) {
			man.Started = m.Started
		}
		switch {
		case m.Ended == nil:
			ended = false
			warnings = append(warnings, fmt.Sprintf("%s: shard %s did not finish (run.json has no end time); resume it with goatbench run --resume %s", r.dir, m.Shard, r.dir))
		case man.Ended == nil || m.Ended.After(*man.Ended):
			e := *m.Ended
			man.Ended = &e
		}
		man.Resumed = append(man.Resumed, m.Resumed...)
		if m.Sandbox != runs[0].man.Sandbox {
			warnings = append(warnings, fmt.Sprintf("%s ran its commands in sandbox %s, %s in %s", r.dir, m.Sandbox, runs[0].dir, runs[0].man.Sandbox))
		}
		if r.dir == runs[0].dir {
			continue
		}
		for i, mi := range m.Models {
			into := &man.Models[i]
			into.HeldSeconds += mi.HeldSeconds
			into.ColdStartSeconds = max(into.ColdStartSeconds, mi.ColdStartSeconds)
			into.BaseURL = cmp.Or(into.BaseURL, mi.BaseURL)
			if mi.Sandbox != nil {
				sum := mi.Sandbox.Add(ptrOr(into.Sandbox))
				into.Sandbox = &sum
			}
			if mi.Error != "" && !strings.Contains(into.Error, mi.Error) {
				into.Error = strings.TrimPrefix(into.Error+"; "+mi.Error, "; ")
			}
		}
	}
	if !ended {
		man.Ended = nil
	}
	slices.SortFunc(man.Resumed, func(a, b time.Time) int { return a.Compare(b) })
	return man, warnings
}

func ptrOr(u *results.SandboxUsage) results.SandboxUsage {
	if u == nil {
		return results.SandboxUsage{}
	}
	return *u
}

// safeRel refuses a transcript path that would leave the run folder: shard
// folders come from CI artifacts, and merge copies what they name.
func safeRel(p string) error {
	if p == "" {
		return nil
	}
	if !filepath.IsLocal(p) { // absolute paths and ".." included
		return errors.New("not a path inside the run folder")
	}
	return nil
}

// writeMerged writes the merged run folder; out must not exist or be an
// empty folder. dirOf names the shard folder of each attempt. The run is
// written beside out and renamed to it once whole, so a merge that fails
// (a full disk, an unreadable transcript) leaves nothing behind and can
// simply be run again.
func writeMerged(out string, man results.Manifest, dirOf map[string]string, attempts []results.Attempt) (err error) {
	if _, err := os.Stat(filepath.Join(out, results.AttemptsFile)); err == nil {
		return configError("%s already holds a run; merge into a new folder", out)
	}
	if entries, err := os.ReadDir(out); err == nil && len(entries) > 0 {
		return configError("%s is not empty; merge into a new folder", out)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return configError("cannot create %s: %v", out, err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(out), "."+filepath.Base(out)+".merging-")
	if err != nil {
		return configError("cannot create %s: %v", out, err)
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(tmp, results.TranscriptsDir), 0o755); err != nil {
		return err
	}
	for _, a := range attempts {
		if a.Transcript == "" {
			continue
		}
		err := copyTranscript(dirOf[a.Key()], a.Transcript, filepath.Join(tmp, a.Transcript))
		var bad badTranscript
		switch {
		case err == nil || errors.Is(err, os.ErrNotExist):
		case errors.As(err, &bad):
			// The shard folder's doing, as a line out of its shard is.
			return configError("%s: %s %s #%d: transcript %q: %v", dirOf[a.Key()], a.Model, a.Task, a.Repeat, a.Transcript, bad.err)
		default:
			return fmt.Errorf("copy transcript: %w", err)
		}
	}
	w, err := results.OpenWriter(tmp)
	if err != nil {
		return fmt.Errorf("write %s: %w", results.AttemptsFile, err)
	}
	for _, a := range attempts {
		if err := w.Append(a); err != nil {
			w.Close()
			return fmt.Errorf("write %s: %w", results.AttemptsFile, err)
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	if err := results.WriteManifest(tmp, man); err != nil {
		return err
	}
	// An empty out, checked above, makes way (os.Rename never replaces a
	// folder); os.Remove removes no other.
	if err := os.Remove(out); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("move the merged run to %s: %w", out, err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return fmt.Errorf("move the merged run to %s: %w", out, err)
	}
	return nil
}

// badTranscript is a shard folder's transcript that is no transcript: not a
// regular file of the folder, or too large.
type badTranscript struct{ err error }

func (b badTranscript) Error() string { return b.err.Error() }

// copyTranscript copies the transcript rel of the shard folder dir to to: a
// regular file inside that folder, of at most results.MaxTranscript bytes.
func copyTranscript(dir, rel, to string) error {
	src, err := results.OpenInside(dir, rel)
	if errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err != nil {
		return badTranscript{err} // a FIFO, a link out of the folder
	}
	defer src.Close()
	if st, err := src.Stat(); err == nil && st.Size() > results.MaxTranscript {
		return badTranscript{fmt.Errorf("larger than %d bytes", results.MaxTranscript)}
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, io.LimitReader(src, results.MaxTranscript)); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}
