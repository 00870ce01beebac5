// Package fakemodal is a stand-in for Modal in tests: a gRPC control plane on
// loopback that the real Modal Go SDK talks to (MODAL_SERVER_URL), and a fake
// `modal` command line that deploys and stops apps in it.
//
// The two share one state directory, because the command line runs as a
// separate process: an app is deployed when a file apps/<env>/<app> holds its
// web URL.
package fakemodal

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	pb "github.com/modal-labs/modal-client/go/proto/modal_proto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// FunctionName is the only function the fake apps have: the web server
// each goatbench Modal app exposes.
const FunctionName = "serve"

// ControlPlane is a fake Modal control plane. It implements the RPCs the SDK
// sends for what goatbench asks of it: AuthTokenGet (the SDK calls it before
// any other RPC, sending the token id and secret as metadata), FunctionGet,
// AppGetOrCreate and AppGetInfo (Apps.FromName, App.Info), and
// EnvironmentGetOrCreate and SecretGetOrCreate (Environments.FromName,
// Secrets.FromName). Every other RPC answers Unimplemented.
type ControlPlane struct {
	pb.UnimplementedModalClientServer

	// URL is what MODAL_SERVER_URL must be set to; plain http makes the SDK
	// dial without TLS.
	URL string

	tokenID, tokenSecret string
	dir                  string
	srv                  *grpc.Server
	authToken            string

	sbx sandboxes // Modal Sandboxes: sandboxes.go, router.go

	mu       sync.Mutex
	requests map[string]int
	lookups  []string // "<env>/<app>/<tag>" of every FunctionGet
}

// Start serves a control plane on a free loopback port. State lives in dir;
// tokenID and tokenSecret are the only credentials it accepts.
func Start(dir, tokenID, tokenSecret string) (*ControlPlane, error) {
	for _, sub := range []string{"apps", "plans", "failures", "calls", "envs", "meta", "containers", "stopped"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, fmt.Errorf("fake modal state: %w", err)
		}
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fake modal listen: %w", err)
	}
	c := &ControlPlane{
		URL:         "http://" + lis.Addr().String(),
		tokenID:     tokenID,
		tokenSecret: tokenSecret,
		dir:         dir,
		srv:         grpc.NewServer(),
		authToken:   fakeJWT(time.Now().Add(time.Hour)),
		requests:    map[string]int{},
	}
	pb.RegisterModalClientServer(c.srv, c)
	go func() { _ = c.srv.Serve(lis) }()
	return c, nil
}

// Close stops the server.
func (c *ControlPlane) Close() { c.srv.Stop(); c.sbx.stop() }

// Dir is the state directory shared with the fake command line.
func (c *ControlPlane) Dir() string { return c.dir }

// Publish marks app as deployed in env with the given web URL, as if someone
// had deployed it earlier.
func (c *ControlPlane) Publish(env, app, webURL string) error {
	return writeFile(filepath.Join(c.dir, "apps", env, app), webURL)
}

// Deployed reports whether app is deployed in env.
func (c *ControlPlane) Deployed(env, app string) bool {
	_, err := os.Stat(filepath.Join(c.dir, "apps", env, app))
	return err == nil
}

// PlanDeploy sets the web URL app gets when the fake command line deploys it.
func (c *ControlPlane) PlanDeploy(app, webURL string) error {
	return writeFile(filepath.Join(c.dir, "plans", app), webURL)
}

// FailDeploy makes the fake command line fail to deploy app, printing output.
func (c *ControlPlane) FailDeploy(app, output string) error {
	return writeFile(filepath.Join(c.dir, "failures", app), output)
}

// Requests counts the RPCs received by method name ("AuthTokenGet", "FunctionGet").
func (c *ControlPlane) Requests(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.requests[method]
}

// Lookups lists every FunctionGet as "<env>/<app>/<function>", in order.
func (c *ControlPlane) Lookups() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.lookups...)
}

func (c *ControlPlane) count(method string) {
	c.mu.Lock()
	c.requests[method]++
	c.mu.Unlock()
}

// AuthTokenGet exchanges the token id and secret the SDK sends as metadata
// for a short-lived auth token, as Modal does.
func (c *ControlPlane) AuthTokenGet(ctx context.Context, _ *pb.AuthTokenGetRequest) (*pb.AuthTokenGetResponse, error) {
	c.count("AuthTokenGet")
	md, _ := metadata.FromIncomingContext(ctx)
	if first(md, "x-modal-token-id") != c.tokenID || first(md, "x-modal-token-secret") != c.tokenSecret {
		return nil, status.Error(codes.Unauthenticated, "invalid token id or secret")
	}
	return pb.AuthTokenGetResponse_builder{Token: c.authToken}.Build(), nil
}

