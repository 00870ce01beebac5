package runner

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// memTransport answers every request with one captured body, so a benchmark
// measures the client's own work and nothing of a server or a socket.
type memTransport struct {
	body        []byte
	contentType string
}

func (m memTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {m.contentType}},
		Body: io.NopCloser(bytes.NewReader(m.body)), Request: r}, nil
}

// threadCPU is the CPU time of the calling OS thread: on a shared machine
// wall time mostly measures the neighbours.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// longer repeats the captured stream's one-character argument event so the
// tool call carries n characters of arguments, one per delta, as
// llama-server sends them.
func longer(t testing.TB, sse []byte, n int) []byte {
	events := strings.Split(string(sse), "\n\n")
	var perChar string
	for _, e := range events {
		if strings.Contains(e, `"function":{"arguments":"c"}`) {
			perChar = e
			break
		}
	}
	require.NotEmpty(t, perChar, "the captured stream has a one-character argument delta")
	var out []string
	for i, e := range events {
		out = append(out, e)
		if i == 1 { // after the delta that opens the call
			for range n {
				out = append(out, perChar)
			}
		}
	}
	return []byte(strings.Join(out, "\n\n"))
}

// BenchmarkReplyDecode is the client's CPU per reply, streamed against
// plain, for the same tool call from a real llama-server
// (testdata/llama-server/, captured with the kit's req_tools_auto.json), and
// for the same stream with 2,000 characters of arguments, one per delta.
// In memory, on one locked OS thread, timed by that thread's CPU.
func BenchmarkReplyDecode(b *testing.B) {
	sse, err := os.ReadFile("testdata/llama-server/stream-tool-call.sse")
	require.NoError(b, err)
	plainBody, err := os.ReadFile("testdata/llama-server/plain-tool-call.json")
	require.NoError(b, err)
	// The plain reply with the same 2,000 characters of arguments.
	long := strings.Replace(string(plainBody), `{\"city\":\"\",\"days\":0}`, `{\"city\":\"`+strings.Repeat("c", 2000-12)+`\",\"days\":0}`, 1)
	require.NotEqual(b, string(plainBody), long)
	for _, tc := range []struct {
		name          string
		stream, plain []byte
	}{{"captured", sse, plainBody}, {"args2000", longer(b, sse, 2000), []byte(long)}} {
		b.Run(tc.name, func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			sc := NewClient("http://mem/v1", "", WithTransport(memTransport{tc.stream, "text/event-stream"}))
			pc := NewClient("http://mem/v1", "", WithTransport(memTransport{tc.plain, "application/json"}))
			body := []byte(`{"model":"tiny-random","messages":[{"role":"user","content":"hi"}]}`)
			var st, pt time.Duration
			n := 0
			for b.Loop() {
				t0 := threadCPU()
				r, err := sc.exchange(context.Background(), body, true, &responseMeta{started: time.Now()})
				st += threadCPU() - t0
				if err != nil || len(r.msg.ToolCalls) != 1 {
					b.Fatalf("stream: %v %+v", err, r.msg)
				}
				t1 := threadCPU()
				r, err = pc.exchange(context.Background(), body, false, &responseMeta{started: time.Now()})
				pt += threadCPU() - t1
				if err != nil || len(r.msg.ToolCalls) != 1 {
					b.Fatalf("plain: %v", err)
				}
				n++
			}
			b.ReportMetric(float64(st.Microseconds())/float64(n), "stream-us/reply")
			b.ReportMetric(float64(pt.Microseconds())/float64(n), "plain-us/reply")
			b.ReportMetric(float64(st)/float64(pt), "stream/plain")
		})
	}
}
