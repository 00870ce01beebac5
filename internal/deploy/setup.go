package deploy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
)

// HFSecret and HFTokenKey are the Modal secret the apps mount and the key in
// it that holds the Hugging Face token; modal/vllm_spec.py HF_SECRET names
// the same secret.
const (
	HFSecret   = "goat-hf-token"
	HFTokenKey = "HF_TOKEN"
)

// SetupError says which part of the one-time Modal setup is missing, and the
// command that adds it.
type SetupError struct {
	Missing     string // "environment", "secret" or "key"
	Environment string
	Secret, Key string
	Detail      string
}

func (e *SetupError) Error() string {
	switch e.Missing {
	case "environment":
		return fmt.Sprintf("Modal environment %q does not exist: create it with `modal environment create %s`", e.Environment, e.Environment)
	case "secret":
		return fmt.Sprintf("Modal secret %q is missing in environment %q: create it with `modal secret create %s %s=hf_... --env %s`",
			e.Secret, e.Environment, e.Secret, e.Key, e.Environment)
	}
	return fmt.Sprintf("Modal secret %q in environment %q has no key %s (%s): recreate it with `modal secret create %s %s=hf_... --env %s --force`",
		e.Secret, e.Environment, e.Key, e.Detail, e.Secret, e.Key, e.Environment)
}

// SpecHash names a model spec: the first 12 hex digits of the SHA-256 of its
// JSON, the exact bytes handed to the deploy script.
func SpecHash(specJSON []byte) string {
	sum := sha256.Sum256(specJSON)
	return hex.EncodeToString(sum[:])[:12]
}

var hashPattern = regexp.MustCompile(`^[0-9a-f]{12}$`)

func validHash(h string) bool { return hashPattern.MatchString(h) }

// The environment variables holding a Modal proxy auth token, which the web
// endpoints require (modal.com/docs/guide/webhook-proxy-auth: "clients
// supply the Token ID and Token Secret in the Modal-Key and Modal-Secret
// HTTP headers"). They are not MODAL_TOKEN_*, the SDK's own credentials.
const (
	ProxyTokenIDEnv     = "MODAL_PROXY_TOKEN_ID"
	ProxyTokenSecretEnv = "MODAL_PROXY_TOKEN_SECRET"
)

// ProxyAuth is a Modal proxy auth token.
type ProxyAuth struct{ TokenID, TokenSecret string }

// ProxyAuthFromEnv reads the proxy auth token from the environment; ok is
// false when either half is missing.
func ProxyAuthFromEnv() (ProxyAuth, bool) {
	p := ProxyAuth{TokenID: os.Getenv(ProxyTokenIDEnv), TokenSecret: os.Getenv(ProxyTokenSecretEnv)}
	return p, p.TokenID != "" && p.TokenSecret != ""
}

// Headers are the request headers Modal's proxy checks.
func (p ProxyAuth) Headers() map[string]string {
	if p.TokenID == "" && p.TokenSecret == "" {
		return nil
	}
	return map[string]string{"Modal-Key": p.TokenID, "Modal-Secret": p.TokenSecret}
}

// MissingProxyAuth is the fix for a 401 from a web endpoint.
var MissingProxyAuth = fmt.Sprintf("the endpoint requires Modal proxy auth: create a proxy auth token (modal.com/settings/proxy-auth-tokens) and set %s and %s",
	ProxyTokenIDEnv, ProxyTokenSecretEnv)
