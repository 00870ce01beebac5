package deploy

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// CheckCredentials reports whether Modal credentials are configured: both
// MODAL_TOKEN_ID and MODAL_TOKEN_SECRET set, or a Modal config file
// (~/.modal.toml, or MODAL_CONFIG_PATH) present. It checks presence only;
// the first lookup finds out whether the token is valid.
func CheckCredentials() error {
	id, secret := os.Getenv("MODAL_TOKEN_ID") != "", os.Getenv("MODAL_TOKEN_SECRET") != ""
	if id && secret {
		return nil
	}
	path, err := modalConfigPath()
	if err == nil {
		if _, err = os.Stat(path); err == nil {
			return nil
		}
	}
	switch {
	case id:
		return errors.New("no Modal credentials: MODAL_TOKEN_ID is set but MODAL_TOKEN_SECRET is not")
	case secret:
		return errors.New("no Modal credentials: MODAL_TOKEN_SECRET is set but MODAL_TOKEN_ID is not")
	}
	return fmt.Errorf("no Modal credentials: set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET, or run `modal token new` to write %s", displayPath(path))
}

// modalConfigPath is where the Modal SDK and CLI read their profile from.
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

func displayPath(p string) string {
	if p == "" {
		return "~/.modal.toml"
	}
	return p
}
