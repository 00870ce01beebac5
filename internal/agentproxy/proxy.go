// Package agentproxy is the recording model proxy of one external-agent
// attempt: an OpenAI-compatible endpoint (/v1/chat/completions, streamed and
// plain, and /v1/models) that forwards to the attempt's real model with the
// real key, applies the model's request defaults, refuses any other model
// name, and records every request as the built-in loop records its own.
package agentproxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/goatbench/goatbench/internal/results"
	"github.com/goatbench/goatbench/internal/runner"
	"github.com/sashabaranov/go-openai"
	"golang.org/x/net/netutil"
)

// Config is what the proxy of one attempt needs.
type Config struct {
	Model   string   // the attempt's model: the "model" every request upstream carries
	Aliases []string // other names an agent may use for it (the name shown in reports)
	Relay   *runner.Relay
	// Request defaults of the target (local models: temperature 0.3 and
	// tool_choice "auto"); they replace the agent's values unless
	// RespectAgentParams, when they only fill what the agent left out.
	Temperature        *float32
	ToolChoice         string
	RespectAgentParams bool
	// MaxBody bounds a request body; 0 means 32 MiB.
	MaxBody int64
	// MaxKept bounds the bytes of messages the attempt's record keeps; 0
	// means 64 MiB. An agent that sends one large conversation after
	// another, each unlike the last, would have them all kept, and written
	// to the transcript.
	MaxKept int64
}

// Proxy serves one attempt's agent. Its zero value is not usable; see New.
type Proxy struct {
	cfg Config
	key string

	slots chan struct{} // chat requests in flight (see MaxConcurrent)

	mu       sync.Mutex
	requests []results.Request
	messages []openai.ChatCompletionMessage
	kept     int64             // bytes of messages kept (see MaxKept)
	dropped  bool              // and some were not
	seen     []json.RawMessage // the messages of the last request, all in messages
	replied  bool              // and its reply came after them
	cutOff   bool              // the last request to end had a reply cut at the token limit
	srv      *http.Server
	sockPath string
	closed   bool
	inflight sync.WaitGroup // handlers running: Close waits for their records
}

// New returns a proxy with a fresh per-attempt key.
func New(cfg Config) (*Proxy, error) {
	if cfg.Relay == nil || cfg.Model == "" {
		return nil, errors.New("agent proxy: a model and a relay are required")
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 32 << 20
	}
	if cfg.MaxKept <= 0 {
		cfg.MaxKept = 64 << 20
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("agent proxy: %w", err)
	}
	return &Proxy{cfg: cfg, key: "goatbench-attempt-" + hex.EncodeToString(b[:]), slots: make(chan struct{}, MaxConcurrent)}, nil
}

// Key is the dummy key the agent gets as OPENAI_API_KEY. It opens this proxy
// and nothing else; the proxy sends the real key upstream.
func (p *Proxy) Key() string { return p.key }

// Start serves on a free loopback TCP port and, when socketPath is not "",
// on a Unix socket there too (0666, so a sandboxed agent of any uid can
// connect; keep it in a directory only goatbench can enter). It returns the
// TCP base URL, ending in /v1. The proxy stops when ctx ends or on Close.
func (p *Proxy) Start(ctx context.Context, socketPath string) (string, error) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("agent proxy: %w", err)
	}
	lns := []net.Listener{tcp}
	if socketPath != "" {
		u, err := net.Listen("unix", socketPath)
		if err != nil {
			tcp.Close()
			return "", fmt.Errorf("agent proxy: %w", err)
		}
		if err := os.Chmod(socketPath, 0o666); err != nil {
			tcp.Close()
			u.Close()
			return "", fmt.Errorf("agent proxy: %w", err)
		}
		lns = append(lns, u)
	}
	// Each connection the agent holds open holds one of goatbench's files:
	// at most MaxConns a listener, the next waiting to be accepted (in the
	// kernel's backlog), and an idle one closed after a while. An agent that
	// opened them by the thousand took every file goatbench may open, and
	// other attempts' commands failed to start, as goatbench's errors.
	for i := range lns {
		lns[i] = netutil.LimitListener(lns[i], MaxConns)
	}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: idleTimeout}
	p.mu.Lock()
	p.srv, p.sockPath = srv, socketPath
	p.mu.Unlock()
	for _, ln := range lns {
		go func() { _ = srv.Serve(ln) }()
	}
	context.AfterFunc(ctx, func() { _ = p.Close() })
	return "http://" + tcp.Addr().String() + "/v1", nil
}

