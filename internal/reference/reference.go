// Package reference is an OpenAI-compatible chat server that answers every task
// of a suite with its reference solution: one real tool call per turn, then the
// final answer. It makes `--models reference` run the whole pipeline offline,
// and it is the model server of the tests.
package reference

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goatbench/goatbench/bench/tasks"
	"github.com/sashabaranov/go-openai"
)

// ModelID is the model name the server lists and answers as.
const ModelID = "reference"

// Server replays reference solutions.
type Server struct {
	byPrompt map[string]tasks.Task
	// Latency is added before every chat completion answer.
	Latency time.Duration
	// Intercept, when set, sees every chat completion request first; returning
	// true means it wrote the response itself (tests inject faults with it).
	Intercept func(w http.ResponseWriter, r *http.Request, req *openai.ChatCompletionRequest, turn int) bool
	// Shape is how replies are written (fragment size, cut streams).
	Shape Shape
	// CostUSD, when > 0, is charged for every reply the way the LiteLLM
	// proxy reports it: plain replies carry the x-litellm-response-cost
	// header (litellm/proxy/proxy_server.py, get_custom_headers), which a
	// streamed reply cannot carry, since its headers go out before the cost
	// is known; a stream carries it instead as usage.cost in its final usage
	// chunk (BerriAI/litellm PR #13319,
	// litellm/litellm_core_utils/streaming_handler.py, with
	// litellm_settings.include_cost_in_streaming_usage on).
	CostUSD float64
	// CutEvery, when > 0, drops the connection after the first event of
	// every CutEvery-th reply (after half the body of a plain one).
	CutEvery int
	// Redirects, when > 0, answers every reply through that many 303
	// redirects to a result URL, the way Modal answers a request held past
	// 150 seconds.
	Redirects int
	requests  atomic.Int64
	heldCount atomic.Int64

	mu      sync.Mutex
	pending map[string]*held
}

// held is a reply waiting at its result URL.
type held struct {
	hops   int // redirects still to give
	header http.Header
	status int
	body   []byte
}

// New returns a server for the tasks of a suite.
func New(suite tasks.Suite) *Server {
	s := &Server{byPrompt: make(map[string]tasks.Task, len(suite.Tasks))}
	for _, t := range suite.Tasks {
		s.byPrompt[strings.TrimSpace(t.Prompt)] = t
	}
	return s
}

// SharedPrompt names two tasks of suite whose prompts are the same, "" and
// "" when there are none: the reference model tells tasks apart by their
// prompt alone, so it would answer one of them with the other's reference.
func SharedPrompt(suite tasks.Suite) (string, string) {
	seen := make(map[string]string, len(suite.Tasks))
	for _, t := range suite.Tasks {
		p := strings.TrimSpace(t.Prompt)
		if first, ok := seen[p]; ok {
			return first, t.ID
		}
		seen[p] = t.ID
	}
	return "", ""
}

// Requests is the number of chat completion requests served.
func (s *Server) Requests() int64 { return s.requests.Load() }

// Start serves on a free loopback port until ctx ends; it returns the base URL
// (ending in /v1) for an OpenAI client.
func (s *Server) Start(ctx context.Context) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("reference server: %w", err)
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	return "http://" + ln.Addr().String() + "/v1", nil
}

