package didyoumean

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestClosest(t *testing.T) {
	names := []string{"answer_contains", "answer_matches", "file_exists", "command"}
	for _, tc := range []struct {
		name string
		n    int
		want []string
	}{
		{"answer_containz", 1, []string{"answer_contains"}},
		{"answer_", 2, []string{"answer_matches", "answer_contains"}}, // a shared prefix, nearest first
		{"comand", 3, []string{"command"}},
		{"checkz", 3, nil}, // nothing near: no noise
	} {
		require.Equal(t, tc.want, Closest(tc.name, names, tc.n), tc.name)
	}
	require.Equal(t, "file_exists", One("file_exist", names))
	require.Empty(t, One("zzz", names))
	require.Equal(t, " (did you mean command?)", Hint("comand", names))
	require.Equal(t, " (known: answer_contains, answer_matches, file_exists, command)", Hint("checkz", names))
	require.True(t, Near("referense", "reference"))
	require.False(t, Near("mistral-7b", "llama-3.1-8b"))
}
