package agentproxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sashabaranov/go-openai"
	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/bench/tasks"
	"github.com/goatbench/goatbench/internal/reference"
	"github.com/goatbench/goatbench/internal/results"
	"github.com/goatbench/goatbench/internal/runner"
)

const realKey = "sk-real-upstream-key"

func smoke(t testing.TB) tasks.Suite {
	s, err := tasks.Load("smoke")
	require.NoError(t, err)
	return s
}

// seen is what the upstream server received.
type seen struct {
	mu    sync.Mutex
	auth  []string
	reqs  []openai.ChatCompletionRequest
	raw   []map[string]json.RawMessage
	calls int
}

type fixture struct {
	ref   *reference.Server
	seen  *seen
	proxy *Proxy
	url   string // the proxy's base URL
	upURL string // the upstream server's
	suite tasks.Suite
	t     *testing.T
}

// start serves the reference model behind a proxy; fault, when set, may
// answer a chat request itself (returning true), as reference.Intercept does.
func start(t *testing.T, cfg Config, fault func(w http.ResponseWriter, n int, req *openai.ChatCompletionRequest) bool) *fixture {
	t.Helper()
	f := &fixture{suite: smoke(t), seen: &seen{}, t: t}
	f.ref = reference.New(f.suite)
	f.ref.Intercept = func(w http.ResponseWriter, r *http.Request, req *openai.ChatCompletionRequest, turn int) bool {
		f.seen.mu.Lock()
		f.seen.calls++
		n := f.seen.calls
		f.seen.auth = append(f.seen.auth, r.Header.Get("Authorization"))
		f.seen.reqs = append(f.seen.reqs, *req)
		f.seen.mu.Unlock()
		return fault != nil && fault(w, n, req)
	}
	// The reference server decodes the body itself; keep the raw fields too.
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			b, _ := io.ReadAll(r.Body)
			var m map[string]json.RawMessage
			_ = json.Unmarshal(b, &m)
			f.seen.mu.Lock()
			f.seen.raw = append(f.seen.raw, m)
			f.seen.mu.Unlock()
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
		f.ref.ServeHTTP(w, r)
	}))
	t.Cleanup(up.Close)
	f.upURL = up.URL
	if cfg.Model == "" {
		cfg.Model = reference.ModelID
	}
	if cfg.Relay == nil {
		cfg.Relay = runner.NewRelay(runner.NewClient(up.URL+"/v1", realKey), 0, runner.RetryPolicy{Max: 3, Sleep: func(context.Context, time.Duration) error { return nil }})
	}
	p, err := New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	f.url, err = p.Start(ctx, "")
	require.NoError(t, err)
	f.proxy = p
	return f
}

// requests are the proxy's records once the requests so far have ended: the
// client may see a reply end a moment before its handler records it.
func (f *fixture) requests() []results.Request {
	require.NoError(f.t, f.proxy.Close())
	return f.proxy.Requests()
}

func (f *fixture) messages() []openai.ChatCompletionMessage {
	require.NoError(f.t, f.proxy.Close())
	return f.proxy.Messages()
}

func (f *fixture) client(key string) *openai.Client {
	return runner.NewClient(f.url, key).Client
}

func (f *fixture) firstRequest(task string, stream bool) openai.ChatCompletionRequest {
	for _, t := range f.suite.Tasks {
		if t.ID == task {
			req := openai.ChatCompletionRequest{Model: reference.ModelID, Stream: stream,
				Messages: []openai.ChatCompletionMessage{{Role: "user", Content: t.Prompt}},
				Tools:    []openai.Tool{{Type: "function", Function: &openai.FunctionDefinition{Name: "write_file", Parameters: json.RawMessage(`{"type":"object"}`)}}},
			}
			return req
		}
	}
	panic("no task " + task)
}

func float32p(v float32) *float32 { return &v }

