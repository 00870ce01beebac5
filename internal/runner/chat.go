package runner

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
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
	finish      string // the choice's finish_reason
	usage       wireUsage
	cost        float64
	ttft, total time.Duration
}

// take records a reply's usage, and the cost LiteLLM puts in it; nil (no
// usage in this chunk) leaves what an earlier chunk said.
func (r *reply) take(u *wireUsage) {
	if u == nil {
		return
	}
	r.usage = *u
	if u.Cost != nil {
		r.cost = *u.Cost
	}
}

// chargedBy takes LiteLLM's charge for a plain reply from its header
// (litellm/proxy/proxy_server.py, get_custom_headers) when the reply's usage
// carried none; a stream's comes in its usage instead.
func (r *reply) chargedBy(h http.Header) {
	if c, err := strconv.ParseFloat(h.Get("x-litellm-response-cost"), 64); err == nil && r.cost == 0 && c >= 0 && !math.IsInf(c, 0) {
		r.cost = c // "NaN" parses, and fails c >= 0
	}
}

// chat sends one request, retrying what is worth retrying within the
// attempt's budget, and records its latency, tokens and every retry.
func (l *loop) chat(ctx context.Context, m Model) (openai.ChatCompletionMessage, error) {
	req := chatRequest{
		Model:       m.ModelID,
		Messages:    wireMessages(l.messages),
		Tools:       toolDefs,
		Temperature: m.Temperature,
		ToolChoice:  m.ToolChoice,
		Stream:      !m.NoStream,
	}
	if !m.NoStream {
		req.StreamOptions = &openai.StreamOptions{IncludeUsage: true}
	}
	body, err := json.Marshal(req)
	if err != nil {
		return openai.ChatCompletionMessage{}, fmt.Errorf("encode the request: %w", err)
	}
	rec := results.Request{Stream: !m.NoStream}
	defer func() { l.requests = append(l.requests, rec) }()
	resent := 0
	for n := 0; ; n++ {
		r, meta, err := send(ctx, m.Client, body, !m.NoStream, l.reqs.timeout, l.warm)
		rec.TTFT, rec.Total = r.ttft.Seconds(), r.total.Seconds()
		l.count(&rec, r)
		if err == nil {
			l.cutOff = r.finish == FinishLength
			return r.msg, nil
		}
		if deadPooled(ctx, err, meta) && resent < maxResends {
			// Go's transport resends these itself when it can; a write
			// that failed midway on the dead connection it leaves to us.
			resent++
			n--
			continue
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
	rec.TokensIn, rec.TokensOut = int(r.usage.PromptTokens), int(r.usage.CompletionTokens)
	rec.CostUSD = r.cost
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

// maxResends bounds the free resends of one request after dead pooled
// connections: one per idle connection the pool may still hold would be
// enough; a few more cost nothing.
const maxResends = 4

// deadPooled reports a try that failed on a reused connection before any
// byte of a reply arrived: the server had closed the idle connection, which
// is no server failure, and the request is sent again at once, with no
// backoff and outside the retry budget.
func deadPooled(ctx context.Context, err error, meta *responseMeta) bool {
	var ue *url.Error
	return ctx.Err() == nil && meta != nil && meta.reused && meta.status == 0 && errors.As(err, &ue) && !ue.Timeout()
}

// errRequestTimeout is the cause of a try's context ending at the request timeout.
var errRequestTimeout = errors.New("request timeout")

// send makes one try, streamed or plain.
func send(ctx context.Context, c *Client, body []byte, stream bool, timeout time.Duration, onBash func()) (reply, *responseMeta, error) {
	meta := &responseMeta{started: time.Now(), onBash: onBash}
	rctx := withMeta(ctx, meta)
	if timeout > 0 {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeoutCause(rctx, timeout, errRequestTimeout)
		defer cancel()
	}
	rctx = httptrace.WithClientTrace(rctx, &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { meta.reused = i.Reused },
	})
	r, err := c.exchange(rctx, body, stream, meta)
	r.total = time.Since(meta.started)
	switch {
	case err == nil:
	case ctx.Err() == nil && errors.Is(context.Cause(rctx), errRequestTimeout):
		err = requestTimeoutError{after: timeout, began: meta.began}
	case ctx.Err() != nil && meta.status == 0:
		// The attempt ended while the server had not begun to answer.
		err = noResponseError{waited: r.total, err: err}
	}
	return r, meta, err
}

// exchange posts one chat completion request and reads its reply whole.
func (c *Client) exchange(ctx context.Context, body []byte, stream bool, meta *responseMeta) (reply, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.baseURL+"/chat/completions", bytes.NewReader(body))
	if err != nil {
		return reply{}, fmt.Errorf("build the request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	// Marks the request replayable without sending the header (net/http
	// transport.go: "If the idempotency key value is a zero-length slice,
	// the request is treated as idempotent but the header is not sent").
	// Go's transport then resends it at once, on a new connection, when a
	// reused connection fails before any byte of the reply arrived
	// (persistConn.shouldRetryRequest): servers such as llama-server close
	// the connection after a streamed reply while advertising keep-alive,
	// and that is no server failure worth a backoff or a retry. Nothing of
	// a reply is acted on before it is complete, so resending is safe.
	req.Header["Idempotency-Key"] = nil
	if stream {
		req.Header.Set("Accept", "text/event-stream")
	}
	if c.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	meta.status, meta.header = resp.StatusCode, resp.Header
	meta.began = resp.StatusCode >= 200 && resp.StatusCode < 300
	if !meta.began {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, errorBodyLimit))
		f := decodeFailure(b)
		f.Status = resp.StatusCode
		return reply{}, replyError{f}
	}
	var r reply
	if stream && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		r, err = c.readStream(resp.Body, meta)
		// What little follows [DONE] (the chunked-encoding trailer) is read
		// so the connection goes back to the pool: closing a body that still
		// holds bytes closes the connection, and the next request would dial.
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
	} else {
		// A plain reply, or a server that answered a stream request with one.
		r, err = c.readPlain(resp.Body)
	}
	r.chargedBy(resp.Header)
	return r, err
}

