package yamlbound

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// laughs is a document whose every level merges the previous one nine times:
// under a kilobyte, 9^levels nodes once expanded.
func laughs(levels int) string {
	var b strings.Builder
	b.WriteString("a0: &a0 {x: 1, y: 2}\n")
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [", i, i)
		for j := range 9 {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*a%d", i-1)
		}
		b.WriteString("]\n")
	}
	return b.String()
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		err       string
	}{
		{"plain", "a: 1\nb: [1, 2, 3]\n", ""},
		{"a few aliases", "base: &b {x: 1}\none: *b\ntwo: {<<: *b, y: 2}\n", ""},
		{"nine levels of nine", laughs(9), "aliases expand to more than"},
		{"thirty levels", laughs(30), "aliases expand to more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n yaml.Node
			require.NoError(t, yaml.Unmarshal([]byte(tc.doc), &n))
			err := Check(&n, 0)
			if tc.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.err)
		})
	}
}
