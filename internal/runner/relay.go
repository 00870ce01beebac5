package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sashabaranov/go-openai"

	"github.com/goatbench/goatbench/internal/progress"
	"github.com/goatbench/goatbench/internal/redact"
	"github.com/goatbench/goatbench/internal/results"
)

// Relay sends chat requests written by someone else (an external agent, via
// the recording proxy) to the model exactly as the built-in loop sends its
// own: with the real key, following Modal's redirects for as long as the
// startup budget allows, and retrying what the loop retries within one
// attempt's retry budget. One Relay serves one attempt.
type Relay struct {
	url    string // the chat completions URL
	apiKey string
	client *http.Client
	reqs   requests
	limits Limits // the client's caps on a reply, for whoever reads one

	mu      sync.Mutex
	retries int // across all requests of the attempt, against reqs.retry.Max
}

// NewRelay returns a Relay to c's endpoint, as the loop reaches it: the same
// URL, key, headers (Modal proxy auth) and redirect budget, over the same
// pooled connections. timeout bounds each try (0: only ctx); retry is the
// attempt's policy, as in Options.Retry.
func NewRelay(c *Client, timeout time.Duration, retry RetryPolicy) *Relay {
	return &Relay{
		url:    c.baseURL + "/chat/completions",
		apiKey: c.apiKey,
		client: &http.Client{Transport: recorder{c.http.Transport}, CheckRedirect: c.http.CheckRedirect},
		reqs:   requests{timeout: timeout, retry: retry},
		limits: c.limits,
	}
}

// Redact takes out of s the key the relay sends and every secret of this
// process, for what of a reply goes back to the agent.
func (r *Relay) Redact(s string) string {
	if r.apiKey != "" {
		s = strings.ReplaceAll(s, r.apiKey, "[REDACTED]")
	}
	return redact.String(s)
}

// Limits are the caps the client puts on one reply (see LimitReplies): a
// reply relayed to an agent is held to them as the loop's own are.
func (r *Relay) Limits() Limits { return r.limits }

// Oversized reports whether a request's recorded error is a reply over one
// of the limits: the model's doing (fail, oversized_reply), as in the loop.
func Oversized(reason string) bool { return strings.HasPrefix(reason, oversizedPrefix) }

// OversizedError is the error of a reply over limit, in the loop's words:
// what is over it ("one stream event", "the stream"), and the limit in bytes.
func OversizedError(what string, limit int64) error {
	return oversizeError{what: what, limit: int(limit)}
}

// Relayed is the outcome of one relayed request.
type Relayed struct {
	// Resp is the reply to hand back: a 2xx still being read (the caller
	// reads and closes Body), or the error reply that ended the request.
	// Nil when no reply arrived at all.
	Resp *http.Response
	// Started is when the answering try began: TTFT and total count from it,
	// so backoff never inflates latency (as in results.Request).
	Started   time.Time
	Retries   int
	RetryWait float64  // seconds
	Retried   []string // why each retry happened
	Error     string   // the failure that ended the request, in the loop's words
}

// next decides, after try n of a request failed with err, whether to try
// again and after how long. used counts the attempt's retries, across all its
// requests, and is incremented for a retry. The error returned is the
// failure, and when there is no retry it says why not.
func (p RetryPolicy) next(ctx context.Context, n int, err error, meta *responseMeta, used *int) (time.Duration, bool, error) {
	retry, after := shouldRetry(err, meta)
	if !retry || ctx.Err() != nil {
		return 0, false, err
	}
	wait := p.backoff(n, after)
	if *used >= p.Max {
		if p.Max > 0 {
			err = gaveUpError{err, "gave up after " + progress.Plural(*used, "retry")}
		}
		return 0, false, err
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
		// Waiting would outlast the attempt: keep the server's reason.
		return 0, false, gaveUpError{err, fmt.Sprintf("the next try, in %.1fs, would start after the attempt's timeout", wait.Seconds())}
	}
	*used++
	return wait, true, err
}

// errorBodyCap bounds how much of an error reply is kept.
const errorBodyCap = 1 << 20

// Send posts body (a chat completion request) and returns the reply. The
// error is non-nil only when no reply could be handed back (Resp is nil).
func (r *Relay) Send(ctx context.Context, body []byte) (Relayed, error) {
	var out Relayed
	for n := 0; ; n++ {
		meta := &responseMeta{started: time.Now()}
		out.Started = meta.started
		resp, err := r.try(ctx, meta, body)
		out.Resp = resp
		if err == nil {
			return out, nil
		}
		r.mu.Lock() // an agent may send requests in parallel; the budget is the attempt's
		wait, retry, err := r.reqs.retry.next(ctx, n, err, meta, &r.retries)
		r.mu.Unlock()
		if !retry {
			out.Error = describe(err)
			if resp == nil {
				return out, err
			}
			return out, nil
		}
		out.Retries++
		out.Retried = append(out.Retried, fmt.Sprintf("%s; retried after %.1fs", describe(err), wait.Seconds()))
		if err := r.reqs.retry.sleep(ctx, wait); err != nil {
			out.Error = describe(err)
			return out, err
		}
		out.RetryWait += wait.Seconds()
	}
}

