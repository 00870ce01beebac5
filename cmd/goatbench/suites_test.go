package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSuitesTable(t *testing.T) {
	code, out, errOut := run(t, "", "suites")
	require.Equal(t, exitOK, code, errOut)
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	require.Len(t, lines, 3, "header, core, smoke")
	require.Equal(t, []string{"SUITE", "TASKS", "FIDELITY", "MULTI-STEP", "CODE", "JUDGEMENT", "UNTIERED", "TAGS"}, strings.Fields(lines[0]))
	core := strings.Fields(lines[1])
	require.Equal(t, "core", core[0])
	require.Equal(t, "-", core[6], "every core task has a tier")
	require.Equal(t, []string{"smoke", "5", "-", "-", "-", "-", "5", "-"}, strings.Fields(lines[2]))
}

func TestSuitesJSON(t *testing.T) {
	code, out, errOut := run(t, "", "suites", "--json")
	require.Equal(t, exitOK, code, errOut)
	var got []suiteInfo
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.Len(t, got, 2)
	require.Equal(t, "core", got[0].Name)
	require.GreaterOrEqual(t, got[0].Tasks, 24)
	sum := 0
	for _, c := range got[0].Tiers {
		require.GreaterOrEqual(t, c.Tasks, 6, c.Tier)
		sum += c.Tasks
	}
	require.Equal(t, got[0].Tasks, sum)
	require.Contains(t, got[0].Tags, "injection")
	require.Len(t, got[1].Hash, 64)
	require.Equal(t, []string{}, got[1].Tags)
}
