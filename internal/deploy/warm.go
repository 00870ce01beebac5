package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxRedirects bounds the redirects one /health request follows. Modal
// answers a request held past its limit (about 150 s) with a redirect to the
// same call, so a long cold start is a long chain; the startup timeout, not
// this count, is what ends the wait.
const maxRedirects = 100

// errProxyAuth is a 401 from Modal's proxy: the request lacked, or had a
// wrong, proxy auth token. Waiting does not fix it, so warming stops.
var errProxyAuth = errors.New(MissingProxyAuth)

// healthClient copies c (or a default client) with a redirect policy fit for
// Modal's held requests.
func healthClient(c *http.Client) *http.Client {
	var hc http.Client
	if c != nil {
		hc = *c
	}
	if hc.CheckRedirect == nil {
		hc.CheckRedirect = func(_ *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return fmt.Errorf("stopped after %d redirects", maxRedirects)
			}
			return nil
		}
	}
	return &hc
}

// warm requests <url>/health until it answers 200 or budget runs out,
// waiting between requests from PollInterval doubling up to MaxPollInterval.
// It returns the time to the first 200, and whether the app was cold: the
// first answer was not 200, or took longer than WokeThreshold (Modal holds
// the requests to a cold app until a container is up).
func (d *Deployer) warm(ctx context.Context, baseURL string, budget time.Duration) (time.Duration, bool, error) {
	if budget <= 0 {
		budget = DefaultStartupTimeout
	}
	wctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	health := strings.TrimRight(baseURL, "/") + "/health"
	start := time.Now()
	wait := d.opts.PollInterval
	var last string
	for attempt := 0; ; attempt++ {
		sent := time.Now()
		code, err := d.probe(wctx, health)
		if code == http.StatusUnauthorized {
			return 0, false, fmt.Errorf("warm %s: HTTP 401: %w", health, errProxyAuth)
		}
		if code == http.StatusOK {
			cold := attempt > 0 || time.Since(sent) > d.opts.WokeThreshold
			return time.Since(start), cold, nil
		}
		switch {
		case err != nil && wctx.Err() == nil:
			last = err.Error()
		case err == nil:
			last = fmt.Sprintf("HTTP %d", code)
		}
		if ctx.Err() != nil {
			return 0, false, fmt.Errorf("warm %s: %w", health, ctx.Err())
		}
		if wctx.Err() != nil {
			break
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-wctx.Done():
			t.Stop()
		}
		if ctx.Err() != nil {
			return 0, false, fmt.Errorf("warm %s: %w", health, ctx.Err())
		}
		if wctx.Err() != nil {
			break
		}
		wait = min(2*wait, d.opts.MaxPollInterval)
	}
	if last == "" {
		last = "no answer"
	}
	return 0, true, fmt.Errorf("not ready within the startup timeout of %s: %s never answered 200 (last: %s)", budget, health, last)
}

// probe sends one GET and returns its final status after redirects.
func (d *Deployer) probe(ctx context.Context, target string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return 0, err
	}
	// Go's client keeps these headers on redirects to the same host, which is
	// where Modal sends a held request.
	for k, v := range d.opts.ProxyAuth.Headers() {
		req.Header.Set(k, v)
	}
	resp, err := d.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is already in the caller's message
		}
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	return resp.StatusCode, nil
}
