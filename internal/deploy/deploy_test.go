package deploy

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/internal/deploy/fakemodal"
)

func TestEnvironment(t *testing.T) {
	tests := []struct {
		name, flag, env, want string
	}{
		{"flag wins", "nightly", "other", "nightly"},
		{"variable next", "", "staging", "staging"},
		{"default last", "", "", DefaultEnvironment},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("MODAL_ENVIRONMENT", tc.env)
			require.Equal(t, tc.want, Environment(tc.flag))
		})
	}
}

// TestCheckCredentials follows how the Modal Go SDK resolves credentials
// (modal-client go/config.go getProfile, go/client.go
// validateProfileCredentials): OAuth counts, a profile counts only when it
// is active or named by MODAL_PROFILE, and a half-configured one does not.
func TestCheckCredentials(t *testing.T) {
	tests := []struct {
		name        string
		env         map[string]string
		file        string
		wantErr     bool
		errContains []string
	}{
		{name: "token in variables", env: map[string]string{"MODAL_TOKEN_ID": "ak-1", "MODAL_TOKEN_SECRET": "as-1"}},
		{name: "active profile", file: "[me]\ntoken_id = \"ak\"\ntoken_secret = \"as\"\nactive = true\n"},
		{name: "profile chosen by MODAL_PROFILE", env: map[string]string{"MODAL_PROFILE": "ci"}, file: "[ci]\ntoken_id = \"ak\"\ntoken_secret = \"as\"\n"},
		{name: "OAuth in variables", env: map[string]string{"MODAL_OAUTH_REFRESH_TOKEN": "rt", "MODAL_OAUTH_CLIENT_ID": "cid", "MODAL_OAUTH_CLIENT_SECRET": "cs"}},
		{name: "OAuth with a JWT key in the profile", file: "[me]\nactive = true\noauth_refresh_token = \"rt\"\noauth_client_id = \"c\"\noauth_jwt_key = \"k\"\n"},
		{name: "nothing", wantErr: true, errContains: []string{"MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET", ".modal.toml"}},
		{name: "profile that is not active", file: "[default]\ntoken_id = \"ak\"\ntoken_secret = \"as\"\n", wantErr: true, errContains: []string{"no active profile", "MODAL_PROFILE"}},
		{name: "secret missing", env: map[string]string{"MODAL_TOKEN_ID": "ak-1"}, wantErr: true, errContains: []string{"no token secret"}},
		{name: "id missing", env: map[string]string{"MODAL_TOKEN_SECRET": "as-1"}, wantErr: true, errContains: []string{"no token id"}},
		{name: "OAuth without a client secret or key", env: map[string]string{"MODAL_OAUTH_REFRESH_TOKEN": "rt", "MODAL_OAUTH_CLIENT_ID": "cid"}, wantErr: true, errContains: []string{"exactly one"}},
		{name: "OAuth with both", env: map[string]string{"MODAL_OAUTH_REFRESH_TOKEN": "rt", "MODAL_OAUTH_CLIENT_ID": "cid", "MODAL_OAUTH_CLIENT_SECRET": "s", "MODAL_OAUTH_JWT_KEY": "k"}, wantErr: true, errContains: []string{"exactly one"}},
		{name: "token and OAuth", env: map[string]string{"MODAL_TOKEN_ID": "ak", "MODAL_TOKEN_SECRET": "as", "MODAL_OAUTH_REFRESH_TOKEN": "rt"}, wantErr: true, errContains: []string{"only one kind"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			t.Setenv("HOME", home)
			for _, k := range []string{"MODAL_CONFIG_PATH", "MODAL_PROFILE", "MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET", "MODAL_OAUTH_REFRESH_TOKEN",
				"MODAL_OAUTH_CLIENT_ID", "MODAL_OAUTH_CLIENT_SECRET", "MODAL_OAUTH_JWT_KEY"} {
				t.Setenv(k, tc.env[k])
			}
			if tc.file != "" {
				require.NoError(t, os.WriteFile(filepath.Join(home, ".modal.toml"), []byte(tc.file), 0o600))
			}
			err := CheckCredentials()
			if !tc.wantErr {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, s := range tc.errContains {
				require.Contains(t, err.Error(), s)
			}
		})
	}
}

func TestEnsureDeploysMissingApp(t *testing.T) {
	tests := []struct {
		name, key, script string
	}{
		{"vllm", "qwen3-4b", "modal/vllm.py"},
		{"gpt-oss", "gpt-oss-20b", "modal/gpt_oss.py"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			t.Setenv("OPENAI_API_KEY", "sk-must-not-leak")
			t.Setenv("HF_TOKEN", "hf-must-not-leak")
			ms := startModelServer(t, coldStart{coldProbes: 2})
			tg := target(tc.key, tc.script)
			require.NoError(t, h.cp.PlanDeploy(tg.AppName, ms.URL))

			ep, err := h.deployer(t, nil).Ensure(context.Background(), tg)
			require.NoError(t, err)

			require.Equal(t, ms.URL, ep.URL, "the URL comes from the SDK lookup, not the fallback")
			require.True(t, ep.Deployed)
			require.False(t, ep.Woke, "an app this run deployed is reported as deployed, not woken")
			require.True(t, ep.Started())
			require.Positive(t, ep.ColdStart)
			require.True(t, h.cp.Deployed(testEnv, tg.AppName))

			inv := h.invocations(t)
			require.Len(t, inv, 1, "exactly one deploy")
			require.Equal(t, []string{"deploy", tc.script, "--env", testEnv}, inv[0].Args)
			require.Equal(t, string(tg.SpecJSON), inv[0].Env["GOATBENCH_MODEL_SPEC"])
			require.Equal(t, SpecHash(tg.SpecJSON), inv[0].Env["GOATBENCH_SPEC_HASH"])
			require.Equal(t, SpecHash(tg.SpecJSON), ep.SpecHash)
			require.Equal(t, h.cp.AppID(testEnv, tg.AppName), ep.AppID)
			require.Equal(t, testToken, inv[0].Env["MODAL_TOKEN_ID"])
			require.Equal(t, testSecret, inv[0].Env["MODAL_TOKEN_SECRET"])
			require.NotContains(t, inv[0].Env, "OPENAI_API_KEY")
			require.NotContains(t, inv[0].Env, "HF_TOKEN")
			require.Equal(t, h.repo, inv[0].Dir)

			require.Equal(t, []string{
				testEnv + "/" + tg.AppName + "/serve", // not found
				testEnv + "/" + tg.AppName + "/serve", // found after the deploy
			}, h.cp.Lookups())
			log, err := os.ReadFile(filepath.Join(h.logs, "deploy-"+tc.key+".log"))
			require.NoError(t, err)
			require.Contains(t, string(log), "App deployed")
			require.Equal(t, []Phase{PhaseLookup, PhaseDeploying, PhaseWarming, PhaseReady}, h.phasesOf(tc.key))
		})
	}
}