// FunctionGet resolves a function of a deployed app by name.
func (c *ControlPlane) FunctionGet(ctx context.Context, req *pb.FunctionGetRequest) (*pb.FunctionGetResponse, error) {
	c.count("FunctionGet")
	c.mu.Lock()
	c.lookups = append(c.lookups, req.GetEnvironmentName()+"/"+req.GetAppName()+"/"+req.GetObjectTag())
	c.mu.Unlock()
	md, _ := metadata.FromIncomingContext(ctx)
	if first(md, "x-modal-auth-token") != c.authToken {
		return nil, status.Error(codes.Unauthenticated, "missing or invalid auth token")
	}
	env := req.GetEnvironmentName()
	if env == "" {
		return nil, status.Error(codes.InvalidArgument, "environment name required")
	}
	webURL, err := os.ReadFile(filepath.Join(c.dir, "apps", env, req.GetAppName()))
	if errors.Is(err, os.ErrNotExist) || req.GetObjectTag() != FunctionName {
		return nil, status.Errorf(codes.NotFound, "App '%s' or function '%s' not found in environment '%s'", req.GetAppName(), req.GetObjectTag(), env)
	}
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return pb.FunctionGetResponse_builder{
		FunctionId: shortID("fu-", appID(env, req.GetAppName()), FunctionName), // as AppGetInfo names it
		HandleMetadata: pb.FunctionHandleMetadata_builder{
			FunctionName: FunctionName,
			FunctionType: pb.Function_FUNCTION_TYPE_FUNCTION,
			WebUrl:       strings.TrimSpace(string(webURL)),
			AppId:        appID(env, req.GetAppName()), // the id AppGetOrCreate gives the same app
		}.Build(),
	}.Build(), nil
}

func (c *ControlPlane) authorized(ctx context.Context, method string) error {
	c.count(method)
	md, _ := metadata.FromIncomingContext(ctx)
	if first(md, "x-modal-auth-token") != c.authToken {
		return status.Error(codes.Unauthenticated, "missing or invalid auth token")
	}
	return nil
}

// EnvironmentGetOrCreate looks an environment up: the default one (an empty
// name) always exists; a named one must be declared, and the SDK turns
// NotFound into "Environment '<name>' not found" (modal-client
// go/environment.go). The reply carries the environment's web suffix and the
// image builder version that image.go's Build asks for
// (environment.go, GetImageBuilderVersion).
func (c *ControlPlane) EnvironmentGetOrCreate(ctx context.Context, req *pb.EnvironmentGetOrCreateRequest) (*pb.EnvironmentGetOrCreateResponse, error) {
	if err := c.rpc(ctx, "EnvironmentGetOrCreate"); err != nil {
		return nil, err
	}
	name, suffix := req.GetDeploymentName(), ""
	if name != "" {
		e, err := c.loadEnv(name)
		if err != nil {
			return nil, status.Errorf(codes.NotFound, "Environment '%s' not found", name)
		}
		suffix = e.WebSuffix
	}
	return pb.EnvironmentGetOrCreateResponse_builder{
		EnvironmentId: shortID("en-", cmp.Or(name, "main")),
		Metadata: pb.EnvironmentMetadata_builder{
			Name:     cmp.Or(name, "main"),
			Settings: pb.EnvironmentSettings_builder{WebhookSuffix: suffix, ImageBuilderVersion: "2025.06"}.Build(),
		}.Build(),
	}.Build(), nil
}

