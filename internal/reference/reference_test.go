package reference

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/sashabaranov/go-openai"
	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/bench/tasks"
)

func client(t *testing.T) (*openai.Client, tasks.Suite) {
	t.Helper()
	url, suite := serve(t)
	cfg := openai.DefaultConfig("")
	cfg.BaseURL = url + "/v1"
	return openai.NewClientWithConfig(cfg), suite
}

// serve starts a reference server for the smoke suite, stopped with the test.
func serve(t *testing.T) (string, tasks.Suite) {
	t.Helper()
	suite, err := tasks.Load("smoke")
	require.NoError(t, err)
	srv := httptest.NewServer(New(suite))
	t.Cleanup(srv.Close)
	return srv.URL, suite
}

// post sends body to the server's chat completions and reads the reply whole.
func post(t *testing.T, url, body string) (int, []byte) {
	t.Helper()
	resp, err := http.Post(url+"/v1/chat/completions", "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, raw
}

func task(s tasks.Suite, id string) tasks.Task {
	for _, t := range s.Tasks {
		if t.ID == id {
			return t
		}
	}
	return tasks.Task{}
}

func TestReplaysToolCallsThenAnswers(t *testing.T) {
	c, suite := client(t)
	ft := task(suite, "file-create")
	msgs := []openai.ChatCompletionMessage{{Role: "user", Content: ft.Prompt}}
	ctx := context.Background()
	for turn, step := range ft.Reference {
		resp, err := c.CreateChatCompletion(ctx, openai.ChatCompletionRequest{Model: ModelID, Messages: msgs})
		require.NoError(t, err)
		m := resp.Choices[0].Message
		if step.Tool == "" {
			require.Empty(t, m.ToolCalls)
			require.Equal(t, step.Answer, m.Content)
			require.Equal(t, openai.FinishReasonStop, resp.Choices[0].FinishReason)
			break
		}
		require.Len(t, m.ToolCalls, 1, "turn %d", turn)
		require.Equal(t, step.Tool, m.ToolCalls[0].Function.Name)
		require.JSONEq(t, step.ArgsJSON(), m.ToolCalls[0].Function.Arguments)
		msgs = append(msgs, m, openai.ChatCompletionMessage{Role: "tool", ToolCallID: m.ToolCalls[0].ID, Content: "ok"})
	}
}

func TestStreamingAssemblesTheSameToolCall(t *testing.T) {
	c, suite := client(t)
	ct := task(suite, "code-fix")
	s, err := c.CreateChatCompletionStream(context.Background(), openai.ChatCompletionRequest{
		Model: ModelID, Stream: true, StreamOptions: &openai.StreamOptions{IncludeUsage: true},
		Messages: []openai.ChatCompletionMessage{{Role: "user", Content: ct.Prompt}},
	})
	require.NoError(t, err)
	defer s.Close()
	var name, args string
	var usage *openai.Usage
	for {
		chunk, err := s.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		if chunk.Usage != nil {
			usage = chunk.Usage
		}
		for _, ch := range chunk.Choices {
			for _, tc := range ch.Delta.ToolCalls {
				name += tc.Function.Name
				args += tc.Function.Arguments
			}
		}
	}
	require.Equal(t, "bash", name)
	require.JSONEq(t, ct.Reference[0].ArgsJSON(), args)
	require.NotNil(t, usage)
	require.Positive(t, usage.CompletionTokens)
}

func TestRejectsWhatARealServerWould(t *testing.T) {
	c, _ := client(t)
	_, err := c.CreateChatCompletion(context.Background(), openai.ChatCompletionRequest{
		Model: ModelID, Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "an unknown prompt"}}})
	var apiErr *openai.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, 400, apiErr.HTTPStatusCode)

	url, _ := serve(t)
	status, body := post(t, url, "{not json")
	require.Equal(t, 400, status)
	// The LiteLLM proxy's shape (ProxyException.to_dict): every key, and the
	// status as a string.
	var e struct {
		Error map[string]json.RawMessage `json:"error"`
	}
	require.NoError(t, json.Unmarshal(body, &e), "%s", body)
	require.ElementsMatch(t, []string{"message", "type", "param", "code"}, slices.Collect(maps.Keys(e.Error)), "%s", body)
	require.JSONEq(t, `"invalid_request_error"`, string(e.Error["type"]))
	require.JSONEq(t, `null`, string(e.Error["param"]))
	require.JSONEq(t, `"400"`, string(e.Error["code"]))

	models, err := c.ListModels(context.Background())
	require.NoError(t, err)
	require.Equal(t, ModelID, models.Models[0].ID)
}

