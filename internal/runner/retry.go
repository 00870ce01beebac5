package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sashabaranov/go-openai"
)

// RetryPolicy says which failed requests are tried again, and how patiently.
// Its zero value never retries.
type RetryPolicy struct {
	Max  int           // retries allowed per attempt, across all its requests
	Base time.Duration // first backoff; doubled each retry of the same request
	Cap  time.Duration // longest backoff (a longer Retry-After is still honoured)
	// Sleep waits d or until ctx ends; nil uses a timer. Tests replace it to
	// see the waits without spending them.
	Sleep func(ctx context.Context, d time.Duration) error
}

// DefaultRetry is the policy of `goatbench run`: six retries per attempt,
// 1 s doubling to 30 s, about a minute and a half of patience in all.
var DefaultRetry = RetryPolicy{Max: 6, Base: time.Second, Cap: 30 * time.Second}

// backoff is the wait before retry n (0-based) of one request: exponential
// with full jitter in its upper half, so attempts that failed together do not
// come back together; never shorter than what the server asked for.
func (p RetryPolicy) backoff(n int, retryAfter time.Duration) time.Duration {
	d := p.Base << min(n, 20)
	if p.Cap > 0 && (d > p.Cap || d <= 0) {
		d = p.Cap
	}
	if d > 0 {
		d = d/2 + rand.N(d/2+1)
	}
	return max(d, retryAfter)
}

