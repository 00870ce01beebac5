package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/internal/report"
	"github.com/goatbench/goatbench/internal/results"
)

// An API model behind LiteLLM is charged in both modes; a streamed reply
// carries no x-litellm-response-cost header, only usage.cost in its last
// chunk (see reference.Server.CostUSD), and the report shows the charge.
func TestLiteLLMCostIsReadInBothModes(t *testing.T) {
	bothModes(t, func(t *testing.T, h *harness) {
		h.server.CostUSD = 0.0025
		a := h.run(t, context.Background())[0]
		require.Equal(t, results.StatusPass, a.Status, a.Reason)
		require.Len(t, a.Requests, 2)
		for _, q := range a.Requests {
			require.InDelta(t, 0.0025, q.CostUSD, 1e-12)
		}
		require.InDelta(t, 0.005, a.CostUSD, 1e-12)

		run := report.New(results.Manifest{RunID: "test", Models: []results.ModelInfo{{Name: "m", Kind: "api"}}}, []results.Attempt{a}, nil)
		s := run.Models()
		require.Len(t, s, 1)
		require.NotNil(t, s[0].CostUSD, "a charged API model has a cost")
		require.InDelta(t, 0.005, *s[0].CostUSD, 1e-12)
		var md bytes.Buffer
		require.NoError(t, run.Markdown(&md))
		require.Contains(t, md.String(), "0.005")
	})
}

// A charge that is no usable number (a header of NaN, a usage cost beyond a
// float64, a negative one) is no charge: the reply stands and the attempt's
// line can be written. NaN once made results.jsonl refuse the line, and the
// attempt was lost.
func TestAnUnusableChargeIsNone(t *testing.T) {
	for _, v := range []string{"NaN", "+Inf", "-1", "1e400", "junk"} {
		var r reply
		r.chargedBy(http.Header{"X-Litellm-Response-Cost": {v}})
		require.Zero(t, r.cost, v)
	}
	var r reply
	r.chargedBy(http.Header{"X-Litellm-Response-Cost": {"0.25"}})
	require.InDelta(t, 0.25, r.cost, 1e-12)

	for _, c := range []string{"1e400", "-0.5"} {
		var w wireReply
		require.NoError(t, decodeReply([]byte(`{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"cost":`+c+`}}`), &w), c)
		require.NotNil(t, w.Usage, c)
		require.Nil(t, w.Usage.Cost, c)
		require.EqualValues(t, 4, w.Usage.CompletionTokens, c)
	}
}

// A token count that is no count (negative, not whole, past int64 or any
// context) is dropped and the reply stands, as an unusable charge is: a
// server's tally once made -9e18 tokens/s in the summary, or, too big for
// an int, turned valid JSON into "not JSON" and the attempt into an error.
// The scanner and encoding/json (its fallback) read it alike.
func TestAnUnusableTokenCountIsNone(t *testing.T) {
	for _, n := range []string{"-5", "-9223372036854775808", "1000000000000000000000000000000", "2.5", "1e3", "17179869185"} {
		body := []byte(`{"choices":[],"usage":{"prompt_tokens":` + n + `,"completion_tokens":4}}`)
		var w, std wireReply
		require.NoError(t, decodeReply(body, &w), n)
		require.NotNil(t, w.Usage, n)
		require.Zero(t, w.Usage.PromptTokens, n)
		require.EqualValues(t, 4, w.Usage.CompletionTokens, n)
		require.NoError(t, json.Unmarshal(body, &std), n)
		require.Equal(t, w.Usage, std.Usage, n)
	}
	var r reply
	r.take(&wireUsage{PromptTokens: 7, CompletionTokens: 3})
	require.Equal(t, wireUsage{PromptTokens: 7, CompletionTokens: 3}, r.usage)

	// An external agent's relayed usage is held to the same rule.
	var rec results.Request
	Measure(&rec, Usage{PromptTokens: -5, CompletionTokens: 3}, nil, 0, time.Second)
	require.Zero(t, rec.TokensIn)
	require.Equal(t, 3, rec.TokensOut)
}
