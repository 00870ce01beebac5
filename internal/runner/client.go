package runner

import (
	"net/http"
	"strings"

	"github.com/sashabaranov/go-openai"
)

// NewClient returns an OpenAI-compatible client for baseURL (ending in /v1).
// Its transport keeps enough idle connections for many attempts in flight to
// one server; Go's default of two would re-dial for almost every request.
func NewClient(baseURL, apiKey string) *openai.Client {
	cfg := openai.DefaultConfig(apiKey)
	cfg.BaseURL = strings.TrimSuffix(baseURL, "/")
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	cfg.HTTPClient = &http.Client{Transport: t}
	return openai.NewClientWithConfig(cfg)
}
