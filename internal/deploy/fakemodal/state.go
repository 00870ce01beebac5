package fakemodal

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Workspace is the workspace every fake environment belongs to.
const Workspace = "fake-ws"

// appMeta is what the fake keeps of a deployed app beside its web URL file.
type appMeta struct {
	AppID     string   `json:"app_id"`
	Functions []string `json:"functions"` // the functions the deploy registered
}

// environment is a declared Modal environment.
type environment struct {
	WebSuffix string              `json:"web_suffix"`
	Secrets   map[string][]string `json:"secrets"` // secret name -> its keys
}

// AddEnvironment declares a Modal environment with its web suffix ("" for the
// workspace's one environment without a suffix). Modal's "Environments" guide
// (modal.com/docs/guide/environments, "Environment web suffixes") and
// modal-labs/modal-client py/modal/cli/environment.py (`modal environment
// update --set-web-suffix`, "empty string is no suffix").
func (c *ControlPlane) AddEnvironment(name, webSuffix string) error {
	return c.saveEnv(name, environment{WebSuffix: webSuffix, Secrets: map[string][]string{}})
}

// AddSecret creates a secret with the given keys in a declared environment.
func (c *ControlPlane) AddSecret(env, name string, keys ...string) error {
	e, err := c.loadEnv(env)
	if err != nil {
		return err
	}
	e.Secrets[name] = keys
	return c.saveEnv(env, e)
}

func (c *ControlPlane) saveEnv(name string, e environment) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return writeFile(filepath.Join(c.dir, "envs", name), string(b))
}

func (c *ControlPlane) loadEnv(name string) (environment, error) { return loadEnv(c.dir, name) }

func loadEnv(dir, name string) (environment, error) {
	var e environment
	b, err := os.ReadFile(filepath.Join(dir, "envs", name))
	if err != nil {
		return e, err
	}
	err = json.Unmarshal(b, &e)
	if e.Secrets == nil {
		e.Secrets = map[string][]string{}
	}
	return e, err
}

// webURL is the URL Modal gives a deployed web function, written here from
// Modal's "Web endpoint URLs" guide (modal.com/docs/guide/webhook-urls) on
// its own, not shared with the code under test: https://<source>--<label>.modal.run
// with source <workspace>[-<web suffix>] and label <app>-<function>, all
// lowercased with anything but [a-z0-9-] turned into "-"; a subdomain label
// over 63 characters is cut to 56, then "-" and the first 6 hex digits of
// the SHA-256 of the overlong label.
func webURL(workspace, suffix, app, function string) string {
	norm := func(s string) string {
		var b strings.Builder
		for _, r := range strings.ToLower(s) {
			if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '-' {
				b.WriteRune(r)
			} else {
				b.WriteByte('-')
			}
		}
		return b.String()
	}
	source := norm(workspace)
	if suffix != "" {
		source += "-" + norm(suffix)
	}
	sub := source + "--" + norm(app) + "-" + norm(function)
	if len(sub) > 63 {
		h := sha256.Sum256([]byte(sub))
		sub = sub[:56] + "-" + hex.EncodeToString(h[:])[:6]
	}
	return "https://" + sub + ".modal.run"
}

// appID is the fake's stable id for an app, shaped like Modal's "ap-" + 22
// alphanumerics (modal-labs/modal-client py/modal/cli/app.py resolve_app_identifier).
func appID(env, app string) string {
	sum := sha256.Sum256([]byte(env + "/" + app))
	return "ap-" + hex.EncodeToString(sum[:])[:22]
}

func metaPath(dir, env, app string) string { return filepath.Join(dir, "meta", env, app+".json") }

func loadMeta(dir, env, app string) (appMeta, error) {
	var m appMeta
	b, err := os.ReadFile(metaPath(dir, env, app))
	if errors.Is(err, os.ErrNotExist) {
		// Published without a deploy: just the web function.
		return appMeta{AppID: appID(env, app), Functions: []string{FunctionName}}, nil
	}
	if err != nil {
		return m, err
	}
	return m, json.Unmarshal(b, &m)
}

func saveMeta(dir, env, app string, m appMeta) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return writeFile(metaPath(dir, env, app), string(b))
}

// PublishSpec marks app as deployed in env from a spec with the given hash,
// as if an earlier goatbench deploy had registered its spec_<hash> marker.
func (c *ControlPlane) PublishSpec(env, app, webURL, specHash string) error {
	if err := c.Publish(env, app, webURL); err != nil {
		return err
	}
	return saveMeta(c.dir, env, app, appMeta{AppID: appID(env, app), Functions: []string{FunctionName, "spec_" + specHash}})
}

// Functions lists the functions app has in env.
func (c *ControlPlane) Functions(env, app string) ([]string, error) {
	m, err := loadMeta(c.dir, env, app)
	return m.Functions, err
}

// AppID is the id the fake gives app in env.
func (c *ControlPlane) AppID(env, app string) string { return appID(env, app) }

// StartContainer records a running container of app in env, as a request to
// its web endpoint would start one, and returns its id.
func (c *ControlPlane) StartContainer(env, app string) (string, error) {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s/%s/%d", env, app, time.Now().UnixNano())))
	id := "ta-" + strings.ToUpper(hex.EncodeToString(sum[:]))[:26]
	return id, writeFile(filepath.Join(c.dir, "containers", appID(env, app), id), env+"/"+app)
}

// Containers lists the running containers of app in env.
func (c *ControlPlane) Containers(env, app string) []string {
	return runningContainers(c.dir, appID(env, app))
}

func runningContainers(dir, appID string) []string {
	entries, _ := os.ReadDir(filepath.Join(dir, "containers", appID))
	var ids []string
	for _, e := range entries {
		ids = append(ids, e.Name())
	}
	sort.Strings(ids)
	return ids
}
