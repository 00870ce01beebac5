package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/goatbench/goatbench/internal/results"
	"github.com/sashabaranov/go-openai"
)

// requests is how an attempt sends its chat requests.
type requests struct {
	timeout time.Duration // per try; 0 leaves only the attempt's timeout
	retry   RetryPolicy
}

// reply is what one try brought back.
type reply struct {
	msg         openai.ChatCompletionMessage
	usage       openai.Usage
	header      http.Header
	ttft, total time.Duration
}

// chat sends one request, retrying what is worth retrying within the
// attempt's budget, and records its latency, tokens and every retry.
func (l *loop) chat(ctx context.Context, m Model) (openai.ChatCompletionMessage, error) {
	req := openai.ChatCompletionRequest{
		Model:    m.ModelID,
		Messages: l.messages,
		Tools:    toolDefs,
	}
	if m.Temperature != nil {
		req.Temperature = *m.Temperature
	}
	if m.ToolChoice != "" {
		req.ToolChoice = m.ToolChoice
	}
	if !m.NoStream {
		req.StreamOptions = &openai.StreamOptions{IncludeUsage: true}
	}
	rec := results.Request{Stream: !m.NoStream}
	defer func() { l.requests = append(l.requests, rec) }()
	for n := 0; ; n++ {
		r, meta, err := send(ctx, m, req, l.reqs.timeout)
		rec.TTFT, rec.Total = r.ttft.Seconds(), r.total.Seconds()
		l.count(&rec, r)
		if err == nil {
			return r.msg, nil
		}
		wait, retry, err := l.reqs.retry.next(ctx, n, err, meta, &l.retries)
		if !retry {
			rec.Error = describe(err)
			return openai.ChatCompletionMessage{}, err
		}
		rec.Retries++
		rec.Retried = append(rec.Retried, fmt.Sprintf("%s; retried after %.1fs", describe(err), wait.Seconds()))
		if err := l.reqs.retry.sleep(ctx, wait); err != nil {
			rec.Error = describe(err)
			return openai.ChatCompletionMessage{}, err
		}
		rec.RetryWait += wait.Seconds()
	}
}

// count adds a reply's tokens and cost to the request and the attempt.
func (l *loop) count(rec *results.Request, r reply) {
	rec.TokensIn, rec.TokensOut = r.usage.PromptTokens, r.usage.CompletionTokens
	if c, err := strconv.ParseFloat(r.header.Get("x-litellm-response-cost"), 64); err == nil {
		rec.CostUSD = c
	}
	switch gen := r.total - r.ttft; {
	case rec.Stream && r.ttft > 0 && gen > 0 && rec.TokensOut > 1:
		// The first token is the one TTFT measured; the rest came after it.
		rec.TokensPerSec = float64(rec.TokensOut-1) / gen.Seconds()
	case !rec.Stream && r.total > 0:
		rec.TokensPerSec = float64(rec.TokensOut) / r.total.Seconds()
	}
	l.tokensIn += rec.TokensIn
	l.tokensOut += rec.TokensOut
	l.costUSD += rec.CostUSD
}

// errRequestTimeout is the cause of a try's context ending at the request timeout.
var errRequestTimeout = errors.New("request timeout")

// send makes one try, streamed unless the model says otherwise.
func send(ctx context.Context, m Model, req openai.ChatCompletionRequest, timeout time.Duration) (reply, *responseMeta, error) {
	meta := &responseMeta{started: time.Now()}
	rctx := withMeta(ctx, meta)
	if timeout > 0 {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeoutCause(rctx, timeout, errRequestTimeout)
		defer cancel()
	}
	var (
		r   reply
		err error
	)
	if m.NoStream {
		r, err = plain(rctx, m.Client, req)
	} else {
		r, err = streamed(rctx, m.Client, req, meta)
	}
	r.total = time.Since(meta.started)
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(rctx), errRequestTimeout) {
		err = requestTimeoutError{after: timeout, began: meta.began}
	}
	return r, meta, err
}

func plain(ctx context.Context, c *openai.Client, req openai.ChatCompletionRequest) (reply, error) {
	resp, err := c.CreateChatCompletion(ctx, req)
	if err != nil {
		return reply{}, err
	}
	r := reply{usage: resp.Usage, header: resp.Header()}
	if len(resp.Choices) == 0 {
		return r, errMalformed("the reply has no choices")
	}
	r.msg = resp.Choices[0].Message
	r.msg.Role = openai.ChatMessageRoleAssistant
	return r, nil
}

