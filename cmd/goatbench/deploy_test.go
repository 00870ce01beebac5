package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sashabaranov/go-openai"
	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/internal/deploy"
	"github.com/goatbench/goatbench/internal/deploy/fakemodal"
	"github.com/goatbench/goatbench/internal/models"
)

// fakeModal is a Modal control plane and a modal command line on PATH, with
// credentials in the environment, run from the repository root so the deploy
// scripts resolve.
func fakeModal(t *testing.T) *fakemodal.ControlPlane {
	t.Helper()
	cp, err := fakemodal.Start(t.TempDir(), "ak-test", "as-test")
	require.NoError(t, err)
	t.Cleanup(cp.Close)
	bin := t.TempDir()
	require.NoError(t, cp.InstallCLI(bin))
	require.NoError(t, cp.AddEnvironment("goat", "goat"))
	require.NoError(t, cp.AddSecret("goat", deploy.HFSecret, deploy.HFTokenKey))
	t.Setenv("HOME", t.TempDir())
	t.Setenv("MODAL_CONFIG_PATH", "")
	t.Setenv("MODAL_ENVIRONMENT", "")
	t.Setenv("MODAL_WORKSPACE", "")
	t.Setenv("MODAL_SERVER_URL", cp.URL)
	t.Setenv("MODAL_TOKEN_ID", "ak-test")
	t.Setenv("MODAL_TOKEN_SECRET", "as-test")
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv(deploy.ProxyTokenIDEnv, "")
	t.Setenv(deploy.ProxyTokenSecretEnv, "")
	t.Chdir("../..")
	return cp
}

// publish marks a registry model's app deployed from its current spec (as
// the registry at registryPath, "" for the built-in one, defines it).
func publish(t *testing.T, cp *fakemodal.ControlPlane, registryPath, key, url string) {
	t.Helper()
	reg, err := models.Load(registryPath)
	require.NoError(t, err)
	spec, err := reg.Lookup(key)
	require.NoError(t, err)
	b, err := spec.JSON()
	require.NoError(t, err)
	require.NoError(t, cp.PublishSpec("goat", spec.AppName(), url, deploy.SpecHash(b)))
}

// healthy is a model endpoint whose /health answers 200.
func healthy(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			w.WriteHeader(http.StatusOK)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestDeployDeploysWhatIsMissing(t *testing.T) {
	cp := fakeModal(t)
	qwen, gpt := healthy(t), healthy(t)
	require.NoError(t, cp.PlanDeploy("goat-vllm-qwen3-4b", qwen))
	publish(t, cp, "", "gpt-oss-20b", gpt) // already deployed

	code, stdout, stderr := goatbench(t, "deploy", "qwen3-4b", "gpt-oss-20b", "--out", t.TempDir())
	require.Equal(t, exitOK, code, stderr)
	require.Regexp(t, `qwen3-4b\s+goat-vllm-qwen3-4b\s+deployed\s+[0-9a-f]{12}\s+\S+\s+`+qwen, stdout)
	require.Regexp(t, `gpt-oss-20b\s+goat-vllm-gpt-oss-20b\s+warm\s+[0-9a-f]{12}\s+\S+\s+`+gpt, stdout)
	require.Contains(t, stderr, "qwen3-4b       deploying")

	inv, err := cp.Invocations()
	require.NoError(t, err)
	require.Len(t, inv, 1, "exactly one deploy")
	require.Equal(t, []string{"deploy", "modal/vllm.py", "--env", "goat"}, inv[0].Args)
	var spec map[string]any
	require.NoError(t, json.Unmarshal([]byte(inv[0].Env["GOATBENCH_MODEL_SPEC"]), &spec))
	require.Equal(t, "Qwen/Qwen3-4B-Instruct-2507", spec["hf_id"])
}

func TestDeployErrors(t *testing.T) {
	cp := fakeModal(t)
	require.NoError(t, cp.FailDeploy("goat-vllm-qwen3-4b", "Error: image build failed"))
	out := t.TempDir()
	code, _, stderr := goatbench(t, "deploy", "qwen3-4b", "--out", out)
	require.Equal(t, exitInfra, code)
	require.Contains(t, stderr, "deploy-qwen3-4b.log")
	require.Contains(t, stderr, "image build failed")

	code, _, stderr = goatbench(t, "deploy", "gpt-5-nano")
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, "API model")

	t.Setenv("MODAL_TOKEN_ID", "")
	code, _, stderr = goatbench(t, "deploy", "qwen3-4b", "--out", out)
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, "MODAL_TOKEN_ID")
}