// SecretGetOrCreate finds a named secret in an environment. A secret that
// lacks one of the request's required_keys is refused as Modal's server
// refuses it: FailedPrecondition, "Secret is missing key(s): K"
// (modal-labs/libmodal modal-js/src/secret.ts maps FAILED_PRECONDITION whose
// details hold "Secret is missing key"; modal-labs/modal-client
// go/test/secret_test.go, TestSecretFromNameWithRequiredKeys, sees
// "Secret is missing key(s): missing-key" from the real server).
func (c *ControlPlane) SecretGetOrCreate(ctx context.Context, req *pb.SecretGetOrCreateRequest) (*pb.SecretGetOrCreateResponse, error) {
	if err := c.authorized(ctx, "SecretGetOrCreate"); err != nil {
		return nil, err
	}
	e, err := c.loadEnv(req.GetEnvironmentName())
	if err != nil {
		return nil, status.Errorf(codes.NotFound, "Environment '%s' not found", req.GetEnvironmentName())
	}
	keys, ok := e.Secrets[req.GetDeploymentName()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Secret '%s' not found in environment '%s'", req.GetDeploymentName(), req.GetEnvironmentName())
	}
	var missing []string
	for _, want := range req.GetRequiredKeys() {
		if !slices.Contains(keys, want) {
			missing = append(missing, want)
		}
	}
	if len(missing) > 0 {
		return nil, status.Errorf(codes.FailedPrecondition, "Secret is missing key(s): %s", strings.Join(missing, ", "))
	}
	return pb.SecretGetOrCreateResponse_builder{SecretId: shortID("st-", req.GetEnvironmentName(), req.GetDeploymentName())}.Build(), nil
}

// AppGetOrCreate finds a deployed app by name (Apps.FromName without
// CreateIfMissing; the SDK turns NotFound into "App '<name>' not found"), or
// gives the app sandboxes belong to, made when missing (app.go, Apps.FromName
// with CreateIfMissing).
func (c *ControlPlane) AppGetOrCreate(ctx context.Context, req *pb.AppGetOrCreateRequest) (*pb.AppGetOrCreateResponse, error) {
	if err := c.rpc(ctx, "AppGetOrCreate"); err != nil {
		return nil, err
	}
	env := req.GetEnvironmentName()
	switch req.GetObjectCreationType() {
	case pb.ObjectCreationType_OBJECT_CREATION_TYPE_UNSPECIFIED:
		if !c.Deployed(env, req.GetAppName()) {
			return nil, status.Errorf(codes.NotFound, "App '%s' not found in environment '%s'", req.GetAppName(), env)
		}
		return pb.AppGetOrCreateResponse_builder{AppId: appID(env, req.GetAppName())}.Build(), nil
	case pb.ObjectCreationType_OBJECT_CREATION_TYPE_CREATE_IF_MISSING:
		id := shortID("ap-", env, req.GetAppName())
		c.sbx.mu.Lock()
		if c.sbx.apps == nil {
			c.sbx.apps = map[string]string{}
		}
		c.sbx.apps[id] = env
		c.sbx.mu.Unlock()
		return pb.AppGetOrCreateResponse_builder{AppId: id}.Build(), nil
	}
	return nil, status.Error(codes.Unimplemented, "the fake only looks apps up or makes them when missing")
}

// AppGetInfo answers App.Info: the app's functions by name, as its last
// deploy registered them.
func (c *ControlPlane) AppGetInfo(ctx context.Context, req *pb.AppGetInfoRequest) (*pb.AppGetInfoResponse, error) {
	if err := c.authorized(ctx, "AppGetInfo"); err != nil {
		return nil, err
	}
	envs, _ := os.ReadDir(filepath.Join(c.dir, "apps"))
	for _, e := range envs {
		apps, _ := os.ReadDir(filepath.Join(c.dir, "apps", e.Name()))
		for _, a := range apps {
			if appID(e.Name(), a.Name()) != req.GetAppId() {
				continue
			}
			m, err := loadMeta(c.dir, e.Name(), a.Name())
			if err != nil {
				return nil, status.Error(codes.Internal, err.Error())
			}
			fns := map[string]string{}
			for _, f := range m.Functions {
				fns[f] = shortID("fu-", req.GetAppId(), f)
			}
			return pb.AppGetInfoResponse_builder{Info: pb.AppHandleMetadata_builder{
				AppId: req.GetAppId(), EnvironmentName: e.Name(), Description: a.Name(), Functions: fns,
				Lifecycle: pb.AppLifecycle_builder{AppState: pb.AppState_APP_STATE_DEPLOYED}.Build(),
			}.Build()}.Build(), nil
		}
	}
	return nil, status.Errorf(codes.NotFound, "App '%s' not found", req.GetAppId())
}

func first(md metadata.MD, key string) string {
	if v := md.Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}

// fakeJWT builds an unsigned token with an exp claim: the SDK reads exp to
// schedule refreshes and warns when it is missing.
func fakeJWT(exp time.Time) string {
	enc := base64.RawURLEncoding
	claims, _ := json.Marshal(map[string]any{"exp": exp.Unix()})
	return enc.EncodeToString([]byte(`{"alg":"none"}`)) + "." + enc.EncodeToString(claims) + ".sig"
}

func writeFile(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(content), 0o644)
}