// streamed reads a server-sent event stream to its end and assembles the
// message. A failure after the stream opened is a streamCutError: it is never
// retried (see shouldRetry).
func streamed(ctx context.Context, c *openai.Client, req openai.ChatCompletionRequest, meta *responseMeta) (reply, error) {
	s, err := c.CreateChatCompletionStream(ctx, req)
	if err != nil {
		return reply{}, err
	}
	defer s.Close()
	r := reply{header: s.Header()}
	var a assembler
	for {
		chunk, err := s.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return r, streamCutError{err}
		}
		if chunk.Usage != nil {
			r.usage = *chunk.Usage
		}
		if a.add(chunk) && r.ttft == 0 {
			r.ttft = time.Since(meta.started)
		}
	}
	r.msg, err = a.message(meta.done)
	return r, err
}

// assembler builds one message from stream deltas: content and reasoning
// concatenated, tool calls gathered by index from their id, name and
// argument fragments.
type assembler struct {
	choices   int
	content   strings.Builder
	reasoning strings.Builder
	calls     []openai.ToolCall
	byIndex   map[int]int
	finish    openai.FinishReason
}

// add takes one chunk and reports whether it carried generated text.
func (a *assembler) add(chunk openai.ChatCompletionStreamResponse) bool {
	token := false
	for _, ch := range chunk.Choices {
		if ch.Index != 0 {
			continue // only one completion is asked for
		}
		a.choices++
		d := ch.Delta
		token = token || d.Content != "" || d.ReasoningContent != "" || len(d.ToolCalls) > 0
		a.content.WriteString(d.Content)
		a.reasoning.WriteString(d.ReasoningContent)
		for _, tc := range d.ToolCalls {
			a.addCall(tc)
		}
		if ch.FinishReason != "" {
			a.finish = ch.FinishReason
		}
	}
	return token
}

func (a *assembler) addCall(tc openai.ToolCall) {
	i := -1
	switch {
	case tc.Index != nil:
		if j, ok := a.byIndex[*tc.Index]; ok {
			i = j
		}
	case tc.ID != "":
		// No index: a new id starts a new call.
		for j, c := range a.calls {
			if c.ID == tc.ID {
				i = j
			}
		}
	case len(a.calls) > 0:
		i = len(a.calls) - 1
	}
	if i < 0 {
		a.calls = append(a.calls, openai.ToolCall{Type: openai.ToolTypeFunction})
		i = len(a.calls) - 1
		if tc.Index != nil {
			if a.byIndex == nil {
				a.byIndex = map[int]int{}
			}
			a.byIndex[*tc.Index] = i
		}
	}
	c := &a.calls[i]
	if c.ID == "" {
		c.ID = tc.ID
	}
	if tc.Type != "" {
		c.Type = tc.Type
	}
	// Names come whole in the first fragment from vLLM and OpenAI, in pieces
	// from some servers, and repeated in every fragment from others.
	switch n := tc.Function.Name; {
	case n == "" || n == c.Function.Name:
	default:
		c.Function.Name += n
	}
	c.Function.Arguments += tc.Function.Arguments
}

// message is the assembled reply. A stream is complete when it gave a finish
// reason or its [DONE] marker; one that just stopped was cut.
func (a *assembler) message(done bool) (openai.ChatCompletionMessage, error) {
	if a.choices == 0 {
		return openai.ChatCompletionMessage{}, errMalformed("the stream carried no choices")
	}
	msg := openai.ChatCompletionMessage{
		Role: openai.ChatMessageRoleAssistant, Content: a.content.String(),
		ReasoningContent: a.reasoning.String(), ToolCalls: a.calls,
	}
	if a.finish == "" && !done {
		return msg, streamCutError{}
	}
	return msg, nil
}

// gaveUpError is a retryable failure that was not retried, and why.
type gaveUpError struct {
	err error
	why string
}

func (e gaveUpError) Error() string { return describe(e.err) + " (" + e.why + ")" }
func (e gaveUpError) Unwrap() error { return e.err }

// describe is a failure in a few words, for reasons and retry records.
func describe(err error) string {
	var g gaveUpError
	if errors.As(err, &g) {
		return oneLine(g.Error())
	}
	var rt requestTimeoutError
	if errors.As(err, &rt) {
		return rt.Error()
	}
	if f, ok := failureOf(err); ok {
		s := fmt.Sprintf("HTTP %d", f.Status)
		if f.Status == 0 {
			s = "server error"
		}
		if f.Message != "" {
			s += ": " + f.Message
		}
		return oneLine(s)
	}
	return oneLine(err.Error())
}
