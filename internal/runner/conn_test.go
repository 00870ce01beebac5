package runner

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pair dials a fresh local listener and returns the client's connection, as
// net gives it or wrapped, and the server's.
func pair(t *testing.T, wrapped bool) (net.Conn, *net.TCPConn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	s, err := l.Accept()
	require.NoError(t, err)
	t.Cleanup(func() { c.Close(); s.Close() })
	if wrapped { // whatever the build: see rawReads
		c = newEventConn(c)
		require.IsType(t, &eventConn{}, c)
	}
	return c, s.(*net.TCPConn)
}

// An eventConn reads as net.Conn does: the same bytes, the same end, and
// errors that the same checks recognise (the transport's retry rules and
// ours look at them with errors.Is). Each case runs on both, so a wrapper
// that, say, took a zero-byte read for "try again" would hang here where
// net's own connection ends.
func TestAnEventConnReadsAsNetConnDoes(t *testing.T) {
	cases := map[string]func(t *testing.T, c net.Conn, s *net.TCPConn){
		"data, then the end": func(t *testing.T, c net.Conn, s *net.TCPConn) {
			go func() {
				s.Write([]byte("data: {}\n\n"))
				s.Close()
			}()
			got, err := io.ReadAll(c)
			require.NoError(t, err)
			assert.Equal(t, "data: {}\n\n", string(got))
			n, err := c.Read(make([]byte, 8))
			assert.Equal(t, 0, n)
			assert.Equal(t, io.EOF, err)
		},
		"a read of nothing": func(t *testing.T, c net.Conn, s *net.TCPConn) {
			n, err := c.Read(nil)
			assert.Equal(t, 0, n)
			assert.NoError(t, err)
		},
		"a read of nothing, past a deadline": func(t *testing.T, c net.Conn, s *net.TCPConn) {
			require.NoError(t, c.SetReadDeadline(time.Now().Add(-time.Second)))
			n, err := c.Read(nil)
			assert.Equal(t, 0, n)
			assert.NoError(t, err)
		},
		"a read of nothing, closed": func(t *testing.T, c net.Conn, s *net.TCPConn) {
			c.Close()
			_, err := c.Read(nil)
			assert.ErrorIs(t, err, net.ErrClosed)
		},
		"the writing side closed": func(t *testing.T, c net.Conn, s *net.TCPConn) {
			cw, ok := c.(interface{ CloseWrite() error })
			require.True(t, ok)
			require.NoError(t, cw.CloseWrite())
			got, err := io.ReadAll(s)
			require.NoError(t, err)
			assert.Empty(t, got)
		},
		"a deadline": func(t *testing.T, c net.Conn, s *net.TCPConn) {
			require.NoError(t, c.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
			_, err := c.Read(make([]byte, 8))
			assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
			var ne net.Error
			require.ErrorAs(t, err, &ne)
			assert.True(t, ne.Timeout())
			var oe *net.OpError
			require.ErrorAs(t, err, &oe)
			assert.Equal(t, "read", oe.Op)
		},
		"closed while reading": func(t *testing.T, c net.Conn, s *net.TCPConn) {
			time.AfterFunc(20*time.Millisecond, func() { c.Close() })
			_, err := c.Read(make([]byte, 8))
			assert.ErrorIs(t, err, net.ErrClosed)
		},
		"reset by the server": func(t *testing.T, c net.Conn, s *net.TCPConn) {
			require.NoError(t, s.SetLinger(0)) // close sends RST
			s.Close()
			_, err := c.Read(make([]byte, 8))
			assert.ErrorIs(t, err, syscall.ECONNRESET)
			var oe *net.OpError
			require.ErrorAs(t, err, &oe)
			assert.Equal(t, "read", oe.Op)
			assert.Equal(t, c.RemoteAddr().String(), oe.Addr.String())
		},
	}
	for name, check := range cases {
		for _, wrapped := range []bool{false, true} {
			kind := "net"
			if wrapped {
				kind = "eventConn"
			}
			t.Run(name+"/"+kind, func(t *testing.T) {
				c, s := pair(t, wrapped)
				done := make(chan struct{})
				go func() {
					defer close(done)
					check(t, c, s)
				}()
				select {
				case <-done:
				case <-time.After(10 * time.Second):
					c.Close() // ends the check, so it reports nothing after the test
					<-done
					t.Fatal("the read never returned")
				}
			})
		}
	}
}

// Every connection the client dials is an eventConn (a net.Conn of Go's
// under the race detector: see rawReads), and a stream read over it arrives
// whole.
func TestTheClientReadsOverEventConns(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, ch := range []string{`{"choices":[{"delta":{"content":"go"}}]}`, `{"choices":[{"delta":{"content":"at"},"finish_reason":"stop"}]}`} {
			io.WriteString(w, "data: "+ch+"\n\n")
			w.(http.Flusher).Flush()
			time.Sleep(time.Millisecond)
		}
		io.WriteString(w, "data: [DONE]\n\n")
	}))
	defer srv.Close()
	var conns []net.Conn
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { conns = append(conns, i.Conn) },
	})
	c := NewClient(srv.URL+"/v1", "")
	r, err := c.exchange(ctx, []byte(`{"model":"m","stream":true}`), true, &responseMeta{started: time.Now()})
	require.NoError(t, err)
	assert.Equal(t, "goat", r.msg.Content)
	require.NotEmpty(t, conns)
	for _, conn := range conns {
		if rawReads {
			assert.IsType(t, &eventConn{}, conn)
		} else {
			assert.IsType(t, &net.TCPConn{}, conn)
		}
	}
}

// HTTP/2 over TLS still works over the client's connections: TLS reads the
// eventConn, and the transport negotiates h2 through it.
func TestTheTransportSpeaksHTTP2OverTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	tr := NewTransport()
	tr.TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig
	resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "HTTP/2.0", string(got))
}
