package runner

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

// A relay reaches the endpoint as the loop's client does: its key, and its
// headers (Modal proxy auth on a --direct web endpoint), which an agent's
// requests would otherwise be refused for.
func TestRelaySendsTheClientsKeyAndHeaders(t *testing.T) {
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		require.Equal(t, "/v1/chat/completions", r.URL.Path)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"choices":[{"message":{"role":"assistant","content":"hi"}}]}`)
	}))
	defer srv.Close()
	c := NewClient(srv.URL+"/v1/", "real-key", WithHeaders(map[string]string{"Modal-Key": "wk-1", "Modal-Secret": "ws-1"}))
	out, err := NewRelay(c, 0, RetryPolicy{}).Send(context.Background(), []byte(`{"model":"m","messages":[]}`))
	require.NoError(t, err)
	defer out.Resp.Body.Close()
	require.Equal(t, http.StatusOK, out.Resp.StatusCode)
	require.Equal(t, "Bearer real-key", got.Get("Authorization"))
	require.Equal(t, "wk-1", got.Get("Modal-Key"))
	require.Equal(t, "ws-1", got.Get("Modal-Secret"))
}