func TestEnsureUsesDeployedApp(t *testing.T) {
	h := newHarness(t)
	ms := startModelServer(t, coldStart{})
	tg := target("qwen3-4b", "modal/vllm.py")
	h.publish(t, tg, ms.URL)

	ep, err := h.deployer(t, nil).Ensure(context.Background(), tg)
	require.NoError(t, err)
	require.Equal(t, Endpoint{Key: tg.Key, AppName: tg.AppName, AppID: h.cp.AppID(testEnv, tg.AppName), URL: ms.URL,
		SpecHash: SpecHash(tg.SpecJSON), ColdStart: ep.ColdStart}, ep)
	require.False(t, ep.Started(), "an app that was already warm is someone else's to stop")
	require.Empty(t, h.invocations(t), "no deploy")
	require.Equal(t, 1, h.cp.Requests("FunctionGet"))
	require.Equal(t, 1, h.cp.Requests("AuthTokenGet"))
	require.Equal(t, []Phase{PhaseLookup, PhaseWarming, PhaseReady}, h.phasesOf(tg.Key))
}

func TestEnsureDeployFailureNamesLog(t *testing.T) {
	h := newHarness(t)
	tg := target("gpt-oss-20b", "modal/gpt_oss.py")
	require.NoError(t, h.cp.FailDeploy(tg.AppName, "Traceback (most recent call last):\nRuntimeError: image build failed: CUDA 12.8 required"))

	ep, err := h.deployer(t, nil).Ensure(context.Background(), tg)
	require.Error(t, err)
	logPath := filepath.Join(h.logs, "deploy-gpt-oss-20b.log")
	require.Contains(t, err.Error(), "gpt-oss-20b: ")
	require.Contains(t, err.Error(), logPath)
	require.Contains(t, err.Error(), "RuntimeError: image build failed: CUDA 12.8 required")
	var ce *CLIError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, logPath, ce.Log)

	log, err := os.ReadFile(logPath)
	require.NoError(t, err)
	require.Contains(t, string(log), "Traceback")
	require.False(t, ep.Started())
	require.False(t, h.cp.Deployed(testEnv, tg.AppName))
	require.Equal(t, []Phase{PhaseLookup, PhaseDeploying, PhaseFailed}, h.phasesOf(tg.Key))
}