// Close stops serving, ends every request in flight and waits until each
// has been recorded: Requests and Messages are complete once it returns.
func (p *Proxy) Close() error {
	p.mu.Lock()
	srv, sock, already := p.srv, p.sockPath, p.closed
	p.closed = true
	p.mu.Unlock()
	if already || srv == nil {
		return nil
	}
	err := srv.Close()
	p.inflight.Wait()
	if sock != "" {
		_ = os.Remove(sock)
	}
	return err
}

// CutOff says the last chat request to end had a reply that ended at the
// token limit (finish_reason "length"), as a final answer cut off does.
func (p *Proxy) CutOff() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cutOff
}

// Requests are the records of every chat request so far, in the order they
// ended; after Close, of every request.
func (p *Proxy) Requests() []results.Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]results.Request(nil), p.requests...)
}

// Messages is the conversation as the proxy saw it: each request's new
// messages, then the model's reply to it.
func (p *Proxy) Messages() []openai.ChatCompletionMessage {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]openai.ChatCompletionMessage(nil), p.messages...)
}

// ServeHTTP routes a request. LiteLLM serves each route with and without the
// /v1 prefix (BerriAI/litellm, litellm/proxy/proxy_server.py: the
// "/v1/chat/completions" and "/chat/completions" routes), and agents written
// against it may use either.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		writeError(w, http.StatusServiceUnavailable, "server_error", "", "the attempt is over")
		return
	}
	p.inflight.Add(1)
	p.mu.Unlock()
	defer p.inflight.Done()
	if !p.authorized(r) {
		// LiteLLM's shape for a bad key (litellm/proxy/auth/user_api_key_auth.py).
		writeError(w, http.StatusUnauthorized, "auth_error", "", "this endpoint takes the OPENAI_API_KEY goatbench gave the agent")
		return
	}
	path := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v1"), "/")
	switch {
	case path == "/models" && r.Method == http.MethodGet:
		p.models(w)
	case path == "/chat/completions" && r.Method == http.MethodPost:
		select {
		case p.slots <- struct{}{}:
			defer func() { <-p.slots }()
			p.chat(w, r)
		default:
			rec := results.Request{Error: fmt.Sprintf("the agent's request was refused: more than %d at once", MaxConcurrent)}
			p.record(rec, nil, nil)
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusTooManyRequests, "rate_limit_error", "", rec.Error)
		}
	case path == "/models" || path == "/chat/completions":
		writeError(w, http.StatusMethodNotAllowed, "invalid_request_error", "", "method not allowed")
	default:
		writeError(w, http.StatusNotFound, "invalid_request_error", "", "goatbench's agent proxy serves /v1/chat/completions and /v1/models only")
	}
}

func (p *Proxy) authorized(r *http.Request) bool {
	got := strings.TrimSpace(r.Header.Get("Authorization"))
	if k, ok := strings.CutPrefix(got, "Bearer "); ok {
		got = strings.TrimSpace(k)
	}
	if got == "" {
		got = r.Header.Get("api-key") // the Azure-style header some clients send
	}
	return got == p.key
}

// models lists the attempt's model alone, in OpenAI's list shape
// (platform.openai.com/docs/api-reference/models/list).
func (p *Proxy) models(w http.ResponseWriter) {
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": []map[string]any{
		{"id": p.cfg.Model, "object": "model", "created": 0, "owned_by": "goatbench"},
	}})
}

// record appends one request's record, and its exchange to the transcript.
// MaxConcurrent is how many chat requests of one agent are relayed at once;
// one more is refused (429) until one ends. Each may hold a request body of
// up to MaxBody and its reply.
const MaxConcurrent = 8