// errorBodyLimit is as much of an error reply as is read: enough for any
// server's message, and the rest is not worth holding.
const errorBodyLimit = 64 << 10

func (c *Client) readPlain(body io.Reader) (reply, error) {
	b, err := io.ReadAll(io.LimitReader(body, c.limits.Body+1))
	if err != nil {
		return reply{}, streamCutError{err}
	}
	if int64(len(b)) > c.limits.Body {
		return reply{}, oversizeError{what: "the reply body", limit: int(c.limits.Body)}
	}
	var w wireReply
	if err := decodeReply(b, &w); err != nil {
		return reply{}, garbledError{snippet: oneLine(truncate(string(b), 120))}
	}
	if len(w.Error) > 0 && string(w.Error) != "null" {
		return reply{}, replyError{inStreamFailure(b)}
	}
	var r reply
	r.take(w.Usage)
	if len(w.Choices) == 0 {
		return r, errMalformed("the reply has no choices")
	}
	a := assembler{limits: c.limits}
	ch := w.Choices[0]
	ch.Delta = ch.Message
	if err := a.add(wireReply{Choices: []wireChoice{ch}}); err != nil {
		return r, err
	}
	r.msg, err = a.message(true)
	r.finish = a.finish
	return r, err
}

// readStream reads a server-sent event stream to its end and assembles the
// message. No line, event or stream is held beyond the client's limits, so a
// server that never ends a line cannot grow memory.
func (c *Client) readStream(body io.Reader, meta *responseMeta) (reply, error) {
	br := streamReaders.Get().(*bufio.Reader)
	br.Reset(body)
	defer func() {
		br.Reset(nil)
		streamReaders.Put(br)
	}()
	var (
		r     reply
		a     = assembler{limits: c.limits}
		line  []byte // a line longer than the reader's buffer, gathered
		event []byte // the data lines of the event being read (a copy)
		total int64
	)
	dispatch := func() error {
		data := event
		event = event[:0]
		if len(data) == 0 {
			return nil
		}
		if bytes.Equal(data, doneData) {
			meta.done = true
			return nil
		}
		var w wireReply
		if err := decodeReply(data, &w); err != nil {
			return garbledError{snippet: oneLine(truncate(string(data), 120)), stream: true}
		}
		if len(w.Error) > 0 && string(w.Error) != "null" {
			// vLLM reports a failure found after the stream opened as one
			// data event, json.dumps({"error": {...}}), then [DONE]
			// (vllm/entrypoints/openai/serving_chat.py, chat_completion_stream_generator).
			return replyError{inStreamFailure(data)}
		}
		r.take(w.Usage)
		before := a.tokens
		if err := a.add(w); err != nil {
			return err
		}
		if r.ttft == 0 && a.tokens > before {
			r.ttft = time.Since(meta.started)
		}
		if meta.onBash != nil && a.calling(toolBash) {
			f := meta.onBash
			meta.onBash = nil
			f()
		}
		return nil
	}
	for !meta.done {
		frag, err := br.ReadSlice('\n')
		total += int64(len(frag))
		if total > c.limits.Body {
			return r, oversizeError{what: "the stream", limit: int(c.limits.Body)}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			if len(line)+len(frag) > c.limits.Event {
				return r, oversizeError{what: "one stream event", limit: c.limits.Event}
			}
			line = append(line, frag...)
			continue
		}
		if len(line) > 0 {
			line = append(line, frag...)
			frag = line
		}
		if perr := c.sseLine(frag, &event, dispatch); perr != nil {
			return r, perr
		}
		line = line[:0]
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return r, streamCutError{err}
			}
			if derr := dispatch(); derr != nil {
				return r, derr
			}
			break
		}
	}
	msg, err := a.message(meta.done)
	r.msg, r.finish = msg, a.finish
	return r, err
}