func TestEnsureAllIsolatesFailures(t *testing.T) {
	h := newHarness(t)
	ready := startModelServer(t, coldStart{})
	stuck := startModelServer(t, coldStart{never: true})
	fresh := startModelServer(t, coldStart{coldProbes: 3})
	a, b, c := target("qwen3-4b", "modal/vllm.py"), target("llama-3.1-8b", "modal/vllm.py"), target("gpt-oss-20b", "modal/gpt_oss.py")
	b.StartupTimeout = 150 * time.Millisecond
	h.publish(t, a, ready.URL)
	h.publish(t, b, stuck.URL)
	require.NoError(t, h.cp.PlanDeploy(c.AppName, fresh.URL))

	var mu sync.Mutex
	var got []string
	out := h.deployer(t, nil).EnsureAll(context.Background(), []Target{a, b, c}, func(ep Endpoint) {
		mu.Lock()
		got = append(got, ep.Key)
		mu.Unlock()
	})

	require.ElementsMatch(t, []string{a.Key, c.Key}, got, "the models that warmed are handed over")
	require.Len(t, out, 3)
	require.NoError(t, out[0].Err)
	require.NoError(t, out[2].Err)
	require.Error(t, out[1].Err)
	require.Contains(t, out[1].Err.Error(), b.Key+": not ready within the startup timeout of 150ms")
	require.Contains(t, out[1].Err.Error(), "HTTP 503")
	require.ErrorIs(t, out.Err(), out[1].Err)
	require.Len(t, out.Endpoints(), 2)
	require.True(t, out[2].Endpoint.Deployed)
	require.True(t, out[1].Endpoint.Woke, "a model poked but never warm may hold a container")
	require.Equal(t, []string{b.AppName, c.AppName}, appNames(out.Started()))
	require.Equal(t, PhaseFailed, last(h.phasesOf(b.Key)))
	require.Equal(t, PhaseReady, last(h.phasesOf(a.Key)))
	require.Equal(t, PhaseReady, last(h.phasesOf(c.Key)))
}

// TestEnsureAllPipelines: the slow model becomes warm only once the fast
// model's endpoint has been handed over, so EnsureAll succeeds only if it
// hands each model over as soon as that one is ready.
func TestEnsureAllPipelines(t *testing.T) {
	h := newHarness(t)
	release := make(chan struct{})
	fast := startModelServer(t, coldStart{})
	slow := startModelServer(t, coldStart{release: release})
	ft, st := target("qwen3-4b", "modal/vllm.py"), target("qwen3-235b", "modal/vllm.py")
	h.publish(t, ft, fast.URL)
	h.publish(t, st, slow.URL)

	var order []string
	var mu sync.Mutex
	out := h.deployer(t, nil).EnsureAll(context.Background(), []Target{st, ft}, func(ep Endpoint) {
		mu.Lock()
		order = append(order, ep.Key)
		mu.Unlock()
		if ep.Key == ft.Key {
			close(release)
		}
	})
	require.NoError(t, out.Err())
	require.Equal(t, []string{ft.Key, st.Key}, order)
}

func TestEnsureAllRejectsDuplicates(t *testing.T) {
	h := newHarness(t)
	ms := startModelServer(t, coldStart{})
	tg := target("qwen3-4b", "modal/vllm.py")
	h.publish(t, tg, ms.URL)
	out := h.deployer(t, nil).EnsureAll(context.Background(), []Target{tg, tg}, nil)
	require.NoError(t, out[0].Err)
	require.ErrorContains(t, out[1].Err, "listed twice")
}

