package runner

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
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
	limits         Limits
	transport      http.RoundTripper
}

// WithHeaders sends headers with every request to the client's own host,
// e.g. the Modal-Key and Modal-Secret of a proxy auth token when calling a
// Modal web endpoint directly, and with the redirects Modal sends a held
// request to there (https://modal.com/docs/guide/webhook-timeouts: a 303 to
// the same endpoint). A redirect to any other host gets none of them, as Go
// drops Authorization there.
func WithHeaders(h map[string]string) ClientOption {
	return func(c *clientConfig) { c.headers = h }
}

// headerTransport adds fixed headers to every request for host.
type headerTransport struct {
	base    http.RoundTripper
	host    string // scheme://host[:port] of the client's base URL
	headers map[string]string
}

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme+"://"+r.URL.Host != h.host {
		return h.base.RoundTrip(r)
	}
	r = r.Clone(r.Context())
	for k, v := range h.headers {
		r.Header.Set(k, v)
	}
	return h.base.RoundTrip(r)
}

// origin is scheme://host[:port] of a URL, "" when it has none.
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// WithTransport sends the client's requests through rt instead of its own
// pooled transport; benchmarks wrap it to see what the server reports.
func WithTransport(rt http.RoundTripper) ClientOption {
	return func(c *clientConfig) { c.transport = rt }
}

// Limits caps what one reply may bring, so that a broken or hostile server
// can neither grow memory without bound nor have its output sent back to it.
type Limits struct {
	Body      int64 // a plain reply's body, or all of a stream
	Event     int   // one server-sent event (one line, when unterminated)
	Arguments int   // one tool call's arguments
	ToolCalls int   // tool calls in one reply
}

// DefaultLimits are far above any real reply of an agent turn (a 32k-token
// reply is about 128 KiB of text; models call a few tools at once, rarely
// tens) and far below what would hurt the machine: 16 MiB of tiny tool calls
// is some 200,000 of them, each a command, and a tool message kept for the
// rest of the conversation.
var DefaultLimits = Limits{Body: 16 << 20, Event: 1 << 20, Arguments: 1 << 20, ToolCalls: 256}

// LimitReplies sets the reply caps.
func LimitReplies(l Limits) ClientOption {
	return func(c *clientConfig) { c.limits = l }
}

// Client is an OpenAI-compatible endpoint. The agent loop sends its chat
// requests itself (see wire.go); the embedded go-openai client serves
// one-off calls such as the tool-call probe.
type Client struct {
	*openai.Client
	baseURL string
	apiKey  string
	http    *http.Client
	limits  Limits
}

// FollowRedirectsFor sets how long one request may keep following redirects.
// Modal answers a request held past 150 seconds with a 303 to a result URL
// that blocks for another 150 seconds, so a cold model is waited for through
// a chain of redirects as long as its startup timeout.
func FollowRedirectsFor(d time.Duration) ClientOption {
	return func(c *clientConfig) { c.redirectBudget = d }
}

// NewClient returns an OpenAI-compatible client for baseURL (ending in /v1),
// over NewTransport unless WithTransport gives another.
func NewClient(baseURL, apiKey string, opts ...ClientOption) *Client {
	cc := clientConfig{redirectBudget: DefaultRedirectBudget, limits: DefaultLimits}
	for _, o := range opts {
		o(&cc)
	}
	cfg := openai.DefaultConfig(apiKey)
	cfg.BaseURL = strings.TrimSuffix(baseURL, "/")
	rt := cc.transport
	if rt == nil {
		rt = NewTransport()
	}
	if len(cc.headers) > 0 {
		rt = headerTransport{base: rt, host: origin(baseURL), headers: cc.headers}
	}
	hc := &http.Client{
		Transport:     rt,
		CheckRedirect: redirectPolicy(cc.redirectBudget),
	}
	cfg.HTTPClient = hc
	return &Client{Client: openai.NewClientWithConfig(cfg), baseURL: cfg.BaseURL, apiKey: apiKey, http: hc, limits: cc.limits}
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

// responseMeta is what one try saw of its reply, read after it returns.
type responseMeta struct {
	started   time.Time
	status    int         // of the last response, 0 when none arrived
	header    http.Header // of the last response
	began     bool        // a 2xx response arrived: the server has started answering
	done      bool        // a server-sent event stream carried its [DONE] marker
	reused    bool        // the last connection used had served a request before
	redirects int
	onBash    func() // called once, as a streamed reply begins a bash call
}

type metaKey struct{}

func withMeta(ctx context.Context, m *responseMeta) context.Context {
	return context.WithValue(ctx, metaKey{}, m)
}

func metaOf(ctx context.Context) *responseMeta {
	m, _ := ctx.Value(metaKey{}).(*responseMeta)
	return m
}