func TestProxyRelaysAndRecords(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "stream"}[stream], func(t *testing.T) {
			f := start(t, Config{Temperature: float32p(0.3), ToolChoice: "auto"}, nil)
			req := f.firstRequest("file-create", stream)
			req.Temperature = 0.9
			c := f.client(f.proxy.Key())
			var msg openai.ChatCompletionMessage
			if stream {
				s, err := c.CreateChatCompletionStream(context.Background(), req)
				require.NoError(t, err)
				var a runner.Assembler
				for {
					ch, err := s.Recv()
					if errors.Is(err, io.EOF) {
						break
					}
					require.NoError(t, err)
					require.NotEmpty(t, ch.Choices, "a usage-only chunk the agent did not ask for is not passed on")
					b, err := json.Marshal(ch)
					require.NoError(t, err)
					_, err = a.Add(b)
					require.NoError(t, err)
				}
				s.Close()
				msg, _ = a.Message(true)
			} else {
				resp, err := c.CreateChatCompletion(context.Background(), req)
				require.NoError(t, err)
				msg = resp.Choices[0].Message
			}
			require.Len(t, msg.ToolCalls, 1)
			require.Equal(t, "write_file", msg.ToolCalls[0].Function.Name)

			require.Equal(t, []string{"Bearer " + realKey}, f.seen.auth, "the proxy sends the real key, never the agent's")
			up := f.seen.reqs[0]
			require.InDelta(t, 0.3, up.Temperature, 1e-6, "the target's temperature replaces the agent's")
			require.Equal(t, "auto", up.ToolChoice)
			if stream {
				require.NotNil(t, up.StreamOptions)
				require.True(t, up.StreamOptions.IncludeUsage, "the proxy asks for the usage chunk")
			}

			recs := f.requests()
			require.Len(t, recs, 1)
			r := recs[0]
			require.Empty(t, r.Error)
			require.Equal(t, stream, r.Stream)
			require.Positive(t, r.TokensIn)
			require.Positive(t, r.TokensOut)
			require.Positive(t, r.Total)
			if stream {
				require.Positive(t, r.TTFT)
			} else {
				require.Zero(t, r.TTFT)
			}
			msgs := f.messages()
			require.Len(t, msgs, 2, "the prompt, then the reply")
			require.Equal(t, "user", msgs[0].Role)
			require.Equal(t, "write_file", msgs[1].ToolCalls[0].Function.Name)
		})
	}
}

func TestProxyRespectsAgentParams(t *testing.T) {
	f := start(t, Config{Temperature: float32p(0.3), ToolChoice: "auto", RespectAgentParams: true}, nil)
	req := f.firstRequest("file-create", false)
	req.Temperature = 0.9
	req.ToolChoice = "required"
	_, err := f.client(f.proxy.Key()).CreateChatCompletion(context.Background(), req)
	require.NoError(t, err)
	require.InDelta(t, 0.9, f.seen.reqs[0].Temperature, 1e-6)
	require.Equal(t, "required", f.seen.reqs[0].ToolChoice)

	// Left out by the agent: the defaults fill them in.
	req.Temperature, req.ToolChoice = 0, nil
	_, err = f.client(f.proxy.Key()).CreateChatCompletion(context.Background(), req)
	require.NoError(t, err)
	require.JSONEq(t, `0.3`, string(f.seen.raw[1]["temperature"]))
	require.JSONEq(t, `"auto"`, string(f.seen.raw[1]["tool_choice"]))
}

func TestProxyNoToolChoiceWithoutTools(t *testing.T) {
	f := start(t, Config{ToolChoice: "auto"}, nil)
	req := f.firstRequest("file-create", false)
	req.Tools = nil
	_, err := f.client(f.proxy.Key()).CreateChatCompletion(context.Background(), req)
	require.NoError(t, err)
	_, has := f.seen.raw[0]["tool_choice"]
	require.False(t, has, "vLLM refuses tool_choice without tools")
}

func TestProxyRefuses(t *testing.T) {
	f := start(t, Config{Aliases: []string{"reference-shown"}}, nil)
	ctx := context.Background()

	// Another model name: a 400 the attempt records, and nothing upstream.
	req := f.firstRequest("file-create", false)
	req.Model = "gpt-5"
	_, err := f.client(f.proxy.Key()).CreateChatCompletion(ctx, req)
	var apiErr *openai.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, 400, apiErr.HTTPStatusCode)
	require.Contains(t, apiErr.Message, `"gpt-5"`)
	recs := f.proxy.Requests() // refusals are recorded before they are answered
	require.Len(t, recs, 1)
	require.Contains(t, recs[0].Error, "HTTP 400")
	require.Zero(t, f.seen.calls)

	// The alias is the same model: forwarded under its real name.
	req.Model = "reference-shown"
	_, err = f.client(f.proxy.Key()).CreateChatCompletion(ctx, req)
	require.NoError(t, err)
	require.Equal(t, reference.ModelID, f.seen.reqs[0].Model)

	// The real key, or none, does not open the proxy.
	for _, key := range []string{realKey, ""} {
		_, err = f.client(key).CreateChatCompletion(ctx, req)
		require.ErrorAs(t, err, &apiErr)
		require.Equal(t, 401, apiErr.HTTPStatusCode)
	}

	// Models lists the attempt's own model only.
	ms, err := f.client(f.proxy.Key()).ListModels(ctx)
	require.NoError(t, err)
	require.Len(t, ms.Models, 1)
	require.Equal(t, reference.ModelID, ms.Models[0].ID)

	// Not JSON: a 400, recorded.
	resp := post(t, f.url+"/chat/completions", f.proxy.Key(), "{not json")
	require.Equal(t, 400, resp.StatusCode)
	require.Len(t, f.proxy.Requests(), 3)
}