func TestUnansweredToolCallIsRefused(t *testing.T) {
	c, suite := client(t)
	ct := task(suite, "code-fix")
	_, err := c.CreateChatCompletion(context.Background(), openai.ChatCompletionRequest{Model: ModelID, Messages: []openai.ChatCompletionMessage{
		{Role: "user", Content: ct.Prompt},
		{Role: "assistant", ToolCalls: []openai.ToolCall{{ID: "x", Type: "function", Function: openai.FunctionCall{Name: "bash", Arguments: "{}"}}}},
		{Role: "tool", ToolCallID: "y", Content: "?"},
	}})
	require.ErrorContains(t, err, `unknown tool_call_id "y"`)
}

func TestRedirectsLikeModal(t *testing.T) {
	suite, err := tasks.Load("smoke")
	require.NoError(t, err)
	s := New(suite)
	s.Redirects = 3
	srv := httptest.NewServer(s)
	defer srv.Close()
	body := `{"model":"reference","messages":[{"role":"user","content":` + jsonString(task(suite, "math-simple").Prompt) + `}]}`
	var hops []string
	c := &http.Client{CheckRedirect: func(req *http.Request, via []*http.Request) error {
		require.Equal(t, http.MethodGet, req.Method, "a 303 turns the POST into a GET")
		hops = append(hops, req.URL.RawQuery)
		return nil
	}}
	resp, err := c.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Len(t, hops, 3)
	require.Contains(t, hops[0], "__modal_function_call_id=")
	var got openai.ChatCompletionResponse
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	require.Equal(t, task(suite, "math-simple").Reference[0].Answer, got.Choices[0].Message.Content)

	// The result is handed out once.
	again, err := http.Get(srv.URL + "/v1/chat/completions?" + hops[0])
	require.NoError(t, err)
	again.Body.Close()
	require.Equal(t, http.StatusNotFound, again.StatusCode)
}

func TestShapesOfAMisbehavingStream(t *testing.T) {
	suite, err := tasks.Load("smoke")
	require.NoError(t, err)
	ct := task(suite, "code-fix")
	for _, tc := range []struct {
		name    string
		shape   Shape
		events  int
		cut     bool
		finish  bool
		hasDone bool
	}{
		{"well formed, one rune per delta", Shape{Fragment: 1}, 3 + len([]rune(ct.Reference[0].ArgsJSON())), false, true, true},
		{"cut after 3 events", Shape{CutAfter: 3}, 3, true, false, false},
		{"no [DONE]", Shape{NoDone: true}, 0, false, true, false},
		{"no finish reason", Shape{NoFinish: true}, 0, false, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(suite)
			s.Shape = tc.shape
			srv := httptest.NewServer(s)
			defer srv.Close()
			body := `{"model":"reference","stream":true,"messages":[{"role":"user","content":` + jsonString(ct.Prompt) + `}]}`
			resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
			require.NoError(t, err)
			defer resp.Body.Close()
			raw, err := io.ReadAll(resp.Body)
			require.Equal(t, tc.cut, err != nil, "read error: %v", err)
			text := string(raw)
			if tc.events > 0 {
				require.Equal(t, tc.events, strings.Count(text, "data: {"))
			}
			require.Equal(t, tc.finish, strings.Contains(text, `"finish_reason":"tool_calls"`))
			require.Equal(t, tc.hasDone, strings.Contains(text, "data: [DONE]"))
		})
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Like the LiteLLM proxy: the cost of a plain reply is a header; a stream
// has none, and carries usage.cost in its last data chunk.
func TestCostLikeLiteLLM(t *testing.T) {
	suite, err := tasks.Load("smoke")
	require.NoError(t, err)
	s := New(suite)
	s.CostUSD = 0.125
	srv := httptest.NewServer(s)
	defer srv.Close()
	for _, stream := range []bool{false, true} {
		body, _ := json.Marshal(openai.ChatCompletionRequest{Model: ModelID, Stream: stream,
			StreamOptions: &openai.StreamOptions{IncludeUsage: true},
			Messages:      []openai.ChatCompletionMessage{{Role: "user", Content: suite.Tasks[0].Prompt}}})
		resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(string(body)))
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		if !stream {
			require.Equal(t, "0.125", resp.Header.Get("x-litellm-response-cost"))
			continue
		}
		require.Empty(t, resp.Header.Get("x-litellm-response-cost"), "a stream's headers go out before its cost is known")
		events := strings.Split(strings.TrimSpace(string(b)), "\n\n")
		require.Equal(t, "data: [DONE]", events[len(events)-1])
		var last struct {
			Usage struct {
				Cost float64 `json:"cost"`
			} `json:"usage"`
		}
		require.NoError(t, json.Unmarshal([]byte(strings.TrimPrefix(events[len(events)-2], "data: ")), &last))
		require.Equal(t, 0.125, last.Usage.Cost)
		require.NotContains(t, strings.Join(events[:len(events)-2], ""), `"cost"`, "only the final usage chunk has it")
	}
}

