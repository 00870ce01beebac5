// Package fakemodal is a stand-in for Modal in tests: a gRPC control plane on
// loopback that the real Modal Go SDK talks to (MODAL_SERVER_URL), and a fake
// `modal` command line that deploys and stops apps in it.
//
// The two share one state directory, because the command line runs as a
// separate process: an app is deployed when a file apps/<env>/<app> holds its
// web URL.
package fakemodal

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
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

// ControlPlane is a fake Modal control plane. It implements the two RPCs the
// SDK needs to look up a deployed web function: AuthTokenGet (the SDK calls
// it before any other RPC, sending the token id and secret as metadata) and
// FunctionGet. Every other RPC answers Unimplemented.
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
	for _, sub := range []string{"apps", "plans", "failures", "calls"} {
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
	sum := sha256.Sum256([]byte(env + "/" + req.GetAppName()))
	id := hex.EncodeToString(sum[:])[:20]
	return pb.FunctionGetResponse_builder{
		FunctionId: "fu-" + id,
		HandleMetadata: pb.FunctionHandleMetadata_builder{
			FunctionName: FunctionName,
			FunctionType: pb.Function_FUNCTION_TYPE_FUNCTION,
			WebUrl:       strings.TrimSpace(string(webURL)),
			AppId:        "ap-" + id,
		}.Build(),
	}.Build(), nil
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