// MaxConns is how many connections of an agent each of the proxy's
// listeners holds open at once; idleTimeout is how long one may sit idle
// between requests.
const (
	MaxConns    = 64
	idleTimeout = 30 * time.Second
)

func (p *Proxy) record(rec results.Request, msgs []json.RawMessage, reply *openai.ChatCompletionMessage) {
	p.recordFinish(rec, msgs, reply, "")
}

// recordFinish is record of a reply that gave finish as its finish_reason.
func (p *Proxy) recordFinish(rec results.Request, msgs []json.RawMessage, reply *openai.ChatCompletionMessage, finish string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cutOff = reply != nil && finish == runner.FinishLength
	p.requests = results.AddRequest(p.requests, rec) // at most a line's worth
	if msgs == nil || p.dropped {
		return
	}

	// An agent resends the whole conversation each turn: keep what is new
	// since its last request, less its copy of the reply already kept, unless
	// it started over.
	start := 0
	if n := len(p.seen); n > 0 && len(msgs) >= n && rawEqual(p.seen, msgs[:n]) {
		start = n
		if p.replied && start < len(msgs) && roleOf(msgs[start]) == openai.ChatMessageRoleAssistant {
			start++
		}
	}
	size := int64(0)
	for _, raw := range msgs[start:] {
		size += int64(len(raw))
	}
	if reply != nil {
		size += int64(len(reply.Content) + len(reply.ReasoningContent))
		for _, tc := range reply.ToolCalls {
			size += int64(len(tc.Function.Arguments))
		}
	}
	if p.kept+size > p.cfg.MaxKept {
		p.dropped = true
		p.messages = append(p.messages, openai.ChatCompletionMessage{Role: openai.ChatMessageRoleSystem, Name: "goatbench",
			Content: fmt.Sprintf("the agent's later messages are not recorded: they are past the %d bytes an attempt's record keeps", p.cfg.MaxKept)})
		return
	}
	p.kept += size
	for _, raw := range msgs[start:] {
		var m openai.ChatCompletionMessage
		if json.Unmarshal(raw, &m) != nil {
			m = openai.ChatCompletionMessage{Role: "unknown", Content: string(raw)}
		}
		p.messages = append(p.messages, m)
	}
	p.seen, p.replied = msgs, reply != nil
	if reply != nil {
		p.messages = append(p.messages, *reply)
	}
}