func post(t *testing.T, url, key, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func TestProxyRetriesRedirectsAndCost(t *testing.T) {
	f := start(t, Config{}, func(w http.ResponseWriter, n int, req *openai.ChatCompletionRequest) bool {
		if n == 1 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(503)
			_, _ = w.Write([]byte(`{"error":{"message":"overloaded","type":"server_error","code":"503"}}`))
			return true
		}
		// LiteLLM's cost header (litellm/proxy/common_request_processing.py).
		w.Header().Set("x-litellm-response-cost", "0.0042")
		return false
	})
	req := f.firstRequest("file-create", true)
	s, err := f.client(f.proxy.Key()).CreateChatCompletionStream(context.Background(), req)
	require.NoError(t, err)
	for {
		if _, err := s.Recv(); err != nil {
			require.ErrorIs(t, err, io.EOF)
			break
		}
	}
	s.Close()
	recs := f.requests()
	require.Len(t, recs, 1)
	require.Equal(t, 1, recs[0].Retries)
	require.Contains(t, recs[0].Retried[0], "HTTP 503")
	require.Empty(t, recs[0].Error)
	require.InDelta(t, 0.0042, recs[0].CostUSD, 1e-9)
}

func TestProxyFollowsRedirects(t *testing.T) {
	for _, stream := range []bool{false, true} {
		f := start(t, Config{}, nil)
		f.ref.Redirects = 2 // Modal's 303s to a result URL, then the reply there
		resp := postJSON(t, f, f.firstRequest("file-create", stream))
		require.Equal(t, 200, resp.StatusCode)
		r := f.requests()[0]
		require.Empty(t, r.Error)
		require.Positive(t, r.TokensOut)
		require.Equal(t, "write_file", f.messages()[1].ToolCalls[0].Function.Name)
	}
}

// sendFirst sends file-create's first request and returns the reply unread.
func sendFirst(t *testing.T, f *fixture, stream bool) *http.Response {
	t.Helper()
	b, err := json.Marshal(f.firstRequest("file-create", stream))
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, f.url+"/chat/completions", bytes.NewReader(b))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+f.proxy.Key())
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	return resp
}

func postJSON(t *testing.T, f *fixture, req openai.ChatCompletionRequest) *http.Response {
	b, err := json.Marshal(req)
	require.NoError(t, err)
	return post(t, f.url+"/chat/completions", f.proxy.Key(), string(b))
}

func TestProxyStreamUsageCost(t *testing.T) {
	// A stream whose last chunk carries usage with a cost, as LiteLLM and
	// OpenRouter send it; the agent asked for usage, so it sees that chunk.
	f := start(t, Config{}, func(w http.ResponseWriter, n int, req *openai.ChatCompletionRequest) bool {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, `data: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":"Done."},"finish_reason":"stop"}]}`+"\n\n")
		_, _ = io.WriteString(w, `data: {"id":"x","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":11,"completion_tokens":2,"total_tokens":13,"cost":0.5}}`+"\n\n")
		_, _ = io.WriteString(w, "data: [DONE]\n\n")
		return true
	})
	req := f.firstRequest("file-create", true)
	req.StreamOptions = &openai.StreamOptions{IncludeUsage: true}
	s, err := f.client(f.proxy.Key()).CreateChatCompletionStream(context.Background(), req)
	require.NoError(t, err)
	sawUsage := false
	for {
		ch, err := s.Recv()
		if err != nil {
			break
		}
		sawUsage = sawUsage || ch.Usage != nil
	}
	s.Close()
	require.True(t, sawUsage)
	r := f.requests()[0]
	require.Equal(t, 11, r.TokensIn)
	require.Equal(t, 2, r.TokensOut)
	require.InDelta(t, 0.5, r.CostUSD, 1e-9)
	require.Equal(t, "Done.", f.messages()[1].Content)
}

