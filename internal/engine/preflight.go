package engine

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"
)

// preflight checks every endpoint answers before anything is written, so an
// unreachable --base-url is a usage error, not a run full of errors; and so
// are an endpoint with no /models (a base URL without its /v1, or no OpenAI
// API at all) and one that refuses the key: every chat request would get the
// same 404 or 401. vLLM, LiteLLM and llama-server all serve GET /v1/models
// (llama-server without a key, so a wrong one shows only in the run).
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
		for k, v := range t.Headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		cancel()
		if err != nil {
			return configError("cannot reach %s: %v (check --base-url and that the server is up)", RecordedURL(t.BaseURL), UnwrapURLError(err))
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusNotImplemented:
			hint := "is it an OpenAI-compatible API?"
			if !strings.HasSuffix(strings.TrimSuffix(t.BaseURL, "/"), "/v1") {
				hint = "does --base-url lack its /v1?"
			}
			return configError("%s/models answers HTTP %d: %s", RecordedURL(strings.TrimSuffix(t.BaseURL, "/")), resp.StatusCode, hint)
		case http.StatusUnauthorized, http.StatusForbidden:
			return configError("%s refused the API key (HTTP %d on GET /models): check --api-key or OPENAI_API_KEY", RecordedURL(t.BaseURL), resp.StatusCode)
		}
	}
	return nil
}

// ModelsRequest is GET <base>/models, the list every OpenAI-compatible
// server (and LiteLLM) answers.
func ModelsRequest(ctx context.Context, baseURL, apiKey string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(baseURL, "/")+"/models", nil)
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