// ServeHTTP answers /v1/models and /v1/chat/completions.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch strings.TrimSuffix(r.URL.Path, "/") {
	case "/v1/models", "/models":
		writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": []map[string]any{
			{"id": ModelID, "object": "model", "created": 0, "owned_by": "goatbench"},
		}})
	case "/v1/chat/completions", "/chat/completions":
		if id := r.URL.Query().Get(resultParam); id != "" && r.Method == http.MethodGet {
			s.result(w, r, id)
			return
		}
		if r.Method != http.MethodPost {
			writeError(w, http.StatusMethodNotAllowed, "use POST")
			return
		}
		s.chat(w, r)
	case "/health":
		w.WriteHeader(http.StatusOK)
	default:
		writeError(w, http.StatusNotFound, "no route "+r.URL.Path)
	}
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	nth := s.requests.Add(1)
	// The first JSON value of the body, as a stream decoder reads it (what
	// follows it is not read).
	var body json.RawMessage
	err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 32<<20)).Decode(&body)
	var req openai.ChatCompletionRequest
	if err == nil {
		req, err = s.decode(body)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid JSON body: "+err.Error())
		return
	}
	t, turn, err := s.locate(req.Messages)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if s.Intercept != nil && s.Intercept(w, r, &req, turn) {
		return
	}
	if s.Latency > 0 {
		select {
		case <-time.After(s.Latency):
		case <-r.Context().Done():
			return
		}
	}
	step := t.Reference[min(turn, len(t.Reference)-1)]
	msg := openai.ChatCompletionMessage{Role: openai.ChatMessageRoleAssistant}
	if step.Tool != "" {
		msg.ToolCalls = []openai.ToolCall{{
			ID:       fmt.Sprintf("call_%s_%d", t.ID, turn),
			Type:     openai.ToolTypeFunction,
			Function: openai.FunctionCall{Name: step.Tool, Arguments: step.ArgsJSON()},
		}}
	} else {
		msg.Content = step.Answer
	}
	if s.Redirects > 0 {
		s.redirect(w, r, &req, msg)
		return
	}
	sh := s.Shape
	sh.CostUSD = s.CostUSD
	if s.CutEvery > 0 && nth%int64(s.CutEvery) == 0 {
		sh.CutAfter = 1
	}
	WriteReply(w, &req, msg, sh)
}

// decode reads a chat completion request. Answering needs only the model,
// the stream options and each message's role, text and tool call ids, so
// only those are decoded, unless an Intercept wants the whole request or a
// message's content is not plain text (an array of parts): then go-openai
// decodes it all. Most of the cost of go-openai's decoding is the tools'
// schemas, a tree of reflection; in a smoke run it was a fifth of this
// server's CPU. So, unlike a real server, this one does not check the type
// of a field it does not read ("temperature": "hot" passes); goatbench's own
// requests are built from typed structs and cannot be ill-typed.
func (s *Server) decode(body []byte) (openai.ChatCompletionRequest, error) {
	var req openai.ChatCompletionRequest
	var lean struct {
		Model         string                `json:"model"`
		Stream        bool                  `json:"stream"`
		StreamOptions *openai.StreamOptions `json:"stream_options"`
		Messages      leanMessages          `json:"messages"`
	}
	full := func() (openai.ChatCompletionRequest, error) {
		err := json.Unmarshal(body, &req)
		return req, err
	}
	if s.Intercept != nil || json.Unmarshal(body, &lean) != nil {
		return full()
	}
	req.Model, req.Stream, req.StreamOptions = lean.Model, lean.Stream, lean.StreamOptions
	req.Messages = make([]openai.ChatCompletionMessage, len(lean.Messages))
	for i, m := range lean.Messages {
		msg := openai.ChatCompletionMessage{Role: m.Role, ToolCallID: m.ToolCallID}
		if len(m.Content) > 0 && json.Unmarshal(m.Content, &msg.Content) != nil { // null leaves it ""
			return full()
		}
		for _, tc := range m.ToolCalls {
			msg.ToolCalls = append(msg.ToolCalls, openai.ToolCall{ID: tc.ID, Function: openai.FunctionCall{Arguments: tc.Function.Arguments}})
		}
		req.Messages[i] = msg
	}
	return req, nil
}

// leanMessages are the messages as decode reads them. A second "messages"
// key replaces the first whole, as go-openai's decoding does (it decodes each
// message afresh), rather than filling the first one's messages in.
type leanMessages []leanMessage

type leanMessage struct {
	Role      string          `json:"role"`
	Content   json.RawMessage `json:"content"`
	ToolCalls []struct {
		ID       string `json:"id"`
		Function struct {
			Arguments string `json:"arguments"`
		} `json:"function"`
	} `json:"tool_calls"`
	ToolCallID string `json:"tool_call_id"`
}

