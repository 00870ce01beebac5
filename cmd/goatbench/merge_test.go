package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/internal/results"
)

func TestShardsThenMerge(t *testing.T) {
	var dirs []string
	for _, s := range []string{"1/2", "2/2"} {
		out := t.TempDir()
		code, _, stderr := goatbench(t, "run", "--models", "reference", "--suite", "smoke", "--shard", s, "--out", out)
		require.Equal(t, exitOK, code, stderr)
		dirs = append(dirs, onlyRunDir(t, out))
	}
	a, _, err := results.ReadAttempts(dirs[0])
	require.NoError(t, err)
	b, _, err := results.ReadAttempts(dirs[1])
	require.NoError(t, err)
	require.Len(t, append(a, b...), 5, "5 attempts in 2 shards")
	require.Len(t, a, 2)

	merged := filepath.Join(t.TempDir(), "nightly")
	code, stdout, stderr := goatbench(t, "merge", dirs[1], dirs[0], "--out", merged)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stdout, "reference 5/5")
	require.Contains(t, stderr, "merged 2 shards, 5 attempts")
	for _, f := range []string{results.AttemptsFile, results.ManifestFile, "report.md", "summary.json", "junit.xml", "report.html"} {
		require.FileExists(t, filepath.Join(merged, f))
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"a shard missing", []string{"merge", dirs[0], "--out", filepath.Join(t.TempDir(), "m")}, "shard 2/2 missing"},
		{"no --out", []string{"merge", dirs[0], dirs[1]}, "name the merged run folder with --out"},
		{"no folders", []string{"merge", "--out", filepath.Join(t.TempDir(), "m")}, "requires at least 1 arg"},
		{"bad --shard", []string{"run", "--models", "reference", "--shard", "3/2", "--out", t.TempDir()}, "--shard must be i/n"},
		{"a shard that owns nothing", []string{"run", "--models", "reference", "--shard", "1/9", "--out", t.TempDir()}, "owns no attempt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := goatbench(t, tc.args...)
			require.Equal(t, exitUsage, code, stderr)
			require.Contains(t, stderr, tc.want)
			require.Equal(t, 1, strings.Count(strings.TrimSpace(stderr), "\n")+1, "one line: %q", stderr)
		})
	}
}
