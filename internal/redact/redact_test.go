package redact

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestIsSecretName(t *testing.T) {
	for name, want := range map[string]bool{
		"OPENAI_API_KEY": true, "LITELLM_MASTER_KEY": true, "MODAL_TOKEN_ID": true,
		"MODAL_TOKEN_SECRET": true, "HF_TOKEN": true, "GITHUB_TOKEN": true, "AWS_SECRET": true,
		"MODAL_PROXY_TOKEN_ID": true, "MODAL_PROXY_TOKEN_SECRET": true,
		"my_key": true, "PATH": false, "HOME": false, "KEYBOARD": false, "TOKENIZERS_PARALLELISM": false,
		"MODAL_TOKEN_IDS": false,
	} {
		require.Equal(t, want, IsSecretName(name), name)
	}
}

func TestRedactor(t *testing.T) {
	r := FromEnviron([]string{
		"OPENAI_API_KEY=sk-abcdef123456",
		"MODAL_TOKEN_ID=ak-0001",
		"HF_TOKEN=hf_\"quoted\"<&>",
		"SHORT_KEY=12345",
		"PATH=/usr/bin:/bin",
		"LONG_TOKEN=sk-abcdef123456-and-more",
	}, map[string]string{"--api-key": "flag-secret-value"})
	for _, tc := range []struct{ in, want string }{
		{"key sk-abcdef123456 here", "key [REDACTED:OPENAI_API_KEY] here"},
		{"sk-abcdef123456-and-more", "[REDACTED:LONG_TOKEN]"},
		{"id ak-0001.", "id [REDACTED:MODAL_TOKEN_ID]."},
		{`hf_"quoted"<&>`, "[REDACTED:HF_TOKEN]"},
		{"short 12345 stays", "short 12345 stays"},
		{"/usr/bin:/bin stays", "/usr/bin:/bin stays"},
		{"flag-secret-value", "[REDACTED:--api-key]"},
		{"", ""},
	} {
		require.Equal(t, tc.want, r.String(tc.in), tc.in)
	}
	// the same secret inside JSON text, with its escapes
	b, err := json.Marshal(map[string]string{"content": `token hf_"quoted"<&> end`})
	require.NoError(t, err)
	require.NotContains(t, string(r.Bytes(b)), "quoted")
	var back map[string]string
	require.NoError(t, json.Unmarshal(r.Bytes(b), &back), "redacted JSON stays JSON")
	require.Equal(t, "token [REDACTED:HF_TOKEN] end", back["content"])
}

func TestCurrentFollowsTheEnvironment(t *testing.T) {
	t.Setenv("GOATBENCH_TEST_TOKEN", "planted-token-1")
	require.Equal(t, "x [REDACTED:GOATBENCH_TEST_TOKEN] x", String("x planted-token-1 x"))
	t.Setenv("GOATBENCH_TEST_TOKEN", "planted-token-2")
	require.Equal(t, "planted-token-1 [REDACTED:GOATBENCH_TEST_TOKEN]", String("planted-token-1 planted-token-2"))
	Register("--api-key", "registered-secret")
	t.Cleanup(func() { Register("--api-key", "") })
	require.Equal(t, "[REDACTED:--api-key]", String("registered-secret"))
}

func TestWriter(t *testing.T) {
	t.Setenv("GOATBENCH_TEST_KEY", "planted-key-value")
	var buf bytes.Buffer
	w := Writer(&buf)
	n, err := fmt.Fprintln(w, "error: bad key planted-key-value")
	require.NoError(t, err)
	require.Equal(t, len("error: bad key planted-key-value\n"), n, "reports what it was given")
	require.Equal(t, "error: bad key [REDACTED:GOATBENCH_TEST_KEY]\n", buf.String())
}

func BenchmarkCurrent(b *testing.B) {
	b.Setenv("GOATBENCH_TEST_KEY", "planted-key-value")
	out := bytes.Repeat([]byte("some tool output line\n"), 700) // 16 KB, a capped tool output
	for b.Loop() {
		_ = Bytes(out)
	}
}

// A secret written in hex, URL-encoded or inside base64 (standard or
// URL-safe, padded or not, starting anywhere in a 3-byte group) is made
// unreadable: nothing decoded from what is left holds its middle.
func TestRedactorEncodedForms(t *testing.T) {
	const secret = "sk-secretsecret-OPENAI-1234567890"
	r := New(map[string]string{"OPENAI_API_KEY": secret})
	middle := secret[2 : len(secret)-2]
	for lead := range 3 {
		text := strings.Repeat("x", lead) + secret + "!?"
		for name, enc := range map[string]*base64.Encoding{"std": base64.StdEncoding, "url": base64.URLEncoding,
			"raw": base64.RawStdEncoding, "rawurl": base64.RawURLEncoding} {
			out := r.String("header " + enc.EncodeToString([]byte(text)) + " trailer")
			require.Contains(t, out, "[REDACTED:OPENAI_API_KEY]", "%s, %d bytes before", name, lead)
			for _, run := range regexp.MustCompile(`[A-Za-z0-9+/_-]{4,}`).FindAllString(out, -1) {
				for skip := range 4 {
					if len(run) < skip+4 {
						continue
					}
					part := run[skip:]
					part = part[:len(part)/4*4]
					for _, e := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
						if b, err := e.DecodeString(part); err == nil {
							require.NotContains(t, string(b), middle, "%s, %d bytes before: %q", name, lead, out)
						}
					}
				}
			}
		}
		hexed := hex.EncodeToString([]byte(text))
		for _, h := range []string{hexed, strings.ToUpper(hexed)} {
			require.NotContains(t, r.String(h), hex.EncodeToString([]byte(middle))[:8])
			require.NotContains(t, strings.ToLower(r.String(h)), hex.EncodeToString([]byte(middle)))
		}
	}
	require.Equal(t, "q=[REDACTED:OPENAI_API_KEY]&x=1", r.String("q="+url.QueryEscape(secret)+"&x=1"))
	require.Equal(t, "a/[REDACTED:OPENAI_API_KEY]", r.String("a/"+url.PathEscape(secret)))
	// Ordinary text, and the secret's plain and JSON forms, as before.
	require.Equal(t, "nothing here", r.String("nothing here"))
	require.Equal(t, `"[REDACTED:OPENAI_API_KEY]"`, r.String(`"`+secret+`"`))
}