func TestEnsureWithoutDeploying(t *testing.T) {
	tests := []struct {
		name        string
		credentials bool
		fallback    bool
		wantErr     []string
	}{
		{name: "missing credentials", wantErr: []string{"MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET"}},
		{name: "app not deployed and deploying off", credentials: true, wantErr: []string{"not deployed", testEnv, "deploying is turned off"}},
		{name: "no credentials, public fallback URL", fallback: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			if !tc.credentials {
				t.Setenv("MODAL_TOKEN_ID", "")
				t.Setenv("MODAL_TOKEN_SECRET", "")
			}
			ms := startModelServer(t, coldStart{})
			tg := target("qwen3-4b", "modal/vllm.py")
			require.NoError(t, h.cp.PlanDeploy(tg.AppName, ms.URL))
			noDeploy := tc.credentials || tc.fallback
			if tc.fallback {
				tg.FallbackURL = ms.URL
			}
			ep, err := h.deployer(t, func(o *Options) { o.NoDeploy = noDeploy }).Ensure(context.Background(), tg)
			require.Empty(t, h.invocations(t), "nothing may be deployed")
			if tc.wantErr == nil {
				require.NoError(t, err)
				require.Equal(t, ms.URL, ep.URL)
				require.Zero(t, h.cp.Requests("FunctionGet"), "no lookup without credentials")
				return
			}
			require.Error(t, err)
			for _, s := range tc.wantErr {
				require.Contains(t, err.Error(), s)
			}
		})
	}
}

func TestEnsureRejectedCredentials(t *testing.T) {
	h := newHarness(t)
	t.Setenv("MODAL_TOKEN_SECRET", "as-wrong")
	tg := target("qwen3-4b", "modal/vllm.py")
	_, err := h.deployer(t, nil).Ensure(context.Background(), tg)
	require.ErrorContains(t, err, "look up app goat-vllm-qwen3-4b")
	require.ErrorContains(t, err, "invalid token id or secret")
	require.Empty(t, h.invocations(t), "a failed lookup is not a missing app")
}

func TestEnsureMissingCLI(t *testing.T) {
	tests := []struct {
		name    string
		command []string
		want    string
	}{
		{"modal", nil, `"modal" is not on PATH`},
		{"uvx", []string{"uvx", "modal"}, `"uvx" is not on PATH`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			t.Setenv("PATH", t.TempDir())
			tg := target("qwen3-4b", "modal/vllm.py")
			_, err := h.deployer(t, func(o *Options) { o.ModalCommand = tc.command }).Ensure(context.Background(), tg)
			require.ErrorIs(t, err, ErrNoCLI)
			require.ErrorContains(t, err, tc.want)
			require.ErrorContains(t, err, "pip install modal")
			require.ErrorContains(t, err, "uvx modal")
		})
	}
}

func TestEnsureMissingScript(t *testing.T) {
	h := newHarness(t)
	tg := target("qwen3-4b", "modal/nope.py")
	_, err := h.deployer(t, nil).Ensure(context.Background(), tg)
	require.ErrorContains(t, err, "deploy script")
	require.ErrorContains(t, err, "nope.py")
	require.Empty(t, h.invocations(t))
}

func TestWarm(t *testing.T) {
	tests := []struct {
		name     string
		server   coldStart
		budget   time.Duration
		wantCold bool
		wantHits int
		wantErr  string
	}{
		{name: "already warm", server: coldStart{}, wantHits: 1},
		{name: "503 while loading", server: coldStart{coldProbes: 3}, wantCold: true, wantHits: 4},
		{name: "request held until a container is up", server: coldStart{hold: 50 * time.Millisecond}, wantCold: true, wantHits: 1},
		{name: "redirect chain", server: coldStart{redirects: 4}, wantHits: 1},
		{name: "redirect chain while loading", server: coldStart{redirects: 2, coldProbes: 1}, wantCold: true, wantHits: 2},
		{name: "never warm", server: coldStart{never: true}, budget: 80 * time.Millisecond, wantErr: "never answered 200 (last: HTTP 503)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			d := h.deployer(t, func(o *Options) { o.WokeThreshold = 20 * time.Millisecond })
			ms := startModelServer(t, tc.server)
			budget := tc.budget
			if budget == 0 {
				budget = 5 * time.Second
			}
			cold, woke, err := d.warm(context.Background(), ms.URL+"/", budget)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.wantCold, woke)
			require.Positive(t, cold)
			hits, redirected := ms.counts()
			require.Equal(t, tc.wantHits, hits)
			require.Equal(t, tc.server.redirects*hits, redirected)
		})
	}
}