func TestProxyUpstreamDownAndUnixSocket(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	relay := runner.NewRelay(runner.NewClient(dead.URL+"/v1", realKey), 0, runner.RetryPolicy{})
	p, err := New(Config{Model: "m", Relay: relay})
	require.NoError(t, err)
	sock := filepath.Join(t.TempDir(), "proxy.sock")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err = p.Start(ctx, sock)
	require.NoError(t, err)

	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	req, _ := http.NewRequest(http.MethodPost, "http://proxy/v1/chat/completions", strings.NewReader(`{"model":"m","messages":[]}`))
	req.Header.Set("Authorization", "Bearer "+p.Key())
	resp, err := c.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusBadGateway, resp.StatusCode, string(b))
	require.Contains(t, p.Requests()[0].Error, "connect")
	require.NoError(t, p.Close())
	require.NoFileExists(t, sock)
}

func TestProxyErrorRepliesNeverCarryTheKey(t *testing.T) {
	// LiteLLM's auth error quotes the key it was given
	// (litellm/proxy/auth/user_api_key_auth.py: "Received API Key = ...").
	f := start(t, Config{}, func(w http.ResponseWriter, n int, req *openai.ChatCompletionRequest) bool {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(401)
		_, _ = io.WriteString(w, `{"error":{"message":"Authentication Error, Received API Key = `+realKey+`","type":"auth_error","code":"401"}}`)
		return true
	})
	req := f.firstRequest("file-create", false)
	_, err := f.client(f.proxy.Key()).CreateChatCompletion(context.Background(), req)
	var apiErr *openai.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, 401, apiErr.HTTPStatusCode, "the model's error reaches the agent as it was")
	require.NotContains(t, apiErr.Message, realKey)
	require.Contains(t, apiErr.Message, "[REDACTED]")
	r := f.requests()[0]
	require.Contains(t, r.Error, "HTTP 401")
	require.NotContains(t, r.Error, realKey)
}

func TestProxyRecordsACutStream(t *testing.T) {
	f := start(t, Config{}, nil)
	f.ref.Shape = reference.Shape{CutAfter: 3} // the server drops the connection midway
	resp := postJSON(t, f, f.firstRequest("file-create", true))
	require.Equal(t, 200, resp.StatusCode, "the stream had begun")
	r := f.requests()[0]
	require.Contains(t, r.Error, "the stream broke before the reply was complete")
	require.Zero(t, r.Retries, "a reply that began is never retried, as in the loop")
}

// A reply relayed to an agent is held to the client's limits, as the loop's
// own are: a line with no end, an endless stream and a plain reply over the
// limit each end at it, recorded as an oversized reply and not kept, and
// the proxy holds no more than the limit meanwhile.
func TestProxyHoldsARelayedReplyToTheLimits(t *testing.T) {
	limits := runner.Limits{Body: 256 << 10, Event: 16 << 10, Arguments: 16 << 10, ToolCalls: 8}
	chunk := `data: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"a"}}]}` + "\n\n"
	cases := map[string]struct {
		stream bool
		reply  func(w http.ResponseWriter)
		want   string
	}{
		"a line with no end": {true, func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/event-stream")
			line := bytes.Repeat([]byte("A"), 4<<10)
			for range 1 << 12 { // 16 MiB, unless the proxy hangs up first
				if _, err := w.Write(line); err != nil {
					return
				}
			}
		}, "one stream event is over the 16384-byte limit"},
		"an endless stream": {true, func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/event-stream")
			for range 1 << 17 {
				if _, err := io.WriteString(w, chunk); err != nil {
					return
				}
			}
		}, "the stream is over the 262144-byte limit"},
		"a plain reply": {false, func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"choices":[{"message":{"role":"assistant","content":"`+strings.Repeat("a", 300<<10)+`"}}]}`)
		}, "the reply body is over the 262144-byte limit"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			f := start(t, Config{}, func(w http.ResponseWriter, n int, req *openai.ChatCompletionRequest) bool {
				c.reply(w)
				return true
			})
			f.proxy.cfg.Relay = runner.NewRelay(runner.NewClient(f.upURL+"/v1", realKey, runner.LimitReplies(limits)), 0, runner.RetryPolicy{})
			resp := postJSON(t, f, f.firstRequest("file-create", c.stream))
			require.Less(t, resp.StatusCode, 600)
			recs := f.requests()
			require.Len(t, recs, 1)
			require.True(t, runner.Oversized(recs[0].Error), recs[0].Error)
			require.Contains(t, recs[0].Error, c.want)
			for _, m := range f.proxy.Messages() {
				require.NotEqual(t, openai.ChatMessageRoleAssistant, m.Role, "nothing of a reply over a limit is kept")
			}
		})
	}
}

// An agent that hangs up on a reply it asked for did so itself: its
// request's error is the agent's, which never makes its attempt the
// server's error (see agentcmd's serverFailure).
func TestProxyAnAgentThatHangsUpIsTheAgents(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	f := start(t, Config{}, func(w http.ResponseWriter, n int, req *openai.ChatCompletionRequest) bool {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, `data: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":"Do"}}]}`+"\n\n")
		w.(http.Flusher).Flush()
		select { // a slow model: the rest never comes while the agent waits
		case <-release:
		case <-time.After(10 * time.Second):
		}
		return true
	})
	resp := sendFirst(t, f, true)
	first := make([]byte, 16)
	_, err := io.ReadFull(resp.Body, first)
	require.NoError(t, err)
	resp.Body.Close() // and hangs up
	recs := f.requests()
	require.Len(t, recs, 1)
	require.True(t, strings.HasPrefix(recs[0].Error, "the agent's"), recs[0].Error)
}

