package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/goatbench/goatbench/bench/tasks"
)

// suiteInfo is one embedded suite as `suites --json` prints it.
type suiteInfo struct {
	Name  string            `json:"name"`
	Hash  string            `json:"hash"`
	Tasks int               `json:"tasks"`
	Tiers []tasks.TierCount `json:"tiers"`
	Tags  []string          `json:"tags"`
}

func newSuitesCmd(s streams) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "suites",
		Short: "List the embedded task suites with their task counts per tier",
		Long: `List the task suites built into goatbench: the number of tasks, how many
are in each tier (fidelity, multi-step, code, judgement; the smoke suite's tasks
have no tier), the tags that --tags can select, and the suite hash that run.json
records.`,
		Example: `  goatbench suites
  goatbench suites --json`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			infos, err := suiteInfos()
			if err != nil {
				return err
			}
			if asJSON {
				b, err := json.MarshalIndent(infos, "", "  ")
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(s.Out, "%s\n", b)
				return err
			}
			return printSuites(s, infos)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the suites as JSON")
	return cmd
}

func suiteInfos() ([]suiteInfo, error) {
	var out []suiteInfo
	for _, name := range tasks.Names() {
		suite, err := tasks.Load(name)
		if err != nil {
			return nil, err
		}
		tags := []string{}
		for _, t := range suite.Tasks {
			for _, g := range t.Tags {
				if !slices.Contains(tags, g) {
					tags = append(tags, g)
				}
			}
		}
		slices.Sort(tags)
		out = append(out, suiteInfo{Name: name, Hash: suite.Hash, Tasks: len(suite.Tasks), Tiers: suite.TierCounts(), Tags: tags})
	}
	return out, nil
}

func printSuites(s streams, infos []suiteInfo) error {
	tw := tabwriter.NewWriter(s.Out, 0, 0, 2, ' ', 0)
	heads := append([]string{"SUITE", "TASKS"}, strings.ToUpper(strings.Join(tasks.Tiers, "\t")), strings.ToUpper(tasks.Untiered), "TAGS")
	fmt.Fprintln(tw, strings.Join(heads, "\t"))
	for _, info := range infos {
		n := map[string]int{}
		for _, c := range info.Tiers {
			n[c.Tier] = c.Tasks
		}
		row := []string{info.Name, fmt.Sprint(info.Tasks)}
		for _, tier := range append(slices.Clone(tasks.Tiers), tasks.Untiered) {
			row = append(row, countCell(n[tier]))
		}
		row = append(row, tagsCell(info.Tags))
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}

func countCell(n int) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprint(n)
}

// tagsCell keeps the table within a terminal; --json has them all.
func tagsCell(tags []string) string {
	if len(tags) == 0 {
		return "-"
	}
	s := strings.Join(tags, ",")
	if len(s) > 48 {
		cut := strings.LastIndexByte(s[:45], ',')
		s = s[:cut] + ",…"
	}
	return s
}