func TestWarmUnreachable(t *testing.T) {
	h := newHarness(t)
	d := h.deployer(t, nil)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := lis.Addr().String()
	require.NoError(t, lis.Close()) // now nothing listens there
	_, _, err = d.warm(context.Background(), "http://"+addr, 50*time.Millisecond)
	require.ErrorContains(t, err, "never answered 200")
	require.ErrorContains(t, err, "connection refused")
}

func TestWarmCancelled(t *testing.T) {
	h := newHarness(t)
	d := h.deployer(t, nil)
	ms := startModelServer(t, coldStart{never: true})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := d.warm(ctx, ms.URL, time.Minute)
	require.ErrorIs(t, err, context.Canceled)
}

// TestStopStarted: stopping what a run started ends its containers and keeps
// its deployment, so the next run finds the app deployed; the old
// `modal app stop` undeployed it (modal-labs/modal-client py/modal/cli/app.py
// stop: "Permanently stop an App").
func TestStopStarted(t *testing.T) {
	h := newHarness(t)
	d := h.deployer(t, nil)
	var eps []Endpoint
	for _, key := range []string{"a", "b", "c"} {
		tg := target(key, "modal/vllm.py")
		h.publish(t, tg, "http://x.invalid")
		_, err := h.cp.StartContainer(testEnv, tg.AppName)
		require.NoError(t, err)
		_, err = h.cp.StartContainer(testEnv, tg.AppName)
		require.NoError(t, err)
		eps = append(eps, Endpoint{Key: key, AppName: tg.AppName})
	}
	eps[0].Deployed = true
	eps[2].Woke = true
	eps[2].AppID = h.cp.AppID(testEnv, eps[2].AppName) // known from the lookup; a and b are looked up again
	require.NoError(t, d.StopStarted(context.Background(), eps))

	for i, ep := range eps {
		require.True(t, h.cp.Deployed(testEnv, ep.AppName), "%s stays deployed", ep.AppName)
		if i == 1 {
			require.Len(t, h.cp.Containers(testEnv, ep.AppName), 2, "an app this run did not start is someone else's")
			continue
		}
		require.Empty(t, h.cp.Containers(testEnv, ep.AppName), "%s has no container left", ep.AppName)
	}
	var lists, stops int
	for _, inv := range h.invocations(t) {
		require.NotEqual(t, []string{"app", "stop"}, inv.Args[:2], "nothing is undeployed")
		switch {
		case inv.Args[0] == "container" && inv.Args[1] == "list":
			lists++
			require.Contains(t, inv.Args, "--json")
			require.Contains(t, inv.Args, testEnv)
		case inv.Args[0] == "container" && inv.Args[1] == "stop":
			stops++
			require.Contains(t, inv.Args, "--yes", "without it the real CLI aborts when stdin is not a terminal")
		}
	}
	require.Equal(t, 2, lists)
	require.Equal(t, 4, stops)

	// A stopped app's next lookup still finds it, at the same spec.
	app, err := d.Lookup(context.Background(), eps[0].AppName)
	require.NoError(t, err)
	require.Equal(t, SpecHash(target("a", "").SpecJSON), app.SpecHash)
}

func TestStopContainersAlreadyStopped(t *testing.T) {
	h := newHarness(t)
	d := h.deployer(t, nil)
	tg := target("a", "modal/vllm.py")
	h.publish(t, tg, "http://x.invalid")
	id, err := h.cp.StartContainer(testEnv, tg.AppName)
	require.NoError(t, err)
	// The real CLI answers a finished container with "Container '<id>' is
	// already stopped." and exit 1 (py/modal/cli/container.py stop).
	require.NoError(t, d.runCLI(context.Background(), "x", []string{"container", "stop", id, "--yes"}, nil))
	err = d.runCLI(context.Background(), "x", []string{"container", "stop", id, "--yes"}, nil)
	require.ErrorContains(t, err, "Container '"+id+"' is already stopped.")
	require.NoError(t, d.StopContainers(context.Background(), tg.AppName, ""), "nothing left to stop")
	require.NoError(t, d.StopContainers(context.Background(), "goat-vllm-missing", ""), "an app that is not deployed runs nothing")
}

