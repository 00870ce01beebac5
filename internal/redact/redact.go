// Package redact keeps secret values out of what goatbench writes and sends:
// tool output shown to a model, transcripts, results, logs and reports. The
// secrets are the values of goatbench's own environment variables that name
// a credential, and any value registered at run time (an --api-key flag).
package redact

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
)

// MinLength is the shortest value treated as a secret: shorter ones would
// match ordinary text ("1", "true") and no real credential is that short.
const MinLength = 6

// named are the secrets goatbench is known to run with; any variable whose
// name ends in _KEY, _TOKEN or _SECRET counts too.
var named = map[string]bool{
	"OPENAI_API_KEY":     true,
	"LITELLM_MASTER_KEY": true,
	"MODAL_TOKEN_ID":     true,
	"MODAL_TOKEN_SECRET": true,
	// The id half of a Modal proxy auth token (README: export MODAL_PROXY_TOKEN_ID),
	// a secret as MODAL_TOKEN_ID is, but not named like one.
	"MODAL_PROXY_TOKEN_ID": true,
	"HF_TOKEN":             true,
}

// IsSecretName reports whether an environment variable holds a secret.
func IsSecretName(name string) bool {
	name = strings.ToUpper(name)
	return named[name] || strings.HasSuffix(name, "_KEY") || strings.HasSuffix(name, "_TOKEN") || strings.HasSuffix(name, "_SECRET")
}

// Redactor replaces secret values with [REDACTED:NAME].
type Redactor struct {
	r   *strings.Replacer
	key string // the secrets it was built from, to tell when to rebuild
}

// New returns a Redactor for secrets, a map from a name (shown in the
// placeholder) to its value. Values shorter than MinLength are ignored.
func New(secrets map[string]string) *Redactor {
	type secret struct{ name, value string }
	var list []secret
	for name, v := range secrets {
		if len(v) >= MinLength {
			list = append(list, secret{name, v})
		}
	}
	// Longest first, so a secret that contains another is replaced whole;
	// then by name, so equal values always show the same name.
	sort.Slice(list, func(i, j int) bool {
		if len(list[i].value) != len(list[j].value) {
			return len(list[i].value) > len(list[j].value)
		}
		return list[i].name < list[j].name
	})
	type pair struct{ form, mark string }
	var pairs []pair
	var key strings.Builder
	seen := map[string]bool{}
	for _, s := range list {
		key.WriteString(s.name + "\x00" + s.value + "\x00")
		mark := "[REDACTED:" + s.name + "]"
		for _, form := range forms(s.value) {
			if !seen[form] {
				seen[form] = true
				pairs = append(pairs, pair{form, mark})
			}
		}
	}
	// The longest form first: where two match at one place (a value and
	// the start of its base64), the whole one is replaced.
	sort.SliceStable(pairs, func(i, j int) bool { return len(pairs[i].form) > len(pairs[j].form) })
	args := make([]string, 0, 2*len(pairs))
	for _, p := range pairs {
		args = append(args, p.form, p.mark)
	}
	return &Redactor{r: strings.NewReplacer(args...), key: key.String()}
}

// forms are the ways a secret can be written that are replaced: as it is;
// as written in JSON (transcripts, results: quotes, backslashes, control
// characters and <>& escaped); hex in either case; URL-encoded; and in
// base64, standard and URL-safe, padded or not, from wherever it starts in
// the encoded text. A secret inside base64 is encoded with its neighbours'
// bytes at its edges, so what is replaced is the part its own bytes alone
// decide, from each of the three places it can start in a 3-byte group:
// at most two bytes at either end of it stay, and the rest is unreadable.
func forms(v string) []string {
	out := []string{v, jsonForm(v), hex.EncodeToString([]byte(v)), strings.ToUpper(hex.EncodeToString([]byte(v))),
		url.QueryEscape(v), url.PathEscape(v)}
	for skip := range 3 {
		// Starting skip bytes into the secret, the groups that follow are
		// whole; (3-skip)%3 bytes before it share the group it starts in.
		b := []byte(v)[(3-skip)%3:]
		b = b[:len(b)/3*3]
		if len(b) < minEncoded {
			continue
		}
		out = append(out, base64.StdEncoding.EncodeToString(b), base64.URLEncoding.EncodeToString(b))
	}
	return out
}

// minEncoded is the fewest bytes of a secret whose base64 is replaced: 12
// characters, which ordinary text does not hold by chance.
const minEncoded = 9

func jsonForm(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b[1 : len(b)-1])
}

// FromEnviron returns a Redactor for the secrets in an environment
// ("NAME=value" entries, as os.Environ returns) plus extra.
func FromEnviron(environ []string, extra map[string]string) *Redactor {
	secrets := map[string]string{}
	for _, kv := range environ {
		if name, v, ok := strings.Cut(kv, "="); ok && IsSecretName(name) {
			secrets[name] = v
		}
	}
	for name, v := range extra {
		secrets[name] = v
	}
	return New(secrets)
}

// String returns s with every secret replaced.
func (r *Redactor) String(s string) string { return r.r.Replace(s) }

// Bytes returns b with every secret replaced.
func (r *Redactor) Bytes(b []byte) []byte { return []byte(r.r.Replace(string(b))) }

var (
	mu         sync.Mutex
	registered = map[string]string{}
	current    *Redactor
)

// Register adds a secret that is not in the environment, such as a key given
// as a flag; name is what the placeholder shows.
func Register(name, value string) {
	mu.Lock()
	defer mu.Unlock()
	registered[name] = value
}

// Current is the Redactor for this process: its environment as it is now
// and every registered secret.
func Current() *Redactor {
	mu.Lock()
	defer mu.Unlock()
	r := FromEnviron(os.Environ(), registered)
	if current != nil && current.key == r.key {
		return current // keep the replacer that has already been built
	}
	current = r
	return r
}

// String replaces every secret of this process in s.
func String(s string) string { return Current().String(s) }

// Bytes replaces every secret of this process in b.
func Bytes(b []byte) []byte { return Current().Bytes(b) }

// Writer returns a writer that redacts every secret of this process from
// each Write before passing it on. A secret split across two writes is not
// caught: it is for line-oriented output such as logs.
func Writer(w io.Writer) io.Writer { return writer{w} }

type writer struct{ w io.Writer }

// Unwrap returns the writer underneath, so a caller can still tell whether
// output goes to a terminal.
func (w writer) Unwrap() io.Writer { return w.w }

func (w writer) Write(p []byte) (int, error) {
	if _, err := w.w.Write(Bytes(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}