func (p RetryPolicy) sleep(ctx context.Context, d time.Duration) error {
	if p.Sleep != nil {
		return p.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// failure is an HTTP error reply, decoded from whichever shape the server
// used: OpenAI's and LiteLLM's {"error":{"message","type","code"}} with code a
// string or a number, vLLM's flat {"object":"error","message",...}, or text.
type failure struct {
	Status  int
	Message string
	Type    string
	Code    string
}

func (f failure) text() string { return strings.ToLower(f.Message + " " + f.Type + " " + f.Code) }

// replyError is a reply that says the request failed: an HTTP error status,
// or an error event inside a stream.
type replyError struct{ f failure }

func (e replyError) Error() string { return describe(e) }

// garbledError is a 200 reply whose body (or one of whose stream events) is
// not JSON: an upstream proxy's HTML page, or a broken body.
type garbledError struct {
	snippet string
	stream  bool
}

func (e garbledError) Error() string {
	if e.stream {
		return "malformed reply: a stream event is not JSON: " + e.snippet
	}
	return "malformed reply: the body is not JSON: " + e.snippet
}

// oversizeError is a reply over one of the client's limits.
type oversizeError struct {
	what  string
	limit int
	count bool // limit counts what, rather than bytes of it
}

func (e oversizeError) Error() string {
	if e.count {
		return fmt.Sprintf(oversizedPrefix+"more than %d %s", e.limit, e.what)
	}
	return fmt.Sprintf(oversizedPrefix+"%s is over the %d-byte limit", e.what, e.limit)
}

// oversizedPrefix opens every oversizeError's text (see Oversized).
const oversizedPrefix = "oversized reply: "

// failureOf finds the HTTP error reply in err, if there is one.
func failureOf(err error) (failure, bool) {
	var re replyError
	if errors.As(err, &re) {
		return re.f, true
	}
	// A RequestError first: when go-openai half-decodes an error body it
	// wraps that half-filled APIError, without the status, inside one.
	var reqErr *openai.RequestError
	if errors.As(err, &reqErr) {
		f := decodeFailure(reqErr.Body)
		f.Status = reqErr.HTTPStatusCode
		return f, true
	}
	var apiErr *openai.APIError
	if errors.As(err, &apiErr) {
		f := failure{Status: apiErr.HTTPStatusCode, Message: apiErr.Message, Type: apiErr.Type}
		if apiErr.Code != nil {
			f.Code = fmt.Sprint(apiErr.Code)
		}
		return f, true
	}
	return failure{}, false
}

// decodeFailure reads an error body go-openai could not: fields of any JSON
// type, nested or flat, or no JSON at all.
func decodeFailure(body []byte) failure {
	var raw struct {
		Error   json.RawMessage `json:"error"`
		Message json.RawMessage `json:"message"`
		Detail  json.RawMessage `json:"detail"`
		Type    json.RawMessage `json:"type"`
		Code    json.RawMessage `json:"code"`
	}
	if json.Unmarshal(body, &raw) != nil {
		return failure{Message: oneLine(string(body))}
	}
	var f failure
	if len(raw.Error) > 0 && raw.Error[0] == '{' {
		var inner struct {
			Message json.RawMessage `json:"message"`
			Type    json.RawMessage `json:"type"`
			Code    json.RawMessage `json:"code"`
		}
		if json.Unmarshal(raw.Error, &inner) == nil {
			f = failure{Message: scalar(inner.Message), Type: scalar(inner.Type), Code: scalar(inner.Code)}
		}
	} else if len(raw.Error) > 0 {
		f.Message = scalar(raw.Error)
	}
	if f.Message == "" {
		f.Message = firstNonEmpty(scalar(raw.Message), scalar(raw.Detail))
	}
	f.Type, f.Code = firstNonEmpty(f.Type, scalar(raw.Type)), firstNonEmpty(f.Code, scalar(raw.Code))
	if f.Message == "" {
		f.Message = oneLine(string(body))
	}
	return f
}

// scalar renders a JSON value as text: strings unquoted, null as "", anything
// else as its JSON.
func scalar(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	if t := strings.TrimSpace(string(v)); t != "null" {
		return t
	}
	return ""
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// requestTimeoutError is a request that got no (complete) reply within the
// request timeout.
type requestTimeoutError struct {
	after time.Duration
	began bool
}

func (e requestTimeoutError) Error() string {
	if e.began {
		return fmt.Sprintf("the reply did not finish within the request timeout (%s)", e.after)
	}
	return fmt.Sprintf("no reply within the request timeout (%s)", e.after)
}

// noResponseError is a request the server had not begun to answer (no status
// line) when the attempt's own time ran out.
type noResponseError struct {
	waited time.Duration
	err    error
}

func (e noResponseError) Error() string {
	return fmt.Sprintf("the server sent no reply in the %.1fs the request waited before the attempt's timeout", e.waited.Seconds())
}
func (e noResponseError) Unwrap() error { return e.err }

// streamCutError is a streamed reply that ended before it was complete.
type streamCutError struct{ err error }

func (e streamCutError) Error() string {
	if e.err == nil {
		return "the stream ended before the reply was complete (no finish_reason)"
	}
	return "the stream broke before the reply was complete: " + e.err.Error()
}
func (e streamCutError) Unwrap() error { return e.err }

// shouldRetry decides whether a failed try is worth another, and the wait the
// server asked for (Retry-After), if any. Retried: 429, 408 and 5xx answers;
// connections refused, reset or timed out; and replies that broke before they
// were complete: a stream cut midway, a body cut short, a 200 whose body (or
// a stream event) is not JSON, such as an upstream proxy's HTML page. Nothing
// of a reply is acted on before it is complete, so sending the request again
// is safe; each retry is recorded, and the budget bounds what a flaky server
// can cost. An oversized reply is not retried: the same request would bring
// the same flood.
func shouldRetry(err error, meta *responseMeta) (bool, time.Duration) {
	if errors.Is(err, errRedirectBudget) || errors.Is(err, context.Canceled) {
		return false, 0
	}
	var (
		cut     streamCutError
		garbled garbledError
		over    oversizeError
	)
	switch {
	case errors.As(err, &over):
		return false, 0
	case errors.As(err, &cut), errors.As(err, &garbled):
		return true, 0
	}
	var rt requestTimeoutError
	if errors.As(err, &rt) {
		return !rt.began, 0
	}
	if f, ok := failureOf(err); ok {
		if isContextLength(f.text()) {
			return false, 0
		}
		if f.Status == http.StatusTooManyRequests || f.Status == http.StatusRequestTimeout || f.Status >= 500 {
			return true, retryAfter(meta)
		}
		return false, 0
	}
	if meta != nil && meta.began {
		return false, 0
	}
	// No HTTP reply at all: the connection was refused, reset or timed out.
	var ue *url.Error
	return errors.As(err, &ue), 0
}

// retryAfter reads the Retry-After header, in seconds or as an HTTP date.
func retryAfter(meta *responseMeta) time.Duration {
	if meta == nil || meta.header == nil {
		return 0
	}
	v := strings.TrimSpace(meta.header.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s > 0 {
		return time.Duration(min(s, 86400) * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, time.Until(t))
	}
	return 0
}