// A stream's chunks carry what vLLM's carry and nothing else: it dumps them
// with exclude_unset (vllm/entrypoints/openai/serving_chat.py), so a tool
// call's argument deltas have no id and no type, and there is no Azure-style
// content_filter_results.
func TestStreamChunksAreShapedLikeVLLMs(t *testing.T) {
	url, suite := serve(t)
	ct := task(suite, "code-fix")
	_, raw := post(t, url, `{"model":"reference","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":`+jsonString(ct.Prompt)+`}]}`)
	events := strings.Split(strings.TrimSpace(string(raw)), "\n\n")
	require.Greater(t, len(events), 5)
	var chunks []map[string]any
	for _, e := range events[:len(events)-1] {
		var c map[string]any
		require.NoError(t, json.Unmarshal([]byte(strings.TrimPrefix(e, "data: ")), &c), e)
		require.Equal(t, "chat.completion.chunk", c["object"])
		chunks = append(chunks, c)
	}
	require.Equal(t, "data: [DONE]", events[len(events)-1])
	choice := func(c map[string]any) map[string]any { return c["choices"].([]any)[0].(map[string]any) }
	first := choice(chunks[0])
	require.Equal(t, map[string]any{"role": "assistant", "content": ""}, first["delta"])
	require.Contains(t, first, "logprobs")
	require.Nil(t, first["finish_reason"])
	name := choice(chunks[1])["delta"].(map[string]any)["tool_calls"].([]any)[0].(map[string]any)
	require.Equal(t, "function", name["type"])
	require.NotEmpty(t, name["id"])
	args := ""
	for _, c := range chunks[2 : len(chunks)-2] {
		tc := choice(c)["delta"].(map[string]any)["tool_calls"].([]any)[0].(map[string]any)
		require.Equal(t, []string{"function", "index"}, sortedKeys(tc), "an argument delta is its index and its piece")
		args += tc["function"].(map[string]any)["arguments"].(string)
	}
	require.JSONEq(t, ct.Reference[0].ArgsJSON(), args)
	require.Equal(t, "tool_calls", choice(chunks[len(chunks)-2])["finish_reason"])
	usage := chunks[len(chunks)-1]
	require.Empty(t, usage["choices"])
	require.Contains(t, usage["usage"], "completion_tokens")
	require.NotContains(t, string(raw), "content_filter_results")
}

func sortedKeys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// The server reads only what it answers from, and of a well-typed body it
// reads what go-openai's full decoding reads; a body it cannot read that way
// (content as parts) it hands to go-openai whole.
func TestTheLeanDecodingReadsWhatTheFullOneDoes(t *testing.T) {
	s := New(tasks.Suite{})
	args := `{"command":"ls \"a b\"\n"}`
	for _, body := range []string{
		`{"model":"m","stream":true,"stream_options":{"include_usage":true},"temperature":0,"tools":[{"type":"function","function":{"name":"bash","parameters":{"type":"object","properties":{"command":{"type":"string"}}}}}],` +
			`"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"Fix it: \u00e9\t\"q\""},` +
			`{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"bash","arguments":` + jsonString(args) + `}}]},` +
			`{"role":"tool","tool_call_id":"call_1","content":"ok"},{"role":"assistant","reasoning_content":"hm"}]}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"parts"}]}]}`,
		`{"messages":[]}`,
		// A second key replaces the first whole.
		`{"messages":[{"role":"user","content":"P"},{"role":"assistant","tool_calls":[{"id":"c1"}]}],"messages":[{"role":"user"},{"role":"assistant"}]}`,
	} {
		lean, err := s.decode([]byte(body))
		require.NoError(t, err, body)
		var full openai.ChatCompletionRequest
		require.NoError(t, json.Unmarshal([]byte(body), &full))
		require.Equal(t, full.Model, lean.Model)
		require.Equal(t, full.Stream, lean.Stream)
		require.Equal(t, full.StreamOptions, lean.StreamOptions)
		require.Len(t, lean.Messages, len(full.Messages))
		for i, m := range full.Messages {
			l := lean.Messages[i]
			require.Equal(t, m.Role, l.Role)
			require.Equal(t, m.Content, l.Content)
			require.Equal(t, m.MultiContent, l.MultiContent)
			require.Equal(t, m.ToolCallID, l.ToolCallID)
			require.Len(t, l.ToolCalls, len(m.ToolCalls))
			for j, tc := range m.ToolCalls {
				require.Equal(t, tc.ID, l.ToolCalls[j].ID)
				require.Equal(t, tc.Function.Arguments, l.ToolCalls[j].Function.Arguments)
			}
		}
	}
	for _, bad := range []string{`{not json`, `{"messages":[{"role":1}]}`, `{"messages":{}}`} {
		_, err := s.decode([]byte(bad))
		require.Error(t, err, bad)
	}
}