// TestEnsureRedeploysStaleApp: an app deployed from another spec is
// redeployed, and with --no-deploy refused naming both specs.
func TestEnsureRedeploysStaleApp(t *testing.T) {
	for _, recorded := range []string{"0123456789ab", ""} {
		t.Run("deployed spec "+orUnknown(recorded), func(t *testing.T) {
			h := newHarness(t)
			ms := startModelServer(t, coldStart{})
			tg := target("qwen3-4b", "modal/vllm.py")
			if recorded != "" {
				require.NoError(t, h.cp.PublishSpec(testEnv, tg.AppName, ms.URL, recorded))
			} else {
				require.NoError(t, h.cp.Publish(testEnv, tg.AppName, ms.URL))
			}
			require.NoError(t, h.cp.PlanDeploy(tg.AppName, ms.URL))
			want := SpecHash(tg.SpecJSON)

			_, err := h.deployer(t, func(o *Options) { o.NoDeploy = true }).Ensure(context.Background(), tg)
			var se *StaleError
			require.ErrorAs(t, err, &se)
			require.ErrorContains(t, err, "deployed from spec "+orUnknown(recorded)+", not this run's spec "+want)
			require.NotContains(t, err.Error(), "\n")
			require.Empty(t, h.invocations(t))

			ep, err := h.deployer(t, nil).Ensure(context.Background(), tg)
			require.NoError(t, err)
			require.True(t, ep.Deployed)
			require.Equal(t, want, ep.SpecHash)
			fns, err := h.cp.Functions(testEnv, tg.AppName)
			require.NoError(t, err)
			require.ElementsMatch(t, []string{"serve", "spec_" + want}, fns)
		})
	}
}

// TestEnsureGeneratedURL: the URL is the one Modal generates for the
// environment's web suffix, read from the SDK, not one goatbench builds.
func TestEnsureGeneratedURL(t *testing.T) {
	h := newHarness(t)
	ms := startModelServer(t, coldStart{})
	addr := strings.TrimPrefix(ms.URL, "http://")
	// Every *.modal.run request reaches the test server, over plain HTTP.
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.URL.Scheme, r.URL.Host = "http", addr
		return http.DefaultTransport.RoundTrip(r)
	})}
	tg := target("llama-3.1-8b", "modal/vllm.py")
	tg.FallbackURL = ""
	d := h.deployer(t, func(o *Options) { o.HTTPClient = client })
	ep, err := d.Ensure(context.Background(), tg)
	require.NoError(t, err)
	require.Equal(t, "https://"+fakemodal.Workspace+"-"+testEnvSuffix+"--goat-vllm-llama-3-1-8b-serve.modal.run", ep.URL)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestEnsureSetupMissing: before deploying, the environment and the Hugging
// Face secret are checked with the SDK, and the error names the command
// that adds what is missing.
func TestEnsureSetupMissing(t *testing.T) {
	tests := []struct {
		name  string
		setup func(*fakemodal.ControlPlane) error
		want  string
	}{
		{"no environment", func(*fakemodal.ControlPlane) error { return nil }, "modal environment create " + testEnv},
		{"no secret", func(cp *fakemodal.ControlPlane) error { return cp.AddEnvironment(testEnv, testEnvSuffix) },
			"modal secret create " + HFSecret + " HF_TOKEN=hf_... --env " + testEnv},
		{"secret without HF_TOKEN", func(cp *fakemodal.ControlPlane) error {
			if err := cp.AddEnvironment(testEnv, testEnvSuffix); err != nil {
				return err
			}
			return cp.AddSecret(testEnv, HFSecret, "HUGGING_FACE_HUB_TOKEN")
		}, "has no key HF_TOKEN (Secret is missing key(s): HF_TOKEN)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			require.NoError(t, os.RemoveAll(filepath.Join(h.cp.Dir(), "envs")))
			require.NoError(t, tc.setup(h.cp))
			_, err := h.deployer(t, nil).Ensure(context.Background(), target("qwen3-4b", "modal/vllm.py"))
			var se *SetupError
			require.ErrorAs(t, err, &se)
			require.ErrorContains(t, err, tc.want)
			require.Empty(t, h.invocations(t), "nothing deployed")
		})
	}
}

// TestWarmProxyAuth: the web endpoints require Modal proxy auth; warming
// sends the token, and without one stops at the first 401 with the fix.
func TestWarmProxyAuth(t *testing.T) {
	ms := startModelServer(t, coldStart{})
	target, err := url.Parse(ms.URL)
	require.NoError(t, err)
	srv := httptest.NewServer(fakemodal.ProxyAuth("wk-1", "ws-1", httputil.NewSingleHostReverseProxy(target)))
	t.Cleanup(srv.Close)
	h := newHarness(t)

	_, _, err = h.deployer(t, nil).warm(context.Background(), srv.URL, time.Minute)
	require.ErrorContains(t, err, "HTTP 401")
	require.ErrorContains(t, err, ProxyTokenIDEnv)
	hits, _ := ms.counts()
	require.Zero(t, hits, "the proxy stops the request before the container")

	t.Setenv(ProxyTokenIDEnv, "wk-1")
	t.Setenv(ProxyTokenSecretEnv, "ws-1")
	_, _, err = h.deployer(t, nil).warm(context.Background(), srv.URL, time.Minute)
	require.NoError(t, err)
}