// fakeProxy answers like a LiteLLM proxy: it lists routes, and each route
// answers the tool-call probe as told.
func fakeProxy(t *testing.T, routes map[string]openai.ChatCompletionMessage) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/health":
			w.WriteHeader(http.StatusOK)
		case strings.HasSuffix(r.URL.Path, "/models"):
			var data []map[string]string
			for id := range routes {
				data = append(data, map[string]string{"id": id, "object": "model"})
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data})
		case strings.HasSuffix(r.URL.Path, "/chat/completions"):
			var req openai.ChatCompletionRequest
			require.NoError(t, json.NewDecoder(r.Body).Decode(&req))
			msg := routes[req.Model]
			msg.Role = "assistant"
			_ = json.NewEncoder(w).Encode(openai.ChatCompletionResponse{Choices: []openai.ChatCompletionChoice{{Message: msg}}})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/v1"
}

func TestDoctor(t *testing.T) {
	fakeModal(t)
	call := openai.ChatCompletionMessage{ToolCalls: []openai.ToolCall{{ID: "c1", Type: "function", Function: openai.FunctionCall{Name: "list_dir", Arguments: `{"path":"."}`}}}}
	asText := openai.ChatCompletionMessage{Content: `<tool_call>{"name": "list_dir", "arguments": {"path": "."}}</tool_call>`}
	url := fakeProxy(t, map[string]openai.ChatCompletionMessage{"qwen3-4b-local": call, "llama-3.1-8b-local": asText})

	code, stdout, stderr := goatbench(t, "doctor", "--models", "qwen3-4b", "--base-url", url, "--api-key", "sk-test")
	require.Equal(t, exitOK, code, stdout+stderr)
	require.Regexp(t, `✓\s+tool call qwen3-4b`, stdout)

	code, stdout, _ = goatbench(t, "doctor", "--models", "qwen3-4b,llama-3.1-8b,gpt-oss-20b", "--base-url", url, "--api-key", "sk-test")
	require.Equal(t, exitFailed, code)
	require.Regexp(t, `✓\s+route qwen3-4b-local`, stdout)
	require.Regexp(t, `✗\s+tool call llama-3.1-8b\s+.*as text`, stdout)
	require.Regexp(t, `✗\s+route gpt-oss-20b-local\s+.*litellm-config --merge`, stdout)

	t.Setenv("OPENAI_BASE_URL", "")
	t.Setenv("OPENAI_API_KEY", "")
	t.Setenv("MODAL_TOKEN_SECRET", "")
	code, stdout, _ = goatbench(t, "doctor", "--models", "qwen3-4b")
	require.Equal(t, exitFailed, code)
	require.Regexp(t, `✗\s+Modal credentials\s+.*MODAL_TOKEN_SECRET`, stdout)
	require.Regexp(t, `✗\s+LiteLLM base URL`, stdout)
	require.Regexp(t, `✗\s+LiteLLM key`, stdout)

	// The offline model is no registry entry, and doctor says what it is.
	code, _, stderr = goatbench(t, "doctor", "--models", "reference")
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, `"reference" is goatbench's offline model`)
}

func TestDoctorDirect(t *testing.T) {
	cp := fakeModal(t)
	call := openai.ChatCompletionMessage{ToolCalls: []openai.ToolCall{{ID: "c1", Type: "function", Function: openai.FunctionCall{Name: "list_dir", Arguments: `{}`}}}}
	vllm := fakeProxy(t, map[string]openai.ChatCompletionMessage{"Qwen/Qwen3-4B-Instruct-2507": call})
	// The web endpoint requires Modal proxy auth, as the apps declare it.
	backend, err := url.Parse(vllm)
	require.NoError(t, err)
	authed := httptest.NewServer(fakemodal.ProxyAuth("wk-doc", "ws-doc", httputil.NewSingleHostReverseProxy(&url.URL{Scheme: backend.Scheme, Host: backend.Host})))
	t.Cleanup(authed.Close)
	publish(t, cp, "", "qwen3-4b", authed.URL)

	code, stdout, _ := goatbench(t, "doctor", "--models", "qwen3-4b", "--direct", "--no-deploy")
	require.Equal(t, exitFailed, code)
	require.Regexp(t, `✗\s+Modal proxy auth token\s+.*MODAL_PROXY_TOKEN_ID`, stdout)
	require.Regexp(t, `✗\s+tool call qwen3-4b\s+.*401`, stdout)

	t.Setenv("MODAL_PROXY_TOKEN_ID", "wk-doc")
	t.Setenv("MODAL_PROXY_TOKEN_SECRET", "ws-doc")
	code, stdout, stderr := goatbench(t, "doctor", "--models", "qwen3-4b", "--direct", "--no-deploy")
	require.Equal(t, exitOK, code, stdout+stderr)
	require.NotContains(t, stdout+stderr, "ws-doc", "the secret is never printed")
	require.Regexp(t, `✓\s+tool call qwen3-4b`, stdout)
	require.NotContains(t, stdout, "LiteLLM", "--direct skips the proxy")
}