func (m *leanMessages) UnmarshalJSON(b []byte) error {
	var fresh []leanMessage
	err := json.Unmarshal(b, &fresh)
	*m = fresh
	return err
}

// resultParam names a held reply in its result URL, as Modal's does.
const resultParam = "__modal_function_call_id"

// redirect holds the reply and answers with a 303 to its result URL.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request, req *openai.ChatCompletionRequest, msg openai.ChatCompletionMessage) {
	rec := &recorder{header: http.Header{}}
	WriteReply(rec, req, msg, s.Shape)
	id := fmt.Sprintf("fc-%d", s.heldCount.Add(1))
	s.mu.Lock()
	if s.pending == nil {
		s.pending = map[string]*held{}
	}
	s.pending[id] = &held{hops: s.Redirects - 1, header: rec.header, status: rec.status, body: rec.body.Bytes()}
	s.mu.Unlock()
	http.Redirect(w, r, r.URL.Path+"?"+resultParam+"="+id, http.StatusSeeOther)
}

// result answers a result URL: another redirect while hops remain, then the reply.
func (s *Server) result(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	h, ok := s.pending[id]
	again := ok && h.hops > 0
	if again {
		h.hops--
	} else if ok {
		delete(s.pending, id)
	}
	s.mu.Unlock()
	switch {
	case !ok:
		writeError(w, http.StatusNotFound, "no pending result "+id)
	case again:
		http.Redirect(w, r, r.URL.String(), http.StatusSeeOther)
	default:
		for k, v := range h.header {
			w.Header()[k] = v
		}
		w.WriteHeader(h.status)
		_, _ = w.Write(h.body)
	}
}

// recorder keeps a reply to replay from a result URL.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}
func (r *recorder) WriteHeader(status int) { r.status = status }

// locate finds the task by its prompt and the turn by the number of assistant
// messages so far, and checks that every tool call was answered.
func (s *Server) locate(msgs []openai.ChatCompletionMessage) (tasks.Task, int, error) {
	var (
		t       tasks.Task
		found   bool
		turn    int
		pending = map[string]bool{}
	)
	for _, m := range msgs {
		switch m.Role {
		case openai.ChatMessageRoleUser:
			if !found {
				t, found = s.byPrompt[strings.TrimSpace(m.Content)]
			}
		case openai.ChatMessageRoleAssistant:
			if len(pending) > 0 {
				return t, 0, fmt.Errorf("tool calls without a tool message: %d", len(pending))
			}
			turn++
			for _, tc := range m.ToolCalls {
				pending[tc.ID] = true
			}
		case openai.ChatMessageRoleTool:
			if !pending[m.ToolCallID] {
				return t, 0, fmt.Errorf("tool message for unknown tool_call_id %q", m.ToolCallID)
			}
			delete(pending, m.ToolCallID)
		}
	}
	if !found {
		return t, 0, fmt.Errorf("no reference task has this prompt")
	}
	if len(pending) > 0 {
		return t, 0, fmt.Errorf("tool calls without a tool message: %d", len(pending))
	}
	return t, turn, nil
}

// Shape says how WriteReply writes a reply; its zero value is a well-formed
// reply. Tests use the other values to play servers that misbehave.
type Shape struct {
	Fragment int  // runes per content or argument delta when streaming; 0 means 8
	CutAfter int  // > 0: drop the connection after this many events (or half the body when not streaming)
	NoFinish bool // leave out the finish reason
	NoDone   bool // end the stream without "data: [DONE]"
	// CostUSD > 0 charges the reply as LiteLLM does (see Server.CostUSD).
	CostUSD float64
}