var doneData = []byte("[DONE]")

// streamReaders keeps the readers of streams that ended: a fresh 32 KiB
// buffer per streamed request was a third of the bytes the runner allocated
// in the smoke benchmark. Nothing read keeps a slice of one: events are
// copied out of it (sseLine).
var streamReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 32<<10) }}

// sseLine takes one line of an event stream: data lines are gathered into the
// event, a blank line ends it; comments and other fields are skipped
// (https://html.spec.whatwg.org/multipage/server-sent-events.html).
func (c *Client) sseLine(ln []byte, event *[]byte, dispatch func() error) error {
	ln = bytes.TrimRight(ln, "\r\n")
	if len(ln) == 0 {
		return dispatch()
	}
	data, ok := bytes.CutPrefix(ln, []byte("data:"))
	if !ok {
		return nil
	}
	data = bytes.TrimPrefix(data, []byte(" "))
	if len(*event)+len(data) > c.limits.Event {
		return oversizeError{what: "one stream event", limit: c.limits.Event}
	}
	if len(*event) > 0 {
		*event = append(*event, '\n')
	}
	*event = append(*event, data...)
	return nil
}

// inStreamFailure reads an error event: {"error": {...}} with vLLM's fields,
// its numeric code standing in for the HTTP status the stream could no
// longer send.
func inStreamFailure(b []byte) failure {
	f := decodeFailure(b)
	if n, err := strconv.Atoi(f.Code); err == nil && n >= 400 && n < 600 {
		f.Status = n
	}
	return f
}

// assembler builds one message from stream deltas (or a plain reply's
// message): content and reasoning concatenated, tool calls gathered by index
// from their id, name and argument fragments.
type assembler struct {
	limits    Limits
	choices   int
	tokens    int // deltas that carried generated text
	content   strings.Builder
	reasoning strings.Builder
	calls     []*call
	byIndex   map[int]int
	finish    string
}

