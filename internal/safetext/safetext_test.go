package safetext

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestEscapes(t *testing.T) {
	for _, tc := range []struct{ name, in, line, block string }{
		{"plain", "all fine: 3 files", "all fine: 3 files", "all fine: 3 files"},
		{"unicode", "héllo ✓ 世界", "héllo ✓ 世界", "héllo ✓ 世界"},
		{"green PASS over a fail", "FAIL\r\x1b[2K\x1b[32mPASS\x1b[0m", `FAIL\r\x1b[2K\x1b[32mPASS\x1b[0m`, `FAIL\r\x1b[2K\x1b[32mPASS\x1b[0m`},
		{"lines", "a\n\tb", `a\n\tb`, "a\n\tb"},
		{"NUL, backspace, DEL", "a\x00b\bc\x7f", `a\x00b\x08c\x7f`, `a\x00b\x08c\x7f`},
		{"C1 CSI", "x\u009b31m", `x\u009b31m`, `x\u009b31m`},
		{"bidi override", "pass\u202Eliaf", `pass\u202eliaf`, `pass\u202eliaf`},
		{"not UTF-8", "a\xffb", `a\xffb`, `a\xffb`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.line, Line(tc.in))
			require.Equal(t, tc.block, Block(tc.in))
			require.Equal(t, Line(tc.in), Line(Line(tc.in)), "idempotent")
		})
	}
}

func BenchmarkLineClean(b *testing.B) {
	s := "every check passed; the answer is 42 and the file holds the right text"
	b.ReportAllocs()
	for b.Loop() {
		_ = Line(s)
	}
}