// An agent that gives up on a server silent for serverSilence gave up on a
// server that failed to answer: that stays the server's error, before the
// reply began and within it.
func TestProxyAnAgentGivingUpOnASilentServerIsTheServers(t *testing.T) {
	defer func(d time.Duration) { serverSilence = d }(serverSilence)
	serverSilence = 100 * time.Millisecond
	for _, begun := range []bool{false, true} {
		t.Run(map[bool]string{false: "no reply", true: "mid-stream"}[begun], func(t *testing.T) {
			release := make(chan struct{})
			defer close(release)
			f := start(t, Config{}, func(w http.ResponseWriter, n int, req *openai.ChatCompletionRequest) bool {
				if begun {
					w.Header().Set("Content-Type", "text/event-stream")
					_, _ = io.WriteString(w, `data: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":"Do"}}]}`+"\n\n")
					w.(http.Flusher).Flush()
				}
				select {
				case <-release:
				case <-time.After(10 * time.Second):
				}
				return true
			})
			b, err := json.Marshal(f.firstRequest("file-create", true))
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond) // the agent's own timeout
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.url+"/chat/completions", bytes.NewReader(b))
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer "+f.proxy.Key())
			if resp, err := http.DefaultClient.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			recs := f.requests()
			require.Len(t, recs, 1)
			require.True(t, strings.HasPrefix(recs[0].Error, "the model's server sent nothing for"), recs[0].Error)
		})
	}
}

// "stream" must be a JSON bool: a server may read the string "true" as true
// and stream a reply the proxy would take for a plain one.
func TestProxyRefusesAStreamThatIsNoBool(t *testing.T) {
	f := start(t, Config{}, nil)
	b, err := json.Marshal(f.firstRequest("file-create", false))
	require.NoError(t, err)
	var req map[string]any
	require.NoError(t, json.Unmarshal(b, &req))
	req["stream"] = "true"
	b, err = json.Marshal(req)
	require.NoError(t, err)
	resp := post(t, f.url+"/chat/completions", f.proxy.Key(), string(b))
	require.Equal(t, 400, resp.StatusCode)
	recs := f.requests()
	require.Len(t, recs, 1)
	require.True(t, strings.HasPrefix(recs[0].Error, "the agent's"), recs[0].Error)
	require.Zero(t, f.seen.calls, "nothing went upstream")
}