func rawEqual(a, b []json.RawMessage) bool {
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func roleOf(raw json.RawMessage) string {
	var m struct {
		Role string `json:"role"`
	}
	_ = json.Unmarshal(raw, &m)
	return m.Role
}

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// chat checks and rewrites one chat request, relays it, and copies the
// reply back while measuring it.
func (p *Proxy) chat(w http.ResponseWriter, r *http.Request) {
	rec := results.Request{}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, p.cfg.MaxBody))
	if err != nil {
		rec.Error = "the agent's request body could not be read: " + err.Error()
		p.record(rec, nil, nil)
		writeError(w, http.StatusBadRequest, "invalid_request_error", "", rec.Error)
		return
	}
	var req map[string]json.RawMessage
	if err := json.Unmarshal(body, &req); err != nil {
		rec.Error = "the agent's request is not a JSON object"
		p.record(rec, nil, nil)
		writeError(w, http.StatusBadRequest, "invalid_request_error", "", rec.Error)
		return
	}
	var stream bool
	if v, ok := req["stream"]; ok && !isNull(v) && json.Unmarshal(v, &stream) != nil {
		// A server may read "true" as true and stream a reply the proxy
		// would take for a plain one: refused, as OpenAI's API refuses it.
		rec.Error = "the agent's request has a \"stream\" that is neither true nor false"
		p.record(rec, nil, nil)
		writeError(w, http.StatusBadRequest, "invalid_request_error", "", rec.Error)
		return
	}
	rec.Stream = stream
	var model string
	_ = json.Unmarshal(req["model"], &model)
	if !p.ownModel(model) {
		n := 0 // the agent's to choose, of any length: quoted, its first 100 characters
		for i := range model {
			if n == 100 {
				model = model[:i] + "…"
				break
			}
			n++
		}
		rec.Error = fmt.Sprintf("HTTP 400: the agent asked for model %q; this attempt's model is %q", model, p.cfg.Model)
		p.record(rec, nil, nil)
		// OpenAI's error for a model the key cannot use.
		writeError(w, http.StatusBadRequest, "invalid_request_error", "model_not_found", rec.Error[len("HTTP 400: "):])
		return
	}
	req["model"] = mustJSON(p.cfg.Model)
	p.applyDefaults(req)
	hideUsage := false
	if stream {
		hideUsage = p.askUsage(req)
	}
	var msgs []json.RawMessage
	_ = json.Unmarshal(req["messages"], &msgs)
	out, err := json.Marshal(req)
	if err != nil {
		rec.Error = "goatbench could not re-encode the request: " + err.Error()
		p.record(rec, msgs, nil)
		writeError(w, http.StatusInternalServerError, "internal_error", "", rec.Error)
		return
	}

	rel, err := p.cfg.Relay.Send(r.Context(), out)
	rec.Retries, rec.RetryWait, rec.Retried, rec.Error = rel.Retries, rel.RetryWait, rel.Retried, rel.Error
	if rel.Resp == nil {
		if rec.Error == "" && err != nil {
			rec.Error = err.Error()
		}
		rec.Total = time.Since(rel.Started).Seconds()
		if rec.Retries == 0 { // else the server had failed already: its error stands
			agentGone(r, &rec, rel.Started)
		}
		p.record(rec, msgs, nil)
		writeError(w, http.StatusBadGateway, "api_connection_error", "", "goatbench could not reach the model: "+rec.Error)
		return
	}
	resp := rel.Resp
	defer resp.Body.Close()
	copyHeader(w.Header(), resp.Header, p.cfg.Relay.Redact)
	limits := p.cfg.Relay.Limits()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		rec.Total = time.Since(rel.Started).Seconds()
		w.Header().Del("Content-Length") // the body may have had a key redacted
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
		p.record(rec, msgs, nil)
		return
	}
	var (
		reply  *openai.ChatCompletionMessage
		finish string
	)
	heard := time.Now() // the server's last bytes
	if stream && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		reply, finish = p.copyStream(w, resp, rel.Started, hideUsage, limits, &rec, &heard)
	} else {
		rec.Stream = false
		reply, finish = p.copyPlain(w, resp, rel.Started, limits, &rec)
	}
	agentGone(r, &rec, heard)
	p.recordFinish(rec, msgs, reply, finish)
}

// agentGone puts a request that broke because the agent hung up (its
// request's context ended: the agent closed the connection, or the attempt
// ended) down to the agent, since what the agent did is the model's result,
// never the server's error: unless the server had then been silent for
// serverSilence, when the agent gave up on a server that failed to answer,
// and the error stays the server's.
func agentGone(r *http.Request, rec *results.Request, heard time.Time) {
	if rec.Error == "" || r.Context().Err() == nil || strings.HasPrefix(rec.Error, "the agent's") {
		return
	}
	if silent := time.Since(heard); silent >= serverSilence {
		rec.Error = fmt.Sprintf("the model's server sent nothing for %s, and the agent hung up (%s)", silent.Round(time.Second), rec.Error)
		return
	}
	rec.Error = "the agent's connection closed before the reply was complete (" + rec.Error + ")"
}

// serverSilence is how long a server that has sent nothing has failed to
// answer, whatever the agent then does: far more than a healthy server's
// time to its first token or between two, far less than an agent's own
// timeouts. A variable for tests.
var serverSilence = 30 * time.Second

func (p *Proxy) ownModel(name string) bool {
	if name == p.cfg.Model {
		return true
	}
	for _, a := range p.cfg.Aliases {
		if name == a && a != "" {
			return true
		}
	}
	return false
}