// WriteReply answers req with msg, as server-sent events when req asks for a
// stream and as one JSON body otherwise, with usage estimated from lengths.
// A Shape with CutAfter ends the handler with http.ErrAbortHandler, so it
// must be called from an http.Handler.
func WriteReply(w http.ResponseWriter, req *openai.ChatCompletionRequest, msg openai.ChatCompletionMessage, sh Shape) {
	msg.Role = openai.ChatMessageRoleAssistant
	finish := openai.FinishReasonStop
	if len(msg.ToolCalls) > 0 {
		finish = openai.FinishReasonToolCalls
	}
	if sh.NoFinish {
		finish = ""
	}
	out := len(msg.Content)
	for _, tc := range msg.ToolCalls {
		out += len(tc.Function.Name) + len(tc.Function.Arguments)
	}
	usage := openai.Usage{PromptTokens: promptTokens(req.Messages), CompletionTokens: max(1, out/4)}
	usage.TotalTokens = usage.PromptTokens + usage.CompletionTokens
	if req.Stream {
		stream(w, req, msg, finish, usage, sh)
		return
	}
	b, _ := json.Marshal(wholeReply(req.Model, msg, finish, usage))
	w.Header().Set("Content-Type", "application/json")
	if sh.CostUSD > 0 {
		w.Header().Set("x-litellm-response-cost", fmt.Sprint(sh.CostUSD))
	}
	if sh.CutAfter > 0 {
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b[:len(b)/2])
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		panic(http.ErrAbortHandler)
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(b, '\n'))
}

// header opens every reply and every chunk, vLLM's and OpenAI's alike: its
// id, its object type, when it was made and the model.
type header struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
}

func newHeader(object, model string) header {
	now := time.Now()
	return header{ID: fmt.Sprintf("chatcmpl-%d", now.UnixNano()), Object: object, Created: now.Unix(), Model: model}
}

// whole is an unstreamed reply as vLLM writes it: its ChatCompletionResponse
// dumped in full, so every field it does not set is there as null
// (vllm-project/vllm, vllm/entrypoints/openai/api_server.py,
// create_chat_completion: JSONResponse(content=generator.model_dump()); the
// fields are those of ChatCompletionResponse, ChatCompletionResponseChoice,
// ChatMessage and UsageInfo in vllm/entrypoints/openai/protocol.py at
// 0052bed, with what 0.13 adds: the reasoning under its new name, reasoning,
// and the old one beside it (vllm-project/vllm#27752; docs.vllm.ai,
// features/reasoning_outputs), and choices[].token_ids and prompt_token_ids,
// null unless asked for). A message that calls tools has null content when
// the model wrote nothing before the call (tool_parsers/hermes_tool_parser.py,
// extract_tool_calls: content=content if content else None; serving_chat.py,
// chat_completion_full_generator), and one that calls none has
// "tool_calls": [] (ChatMessage's default_factory=list), not no key.
type whole struct {
	header
	Choices           []wholeChoice `json:"choices"`
	ServiceTier       *string       `json:"service_tier"`
	SystemFingerprint *string       `json:"system_fingerprint"`
	Usage             wholeUsage    `json:"usage"`
	PromptLogprobs    *struct{}     `json:"prompt_logprobs"`
	PromptTokenIDs    *struct{}     `json:"prompt_token_ids"`
	KVTransferParams  *struct{}     `json:"kv_transfer_params"`
}

type wholeChoice struct {
	Index        int          `json:"index"`
	Message      wholeMessage `json:"message"`
	Logprobs     *struct{}    `json:"logprobs"`
	FinishReason *string      `json:"finish_reason"`
	StopReason   *string      `json:"stop_reason"`
	TokenIDs     *struct{}    `json:"token_ids"`
}

type wholeMessage struct {
	Role             string          `json:"role"`
	Content          *string         `json:"content"`
	Refusal          *string         `json:"refusal"`
	Annotations      *struct{}       `json:"annotations"`
	Audio            *struct{}       `json:"audio"`
	FunctionCall     *struct{}       `json:"function_call"`
	ToolCalls        []wholeToolCall `json:"tool_calls"`
	Reasoning        *string         `json:"reasoning"`
	ReasoningContent *string         `json:"reasoning_content"`
}

type wholeToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type wholeUsage struct {
	PromptTokens        int       `json:"prompt_tokens"`
	TotalTokens         int       `json:"total_tokens"`
	CompletionTokens    int       `json:"completion_tokens"`
	PromptTokensDetails *struct{} `json:"prompt_tokens_details"`
}

func wholeReply(model string, msg openai.ChatCompletionMessage, finish openai.FinishReason, usage openai.Usage) whole {
	m := wholeMessage{Role: msg.Role, ToolCalls: []wholeToolCall{}}
	if msg.Content != "" || len(msg.ToolCalls) == 0 {
		m.Content = &msg.Content
	}
	if msg.ReasoningContent != "" {
		m.Reasoning, m.ReasoningContent = &msg.ReasoningContent, &msg.ReasoningContent
	}
	for _, tc := range msg.ToolCalls {
		w := wholeToolCall{ID: tc.ID, Type: string(tc.Type)}
		if w.Type == "" {
			w.Type = string(openai.ToolTypeFunction)
		}
		w.Function.Name, w.Function.Arguments = tc.Function.Name, tc.Function.Arguments
		m.ToolCalls = append(m.ToolCalls, w)
	}
	ch := wholeChoice{Message: m}
	if finish != "" {
		f := string(finish)
		ch.FinishReason = &f
	}
	return whole{
		header:  newHeader("chat.completion", model),
		Choices: []wholeChoice{ch},
		Usage:   wholeUsage{PromptTokens: usage.PromptTokens, TotalTokens: usage.TotalTokens, CompletionTokens: usage.CompletionTokens},
	}
}

// stream writes the answer as server-sent events, the way vLLM does: the role,
// then content or tool-call fragments (the id, type and name first, then the
// arguments), the finish reason, usage when asked, then [DONE].
func stream(w http.ResponseWriter, req *openai.ChatCompletionRequest, msg openai.ChatCompletionMessage, finish openai.FinishReason, usage openai.Usage, sh Shape) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	flusher, _ := w.(http.Flusher)
	frag := sh.Fragment
	if frag <= 0 {
		frag = 8
	}
	events := 0
	// The first event goes out at once, so a client sees the stream begin;
	// the rest leave as the writer's buffer fills and when the handler
	// returns, a write for a few events rather than one each. An event
	// stream is parsed by its blank lines, not by how the bytes arrive
	// (https://html.spec.whatwg.org/multipage/server-sent-events.html,
	// 9.2.6 Interpreting an event stream), and a proxy in between may coalesce vLLM's one-write-per-
	// token chunks the same way; a flush per event made this in-process
	// model cost more CPU than the harness it serves.
	emit := func(b []byte) {
		if sh.CutAfter > 0 && events >= sh.CutAfter {
			if flusher != nil {
				flusher.Flush() // what came before the cut arrives
			}
			panic(http.ErrAbortHandler)
		}
		events++
		_, _ = w.Write(b)
		if flusher != nil && events == 1 {
			flusher.Flush()
		}
	}
	c := chunk{header: newHeader("chat.completion.chunk", req.Model)}
	var buf []byte
	send := func(d chunkDelta, fr openai.FinishReason) {
		ch := chunkChoice{Delta: d}
		if fr != "" {
			s := string(fr)
			ch.FinishReason = &s
		}
		c.Choices = append(c.Choices[:0], ch)
		buf = c.event(buf[:0])
		emit(buf)
	}
	empty := ""
	send(chunkDelta{Role: openai.ChatMessageRoleAssistant, Content: &empty}, "")
	for _, part := range pieces(msg.Content, frag) {
		send(chunkDelta{Content: &part}, "")
	}
	for i, tc := range msg.ToolCalls {
		send(chunkDelta{ToolCalls: []chunkToolCall{{Index: i, ID: tc.ID, Type: string(tc.Type), Function: chunkFunction{Name: tc.Function.Name}}}}, "")
		for _, part := range pieces(tc.Function.Arguments, frag) {
			send(chunkDelta{ToolCalls: []chunkToolCall{{Index: i, Function: chunkFunction{Arguments: part}}}}, "")
		}
	}
	if finish != "" {
		send(chunkDelta{}, finish)
	}
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		c.Choices = c.Choices[:0]
		c.Usage = &chunkUsage{PromptTokens: usage.PromptTokens, CompletionTokens: usage.CompletionTokens, TotalTokens: usage.TotalTokens}
		if sh.CostUSD > 0 {
			cost := sh.CostUSD // LiteLLM's usage.cost (see Server.CostUSD)
			c.Usage.Cost = &cost
		}
		buf = c.event(buf[:0])
		emit(buf)
	}
	if !sh.NoDone {
		emit([]byte("data: [DONE]\n\n"))
	}
}

