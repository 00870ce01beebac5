package main

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sashabaranov/go-openai"
	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/internal/engine"

	"github.com/goatbench/goatbench/bench/tasks"
	"github.com/goatbench/goatbench/internal/deploy/fakemodal"
	"github.com/goatbench/goatbench/internal/reference"
	"github.com/goatbench/goatbench/internal/results"
)

// modelApp is a Modal app's web endpoint: the reference server (which
// answers /health) recording the model each request names.
func modelApp(t *testing.T) (string, func() []string) {
	suite, err := tasks.Load("smoke")
	require.NoError(t, err)
	srv := reference.New(suite)
	var mu sync.Mutex
	var seen []string
	srv.Intercept = func(_ http.ResponseWriter, _ *http.Request, req *openai.ChatCompletionRequest, _ int) bool {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, req.Model)
		return false
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return hs.URL, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

func TestRunDeploysWarmsAndRunsThroughTheProxy(t *testing.T) {
	cp := fakeModal(t)
	qwen, _ := modelApp(t)
	require.NoError(t, cp.PlanDeploy("goat-vllm-qwen3-4b", qwen)) // not deployed yet
	proxy, _ := modelApp(t)                                       // the LiteLLM proxy
	out := t.TempDir()
	code, stdout, stderr := goatbench(t, "run", "--models", "qwen3-4b,gpt-5-nano", "--base-url", proxy+"/v1", "--out", out)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stdout, "qwen3-4b-local 5/5")
	require.Contains(t, stdout, "gpt-5-nano 5/5")
	require.Contains(t, stderr, "qwen3-4b-local: deploying")
	require.Regexp(t, `qwen3-4b-local: running \(warming \d+s\)`, stderr)

	inv, err := cp.Invocations()
	require.NoError(t, err)
	require.Len(t, inv, 1, "one deploy, for the Modal model only")
	require.Equal(t, []string{"deploy", "modal/vllm.py", "--env", "goat"}, inv[0].Args)

	dir := onlyRunDir(t, out)
	require.FileExists(t, filepath.Join(dir, "deploy-qwen3-4b.log"))
	m, err := results.ReadManifest(dir)
	require.NoError(t, err)
	qm := m.Models[0]
	require.Equal(t, "qwen3-4b-local", qm.Name)
	require.GreaterOrEqual(t, qm.HeldSeconds, engine.Scaledown.Seconds(), "held until the app scales down")
	require.Zero(t, m.Models[1].HeldSeconds, "API models are not held")
}

func TestRunDirectStopAfter(t *testing.T) {
	cp := fakeModal(t)
	backend, seen := modelApp(t)
	// The app's web endpoint requires Modal proxy auth, as modal/vllm_spec.py declares it:
	// warm-up and every --direct request must carry the token.
	target, err := url.Parse(backend)
	require.NoError(t, err)
	authed := httptest.NewServer(fakemodal.ProxyAuth("wk-run", "ws-run", httputil.NewSingleHostReverseProxy(target)))
	t.Cleanup(authed.Close)
	app := authed.URL
	publish(t, cp, "", "qwen3-4b", app)
	out := t.TempDir()
	t.Setenv("OPENAI_BASE_URL", "")
	t.Setenv("MODAL_PROXY_TOKEN_ID", "wk-run")
	t.Setenv("MODAL_PROXY_TOKEN_SECRET", "ws-run")
	code, _, stderr := goatbench(t, "run", "--models", "qwen3-4b", "--direct", "--stop-after", "--out", out)
	require.Equal(t, exitOK, code, stderr)
	require.NotContains(t, stderr, "ws-run")
	models := seen()
	require.NotEmpty(t, models)
	for _, m := range models {
		require.Equal(t, "Qwen/Qwen3-4B-Instruct-2507", m, "--direct asks vLLM by the Hugging Face id")
	}
	m, err := results.ReadManifest(onlyRunDir(t, out))
	require.NoError(t, err)
	require.Less(t, m.Models[0].HeldSeconds, engine.Scaledown.Seconds(), "--stop-after: no scale-down time")
	require.Equal(t, app+"/v1", m.Models[0].BaseURL)
	// The app was already warm: this run neither deployed nor woke it, so it
	// is not this run's to stop.
	inv, err := cp.Invocations()
	require.NoError(t, err)
	require.Empty(t, inv)
}

func TestModelThatNeverWarmsErrorsAlone(t *testing.T) {
	cp := fakeModal(t)
	never := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer never.Close()
	qwen, _ := modelApp(t)
	reg := filepath.Join(t.TempDir(), "fast.yaml")
	require.NoError(t, os.WriteFile(reg, []byte("models:\n  - key: llama-3.1-8b\n    startup_timeout_s: 1\n"), 0o644))
	publish(t, cp, reg, "llama-3.1-8b", never.URL)
	publish(t, cp, reg, "qwen3-4b", qwen)
	_, err := cp.StartContainer("goat", "goat-vllm-llama-3.1-8b") // what the warm-up woke
	require.NoError(t, err)
	proxy, _ := modelApp(t)
	out := t.TempDir()
	code, stdout, stderr := goatbench(t, "run", "--models", "llama-3.1-8b,qwen3-4b", "--registry", reg,
		"--base-url", proxy+"/v1", "--no-deploy", "--stop-after", "--out", out)
	require.Equal(t, exitInfra, code, stderr)
	require.Contains(t, stdout, "qwen3-4b-local 5/5")
	attempts, _, err := results.ReadAttempts(onlyRunDir(t, out))
	require.NoError(t, err)
	for _, a := range attempts {
		if a.Model == "llama-3.1-8b-local" {
			require.Equal(t, results.StatusError, a.Status)
			require.Equal(t, results.ClassDeploy, a.FailureClass)
		} else {
			require.Equal(t, results.StatusPass, a.Status)
		}
	}
	m, err := results.ReadManifest(onlyRunDir(t, out))
	require.NoError(t, err)
	require.NotEmpty(t, m.Models[0].Error)
	// It was woken (its first answer was not 200): --stop-after stops its
	// containers and keeps it deployed for the next run.
	inv, err := cp.Invocations()
	require.NoError(t, err)
	require.Len(t, inv, 2)
	require.Equal(t, []string{"container", "list", "--app-id", cp.AppID("goat", "goat-vllm-llama-3.1-8b"), "--env", "goat", "--json"}, inv[0].Args)
	require.Equal(t, "container stop", strings.Join(inv[1].Args[:2], " "))
	require.Empty(t, cp.Containers("goat", "goat-vllm-llama-3.1-8b"))
	require.True(t, cp.Deployed("goat", "goat-vllm-llama-3.1-8b"))
	require.NotEmpty(t, m.Models[1].SpecHash, "run.json records the spec that was benchmarked")
}

func TestRunNeedsModalCredentials(t *testing.T) {
	fakeModal(t)
	t.Setenv("MODAL_TOKEN_ID", "")
	t.Setenv("MODAL_TOKEN_SECRET", "")
	out := t.TempDir()
	code, _, stderr := goatbench(t, "run", "--models", "qwen3-4b", "--base-url", "http://127.0.0.1:1/v1", "--out", out)
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, "MODAL_TOKEN_ID")
	entries, _ := os.ReadDir(out)
	require.Empty(t, entries, "nothing written")
}