// call is a tool call being assembled; its arguments grow in a builder, not
// by string concatenation, since servers send them one character per delta.
type call struct {
	id, typ, name string
	args          strings.Builder
}

// add takes one chunk.
func (a *assembler) add(w wireReply) error {
	for i := range w.Choices {
		ch := &w.Choices[i]
		if ch.Index != 0 {
			continue // only one completion is asked for
		}
		a.choices++
		d := &ch.Delta
		rs := d.reasoning()
		if d.Content != "" || rs != "" || len(d.ToolCalls) > 0 {
			a.tokens++
		}
		a.content.WriteString(d.Content)
		a.reasoning.WriteString(rs)
		if a.limits.Body > 0 && int64(a.content.Len()+a.reasoning.Len()) > a.limits.Body {
			return oversizeError{what: "the reply's text", limit: int(a.limits.Body)}
		}
		for j := range d.ToolCalls {
			if err := a.addCall(&d.ToolCalls[j]); err != nil {
				return err
			}
		}
		if ch.FinishReason != "" {
			a.finish = ch.FinishReason
		}
	}
	return nil
}

func (a *assembler) addCall(tc *wireToolCall) error {
	i := -1
	switch {
	case tc.Index != nil:
		if j, ok := a.byIndex[*tc.Index]; ok {
			i = j
		}
	case tc.ID != "":
		// No index: a new id starts a new call.
		for j := range a.calls {
			if a.calls[j].id == tc.ID {
				i = j
			}
		}
	case len(a.calls) > 0:
		i = len(a.calls) - 1
	}
	if i < 0 {
		if a.limits.ToolCalls > 0 && len(a.calls) >= a.limits.ToolCalls {
			return oversizeError{what: "tool calls in one reply", limit: a.limits.ToolCalls, count: true}
		}
		a.calls = append(a.calls, &call{typ: string(openai.ToolTypeFunction)})
		i = len(a.calls) - 1
		if tc.Index != nil {
			if a.byIndex == nil {
				a.byIndex = map[int]int{}
			}
			a.byIndex[*tc.Index] = i
		}
	}
	c := a.calls[i]
	if c.id == "" {
		c.id = tc.ID
	}
	if tc.Type != "" {
		c.typ = tc.Type
	}
	// Names come whole in the first fragment from vLLM and OpenAI, in pieces
	// from some servers, and repeated in every fragment from others.
	switch n := tc.Function.Name; {
	case n == "" || n == c.name:
	default:
		c.name += n
	}
	if a.limits.Arguments > 0 && c.args.Len()+len(tc.Function.Arguments) > a.limits.Arguments {
		return oversizeError{what: "one tool call's arguments", limit: a.limits.Arguments}
	}
	c.args.WriteString(tc.Function.Arguments)
	return nil
}

// calling reports whether the reply so far calls the tool name.
func (a *assembler) calling(name string) bool {
	for _, c := range a.calls {
		if c.name == name {
			return true
		}
	}
	return false
}

// message is the assembled reply. A stream is complete when it gave a finish
// reason or its [DONE] marker; one that just stopped was cut.
func (a *assembler) message(done bool) (openai.ChatCompletionMessage, error) {
	if a.choices == 0 {
		return openai.ChatCompletionMessage{}, errMalformed("the stream carried no choices")
	}
	msg := openai.ChatCompletionMessage{
		Role: openai.ChatMessageRoleAssistant, Content: a.content.String(),
		ReasoningContent: a.reasoning.String(),
	}
	for i := range a.calls {
		c := a.calls[i]
		msg.ToolCalls = append(msg.ToolCalls, openai.ToolCall{ID: c.id, Type: openai.ToolType(c.typ),
			Function: openai.FunctionCall{Name: c.name, Arguments: c.args.String()}})
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
