package runner

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
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

// Modal's proxy-auth token goes with a redirect to the endpoint's own host
// (Modal's 303 for a held request), and with none to another host: Go drops
// Authorization there, and the token is as much a credential.
func TestModalHeadersStayWithTheirHost(t *testing.T) {
	var other http.Header
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		other = r.Header.Clone()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"choices":[{"message":{"role":"assistant","content":"hi"}}]}`)
	}))
	defer elsewhere.Close()
	var held []http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		held = append(held, r.Header.Clone())
		if r.URL.Query().Get("again") == "" {
			http.Redirect(w, r, "/v1/chat/completions?again=1", http.StatusSeeOther)
			return
		}
		// 127.0.0.1 and localhost are different hosts to a client.
		http.Redirect(w, r, strings.Replace(elsewhere.URL, "127.0.0.1", "localhost", 1)+"/v1/chat/completions", http.StatusSeeOther)
	}))
	defer srv.Close()
	c := NewClient(srv.URL+"/v1", "real-key", WithHeaders(map[string]string{"Modal-Key": "wk-1", "Modal-Secret": "ws-1"}))
	out, err := NewRelay(c, 0, RetryPolicy{}).Send(context.Background(), []byte(`{"model":"m","messages":[]}`))
	require.NoError(t, err)
	defer out.Resp.Body.Close()
	require.Equal(t, http.StatusOK, out.Resp.StatusCode)
	require.Len(t, held, 2)
	for _, h := range held {
		require.Equal(t, "wk-1", h.Get("Modal-Key"), "the endpoint's own host, first and after its redirect")
		require.Equal(t, "ws-1", h.Get("Modal-Secret"))
	}
	require.NotNil(t, other, "the redirect to the other host was followed")
	require.Empty(t, other.Get("Modal-Key"))
	require.Empty(t, other.Get("Modal-Secret"))
	require.Empty(t, other.Get("Authorization"))
}
