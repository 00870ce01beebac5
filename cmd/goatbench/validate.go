package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/goatbench/goatbench/bench/tasks"
	"github.com/goatbench/goatbench/internal/runner"
	"github.com/goatbench/goatbench/internal/safetext"
)

func newValidateCmd(s streams) *cobra.Command {
	var suite, dir string
	var tiers, tags []string
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Check that every task's checks tell a solved task from an unsolved one",
		Long: `For every task, run its reference solution straight in a fresh workspace
(no model) and require that it passes every check; then require that an attempt
that does nothing, one that only repeats the prompt, and each of the task's
wrong: solutions (plausible mistakes) fail. In a task with wrong solutions,
every check must fail the empty attempt or at least one wrong solution; a check
that never does decides nothing and is reported as dead.

Per task it prints the tier, the number of checks, and which checks each
scripted attempt failed (checks are numbered from 1 in file order). Exit 1 if
any task is not sound, 2 if the suite cannot be loaded.`,
		Example: `  goatbench validate --suite core
  goatbench validate --suite core --tier judgement
  goatbench validate --tasks-dir ./my-tasks`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("suite") && cmd.Flags().Changed("tasks-dir") {
				return errSuiteAndDir
			}
			return runValidate(cmd.Context(), suite, dir, tiers, tags, s)
		},
	}
	cmd.Flags().StringVar(&suite, "suite", "smoke", "embedded task suite ("+strings.Join(tasks.Names(), ", ")+")")
	cmd.Flags().StringVar(&dir, "tasks-dir", "", "validate a suite from this directory instead")
	cmd.Flags().StringSliceVar(&tiers, "tier", nil, "only the tasks of these tiers ("+strings.Join(tasks.Tiers, ", ")+")")
	cmd.Flags().StringSliceVar(&tags, "tags", nil, "only the tasks with any of these tags")
	return cmd
}

func runValidate(ctx context.Context, name, dir string, tiers, tags []string, s streams) error {
	suite, err := loadSuite(name, dir)
	if err != nil {
		return err
	}
	if suite, err = suite.Select(tiers, tags); err != nil {
		return usageError("%v", err)
	}
	byID := make(map[string]tasks.Task, len(suite.Tasks))
	for _, t := range suite.Tasks {
		byID[t.ID] = t
	}
	tw := tabwriter.NewWriter(s.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TASK\tTIER\tCHECKS\tREFERENCE\tDO NOTHING\tECHO PROMPT\tWRONG\tSOUND")
	unsound := 0
	var details []string
	for _, v := range runner.Validate(ctx, suite, nil, "") {
		t := byID[v.Task]
		ref := word(v.ReferencePasses, "passes", "FAILS")
		if v.Err != nil {
			ref = "ERROR: " + truncateText(oneLine(v.Err.Error()), 70)
		} else if !v.ReferencePasses {
			for _, c := range v.ReferenceChecks {
				if !c.Pass {
					ref += " (" + truncateText(oneLine(c.Name+": "+c.Detail), 70) + ")"
					break
				}
			}
		}
		if !v.Sound() {
			unsound++
		}
		wrong, caught := 0, 0
		for _, tr := range v.Tries {
			if tr.Wrong {
				wrong++
				if tr.Err == nil && len(tr.Failed) > 0 {
					caught++
				}
			}
		}
		wrongCell := "none"
		if wrong > 0 {
			wrongCell = fmt.Sprintf("%d/%d fail", caught, wrong)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", safetext.Line(v.Task), t.TierOf(), len(t.Checks), safetext.Line(ref),
			tryCell(v, 0, v.NothingFails), tryCell(v, 1, v.EchoFails), wrongCell, word(v.Sound(), "yes", "NO"))
		details = append(details, validateDetail(t, v))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(s.Out)
	fmt.Fprint(s.Out, strings.Join(details, ""))
	if unsound > 0 {
		// exitFailed errors are not printed by execute; say it here.
		fmt.Fprintf(s.Err, "suite %s: %d of %d tasks are not sound\n", safetext.Line(suite.Name), unsound, len(suite.Tasks))
		return &exitError{code: exitFailed, err: fmt.Errorf("%d of %d tasks are not sound", unsound, len(suite.Tasks))}
	}
	fmt.Fprintf(s.Err, "suite %s: all %d tasks are sound\n", safetext.Line(suite.Name), len(suite.Tasks))
	return nil
}

// tryCell is the table's word for scripted attempt i (0: doing nothing, 1:
// echoing the prompt): whether it fails as it must, or could not be run at
// all, which the details below the table then say why.
func tryCell(v runner.Soundness, i int, fails bool) string {
	if i < len(v.Tries) && v.Tries[i].Err != nil {
		return "ERROR"
	}
	return word(fails, "fails", "PASSES")
}

// validateDetail says which checks each scripted attempt failed, and names
// the dead checks and the wrong solutions that slipped through.
func validateDetail(t tasks.Task, v runner.Soundness) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s, %d check%s):\n", safetext.Line(v.Task), t.TierOf(), len(t.Checks), map[bool]string{true: "", false: "s"}[len(t.Checks) == 1])
	for i, c := range t.Checks {
		fmt.Fprintf(&b, "  check %d: %s\n", i+1, safetext.Line(truncateText(oneLine(c.Name()), 100)))
	}
	// A wrong solution's name, a check's and an error's are the task file's
	// text: escaped, as everywhere else they are shown.
	width := 0
	for _, tr := range v.Tries {
		width = max(width, len(safetext.Line(tr.Name)))
	}
	for _, tr := range v.Tries {
		name := safetext.Line(tr.Name)
		switch {
		case tr.Err != nil:
			fmt.Fprintf(&b, "  %-*s ERROR: %s\n", width, name, safetext.Line(oneLine(tr.Err.Error())))
		case len(tr.Failed) == 0:
			fmt.Fprintf(&b, "  %-*s PASSES every check\n", width, name)
		default:
			nums := make([]string, len(tr.Failed))
			for i, c := range tr.Failed {
				nums[i] = fmt.Sprint(c + 1)
			}
			fmt.Fprintf(&b, "  %-*s fails check %s\n", width, name, strings.Join(nums, ", "))
		}
	}
	if len(t.Wrong) == 0 {
		b.WriteString("  (no wrong solutions: the checks are proven only against doing nothing)\n")
	}
	for _, c := range v.Dead {
		fmt.Fprintf(&b, "  DEAD check %d (%s): fails neither the empty attempt nor any wrong solution\n", c+1, safetext.Line(oneLine(t.Checks[c].Name())))
	}
	return b.String()
}

func truncateText(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func word(ok bool, yes, no string) string {
	if ok {
		return yes
	}
	return no
}
