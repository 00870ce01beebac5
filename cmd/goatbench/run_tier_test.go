package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/bench/tasks"
	"github.com/goatbench/goatbench/internal/results"
)

// TestRunReferenceCore: the reference solutions pass every core task end to
// end (server, agent loop, tools, checks), and the reports group by tier.
func TestRunReferenceCore(t *testing.T) {
	core, err := tasks.Load("core")
	require.NoError(t, err)
	out := t.TempDir()
	code, stdout, stderr := goatbench(t, "run", "--models", "reference", "--suite", "core", "--out", out, "--parallel", "4")
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stdout, fmt.Sprintf("reference %d/%d", len(core.Tasks), len(core.Tasks)))
	dir := onlyRunDir(t, out)
	m, err := results.ReadManifest(dir)
	require.NoError(t, err)
	require.Len(t, m.Tiers, len(core.Tasks))
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	require.NoError(t, err)
	require.Contains(t, string(md), "### Pass rate by tier")
	require.Contains(t, string(md), "| judgement | 6 | 6/6 100% |")
}

func TestRunSelectsByTierAndTags(t *testing.T) {
	out := t.TempDir()
	code, stdout, stderr := goatbench(t, "run", "--models", "reference", "--suite", "core", "--out", out,
		"--tier", "judgement", "--tags", "honesty")
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stdout, "reference 2/2")
	m, err := results.ReadManifest(onlyRunDir(t, out))
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"judge-impossible", "judge-missing-secret"}, m.Tasks)
	require.Contains(t, m.Args, "--tier=judgement")

	code, _, stderr = goatbench(t, "run", "--models", "reference", "--suite", "core", "--out", t.TempDir(), "--tier", "judgment")
	require.Equal(t, exitUsage, code)
	require.Equal(t, "goatbench: --tier judgment: no task of suite core has this tier (did you mean judgement?)", strings.TrimSpace(stderr))
}