// Of the model server's reply headers the agent gets only those its client
// reads, their values redacted: a server may echo back what it was sent.
func TestProxyPassesOnlyTheHeadersAnAgentReads(t *testing.T) {
	f := start(t, Config{}, func(w http.ResponseWriter, n int, req *openai.ChatCompletionRequest) bool {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("X-Echo", "Bearer "+realKey)
		h.Set("Www-Authenticate", `Bearer realm="`+realKey+`"`)
		h.Set("X-Request-Id", "req-"+realKey)
		h.Set("Retry-After", "1")
		h.Set("X-Ratelimit-Remaining-Requests", "5")
		_, _ = io.WriteString(w, `{"choices":[{"message":{"role":"assistant","content":"Done."}}]}`)
		return true
	})
	resp := sendFirst(t, f, false)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	for k, vs := range resp.Header {
		for _, v := range vs {
			require.NotContains(t, v, realKey, k)
		}
	}
	require.Empty(t, resp.Header.Get("X-Echo"))
	require.Empty(t, resp.Header.Get("Www-Authenticate"))
	require.Equal(t, "1", resp.Header.Get("Retry-After"))
	require.Equal(t, "5", resp.Header.Get("X-Ratelimit-Remaining-Requests"))
	require.True(t, strings.HasPrefix(resp.Header.Get("X-Request-Id"), "req-"))
}

// An agent that sends one large conversation after another, each unlike
// the last, has them kept up to MaxKept, then one note that the rest is not.
func TestProxyKeepsAnAttemptsMessagesToACap(t *testing.T) {
	const maxKept = 1 << 20
	f := start(t, Config{MaxKept: maxKept}, func(w http.ResponseWriter, n int, req *openai.ChatCompletionRequest) bool {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"choices":[{"message":{"role":"assistant","content":"Done."}}]}`)
		return true
	})
	big := strings.Repeat("x", 100<<10)
	sent, requests := 0, 0
	for i := 0; sent <= 2*maxKept; i++ {
		req := f.firstRequest("file-create", false)
		req.Messages = append(req.Messages, openai.ChatCompletionMessage{Role: "user", Content: fmt.Sprintf("%d %s", i, big)})
		resp := postJSON(t, f, req)
		require.Equal(t, 200, resp.StatusCode)
		sent += len(big)
		requests++
	}
	msgs := f.messages()
	kept := 0
	for _, m := range msgs {
		kept += len(m.Content)
	}
	require.LessOrEqual(t, kept, maxKept+1024)
	require.Greater(t, kept, maxKept/2)
	last := msgs[len(msgs)-1]
	require.Equal(t, "goatbench", last.Name)
	require.Contains(t, last.Content, "not recorded")
	require.Len(t, f.proxy.Requests(), requests, "every request is still recorded")

	// A conversation resent whole each turn counts once.
	g := start(t, Config{MaxKept: maxKept}, func(w http.ResponseWriter, n int, req *openai.ChatCompletionRequest) bool {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"choices":[{"message":{"role":"assistant","content":"Done."}}]}`)
		return true
	})
	req := g.firstRequest("file-create", false)
	for i := range 20 {
		req.Messages = append(req.Messages, openai.ChatCompletionMessage{Role: "user", Content: fmt.Sprintf("%d %s", i, big[:40<<10])})
		resp := postJSON(t, g, req)
		require.Equal(t, 200, resp.StatusCode)
		req.Messages = append(req.Messages, g.proxy.Messages()[len(g.proxy.Messages())-1])
	}
	for _, m := range g.messages() {
		require.NotEqual(t, "goatbench", m.Name, "20 turns of 40 KiB are under the cap, however often resent")
	}
}

