package deploy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	modal "github.com/modal-labs/modal-client/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// FunctionName is the web function every goatbench Modal app serves models from.
const FunctionName = "serve"

// ErrNotDeployed means the app (or its web function) does not exist in the environment.
var ErrNotDeployed = errors.New("not deployed")

// App is a deployed app as the Modal SDK sees it.
type App struct {
	ID     string // "ap-..."
	WebURL string // of its FunctionName function; "" when that is not a web function
	// SpecHash is the hash of the model spec the app was deployed from, read
	// from its spec_<hash> marker function; "" when it has none (deployed
	// before goatbench recorded it, or by hand).
	SpecHash string
}

// Directory finds deployed apps and what deploying needs.
type Directory interface {
	// Lookup returns the app's id, web URL and spec hash in the environment,
	// or an error wrapping ErrNotDeployed.
	Lookup(ctx context.Context, appName, environment string) (App, error)
	// CheckSetup reports what of the one-time setup is missing in the
	// environment: the environment itself, or secret with key.
	CheckSetup(ctx context.Context, environment, secret, key string) error
}

// ModalDirectory looks apps up with the Modal Go SDK. The SDK reads
// credentials from the environment or ~/.modal.toml, and the server from
// MODAL_SERVER_URL.
type ModalDirectory struct {
	logger *slog.Logger
	once   sync.Once
	client *modal.Client
	err    error
}

// NewModalDirectory returns a directory that connects on first use; logger
// receives the SDK's log lines.
func NewModalDirectory(logger *slog.Logger) *ModalDirectory {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &ModalDirectory{logger: logger}
}

func (m *ModalDirectory) connect() (*modal.Client, error) {
	m.once.Do(func() {
		m.client, m.err = modal.NewClientWithOptions(&modal.ClientParams{Logger: m.logger})
		if m.err != nil {
			m.err = fmt.Errorf("modal client: %w", m.err)
		}
	})
	return m.client, m.err
}

// markerPrefix starts the name of the function each app script registers to
// record its spec hash (modal/vllm_spec.py marker_function_name). The Go SDK
// has no Dict and no app tags, but App.Info lists an app's functions by
// name (modal-client go/app.go AppInfo.Functions), and a deploy replaces
// them, so the marker always names the spec of the latest deploy.
const markerPrefix = "spec_"

// Lookup implements Directory.
func (m *ModalDirectory) Lookup(ctx context.Context, appName, environment string) (App, error) {
	c, err := m.connect()
	if err != nil {
		return App{}, err
	}
	fn, err := c.Functions.FromName(ctx, appName, FunctionName, &modal.FunctionFromNameParams{Environment: environment})
	var nf modal.NotFoundError
	if errors.As(err, &nf) {
		return App{}, fmt.Errorf("app %s in Modal environment %q: %w", appName, environment, ErrNotDeployed)
	}
	if err != nil {
		return App{}, fmt.Errorf("look up app %s in Modal environment %q: %w", appName, environment, err)
	}
	app, err := c.Apps.FromName(ctx, appName, &modal.AppFromNameParams{Environment: environment})
	if errors.As(err, &nf) {
		return App{}, fmt.Errorf("app %s in Modal environment %q: %w", appName, environment, ErrNotDeployed)
	}
	if err != nil {
		return App{}, fmt.Errorf("look up app %s in Modal environment %q: %w", appName, environment, err)
	}
	info, err := app.Info(ctx, &modal.AppInfoParams{Refresh: true})
	if err != nil {
		return App{}, fmt.Errorf("app %s: read its functions: %w", appName, err)
	}
	return App{ID: app.AppID, WebURL: fn.GetWebURL(), SpecHash: specHashOf(info.Functions)}, nil
}

// specHashOf is the spec hash the app's one marker names, or "" (unknown,
// so the app is deployed again) when none does, or when two do: a listing
// that is not one deploy's, of which a Go map would name either at random.
func specHashOf(functions map[string]string) string {
	found := ""
	for name := range functions {
		if h, ok := strings.CutPrefix(name, markerPrefix); ok && validHash(h) {
			if found != "" && found != h {
				return ""
			}
			found = h
		}
	}
	return found
}

// CheckSetup implements Directory with Environments.FromName and
// Secrets.FromName (RequiredKeys), which answer NotFound for what is missing.
func (m *ModalDirectory) CheckSetup(ctx context.Context, environment, secret, key string) error {
	c, err := m.connect()
	if err != nil {
		return err
	}
	var nf modal.NotFoundError
	if _, err := c.Environments.FromName(ctx, environment, nil); errors.As(err, &nf) {
		return &SetupError{Missing: "environment", Environment: environment}
	} else if err != nil {
		return fmt.Errorf("look up Modal environment %q: %w", environment, err)
	}
	_, err = c.Secrets.FromName(ctx, secret, &modal.SecretFromNameParams{Environment: environment, RequiredKeys: []string{key}})
	if errors.As(err, &nf) {
		return &SetupError{Missing: "secret", Environment: environment, Secret: secret, Key: key}
	}
	switch status.Code(err) {
	case codes.OK:
		return nil
	case codes.FailedPrecondition:
		// How the server refuses a secret that lacks a required key:
		// "Secret is missing key(s): HF_TOKEN" (modal-labs/libmodal
		// modal-js/src/secret.ts; modal-client go/test/secret_test.go).
		return &SetupError{Missing: "key", Environment: environment, Secret: secret, Key: key, Detail: status.Convert(err).Message()}
	}
	return fmt.Errorf("look up Modal secret %q in environment %q: %w", secret, environment, err)
}

// Close closes the SDK connection, if one was made.
func (m *ModalDirectory) Close() error {
	m.once.Do(func() { m.err = errors.New("modal client closed") }) // no connection may start after Close
	if m.client != nil {
		m.client.Close()
	}
	return nil
}