// chunk is one streamed chunk as vLLM writes it: pydantic models dumped with
// exclude_unset (vllm-project/vllm, vllm/entrypoints/openai/serving_chat.py,
// chat_completion_stream_generator: chunk.model_dump_json(exclude_unset=True)).
// So a field appears only where vLLM sets it: the first delta is the role
// with an empty content; a tool call's first delta has its index, id, type
// and name, and the rest only the index and a piece of the arguments
// (vllm/entrypoints/openai/tool_parsers/hermes_tool_parser.py:
// DeltaToolCall(index=..., function=DeltaFunctionCall(arguments=...)));
// logprobs and finish_reason are null until the end; the usage chunk has no
// choices. Fields vLLM sets to null that no client reads (the finish chunk's
// stop_reason, token_ids) are left out.
type chunk struct {
	header
	Choices []chunkChoice `json:"choices"`
	Usage   *chunkUsage   `json:"usage,omitempty"`
}

type chunkChoice struct {
	Index        int        `json:"index"`
	Delta        chunkDelta `json:"delta"`
	Logprobs     *struct{}  `json:"logprobs"`
	FinishReason *string    `json:"finish_reason"`
}

type chunkDelta struct {
	Role      string          `json:"role,omitempty"`
	Content   *string         `json:"content,omitempty"`
	ToolCalls []chunkToolCall `json:"tool_calls,omitempty"`
}

type chunkToolCall struct {
	Index    int           `json:"index"`
	ID       string        `json:"id,omitempty"`
	Type     string        `json:"type,omitempty"`
	Function chunkFunction `json:"function"`
}

type chunkFunction struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments,omitempty"`
}

// chunkUsage is vLLM's UsageInfo, with LiteLLM's cost when charged.
type chunkUsage struct {
	PromptTokens     int      `json:"prompt_tokens"`
	TotalTokens      int      `json:"total_tokens"`
	CompletionTokens int      `json:"completion_tokens"`
	Cost             *float64 `json:"cost,omitempty"`
}

// event appends c as one server-sent event to b.
func (c *chunk) event(b []byte) []byte {
	j, _ := json.Marshal(c)
	b = append(b, "data: "...)
	b = append(b, j...)
	return append(b, "\n\n"...)
}

// pieces splits s into chunks of n runes, never inside a UTF-8 sequence.
func pieces(s string, n int) []string {
	var out []string
	r := []rune(s)
	for len(r) > n {
		out = append(out, string(r[:n]))
		r = r[n:]
	}
	if len(r) > 0 {
		out = append(out, string(r))
	}
	return out
}

func promptTokens(msgs []openai.ChatCompletionMessage) int {
	n := 0
	for _, m := range msgs {
		n += len(m.Content)
		for _, tc := range m.ToolCalls {
			n += len(tc.Function.Arguments)
		}
	}
	return max(1, n/4)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers as the LiteLLM proxy, which goatbench talks to, does:
// {"error": {message, type, param, code}} with the HTTP status as a string
// in code (BerriAI/litellm litellm/proxy/_types.py, ProxyException:
// "self.code = str(code)" and to_dict). vLLM's own ErrorInfo has an integer
// code (vllm/entrypoints/openai/protocol.py), and so does llama-server;
// the client reads either.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"message": msg, "type": "invalid_request_error", "param": nil, "code": strconv.Itoa(status),
	}})
}
