package deploy

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/pelletier/go-toml/v2"
)

// modalProfile is the part of a ~/.modal.toml profile that holds credentials,
// as the Modal Go SDK reads it (modal-client go/config.go rawProfile).
type modalProfile struct {
	TokenID           string `toml:"token_id"`
	TokenSecret       string `toml:"token_secret"`
	OAuthRefreshToken string `toml:"oauth_refresh_token"`
	OAuthClientID     string `toml:"oauth_client_id"`
	OAuthClientSecret string `toml:"oauth_client_secret"`
	OAuthJWTKey       string `toml:"oauth_jwt_key"`
	Active            bool   `toml:"active"`
}

// CheckCredentials reports whether Modal credentials are configured in a
// form the Modal Go SDK accepts, resolving them as the SDK does
// (modal-client go/config.go getProfile, go/client.go
// validateProfileCredentials and injectRequiredHeaders): the profile named
// by MODAL_PROFILE, else the one marked active, in MODAL_CONFIG_PATH or
// ~/.modal.toml, each field overridden by its MODAL_* variable; then either a
// token id and secret, or an OAuth refresh token and client id with exactly
// one of a client secret or a JWT key, but not both kinds. It checks
// presence only; the first lookup finds out whether they are valid.
func CheckCredentials() error {
	path, err := modalConfigPath()
	if err != nil {
		return fmt.Errorf("no Modal credentials: %w", err)
	}
	var file map[string]modalProfile
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("modal config %s: %w", path, err)
	default:
		if err := toml.Unmarshal(b, &file); err != nil {
			return fmt.Errorf("modal config %s: %w", path, err)
		}
	}
	name := os.Getenv("MODAL_PROFILE")
	if name == "" {
		for n, p := range file {
			if p.Active {
				name = n
				break
			}
		}
	}
	var p modalProfile
	if name != "" {
		p = file[name]
	}
	env := func(key, fromFile string) string {
		if v := os.Getenv(key); v != "" {
			return v
		}
		return fromFile
	}
	p.TokenID = env("MODAL_TOKEN_ID", p.TokenID)
	p.TokenSecret = env("MODAL_TOKEN_SECRET", p.TokenSecret)
	p.OAuthRefreshToken = env("MODAL_OAUTH_REFRESH_TOKEN", p.OAuthRefreshToken)
	p.OAuthClientID = env("MODAL_OAUTH_CLIENT_ID", p.OAuthClientID)
	// An OAuth client secret or JWT key in the environment replaces both file
	// values (go/config.go resolveOAuthClientAuth).
	if s, j := os.Getenv("MODAL_OAUTH_CLIENT_SECRET"), os.Getenv("MODAL_OAUTH_JWT_KEY"); s != "" || j != "" {
		p.OAuthClientSecret, p.OAuthJWTKey = s, j
	}

	token := p.TokenID != "" || p.TokenSecret != ""
	oauth := p.OAuthRefreshToken != "" || p.OAuthClientID != "" || p.OAuthClientSecret != "" || p.OAuthJWTKey != ""
	where := "in the environment"
	if name != "" {
		where = fmt.Sprintf("in the environment or profile %q of %s", name, path)
	}
	switch {
	case token && oauth:
		return fmt.Errorf("modal credentials: both a token and OAuth credentials are set %s; the Modal SDK accepts only one kind", where)
	case oauth && (p.OAuthRefreshToken == "" || p.OAuthClientID == ""):
		return fmt.Errorf("modal credentials: OAuth needs MODAL_OAUTH_REFRESH_TOKEN and MODAL_OAUTH_CLIENT_ID (or oauth_refresh_token and oauth_client_id %s)", where)
	case oauth && (p.OAuthClientSecret == "") == (p.OAuthJWTKey == ""):
		return errors.New("modal credentials: OAuth needs exactly one of MODAL_OAUTH_CLIENT_SECRET or MODAL_OAUTH_JWT_KEY")
	case oauth:
		return nil
	case p.TokenID != "" && p.TokenSecret != "":
		return nil
	case p.TokenID != "":
		return fmt.Errorf("no Modal credentials: a token id is set %s but no token secret (MODAL_TOKEN_SECRET)", where)
	case p.TokenSecret != "":
		return fmt.Errorf("no Modal credentials: a token secret is set %s but no token id (MODAL_TOKEN_ID)", where)
	}
	if name == "" && len(file) > 0 {
		return fmt.Errorf("no Modal credentials: %s has no active profile; set MODAL_PROFILE or run `modal profile activate NAME`", path)
	}
	return fmt.Errorf("no Modal credentials: set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET, or run `modal token new` to write %s", path)
}

// modalConfigPath is where the Modal SDK and CLI read their profiles from.
func modalConfigPath() (string, error) {
	if p := os.Getenv("MODAL_CONFIG_PATH"); p != "" {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".modal.toml"), nil
}