// As a stream decoder does, the server reads a body's first JSON value and
// not what follows it.
func TestTheBodysFirstValueIsTheRequest(t *testing.T) {
	url, suite := serve(t)
	status, _ := post(t, url, `{"model":"reference","messages":[{"role":"user","content":`+jsonString(suite.Tasks[0].Prompt)+`}]} {"x":1}`)
	require.Equal(t, http.StatusOK, status)
	status, b := post(t, url, "")
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, string(b), "invalid JSON body")
}

// An unstreamed reply is vLLM's ChatCompletionResponse dumped whole: every
// field present, the unset ones null; a tool call's message has null content
// and an answer's has "tool_calls": [] (see whole).
func TestPlainRepliesAreShapedLikeVLLMs(t *testing.T) {
	url, suite := serve(t)
	ft := task(suite, "file-create")
	msgs := []openai.ChatCompletionMessage{{Role: "user", Content: ft.Prompt}}
	var sawCall, sawAnswer bool
	for _, step := range ft.Reference {
		body, err := json.Marshal(openai.ChatCompletionRequest{Model: ModelID, Messages: msgs})
		require.NoError(t, err)
		status, raw := post(t, url, string(body))
		require.Equal(t, http.StatusOK, status, "%s", raw)
		require.NotContains(t, string(raw), "content_filter_results")
		var top map[string]any
		require.NoError(t, json.Unmarshal(raw, &top))
		require.Equal(t, []string{"choices", "created", "id", "kv_transfer_params", "model", "object", "prompt_logprobs", "prompt_token_ids", "service_tier", "system_fingerprint", "usage"}, sortedKeys(top))
		require.Equal(t, "chat.completion", top["object"])
		require.Equal(t, []string{"completion_tokens", "prompt_tokens", "prompt_tokens_details", "total_tokens"}, sortedKeys(top["usage"].(map[string]any)))
		choice := top["choices"].([]any)[0].(map[string]any)
		require.Equal(t, []string{"finish_reason", "index", "logprobs", "message", "stop_reason", "token_ids"}, sortedKeys(choice))
		msg := choice["message"].(map[string]any)
		require.Equal(t, []string{"annotations", "audio", "content", "function_call", "reasoning", "reasoning_content", "refusal", "role", "tool_calls"}, sortedKeys(msg))
		require.Nil(t, msg["refusal"])
		var r openai.ChatCompletionResponse
		require.NoError(t, json.Unmarshal(raw, &r))
		m := r.Choices[0].Message
		if step.Tool == "" {
			require.Equal(t, []any{}, msg["tool_calls"], "an answer's tool_calls is an empty list")
			require.Equal(t, step.Answer, msg["content"])
			require.Equal(t, "stop", choice["finish_reason"])
			sawAnswer = true
			break
		}
		require.Nil(t, msg["content"], "a tool call's content is null")
		require.Equal(t, "tool_calls", choice["finish_reason"])
		call := msg["tool_calls"].([]any)[0].(map[string]any)
		require.Equal(t, []string{"function", "id", "type"}, sortedKeys(call))
		require.Equal(t, step.Tool, m.ToolCalls[0].Function.Name)
		require.JSONEq(t, step.ArgsJSON(), m.ToolCalls[0].Function.Arguments)
		sawCall = true
		msgs = append(msgs, m, openai.ChatCompletionMessage{Role: "tool", ToolCallID: m.ToolCalls[0].ID, Content: "ok"})
	}
	require.True(t, sawCall && sawAnswer, "the task has a tool call and an answer")
}

// A reply's reasoning is under both of vLLM 0.13's names, and null when
// there is none.
func TestAPlainReplysReasoningHasBothNames(t *testing.T) {
	for _, r := range []string{"", "thought"} {
		b, err := json.Marshal(wholeReply("m", openai.ChatCompletionMessage{Role: "assistant", Content: "a", ReasoningContent: r}, openai.FinishReasonStop, openai.Usage{}))
		require.NoError(t, err)
		var top struct {
			Choices []struct{ Message map[string]any }
		}
		require.NoError(t, json.Unmarshal(b, &top))
		m := top.Choices[0].Message
		require.Contains(t, m, "reasoning")
		require.Contains(t, m, "reasoning_content")
		want := any(nil)
		if r != "" {
			want = r
		}
		require.Equal(t, want, m["reasoning"])
		require.Equal(t, want, m["reasoning_content"])
	}
}