// More than MaxConcurrent chat requests at once: the one over is refused
// with a 429 and recorded as the agent's, and the others are served.
func TestProxyServesSoManyRequestsAtOnce(t *testing.T) {
	release := make(chan struct{})
	var arrived sync.WaitGroup
	arrived.Add(MaxConcurrent)
	f := start(t, Config{}, func(w http.ResponseWriter, n int, req *openai.ChatCompletionRequest) bool {
		arrived.Done()
		<-release
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"choices":[{"message":{"role":"assistant","content":"Done."}}]}`)
		return true
	})
	codes := make(chan int, MaxConcurrent)
	for range MaxConcurrent {
		go func() { codes <- postJSON(t, f, f.firstRequest("file-create", false)).StatusCode }()
	}
	arrived.Wait() // all of them upstream, each holding a slot
	resp := postJSON(t, f, f.firstRequest("file-create", false))
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	close(release)
	for range MaxConcurrent {
		require.Equal(t, 200, <-codes)
	}
	recs := f.requests()
	require.Len(t, recs, MaxConcurrent+1)
	refused := 0
	for _, r := range recs {
		if r.Error != "" {
			refused++
			require.True(t, strings.HasPrefix(r.Error, "the agent's"), r.Error)
		}
	}
	require.Equal(t, 1, refused)
}

// An agent's requests past what an attempt's line lists are merged into
// fewer records, not kept one by one: a hostile agent's stream of refused
// requests grew the proxy, and then the attempt's line past what a reader
// of results.jsonl takes.
func TestProxyKeepsSoManyRequestRecords(t *testing.T) {
	f := start(t, Config{}, nil)
	const n = results.MaxRequests + 100
	for i := range n {
		resp := post(t, f.url+"/chat/completions", f.proxy.Key(), fmt.Sprintf("not json %d", i))
		require.Equal(t, 400, resp.StatusCode)
	}
	resp := sendFirst(t, f, false)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	recs := f.requests()
	require.LessOrEqual(t, len(recs), results.MaxRequests)
	total := 0
	for _, r := range recs {
		total += 1 + r.More
	}
	require.Equal(t, n+1, total, "every request is counted")
	last := recs[len(recs)-1]
	require.Empty(t, last.Error, "the last record ends as the last request did")
	require.Positive(t, last.TokensIn, "the relayed request's tokens are summed in")
}

// A model name the agent made up is quoted cut in its record: of any length,
// it made a single request's record, and the attempt's line, 18 MB.
func TestProxyCutsTheModelNameItQuotes(t *testing.T) {
	f := start(t, Config{}, nil)
	resp := post(t, f.url+"/chat/completions", f.proxy.Key(), `{"model":"`+strings.Repeat("‹", 1<<20)+`","messages":[]}`)
	require.Equal(t, 400, resp.StatusCode)
	recs := f.requests()
	require.Len(t, recs, 1)
	require.Less(t, len(recs[0].Error), 600)
	require.Contains(t, recs[0].Error, "the agent asked for model")
}

// The proxy holds at most MaxConns of an agent's connections open: each is
// one of goatbench's files, and an agent that held them open by the
// thousand made other attempts' commands fail to start.
func TestProxyHoldsSoManyConnections(t *testing.T) {
	f := start(t, Config{}, nil)
	u, err := url.Parse(f.url)
	require.NoError(t, err)
	const n = MaxConns + 16
	conns := make([]net.Conn, n)
	for i := range conns {
		c, err := net.Dial("tcp", u.Host)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		_, err = fmt.Fprintf(c, "GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", f.proxy.Key())
		require.NoError(t, err)
		conns[i] = c
	}
	answered := func(c net.Conn, within time.Duration) bool {
		_ = c.SetReadDeadline(time.Now().Add(within))
		line, err := bufio.NewReader(c).ReadString('\n')
		return err == nil && strings.HasPrefix(line, "HTTP/1.1 200")
	}
	got := 0
	for _, c := range conns[:MaxConns] {
		if answered(c, 5*time.Second) {
			got++
		}
	}
	require.Equal(t, MaxConns, got, "the first ones are served")
	for _, c := range conns[MaxConns:] {
		require.False(t, answered(c, 20*time.Millisecond), "one more waits while the others are open")
	}
	conns[0].Close()
	require.True(t, answered(conns[MaxConns], 5*time.Second), "and is served once one closes")
}

// The proxy tells whether the last request to end had a reply cut at the
// token limit, streamed or plain; a later request that got no reply is the
// last one then.
func TestProxyTellsAReplyCutAtTheTokenLimit(t *testing.T) {
	for _, stream := range []bool{false, true} {
		f := start(t, Config{}, func(w http.ResponseWriter, n int, req *openai.ChatCompletionRequest) bool {
			if stream {
				w.Header().Set("Content-Type", "text/event-stream")
				_, _ = io.WriteString(w, `data: {"choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"}}]}`+"\n\n"+
					`data: {"choices":[{"index":0,"delta":{},"finish_reason":"length"}]}`+"\n\n"+"data: [DONE]\n\n")
				return true
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"choices":[{"index":0,"message":{"role":"assistant","content":"Hel"},"finish_reason":"length"}]}`)
			return true
		})
		require.False(t, f.proxy.CutOff())
		resp := sendFirst(t, f, stream)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode)
		require.True(t, f.proxy.CutOff(), "stream %v", stream)
		require.Equal(t, 400, post(t, f.url+"/chat/completions", f.proxy.Key(), "not json").StatusCode)
		require.False(t, f.proxy.CutOff(), "stream %v: the refused request ended last", stream)
	}
}