func TestEnsureGatedModelHint(t *testing.T) {
	h := newHarness(t)
	ms := startModelServer(t, coldStart{never: true})
	tg := target("llama-3.1-8b", "modal/vllm.py")
	tg.StartupTimeout = 50 * time.Millisecond
	tg.GatedModel = "meta-llama/Llama-3.1-8B-Instruct"
	h.publish(t, tg, ms.URL)
	_, err := h.deployer(t, nil).Ensure(context.Background(), tg)
	require.ErrorContains(t, err, "accept its licence at https://huggingface.co/meta-llama/Llama-3.1-8B-Instruct")
}

func TestCLIEnv(t *testing.T) {
	in := []string{
		"PATH=/usr/bin", "HOME=/home/u", "MODAL_TOKEN_ID=ak", "MODAL_TOKEN_SECRET=as", "MODAL_SERVER_URL=http://x",
		"OPENAI_API_KEY=sk", "ANTHROPIC_API_KEY=sk-ant", "HF_TOKEN=hf", "LITELLM_MASTER_KEY=lk", "AWS_SECRET_ACCESS_KEY=aws",
		"GOATBENCH_MODEL_SPEC=stale", ProxyTokenIDEnv + "=wk", ProxyTokenSecretEnv + "=ws",
	}
	require.ElementsMatch(t, []string{
		"PYTHONUNBUFFERED=1", "PATH=/usr/bin", "HOME=/home/u",
		"MODAL_TOKEN_ID=ak", "MODAL_TOKEN_SECRET=as", "MODAL_SERVER_URL=http://x",
	}, cliEnv(in))
}

func TestTail(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.log")
	content := "=== header\nline1\n\x1b[31mred error\x1b[0m\nprogress 10%\rprogress 100%\n\n=== exit: 1\n"
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	require.Equal(t, []string{"red error", "progress 10%", "progress 100%"}, tail(p, 3))
	require.Nil(t, tail(filepath.Join(t.TempDir(), "missing.log"), 3))
}

func TestCloseIsIdempotentAndFinal(t *testing.T) {
	h := newHarness(t)
	d := h.deployer(t, nil)
	require.NoError(t, d.Close())
	require.NoError(t, d.Close())
	_, err := d.Ensure(context.Background(), target("qwen3-4b", "modal/vllm.py"))
	require.ErrorContains(t, err, "closed")
}

func appNames(eps []Endpoint) []string {
	var n []string
	for _, e := range eps {
		n = append(n, e.AppName)
	}
	return n
}

func last(p []Phase) Phase {
	if len(p) == 0 {
		return ""
	}
	return p[len(p)-1]
}

// TestNamesMatchTheAppScripts: the secret checked before deploying and the
// hash variable are the ones modal/vllm_spec.py uses.
func TestNamesMatchTheAppScripts(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "modal", "vllm_spec.py"))
	require.NoError(t, err)
	require.Contains(t, string(src), `HF_SECRET = "`+HFSecret+`"`)
	require.Contains(t, string(src), `HASH_VAR = "GOATBENCH_SPEC_HASH"`)
	require.Contains(t, string(src), `MAX_INPUTS = 32`)
}

// The spec an app serves is what its one marker names; with two it is
// unknown, not either of them at random.
func TestSpecHashOfAnAppsMarkers(t *testing.T) {
	a, b := "0123456789ab", "ba9876543210"
	require.Equal(t, a, specHashOf(map[string]string{"serve": "fu-1", markerPrefix + a: "fu-2"}))
	require.Empty(t, specHashOf(map[string]string{"serve": "fu-1"}))
	require.Empty(t, specHashOf(map[string]string{markerPrefix + "nothex": "fu-2"}))
	for range 20 {
		require.Empty(t, specHashOf(map[string]string{markerPrefix + a: "fu-2", markerPrefix + b: "fu-3"}))
	}
}
