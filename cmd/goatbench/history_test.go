package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestHistoryCommand(t *testing.T) {
	gateDir := filepath.Join("..", "..", "internal", "report", "testdata", "gate")
	out := filepath.Join(t.TempDir(), "history.html")
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{"two nights", []string{"history", gate("noise-base"), gate("noise-head")},
			exitOK, "2 runs, 20261130-031700-noise0 to 20261201-031700-noise1", ""},
		{"markdown with a mermaid chart", []string{"history", gate("noise-base"), gate("drop-head"), "--format", "markdown"},
			exitOK, "```mermaid\nxychart-beta\n", ""},
		{"a folder of runs", []string{"history", gateDir, "--format", "json"},
			exitOK, `"run_id": "20261201-031700-deploy"`, "warning: " + filepath.Join(gateDir, "deploy-head") + ": qwen3-4b: modal deploy: exit status 1: Image build failed"},
		{"html to a file", []string{"history", gate("noise-base"), gate("noise-head"), "--format", "html", "--out", out},
			exitOK, "", ""},
		{"no folder", []string{"history"}, exitUsage, "", "requires at least 1 arg(s)"},
		{"a folder that is no run", []string{"history", "/nonexistent/night"}, exitUsage, "", "goatbench: /nonexistent/night: no such run folder\n"},
		{"bad format", []string{"history", gate("noise-base"), "--format", "pdf"}, exitUsage, "", `unknown --format "pdf"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, errOut := reportCLI(t, tc.args...)
			require.Equal(t, tc.wantCode, code, errOut)
			require.Contains(t, stdout, tc.wantOut)
			if tc.wantErr == "" {
				require.Empty(t, errOut)
			} else {
				require.Contains(t, errOut, tc.wantErr)
				require.Equal(t, 1, strings.Count(errOut, "\n"), "one line: %q", errOut)
			}
		})
	}
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	require.Contains(t, string(b), "<svg ")
}
