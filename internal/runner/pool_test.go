package runner

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/internal/results"
)

type connCount struct{}

// Like the llama-server build of ../shared/realserver: every connection
// answers one request and then is dead, though the reply said keep-alive.
// The second request on a pooled connection is read and never answered.
// Go's transport resends such a request itself (net/http transport.go,
// persistConn.shouldRetryRequest) when it is replayable (request.go,
// isReplayable): an Idempotency-Key entry marks a POST so. Without it each
// such failure cost a backoff and one of the attempt's retries.
func TestDeadPooledConnectionsCostNoRetries(t *testing.T) {
	for _, stream := range []bool{true, false} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) { runOnDyingConnections(t, stream) })
	}
}

func runOnDyingConnections(t *testing.T, stream bool) {
	h := newHarness(t, smoke(t))
	h.noStream = !stream
	{
		var dials atomic.Int64
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, sent := r.Header["Idempotency-Key"]; sent {
				t.Error("the idempotency mark is not sent on the wire")
			}
			if r.Context().Value(connCount{}).(*atomic.Int64).Add(1) > 1 {
				_, _ = io.Copy(io.Discard, r.Body)
				c, _, err := w.(http.Hijacker).Hijack()
				if err == nil {
					c.Close()
				}
				return
			}
			h.server.ServeHTTP(w, r)
		}))
		srv.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
			dials.Add(1)
			return context.WithValue(ctx, connCount{}, new(atomic.Int64))
		}
		srv.Start()
		defer srv.Close()
		r, err := New(h.suite, h.opts)
		require.NoError(t, err)
		require.NoError(t, r.RunModel(context.Background(), Model{Name: "m", ModelID: "reference", Client: NewClient(srv.URL+"/v1", ""), NoStream: h.noStream}))
		require.NoError(t, r.Close())
		got, _, err := results.ReadAttempts(h.opts.RunDir)
		require.NoError(t, err)
		retries := 0
		for _, a := range got {
			require.Equal(t, results.StatusPass, a.Status, a.Reason)
			retries += a.Retries
		}
		require.Zero(t, retries, "a dead pooled connection is the transport's to redial, not a server failure")
		require.Empty(t, h.recordedWaits(), "and it costs no backoff")
		require.Greater(t, dials.Load(), int64(len(got)), fmt.Sprintf("connections did die (%d dials)", dials.Load()))
	}
}
