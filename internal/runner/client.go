package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/sashabaranov/go-openai"
)

// DefaultRedirectBudget is how long a client follows redirects when no
// startup timeout is given: as long as the registry's usual model startup.
const DefaultRedirectBudget = 30 * time.Minute

// ClientOption adjusts NewClient.
type ClientOption func(*clientConfig)

type clientConfig struct {
	redirectBudget time.Duration
	headers        map[string]string
}

// WithHeaders sends headers with every request, e.g. the Modal-Key and
// Modal-Secret of a proxy auth token when calling a Modal web endpoint
// directly. Go keeps them on redirects to the same host, where Modal sends
// held requests.
func WithHeaders(h map[string]string) ClientOption {
	return func(c *clientConfig) { c.headers = h }
}

// headerTransport adds fixed headers to every request.
type headerTransport struct {
	base    http.RoundTripper
	headers map[string]string
}

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h.headers {
		r.Header.Set(k, v)
	}
	return h.base.RoundTrip(r)
}

// FollowRedirectsFor sets how long one request may keep following redirects.
// Modal answers a request held past 150 seconds with a 303 to a result URL
// that blocks for another 150 seconds, so a cold model is waited for through
// a chain of redirects as long as its startup timeout.
func FollowRedirectsFor(d time.Duration) ClientOption {
	return func(c *clientConfig) { c.redirectBudget = d }
}

// NewClient returns an OpenAI-compatible client for baseURL (ending in /v1).
// Its transport keeps enough idle connections for many attempts in flight to
// one server; Go's default of two would re-dial for almost every request.
func NewClient(baseURL, apiKey string, opts ...ClientOption) *openai.Client {
	cc := clientConfig{redirectBudget: DefaultRedirectBudget}
	for _, o := range opts {
		o(&cc)
	}
	cfg := openai.DefaultConfig(apiKey)
	cfg.BaseURL = strings.TrimSuffix(baseURL, "/")
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	var rt http.RoundTripper = t
	if len(cc.headers) > 0 {
		rt = headerTransport{t, cc.headers}
	}
	cfg.HTTPClient = &http.Client{
		Transport:     recorder{rt},
		CheckRedirect: redirectPolicy(cc.redirectBudget),
	}
	return openai.NewClientWithConfig(cfg)
}

// errRedirectBudget ends a redirect chain that outlived the startup timeout.
var errRedirectBudget = errors.New("still redirected when the model's startup timeout ran out")

// redirectPolicy follows redirects for as long as budget allows, counted from
// the first request of the chain. Go's default stops after 10, which is 25
// minutes of Modal's 150-second hops, less than a large model's cold start.
func redirectPolicy(budget time.Duration) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if meta := metaOf(req.Context()); meta != nil {
			if time.Since(meta.started) > budget {
				return fmt.Errorf("%w (%d redirects in %s)", errRedirectBudget, len(via), budget)
			}
			meta.redirects = len(via)
			return nil
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
}

// responseMeta is what the transport saw of one try, read after the client
// returns: go-openai's errors carry neither the headers (Retry-After) nor
// whether a reply had begun before a failure.
type responseMeta struct {
	started   time.Time
	status    int         // of the last response, 0 when none arrived
	header    http.Header // of the last response
	began     bool        // a 2xx response arrived: the server has started answering
	done      bool        // a server-sent event stream carried its [DONE] marker
	redirects int
}

type metaKey struct{}

func withMeta(ctx context.Context, m *responseMeta) context.Context {
	return context.WithValue(ctx, metaKey{}, m)
}

func metaOf(ctx context.Context) *responseMeta {
	m, _ := ctx.Value(metaKey{}).(*responseMeta)
	return m
}

// recorder is a transport that notes each response's status and headers in
// the request's responseMeta, when it has one.
type recorder struct{ base http.RoundTripper }

func (r recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.base.RoundTrip(req)
	if meta := metaOf(req.Context()); meta != nil && err == nil {
		meta.status, meta.header = resp.StatusCode, resp.Header
		meta.began = resp.StatusCode >= 200 && resp.StatusCode < 300
		if meta.began && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			resp.Body = &doneWatcher{ReadCloser: resp.Body, meta: meta}
		}
	}
	return resp, err
}

// doneWatcher notes whether an event stream carried "[DONE]": go-openai
// reports a stream's clean end and its cut-off end alike as io.EOF.
type doneWatcher struct {
	io.ReadCloser
	meta *responseMeta
	tail []byte // the last bytes read, for a marker split across reads
}

var doneMarker = []byte("data: [DONE]")

// Close reads what little follows a finished stream (the blank line after
// [DONE], the chunked-encoding trailer) so the connection goes back to the
// pool: closing a body that still holds bytes closes the connection, and
// every streamed request would dial a new one.
func (d *doneWatcher) Close() error {
	if d.meta.done {
		_, _ = io.CopyN(io.Discard, d.ReadCloser, 4<<10)
	}
	return d.ReadCloser.Close()
}

func (d *doneWatcher) Read(p []byte) (int, error) {
	n, err := d.ReadCloser.Read(p)
	if n > 0 && !d.meta.done {
		buf := append(d.tail, p[:n]...)
		d.meta.done = bytes.Contains(buf, doneMarker)
		d.tail = append(d.tail[:0], buf[max(0, len(buf)-len(doneMarker)+1):]...)
	}
	return n, err
}
