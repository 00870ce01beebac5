package engine

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"
)

// preflight checks every endpoint answers before anything is written, so an
// unreachable --base-url is a usage error, not a run full of errors; and so
// are an endpoint with no chat route (a base URL without its /v1, or no
// OpenAI API at all) and one that refuses the key, which every chat request
// would meet. GET /models may be refused where chat is not: a LiteLLM
// virtual key limited to the chat routes gets a 403 there
// (litellm/proxy/auth/route_checks.py, is_virtual_key_allowed_to_call_route),
// an OpenAI restricted key without the models scope a 401 or 403, and some
// services serve no /models at all. So such a refusal is confirmed with an
// empty chat request ({}), which costs no tokens: the key is checked before
// the body (vLLM's API-key middleware, LiteLLM's user_api_key_auth), so a
// good key gets a 400 or 422 for the body and only a bad key or a missing
// route stops the run.
func preflight(ctx context.Context, targets []Target, apiKey string) error {
	checked := map[string]bool{}
	for _, t := range targets {
		if t.BaseURL == "" || checked[t.BaseURL] { // --direct: known once the app is warm
			continue
		}
		checked[t.BaseURL] = true
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		req, err := ModelsRequest(rctx, t.BaseURL, apiKey)
		if err != nil {
			cancel()
			return configError("bad endpoint URL %q: %v", RecordedURL(t.BaseURL), UnwrapURLError(err))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			cancel()
			return configError("cannot reach %s: %v (check --base-url and that the server is up)", RecordedURL(t.BaseURL), UnwrapURLError(err))
		}
		resp.Body.Close()
		if refused(resp.StatusCode) {
			err = confirmChat(rctx, t.BaseURL, apiKey)
		}
		cancel()
		if err != nil {
			return err
		}
	}
	return nil
}

// refused is a status that says every chat request would fail the same way:
// no such route, or not this key.
func refused(status int) bool {
	switch status {
	case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusNotImplemented, http.StatusUnauthorized, http.StatusForbidden:
		return true
	}
	return false
}

// confirmChat sends an empty chat request; the error is a usage error when
// its status is one refused says, nil otherwise (the server is left to the
// run).
func confirmChat(ctx context.Context, baseURL, apiKey string) error {
	base := strings.TrimSuffix(baseURL, "/")
	req, err := apiRequest(ctx, http.MethodPost, base+"/chat/completions", strings.NewReader("{}"), apiKey)
	if err != nil {
		return nil
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil
	}
	resp.Body.Close()
	switch s := resp.StatusCode; {
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		return configError("%s refused the API key (HTTP %d on POST /chat/completions): check --api-key or OPENAI_API_KEY", RecordedURL(baseURL), s)
	case refused(s):
		hint := "is it an OpenAI-compatible API?"
		if !strings.HasSuffix(base, "/v1") {
			hint = "does --base-url lack its /v1?"
		}
		return configError("%s/chat/completions answers HTTP %d: %s", RecordedURL(base), s, hint)
	}
	return nil
}

// ModelsRequest is GET <base>/models, the list every OpenAI-compatible
// server (and LiteLLM) answers.
func ModelsRequest(ctx context.Context, baseURL, apiKey string) (*http.Request, error) {
	return apiRequest(ctx, http.MethodGet, strings.TrimSuffix(baseURL, "/")+"/models", nil, apiKey)
}

// apiRequest is a request to an endpoint's API, with its key if there is one.
func apiRequest(ctx context.Context, method, url string, body io.Reader, apiKey string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err == nil && apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+apiKey)
	}
	return req, err
}

// UnwrapURLError drops net/url's "Get <url>:" prefix, which repeats the URL
// the message already names.
func UnwrapURLError(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) && ue.Unwrap() != nil {
		return ue.Unwrap()
	}
	return err
}

// oneLine folds a multi-line error (a deploy log's tail, say) into the one
// line results and run.json keep.
func oneLine(msg string) string {
	var parts []string
	for _, l := range strings.Split(msg, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, "; ")
}