// TestDoctorSaysWhatItChecked: a check that was not made shows "·" and why;
// nothing is called unreachable that was never asked; a missing API route
// points at the proxy's own config, a missing Modal route at litellm-config.
func TestDoctorSaysWhatItChecked(t *testing.T) {
	cp := fakeModal(t)
	t.Setenv("OPENAI_BASE_URL", "")
	t.Setenv("OPENAI_API_KEY", "")
	code, stdout, _ := goatbench(t, "doctor", "--models", "qwen3-4b,gpt-5-nano")
	require.Equal(t, exitFailed, code)
	require.NotContains(t, stdout, "not reachable")
	require.Regexp(t, `✗\s+LiteLLM base URL`, stdout)
	require.Regexp(t, `·\s+proxy answers /models\s+not checked: no proxy URL`, stdout)
	require.Regexp(t, `·\s+route qwen3-4b-local\s+not checked: no proxy URL`, stdout)
	require.Regexp(t, `·\s+tool call gpt-5-nano\s+not checked: no proxy URL`, stdout)
	require.Regexp(t, `✓\s+Modal environment goat\s+exists`, stdout)
	require.Regexp(t, `✓\s+secret goat-hf-token\s+has HF_TOKEN`, stdout)

	call := openai.ChatCompletionMessage{ToolCalls: []openai.ToolCall{{ID: "c1", Type: "function", Function: openai.FunctionCall{Name: "list_dir", Arguments: `{}`}}}}
	url := fakeProxy(t, map[string]openai.ChatCompletionMessage{"qwen3-4b-local": call})
	code, stdout, _ = goatbench(t, "doctor", "--models", "qwen3-4b,gpt-5-nano,llama-3.1-8b", "--base-url", url, "--api-key", "sk-test")
	require.Equal(t, exitFailed, code)
	require.Regexp(t, `✗\s+route gpt-5-nano\s+.*add a model_list entry named gpt-5-nano .*proxy's config`, stdout)
	require.NotRegexp(t, `route gpt-5-nano\s+.*litellm-config`, stdout, "API routes are not litellm-config's")
	require.Regexp(t, `✗\s+route llama-3.1-8b-local\s+.*litellm-config --merge`, stdout)
	require.Regexp(t, `·\s+tool call gpt-5-nano\s+not checked: the proxy has no route gpt-5-nano`, stdout)
	require.Regexp(t, `·\s+licence meta-llama/Llama-3.1-8B-Instruct\s+not checked: accept it at https://huggingface.co/meta-llama/Llama-3.1-8B-Instruct`, stdout)

	// The one-time setup, as Modal's SDK sees it.
	require.NoError(t, os.RemoveAll(filepath.Join(cp.Dir(), "envs")))
	_, stdout, _ = goatbench(t, "doctor", "--models", "qwen3-4b", "--base-url", url, "--api-key", "sk-test")
	require.Regexp(t, "✗\\s+Modal environment goat\\s+.*`modal environment create goat`", stdout)
	require.Regexp(t, `·\s+secret goat-hf-token\s+not checked: the environment is missing`, stdout)
	require.NoError(t, cp.AddEnvironment("goat", "goat"))
	_, stdout, _ = goatbench(t, "doctor", "--models", "qwen3-4b", "--base-url", url, "--api-key", "sk-test")
	require.Regexp(t, "✗\\s+secret goat-hf-token\\s+.*`modal secret create goat-hf-token HF_TOKEN=hf_... --env goat`", stdout)
}
