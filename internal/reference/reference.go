// Package reference is an OpenAI-compatible chat server that answers every task
// of a suite with its reference solution: one real tool call per turn, then the
// final answer. It makes `--models reference` run the whole pipeline offline,
// and it is the model server of the tests.
package reference

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
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
	requests  atomic.Int64
}

// New returns a server for the tasks of a suite.
func New(suite tasks.Suite) *Server {
	s := &Server{byPrompt: make(map[string]tasks.Task, len(suite.Tasks))}
	for _, t := range suite.Tasks {
		s.byPrompt[strings.TrimSpace(t.Prompt)] = t
	}
	return s
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
	s.requests.Add(1)
	var req openai.ChatCompletionRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 32<<20)).Decode(&req); err != nil {
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
	finish := openai.FinishReasonStop
	if step.Tool != "" {
		finish = openai.FinishReasonToolCalls
		msg.ToolCalls = []openai.ToolCall{{
			ID:       fmt.Sprintf("call_%s_%d", t.ID, turn),
			Type:     openai.ToolTypeFunction,
			Function: openai.FunctionCall{Name: step.Tool, Arguments: step.ArgsJSON()},
		}}
	} else {
		msg.Content = step.Answer
	}
	usage := openai.Usage{PromptTokens: promptTokens(req.Messages), CompletionTokens: max(1, (len(msg.Content)+len(step.ArgsJSON()))/4)}
	usage.TotalTokens = usage.PromptTokens + usage.CompletionTokens
	if req.Stream {
		stream(w, req, msg, finish, usage)
		return
	}
	writeJSON(w, http.StatusOK, openai.ChatCompletionResponse{
		ID: fmt.Sprintf("chatcmpl-%s-%d", t.ID, turn), Object: "chat.completion", Created: time.Now().Unix(), Model: req.Model,
		Choices: []openai.ChatCompletionChoice{{Index: 0, Message: msg, FinishReason: finish}},
		Usage:   usage,
	})
}

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

// stream writes the answer as server-sent events, the way vLLM does: the role,
// then content or tool-call fragments, the finish reason, usage when asked,
// then [DONE].
func stream(w http.ResponseWriter, req openai.ChatCompletionRequest, msg openai.ChatCompletionMessage, finish openai.FinishReason, usage openai.Usage) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	flusher, _ := w.(http.Flusher)
	id := fmt.Sprintf("chatcmpl-%d", time.Now().UnixNano())
	send := func(delta openai.ChatCompletionStreamChoiceDelta, fr openai.FinishReason, u *openai.Usage) {
		chunk := openai.ChatCompletionStreamResponse{ID: id, Object: "chat.completion.chunk", Created: time.Now().Unix(), Model: req.Model, Usage: u}
		if u == nil {
			chunk.Choices = []openai.ChatCompletionStreamChoice{{Index: 0, Delta: delta, FinishReason: fr}}
		} else {
			chunk.Choices = []openai.ChatCompletionStreamChoice{}
		}
		b, _ := json.Marshal(chunk)
		fmt.Fprintf(w, "data: %s\n\n", b)
		if flusher != nil {
			flusher.Flush()
		}
	}
	send(openai.ChatCompletionStreamChoiceDelta{Role: openai.ChatMessageRoleAssistant}, "", nil)
	for _, part := range pieces(msg.Content, 8) {
		send(openai.ChatCompletionStreamChoiceDelta{Content: part}, "", nil)
	}
	for i, tc := range msg.ToolCalls {
		idx := i
		send(openai.ChatCompletionStreamChoiceDelta{ToolCalls: []openai.ToolCall{{Index: &idx, ID: tc.ID, Type: tc.Type, Function: openai.FunctionCall{Name: tc.Function.Name}}}}, "", nil)
		for _, part := range pieces(tc.Function.Arguments, 8) {
			send(openai.ChatCompletionStreamChoiceDelta{ToolCalls: []openai.ToolCall{{Index: &idx, Function: openai.FunctionCall{Arguments: part}}}}, "", nil)
		}
	}
	send(openai.ChatCompletionStreamChoiceDelta{}, finish, nil)
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		send(openai.ChatCompletionStreamChoiceDelta{}, "", &usage)
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
	if flusher != nil {
		flusher.Flush()
	}
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

// writeError answers in the shape LiteLLM and vLLM use.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"message": msg, "type": "invalid_request_error", "code": fmt.Sprint(status),
	}})
}