// applyDefaults sets the target's temperature and tool_choice. tool_choice
// goes only on a request that offers tools: vLLM refuses one without
// ("When using `tool_choice`, `tools` must be set.", vllm-project/vllm,
// vllm/entrypoints/openai/protocol.py, ChatCompletionRequest.check_tool_usage).
func (p *Proxy) applyDefaults(req map[string]json.RawMessage) {
	set := func(key string, v any) {
		if cur, ok := req[key]; ok && p.cfg.RespectAgentParams && !isNull(cur) {
			return
		}
		req[key] = mustJSON(v)
	}
	if p.cfg.Temperature != nil {
		set("temperature", *p.cfg.Temperature)
	}
	if p.cfg.ToolChoice != "" {
		var tools []json.RawMessage
		if json.Unmarshal(req["tools"], &tools) == nil && len(tools) > 0 {
			set("tool_choice", p.cfg.ToolChoice)
		}
	}
}

// askUsage makes a stream end with its usage chunk, which is where its tokens
// (and LiteLLM's cost) are. It reports whether the agent did not ask for that
// chunk itself, so that the chunk is recorded but not passed on: an agent
// that never asked may not expect a chunk with no choices.
func (p *Proxy) askUsage(req map[string]json.RawMessage) bool {
	opts := map[string]json.RawMessage{}
	_ = json.Unmarshal(req["stream_options"], &opts)
	var asked bool
	_ = json.Unmarshal(opts["include_usage"], &asked)
	if asked {
		return false
	}
	opts["include_usage"] = json.RawMessage("true")
	req["stream_options"] = mustJSON(opts)
	return true
}

func isNull(v json.RawMessage) bool { return len(v) == 0 || string(bytes.TrimSpace(v)) == "null" }

// usage is a reply's usage with the cost some proxies add to it (LiteLLM and
// OpenRouter put the request's cost in usage.cost of a stream's last chunk;
// BerriAI/litellm, litellm/litellm_core_utils/streaming_chunk_builder_utils.py).
type usage struct {
	openai.Usage
	Cost float64 `json:"cost"`
}

func (u usage) measured() runner.Usage {
	return runner.Usage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, Cost: u.Cost}
}

// maxReply bounds a plain reply held in memory; chat completions are far
// smaller.
const maxReply = 64 << 20

