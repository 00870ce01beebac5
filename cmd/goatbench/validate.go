package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/goatbench/goatbench/internal/runner"
)

func newValidateCmd(s streams) *cobra.Command {
	var suite, dir string
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Check that every task's checks tell a solved task from an unsolved one",
		Long: `For every task, run its reference solution straight in a fresh workspace
(no model) and require that it passes every check; then require that an attempt
that does nothing, and one that only repeats the prompt, fail. Exit 1 if any
task is not sound, 2 if the suite cannot be loaded.`,
		Example: `  goatbench validate --suite smoke
  goatbench validate --tasks-dir ./my-tasks`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runValidate(cmd.Context(), suite, dir, s)
		},
	}
	cmd.Flags().StringVar(&suite, "suite", "smoke", "embedded task suite")
	cmd.Flags().StringVar(&dir, "tasks-dir", "", "validate a suite from this directory instead")
	return cmd
}

func runValidate(ctx context.Context, name, dir string, s streams) error {
	suite, err := loadSuite(name, dir)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(s.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TASK\tREFERENCE\tDO NOTHING\tECHO PROMPT\tSOUND")
	unsound := 0
	for _, v := range runner.Validate(ctx, suite, nil, "") {
		ref := word(v.ReferencePasses, "passes", "FAILS")
		if v.Err != nil {
			ref = "ERROR: " + v.Err.Error()
		} else if !v.ReferencePasses {
			for _, c := range v.ReferenceChecks {
				if !c.Pass {
					ref += " (" + c.Name + ": " + c.Detail + ")"
					break
				}
			}
		}
		if !v.Sound() {
			unsound++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", v.Task, ref, word(v.NothingFails, "fails", "PASSES"),
			word(v.EchoFails, "fails", "PASSES"), word(v.Sound(), "yes", "NO"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if unsound > 0 {
		return &exitError{code: exitFailed, err: fmt.Errorf("%d of %d tasks are not sound", unsound, len(suite.Tasks))}
	}
	fmt.Fprintf(s.Err, "suite %s: all %d tasks are sound\n", suite.Name, len(suite.Tasks))
	return nil
}

func word(ok bool, yes, no string) string {
	if ok {
		return yes
	}
	return no
}
