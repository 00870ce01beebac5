package modalsandbox

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/bench/tasks"
	"github.com/goatbench/goatbench/internal/deploy/fakemodal"
	"github.com/goatbench/goatbench/internal/engine"
	"github.com/goatbench/goatbench/internal/models"
	"github.com/goatbench/goatbench/internal/reference"
	"github.com/goatbench/goatbench/internal/results"
	"github.com/goatbench/goatbench/internal/sandbox"
)

// smokeSuite is the smoke suite plus a task whose reference solution fails
// its checks: the statuses to compare are not all passes.
func smokeSuite(tb testing.TB) tasks.Suite {
	tb.Helper()
	s, err := tasks.Load("smoke")
	require.NoError(tb, err)
	s.Tasks = append(s.Tasks, task(tb, `id: wrong
prompt: make x
checks: [{file_exists: x}]
reference: [{tool: write_file, args: {path: y, content: "1"}}, {answer: done}]
`))
	return s
}

// runReference runs the reference model on suite; with p, every workspace is
// a sandbox of p.
func runReference(tb testing.TB, suite tasks.Suite, repeat, parallel int, p *Provider, sb sandbox.Sandbox) (map[string]results.Attempt, results.Manifest) {
	tb.Helper()
	reg, err := models.Load("")
	require.NoError(tb, err)
	tg, err := engine.ResolveTargets(reg, engine.Selection{Names: []string{reference.ModelID}, Temperature: -1})
	require.NoError(tb, err)
	plan := engine.Plan{Suite: suite, Targets: tg, Repeat: repeat, Parallel: parallel, Out: tb.TempDir(), WorkRoot: tb.TempDir(), Sandbox: sb}
	if p != nil {
		plan.Sandbox, plan.Workspaces = p, p.Workspace
	}
	out, err := engine.Run(context.Background(), engine.Options{Plan: plan})
	require.NoError(tb, err)
	as, _, err := results.ReadAttempts(out.Dir)
	require.NoError(tb, err)
	m := map[string]results.Attempt{}
	for _, a := range results.Latest(as) {
		m[fmt.Sprintf("%s#%d", a.Task, a.Repeat)] = a
	}
	man, err := results.ReadManifest(out.Dir)
	require.NoError(tb, err)
	return m, man
}

func TestSmokeInModalMatchesBubblewrap(t *testing.T) {
	local, err := sandbox.NewBwrap(sandbox.DefaultLimits)
	if err != nil {
		t.Skipf("bubblewrap does not work here: %v", err)
	}
	suite := smokeSuite(t)
	want, _ := runReference(t, suite, 1, 4, nil, local)

	cp, p := fake(t, fakemodal.SandboxOptions{Run: local})
	got, man := runReference(t, suite, 1, 4, p, nil)
	require.Equal(t, Mode, man.Sandbox)
	require.Len(t, got, len(want))
	for k, w := range want {
		require.Equal(t, w.Status, got[k].Status, k)
		require.Equal(t, w.FailureClass, got[k].FailureClass, k)
		require.Equal(t, w.Checks, got[k].Checks, k)
	}
	require.Equal(t, results.StatusFail, got["wrong#0"].Status)
	require.Len(t, cp.Sandboxes(), len(suite.Tasks), "one sandbox per attempt")
	for _, v := range cp.Sandboxes() {
		require.False(t, v.Running, "every sandbox terminated")
		require.Equal(t, man.RunID, v.Tags[TagRun])
	}
}

func TestASandboxThatDiesErrsAloneAndTheRunGoesOn(t *testing.T) {
	suite := smokeSuite(t)
	_, p := fake(t, fakemodal.SandboxOptions{DieAfter: 2, DieTags: map[string]string{TagTask: "code-fix"}})
	got, _ := runReference(t, suite, 2, 4, p, nil)
	require.Len(t, got, 2*len(suite.Tasks))
	for k, a := range got {
		switch a.Task {
		case "code-fix":
			require.Equal(t, results.StatusError, a.Status, k)
			require.Equal(t, ClassLost, a.FailureClass, k)
		case "wrong":
			require.Equal(t, results.StatusFail, a.Status, k)
		default:
			require.Equal(t, results.StatusPass, a.Status, k)
		}
	}
}

func TestARefusedOrFullSandboxErrsWithItsClass(t *testing.T) {
	for _, tc := range []struct {
		opts  fakemodal.SandboxOptions
		class string
	}{
		{fakemodal.SandboxOptions{Refuse: "app is stopped"}, ClassRefused},
		{fakemodal.SandboxOptions{Quota: 1}, ClassQuota},
	} {
		t.Run(tc.class, func(t *testing.T) {
			_, p := fake(t, tc.opts)
			got, _ := runReference(t, smokeSuite(t), 1, 6, p, nil)
			classes := map[string]int{}
			for _, a := range got {
				classes[a.FailureClass]++
				if a.FailureClass == tc.class {
					require.Equal(t, results.StatusError, a.Status)
				}
			}
			require.NotZero(t, classes[tc.class], "%v", classes)
			if tc.opts.Quota > 0 {
				require.Less(t, classes[tc.class], len(got), "the attempt that got the sandbox ran: %v", classes)
			}
		})
	}
}

func TestSandboxTimeIsPricedInRunJSON(t *testing.T) {
	_, p := fake(t, fakemodal.SandboxOptions{})
	suite := smokeSuite(t)
	got, man := runReference(t, suite, 1, 4, p, nil)
	u := man.Models[0].Sandbox
	require.NotNil(t, u)
	require.Equal(t, len(got), u.Sandboxes)
	require.Greater(t, u.Seconds, 0.0)
	require.InDelta(t, u.Seconds*DefaultCPU, u.CPUSeconds, 1e-9)
	require.InDelta(t, u.Seconds*DefaultMemoryMiB/1024, u.GiBSeconds, 1e-9)
	require.InDelta(t, u.CPUSeconds*0.00003942+u.GiBSeconds*0.00000672, u.CostUSD, 1e-12)
}
