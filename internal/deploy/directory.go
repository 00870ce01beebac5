package deploy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	modal "github.com/modal-labs/modal-client/go"
)

// FunctionName is the web function every goatbench Modal app serves models from.
const FunctionName = "serve"

// ErrNotDeployed means the app (or its web function) does not exist in the environment.
var ErrNotDeployed = errors.New("not deployed")

// Directory finds deployed apps.
type Directory interface {
	// WebURL returns the web URL of the app's FunctionName function in the
	// environment ("" when it is not a web function), or an error wrapping
	// ErrNotDeployed.
	WebURL(ctx context.Context, appName, environment string) (string, error)
}

// ModalDirectory looks apps up with the Modal Go SDK. The SDK reads
// credentials from MODAL_TOKEN_ID/MODAL_TOKEN_SECRET or ~/.modal.toml, and
// the server from MODAL_SERVER_URL.
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

// WebURL implements Directory.
func (m *ModalDirectory) WebURL(ctx context.Context, appName, environment string) (string, error) {
	c, err := m.connect()
	if err != nil {
		return "", err
	}
	fn, err := c.Functions.FromName(ctx, appName, FunctionName, &modal.FunctionFromNameParams{Environment: environment})
	var nf modal.NotFoundError
	if errors.As(err, &nf) {
		return "", fmt.Errorf("app %s in Modal environment %q: %w", appName, environment, ErrNotDeployed)
	}
	if err != nil {
		return "", fmt.Errorf("look up app %s in Modal environment %q: %w", appName, environment, err)
	}
	return fn.GetWebURL(), nil
}

// Close closes the SDK connection, if one was made.
func (m *ModalDirectory) Close() error {
	m.once.Do(func() { m.err = errors.New("modal client closed") }) // no connection may start after Close
	if m.client != nil {
		m.client.Close()
	}
	return nil
}

// GuessWebURL builds the URL Modal gives the FunctionName web function of
// appName in workspace, for Target.FallbackURL: Modal turns dots into
// hyphens and lowercases the label. The SDK lookup is the authority; Modal
// shortens labels longer than 63 characters, which this does not attempt.
func GuessWebURL(workspace, appName string) string {
	label := strings.ToLower(strings.ReplaceAll(workspace+"--"+appName+"-"+FunctionName, ".", "-"))
	return "https://" + label + ".modal.run"
}
