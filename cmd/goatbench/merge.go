package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/goatbench/goatbench/internal/engine"
	"github.com/goatbench/goatbench/internal/safetext"
)

// mergeOptions are the inputs of `goatbench merge`.
type mergeOptions struct {
	Dirs        []string
	Out         string
	MinPassRate float64
}

func newMergeCmd(s streams) *cobra.Command {
	o := &mergeOptions{}
	cmd := &cobra.Command{
		Use:   "merge <shard-folder>... --out <run-folder>",
		Short: "Join the shard folders of one run (run --shard i/n) into one run folder and report it",
		Long: `Join the run folders written by "goatbench run --shard i/n" (i = 1..n, one per
machine) into one run folder: results.jsonl, run.json, the transcripts, and
every report (report.md, summary.json, junit.xml, report.html).

The shards must be of one run: the same suite and content hash, tasks, models,
repeats, goatbench version and flags (apart from --shard, --out, --resume,
--retry-errors, and what suits each machine: --parallel, --deadline, --color,
--keep-workspaces, --stop-after), every shard number from 1 to n exactly once,
and no attempt twice. Anything else is refused with exit 2 and nothing is written.

The exit code is then that of the merged run, as for goatbench run: 0 every
attempt passed (or --min-pass-rate was met), 1 some failed, 3 infrastructure
errors.`,
		Example: `  # three CI jobs ran goatbench run --shard 1/3, 2/3 and 3/3
  goatbench merge shard-1/20260102-030405-a1b2c3 shard-2/20260102-030407-d4e5f6 shard-3/20260102-030409-0a0b0c --out results/nightly`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			o.Dirs = args
			return runMerge(o, s)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Out, "out", "", "the merged run folder to write (must not hold a run yet)")
	f.Float64Var(&o.MinPassRate, "min-pass-rate", 1, "exit 0 when at least this fraction of judged attempts passed")
	return cmd
}

func runMerge(o *mergeOptions, s streams) error {
	if o.Out == "" {
		return usageError("name the merged run folder with --out")
	}
	if !(o.MinPassRate >= 0 && o.MinPassRate <= 1) {
		return usageError("--min-pass-rate must be between 0 and 1, got %g", o.MinPassRate)
	}
	m, err := engine.Merge(o.Dirs, o.Out)
	if err != nil {
		return exitFor(err)
	}
	for _, w := range m.Warnings {
		fmt.Fprintln(s.Err, "warning:", safetext.Line(w))
	}
	fmt.Fprintf(s.Err, "merged %d shards, %d attempts → %s\n", len(o.Dirs), m.Attempts, m.Dir)
	return finish(nil, m.Dir, o.MinPassRate, s)
}
