package deploy

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/internal/deploy/fakemodal"
)

func TestMain(m *testing.M) {
	// The fake `modal` on PATH re-executes this binary; serve it and exit.
	fakemodal.MainIfCLI()
	os.Exit(m.Run())
}

const (
	testEnv       = "goat-test"
	testEnvSuffix = "gt"
	testToken     = "ak-test"
	testSecret    = "as-test-secret"
)

// harness is a fake Modal (control plane + CLI on PATH) and a repository
// with the two deploy scripts, wired through the environment the real SDK
// and CLI read.
type harness struct {
	cp   *fakemodal.ControlPlane
	repo string
	logs string
	bin  string

	mu     sync.Mutex
	phases map[string][]Phase
}

func newHarness(tb testing.TB) *harness {
	tb.Helper()
	cp, err := fakemodal.Start(tb.TempDir(), testToken, testSecret)
	require.NoError(tb, err)
	tb.Cleanup(cp.Close)
	h := &harness{cp: cp, repo: tb.TempDir(), logs: tb.TempDir(), bin: tb.TempDir(), phases: map[string][]Phase{}}
	require.NoError(tb, cp.InstallCLI(h.bin))
	require.NoError(tb, cp.AddEnvironment(testEnv, testEnvSuffix))
	require.NoError(tb, cp.AddSecret(testEnv, HFSecret, HFTokenKey))
	for _, s := range []string{"modal/vllm.py", "modal/gpt_oss.py"} {
		require.NoError(tb, os.MkdirAll(filepath.Join(h.repo, filepath.Dir(s)), 0o755))
		require.NoError(tb, os.WriteFile(filepath.Join(h.repo, s), []byte("# deploy script\n"), 0o644))
	}
	tb.Setenv("HOME", tb.TempDir()) // no ~/.modal.toml
	tb.Setenv("MODAL_CONFIG_PATH", "")
	tb.Setenv("MODAL_PROFILE", "")
	tb.Setenv("MODAL_ENVIRONMENT", "")
	tb.Setenv("MODAL_SERVER_URL", cp.URL)
	tb.Setenv("MODAL_TOKEN_ID", testToken)
	tb.Setenv("MODAL_TOKEN_SECRET", testSecret)
	tb.Setenv(ProxyTokenIDEnv, "")
	tb.Setenv(ProxyTokenSecretEnv, "")
	tb.Setenv("PATH", h.bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	return h
}

func (h *harness) deployer(tb testing.TB, edit func(*Options)) *Deployer {
	opts := Options{
		Environment:     testEnv,
		RepoDir:         h.repo,
		LogDir:          h.logs,
		PollInterval:    2 * time.Millisecond,
		MaxPollInterval: 20 * time.Millisecond,
		WokeThreshold:   time.Second,
		Progress: func(key string, p Phase, _ time.Duration) {
			h.mu.Lock()
			h.phases[key] = append(h.phases[key], p)
			h.mu.Unlock()
		},
	}
	if edit != nil {
		edit(&opts)
	}
	d := New(opts)
	tb.Cleanup(func() { _ = d.Close() })
	return d
}

// publish marks tg's app as deployed from tg's own spec, serving at url.
func (h *harness) publish(tb testing.TB, tg Target, url string) {
	tb.Helper()
	require.NoError(tb, h.cp.PublishSpec(testEnv, tg.AppName, url, SpecHash(tg.SpecJSON)))
}

func (h *harness) phasesOf(key string) []Phase {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Phase(nil), h.phases[key]...)
}

func (h *harness) invocations(tb testing.TB) []fakemodal.Invocation {
	inv, err := h.cp.Invocations()
	require.NoError(tb, err)
	return inv
}

func target(key, script string) Target {
	return Target{
		Key:            key,
		AppName:        "goat-vllm-" + key,
		Script:         script,
		SpecJSON:       []byte(fmt.Sprintf(`{"key":%q,"kind":"vllm","app_name":"goat-vllm-%s"}`, key, key)),
		StartupTimeout: 5 * time.Second,
		FallbackURL:    "http://fallback.invalid",
	}
}

// coldStart is how a fake model endpoint behaves while it starts.
type coldStart struct {
	coldProbes int             // /health answers 503 this many times first
	coldFor    time.Duration   // /health answers 503 until this long after the first request
	hold       time.Duration   // the first /health request is held this long, as Modal holds requests to a cold app
	release    <-chan struct{} // when set, /health answers 503 until it is closed
	never      bool            // /health never answers 200
	redirects  int             // each /health request goes through this many 303 redirects first
}

// modelServer stands in for a model's web endpoint during its cold start.
type modelServer struct {
	coldStart
	URL string

	mu         sync.Mutex
	hits       int // /health requests that reached the end of the redirect chain
	redirected int
	first      time.Time
}

func startModelServer(tb testing.TB, cs coldStart) *modelServer {
	m := &modelServer{coldStart: cs}
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		if m.redirects > 0 {
			m.mu.Lock()
			m.redirected++
			m.mu.Unlock()
			http.Redirect(w, r, "/hop/1", http.StatusSeeOther)
			return
		}
		m.serveHealth(w, r)
	})
	mux.HandleFunc("/hop/{n}", func(w http.ResponseWriter, r *http.Request) {
		var n int
		_, _ = fmt.Sscan(r.PathValue("n"), &n)
		if n < m.redirects {
			m.mu.Lock()
			m.redirected++
			m.mu.Unlock()
			http.Redirect(w, r, fmt.Sprintf("/hop/%d", n+1), http.StatusSeeOther)
			return
		}
		m.serveHealth(w, r)
	})
	srv := httptest.NewServer(mux)
	tb.Cleanup(srv.Close)
	m.URL = srv.URL
	return m
}

func (m *modelServer) serveHealth(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	m.hits++
	hit := m.hits
	if m.first.IsZero() {
		m.first = time.Now()
	}
	first := m.first
	m.mu.Unlock()
	if hit == 1 && m.hold > 0 {
		select {
		case <-time.After(m.hold):
		case <-r.Context().Done():
			return
		}
	}
	cold := m.never || hit <= m.coldProbes || time.Since(first) < m.coldFor
	if m.release != nil {
		select {
		case <-m.release:
		default:
			cold = true
		}
	}
	if cold {
		http.Error(w, "loading model", http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ok"))
}

func (m *modelServer) counts() (hits, redirected int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.hits, m.redirected
}
