package runner

import (
	"encoding/json"
	"strconv"

	"github.com/sashabaranov/go-openai"
)

// The chat completion body is our own, not go-openai's: go-openai's message
// has no `reasoning` field, its usage no `cost`, and its stream reader keeps
// an unterminated line in memory without bound. These types carry exactly
// what the agent loop sends and reads.

// chatRequest is the body of one chat completion request.
type chatRequest struct {
	Model         string                `json:"model"`
	Messages      []wireMessage         `json:"messages"`
	Tools         []openai.Tool         `json:"tools,omitempty"`
	ToolChoice    string                `json:"tool_choice,omitempty"`
	Temperature   *float32              `json:"temperature,omitempty"`
	Stream        bool                  `json:"stream,omitempty"`
	StreamOptions *openai.StreamOptions `json:"stream_options,omitempty"`
}

// wireMessage is one message as sent. An assistant turn's reasoning goes back
// under both names: vLLM's gpt-oss (Harmony) input reads the previous
// assistant turn's reasoning from `reasoning` (vllm-project/vllm PR #27752,
// vllm/entrypoints/harmony_utils.py), while chat templates such as Qwen3's
// read `message.reasoning_content`. Each reader takes the one it knows.
type wireMessage struct {
	Role             string            `json:"role"`
	Content          string            `json:"content,omitempty"`
	Reasoning        string            `json:"reasoning,omitempty"`
	ReasoningContent string            `json:"reasoning_content,omitempty"`
	Name             string            `json:"name,omitempty"`
	ToolCalls        []openai.ToolCall `json:"tool_calls,omitempty"`
	ToolCallID       string            `json:"tool_call_id,omitempty"`
}

func wireMessages(msgs []openai.ChatCompletionMessage) []wireMessage {
	out := make([]wireMessage, len(msgs))
	for i, m := range msgs {
		out[i] = wireMessage{Role: m.Role, Content: m.Content, Name: m.Name, ToolCalls: m.ToolCalls, ToolCallID: m.ToolCallID}
		if m.Role == openai.ChatMessageRoleAssistant {
			out[i].Reasoning, out[i].ReasoningContent = m.ReasoningContent, m.ReasoningContent
		}
	}
	return out
}

// wireUsage is a reply's usage. Cost is LiteLLM's charge for the call: on a
// streamed reply it arrives only here, in the final usage chunk, never in the
// x-litellm-response-cost header (BerriAI/litellm PR #13319,
// litellm/litellm_core_utils/streaming_handler.py, when
// litellm.include_cost_in_streaming_usage is on: litellm_settings in the
// proxy's config).
type wireUsage struct {
	PromptTokens     tokenCount `json:"prompt_tokens"`
	CompletionTokens tokenCount `json:"completion_tokens"`
	Cost             *float64   `json:"cost,omitempty"`
}

// tokenCount is a usage count. A number that is no count (negative, not
// whole, past maxTokens or int64) is dropped and the reply stands, as a cost
// too large is: the reply's content is the model's, its usage only a tally,
// and summed into a run's totals a wild one wraps them round. The scanner
// (scanner.tokens) reads it the same way.
type tokenCount int

// maxTokens is the largest token count taken from a reply: a thousand
// times the longest context any served model has.
const maxTokens = 1 << 34

func (n *tokenCount) UnmarshalJSON(b []byte) error {
	var f json.Number
	if err := json.Unmarshal(b, &f); err != nil || f == "" {
		return err // null leaves it be; a string or object is no number
	}
	*n = countOf(string(f))
	return nil
}

// countOf is the count a JSON number gives, 0 when it is no count.
func countOf(t string) tokenCount {
	v, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		return 0
	}
	return tokenCountOf(v)
}

// tokenCountOf is v as a count, 0 when it is none.
func tokenCountOf(v int64) tokenCount {
	if v < 0 || v > maxTokens {
		return 0
	}
	return tokenCount(v)
}

// wireToolCall is a tool call, whole in a plain reply or a fragment in a stream.
type wireToolCall struct {
	Index    *int   `json:"index,omitempty"`
	ID       string `json:"id,omitempty"`
	Type     string `json:"type,omitempty"`
	Function struct {
		Name      string `json:"name,omitempty"`
		Arguments string `json:"arguments,omitempty"`
	} `json:"function"`
}

// wireDelta is a stream delta or a plain reply's message. vLLM renamed its
// reasoning output from `reasoning_content` to `reasoning` (PR #27752) and
// sent both for a while; other servers send only the old name.
type wireDelta struct {
	Content          string         `json:"content"`
	Reasoning        string         `json:"reasoning"`
	ReasoningContent string         `json:"reasoning_content"`
	ToolCalls        []wireToolCall `json:"tool_calls"`
}

// reasoning is the delta's reasoning under whichever name it came: the new
// one when both are there, since a server sending both sends the same text.
func (d *wireDelta) reasoning() string {
	if d.Reasoning != "" {
		return d.Reasoning
	}
	return d.ReasoningContent
}

type wireChoice struct {
	Index        int       `json:"index"`
	Delta        wireDelta `json:"delta"`
	Message      wireDelta `json:"message"`
	FinishReason string    `json:"finish_reason"`
}

// wireReply is a plain reply's body or one stream chunk; an error inside a
// stream comes as {"error": {...}} in the same place.
type wireReply struct {
	Choices []wireChoice    `json:"choices"`
	Usage   *wireUsage      `json:"usage"`
	Error   json.RawMessage `json:"error"`
}
