package report

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// knownValues are computed by testdata/stats/known_values.py, independently
// of this package: exact enumeration with Python's math.comb for Fisher's
// test, checked there against Fisher's tea tasting (1935), and the Wilson
// formula checked against Newcombe (1998), Table II.
type knownValues struct {
	Fisher []struct {
		Name     string
		BasePass int `json:"base_pass"`
		BaseN    int `json:"base_n"`
		HeadPass int `json:"head_pass"`
		HeadN    int `json:"head_n"`
		P        float64
	} `json:"fisher_less"`
	Wilson []struct {
		K, N      int
		Low, High float64
	} `json:"wilson95"`
}

func loadKnownValues(t *testing.T) knownValues {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "stats", "known_values.json"))
	require.NoError(t, err)
	var kv knownValues
	require.NoError(t, json.Unmarshal(b, &kv))
	require.NotEmpty(t, kv.Fisher)
	require.NotEmpty(t, kv.Wilson)
	return kv
}

func TestFisherLessKnownValues(t *testing.T) {
	for _, tc := range loadKnownValues(t).Fisher {
		t.Run(tc.Name, func(t *testing.T) {
			got := fisherLess(tc.BasePass, tc.BaseN, tc.HeadPass, tc.HeadN)
			require.InEpsilon(t, tc.P, got, 1e-9, "%d/%d → %d/%d", tc.BasePass, tc.BaseN, tc.HeadPass, tc.HeadN)
		})
	}
}

func TestFisherLessTextbook(t *testing.T) {
	// Fisher, The Design of Experiments (1935): the lady names all four
	// milk-first cups of eight; the chance of that by guessing is 1/70.
	require.InEpsilon(t, 1.0/70, fisherLess(4, 4, 0, 4), 1e-12)
	require.InEpsilon(t, 17.0/70, fisherLess(3, 4, 1, 4), 1e-12)
	require.Equal(t, 1.0, fisherLess(0, 0, 3, 5), "no base attempt: no evidence")
	require.InDelta(t, 1.0, fisherLess(0, 5, 5, 5), 1e-12, "an improvement is never a regression")
}

func TestWilsonKnownValues(t *testing.T) {
	for _, tc := range loadKnownValues(t).Wilson {
		lo, hi := wilson(tc.K, tc.N)
		require.InDelta(t, tc.Low, lo, 1e-12, "%d/%d low", tc.K, tc.N)
		require.InDelta(t, tc.High, hi, 1e-12, "%d/%d high", tc.K, tc.N)
	}
	// Newcombe (1998), Table II, to the four places printed there.
	lo, hi := wilson(81, 263)
	require.InDelta(t, 0.2553, lo, 5e-5)
	require.InDelta(t, 0.3662, hi, 5e-5)
}