func (p *Proxy) copyPlain(w http.ResponseWriter, resp *http.Response, started time.Time, limits runner.Limits, rec *results.Request) (*openai.ChatCompletionMessage, string) {
	limit := int64(maxReply)
	if limits.Body > 0 {
		limit = limits.Body
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	total := time.Since(started)
	if err == nil && int64(len(body)) > limit {
		rec.Total = total.Seconds()
		rec.Error = runner.OversizedError("the reply body", limit).Error()
		w.WriteHeader(http.StatusBadGateway)
		return nil, ""
	}
	if err != nil {
		rec.Total = total.Seconds()
		rec.Error = "the reply broke before it was complete: " + err.Error()
		w.WriteHeader(http.StatusBadGateway)
		return nil, ""
	}
	w.Header().Del("Content-Length")
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
	var parsed struct {
		Choices []struct {
			Message      openai.ChatCompletionMessage `json:"message"`
			FinishReason string                       `json:"finish_reason"`
		} `json:"choices"`
		Usage usage `json:"usage"`
	}
	perr := json.Unmarshal(body, &parsed)
	runner.Measure(rec, parsed.Usage.measured(), resp.Header, 0, total)
	if perr != nil || len(parsed.Choices) == 0 {
		rec.Error = "malformed reply: the reply has no choices"
		return nil, ""
	}
	m := parsed.Choices[0].Message
	m.Role = openai.ChatMessageRoleAssistant
	return &m, parsed.Choices[0].FinishReason
}

// copyStream passes a server-sent event stream on line by line, flushing at
// the end of every event, and measures it as the loop measures its own.
func (p *Proxy) copyStream(w http.ResponseWriter, resp *http.Response, started time.Time, hideUsage bool, limits runner.Limits, rec *results.Request, heard *time.Time) (*openai.ChatCompletionMessage, string) {
	w.Header().Del("Content-Length")
	w.WriteHeader(resp.StatusCode)
	fl, _ := w.(http.Flusher)
	br := bufio.NewReaderSize(resp.Body, 32<<10)
	var (
		asm      = runner.NewAssembler(limits)
		ttft     time.Duration
		done     bool
		skipNext bool
		readErr  error
		over     error // the reply went over a limit: it ends there
		long     []byte
		total    int64
	)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			*heard = time.Now()
		}
		total += int64(len(line))
		if limits.Body > 0 && total > limits.Body {
			over = runner.OversizedError("the stream", limits.Body)
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than the buffer: gathered, up to an event's limit.
			if limits.Event > 0 && len(long)+len(line) > limits.Event {
				over = runner.OversizedError("one stream event", int64(limits.Event))
				break
			}
			long = append(long, line...)
			continue
		}
		if len(long) > 0 {
			line = append(long, line...)
			long = long[:0]
		}
		if len(line) > 0 {
			forward := true
			trimmed := bytes.TrimRight(line, "\r\n")
			switch payload, ok := bytes.CutPrefix(trimmed, []byte("data:")); {
			case len(trimmed) == 0 && skipNext:
				forward, skipNext = false, false
			case ok:
				payload = bytes.TrimSpace(payload)
				if bytes.Equal(payload, []byte("[DONE]")) {
					done = true
					break
				}
				chunk, err := asm.Add(payload)
				if runner.Oversized(errString(err)) {
					over = err
				}
				if err != nil {
					break
				}
				if chunk.Generated && ttft == 0 {
					ttft = time.Since(started)
				}
				if hideUsage && chunk.UsageOnly {
					forward, skipNext = false, true
				}
			}
			if over != nil {
				break // nothing of a reply over a limit goes on
			}
			if forward {
				if _, werr := w.Write(line); werr != nil {
					if !done {
						readErr = fmt.Errorf("the agent stopped reading: %w", werr)
					}
					break
				}
				if len(trimmed) == 0 && fl != nil {
					fl.Flush()
				}
			}
		}
		if err != nil {
			// After [DONE] the reply is whole, whatever happens to the
			// connection (the agent may hang up, the attempt may end).
			if !errors.Is(err, io.EOF) && !done {
				readErr = err
			}
			break
		}
	}
	if fl != nil {
		fl.Flush()
	}
	runner.Measure(rec, asm.Usage(), resp.Header, ttft, time.Since(started))
	if over != nil {
		// Neither kept nor written to the transcript, as the loop does.
		rec.Error = over.Error()
		return nil, ""
	}
	msg, err := asm.Message(done)
	switch {
	case readErr != nil:
		rec.Error = "the stream broke before the reply was complete: " + readErr.Error()
	case err != nil:
		rec.Error = err.Error()
	}
	if err != nil && len(msg.ToolCalls) == 0 && msg.Content == "" {
		return nil, ""
	}
	return &msg, asm.Finish()
}

// passedHeaders are the reply headers an agent gets: what its client reads
// of a chat completion (the body's type, when to retry, the request's id,
// rate limits). No other header of the model's server reaches it: a server
// may echo back what it was sent, the real key among them.
var passedHeaders = map[string]bool{"Content-Type": true, "Retry-After": true, "Retry-After-Ms": true,
	"X-Request-Id": true, "Openai-Processing-Ms": true}

func copyHeader(dst, src http.Header, redact func(string) string) {
	for k, vs := range src {
		k = http.CanonicalHeaderKey(k)
		if !passedHeaders[k] && !strings.HasPrefix(k, "X-Ratelimit-") {
			continue
		}
		for _, v := range vs {
			dst.Add(k, redact(v))
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers in OpenAI's error shape, {"error":{message,type,param,code}}.
func writeError(w http.ResponseWriter, status int, typ, code, msg string) {
	var c any
	if code != "" {
		c = code
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": c}})
}