// try makes one try. On a 2xx it returns the response with a nil error
// (wrapped so closing the body ends the try's timeout); on an error reply it
// returns that reply, its body read into memory, and the failure it means.
func (r *Relay) try(ctx context.Context, meta *responseMeta, body []byte) (resp *http.Response, err error) {
	rctx := withMeta(ctx, meta)
	cancel := context.CancelFunc(func() {})
	if r.reqs.timeout > 0 {
		rctx, cancel = context.WithTimeoutCause(rctx, r.reqs.timeout, errRequestTimeout)
	}
	defer func() {
		if err != nil {
			cancel()
			if ctx.Err() == nil && errors.Is(context.Cause(rctx), errRequestTimeout) {
				err = requestTimeoutError{after: r.reqs.timeout, began: meta.began}
			}
		}
	}()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, r.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+r.apiKey)
	resp, err = r.client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		resp.Body = cancelOnClose{resp.Body, cancel}
		return resp, nil
	}
	b, rerr := io.ReadAll(io.LimitReader(resp.Body, errorBodyCap))
	resp.Body.Close()
	if r.apiKey != "" {
		// Proxies echo (part of) a refused key in their error; the reply goes
		// back to the agent, which must never hold the key.
		b = bytes.ReplaceAll(b, []byte(r.apiKey), []byte("[REDACTED]"))
	}
	b = redact.Bytes(b)
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	if rerr != nil {
		return nil, rerr
	}
	// The same error the loop's own requests get for an error reply, so
	// shouldRetry and describe judge it exactly as they judge the loop's.
	f := decodeFailure(b)
	f.Status = resp.StatusCode
	return resp, replyError{f}
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// Assembler builds one message from stream events the way the loop does,
// and keeps the usage and cost they reported.
type Assembler struct {
	a assembler
	r reply
}

// NewAssembler is an Assembler holding the reply to l, as the loop's is
// (text, tool calls, arguments); Add's error then says which is over.
func NewAssembler(l Limits) *Assembler { return &Assembler{a: assembler{limits: l}} }

// Chunk is what one stream event carried.
type Chunk struct {
	Generated bool // generated text (the first is the time to first token)
	UsageOnly bool // usage and no choices: the chunk stream_options.include_usage asks for
}

// Add takes one stream event's JSON payload. A payload that is not a chunk
// is an error and adds nothing.
func (x *Assembler) Add(payload []byte) (Chunk, error) {
	var w wireReply
	if err := decodeReply(payload, &w); err != nil {
		return Chunk{}, err
	}
	x.r.take(w.Usage)
	before := x.a.tokens
	err := x.a.add(w)
	return Chunk{Generated: x.a.tokens > before, UsageOnly: w.Usage != nil && len(w.Choices) == 0}, err
}

// Usage is what the stream's chunks reported it used.
func (x *Assembler) Usage() Usage {
	return Usage{PromptTokens: int(x.r.usage.PromptTokens), CompletionTokens: int(x.r.usage.CompletionTokens), Cost: x.r.cost}
}

// Finish is the finish_reason the stream gave, "" while none.
func (x *Assembler) Finish() string { return x.a.finish }

// Message is the assembled reply; done says the stream carried [DONE].
func (x *Assembler) Message(done bool) (openai.ChatCompletionMessage, error) {
	return x.a.message(done)
}

// Usage is what a reply says it used: tokens, and the cost a proxy such as
// LiteLLM adds (usage.cost of a stream's last chunk).
type Usage struct {
	PromptTokens, CompletionTokens int
	Cost                           float64
}

// Measure fills a request record's timings, tokens, cost (usage's, else
// x-litellm-response-cost of a plain reply) and output rate as the loop fills
// its own.
func Measure(rec *results.Request, u Usage, header http.Header, ttft, total time.Duration) {
	rec.TTFT, rec.Total = ttft.Seconds(), total.Seconds()
	r := reply{usage: wireUsage{PromptTokens: tokenCountOf(int64(u.PromptTokens)), CompletionTokens: tokenCountOf(int64(u.CompletionTokens))}, cost: u.Cost, ttft: ttft, total: total}
	r.chargedBy(header)
	var l loop
	l.count(rec, r)
}

// recorder notes each response's status and headers in the try's
// responseMeta, which the retry rules read.
type recorder struct{ base http.RoundTripper }

func (r recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.base.RoundTrip(req)
	if meta := metaOf(req.Context()); meta != nil && err == nil {
		meta.status, meta.header = resp.StatusCode, resp.Header
		meta.began = resp.StatusCode >= 200 && resp.StatusCode < 300
	}
	return resp, err
}
