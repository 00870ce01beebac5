package fakemodal

// Modal Sandboxes in the fake control plane: the RPCs the Go SDK v0.11.1
// (github.com/modal-labs/modal-client/go) calls to create, find, wait for and
// terminate a sandbox, each following the SDK code named beside it. Commands
// run through the task command router in router.go.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	pb "github.com/modal-labs/modal-client/go/proto/modal_proto"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/goatbench/goatbench/internal/sandbox"
)

// SandboxOptions shape the fake's sandboxes.
type SandboxOptions struct {
	// Latency is added to every sandbox, image, app and command-router RPC,
	// to model a sandbox far from the caller.
	Latency time.Duration
	// Run runs the commands exec'd in a sandbox, in the sandbox's local
	// folder; nil is sandbox.Default() (bubblewrap where it works).
	Run sandbox.Sandbox
	// Refuse makes SandboxCreate fail with FailedPrecondition and this message.
	Refuse string
	// Quota is how many sandboxes may run at once (0: no limit); beyond it
	// SandboxCreate fails with ResourceExhausted, as Modal's concurrency limit.
	Quota int
	// DieAfter makes every sandbox whose tags include DieTags die (as if its
	// container were lost) when it is asked for its DieAfter-th exec.
	DieAfter int
	DieTags  map[string]string
}

// SandboxView is what a test can see of one fake sandbox.
type SandboxView struct {
	ID, AppID, ImageID string
	Image              []string // the image's Dockerfile commands, every layer
	Tags               map[string]string
	TimeoutSecs        uint32
	MilliCPU, MemoryMB uint32
	Network            pb.NetworkAccess_NetworkAccessType
	Workdir            string
	Execs              int
	Running            bool
	Result             pb.GenericResult_GenericStatus
	Dir                string // its local folder, removed when it ends
}

// sandboxes is the fake's sandbox state; its zero value is ready to use.
type sandboxes struct {
	mu     sync.Mutex
	opts   SandboxOptions
	byID   map[string]*fakeSandbox
	byTask map[string]*fakeSandbox
	apps   map[string]string // app id → environment
	images map[string]fakeImage
	router *router
	clock  float64 // last created_at handed out, so that timestamps are strictly increasing
	// root holds the sandboxes' folders: a directory every user can pass
	// through, since goatbench run by root runs unisolated commands as a uid
	// of their own, which a test's private temp dir would shut out.
	root string
}

// rootDir makes the sandboxes' parent folder on first use; s.mu is held.
func (s *sandboxes) rootDir() (string, error) {
	if s.root == "" {
		dir, err := os.MkdirTemp("", "goatbench-fakemodal-")
		if err != nil {
			return "", err
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			return "", err
		}
		s.root = dir
	}
	return s.root, nil
}

// fakeImage is one image layer: its Dockerfile commands and the layer it
// starts FROM (image.go, Build: "FROM base" with base_images).
type fakeImage struct {
	cmds []string
	base string
}

// chain is an image's Dockerfile commands from its first layer on.
func (s *sandboxes) chain(id string) []string {
	var out []string
	for id != "" {
		img := s.images[id]
		out = append(slices.Clone(img.cmds), out...)
		id = img.base
	}
	return out
}

type fakeSandbox struct {
	view   SandboxView
	env    string
	taskID string
	// created is the created_at SandboxList reports and pages by.
	created float64
	ctx     context.Context // ends when the sandbox does; its execs die with it
	cancel  context.CancelFunc
	timer   *time.Timer
	execs   map[string]*fakeExec
	done    chan struct{}
}

// ConfigureSandboxes sets how the fake's sandboxes behave; call it before use.
func (c *ControlPlane) ConfigureSandboxes(o SandboxOptions) {
	c.sbx.mu.Lock()
	defer c.sbx.mu.Unlock()
	c.sbx.opts = o
}

// Sandboxes lists every sandbox created so far, oldest first.
func (c *ControlPlane) Sandboxes() []SandboxView {
	c.sbx.mu.Lock()
	defer c.sbx.mu.Unlock()
	var out []SandboxView
	for _, s := range c.sbx.byID {
		v := s.view
		v.Tags = maps.Clone(v.Tags)
		v.Image = c.sbx.chain(v.ImageID)
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b SandboxView) int { return c.sbx.byID[a.ID].cmp(c.sbx.byID[b.ID]) })
	return out
}

func (s *fakeSandbox) cmp(o *fakeSandbox) int {
	switch {
	case s.created < o.created:
		return -1
	case s.created > o.created:
		return 1
	}
	return 0
}

// rpc is the common start of every sandbox RPC: count it, wait out the
// latency, and check the auth token the SDK got from AuthTokenGet (client.go
// sends it as x-modal-auth-token on every call).
func (c *ControlPlane) rpc(ctx context.Context, method string) error {
	c.count(method)
	if err := c.sbx.delay(ctx); err != nil {
		return err
	}
	md, _ := metadata.FromIncomingContext(ctx)
	if first(md, "x-modal-auth-token") != c.authToken {
		return status.Error(codes.Unauthenticated, "missing or invalid auth token")
	}
	return nil
}

func (s *sandboxes) delay(ctx context.Context) error {
	s.mu.Lock()
	d := s.opts.Latency
	s.mu.Unlock()
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}
}

func shortID(prefix string, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%s\x00", p)
	}
	return prefix + hex.EncodeToString(h.Sum(nil))[:20]
}

// ImageGetOrCreate "builds" an image layer at once: it records the Dockerfile
// commands (FROM <registry tag> for Images.FromRegistry, FROM base on a base
// image for each DockerfileCommands layer) and answers with a finished
// result, so image.go's Build needs no build stream.
func (c *ControlPlane) ImageGetOrCreate(ctx context.Context, req *pb.ImageGetOrCreateRequest) (*pb.ImageGetOrCreateResponse, error) {
	if err := c.rpc(ctx, "ImageGetOrCreate"); err != nil {
		return nil, err
	}
	cmds := req.GetImage().GetDockerfileCommands()
	var base string
	for _, b := range req.GetImage().GetBaseImages() {
		base = b.GetImageId()
	}
	id := shortID("im-", append([]string{base}, cmds...)...)
	c.sbx.mu.Lock()
	if c.sbx.images == nil {
		c.sbx.images = map[string]fakeImage{}
	}
	if _, ok := c.sbx.images[base]; base != "" && !ok {
		c.sbx.mu.Unlock()
		return nil, status.Errorf(codes.NotFound, "base image %s not found", base)
	}
	c.sbx.images[id] = fakeImage{cmds: slices.Clone(cmds), base: base}
	c.sbx.mu.Unlock()
	return pb.ImageGetOrCreateResponse_builder{
		ImageId: id,
		Result:  pb.GenericResult_builder{Status: pb.GenericResult_GENERIC_STATUS_SUCCESS}.Build(),
	}.Build(), nil
}

// v1ID is a sandbox ID of the V1 shape (sandbox.go, isV1SandboxID: "sb-" and
// 22 characters of v1SandboxIDAlphabet): any other shape makes the SDK use
// the V2 RPCs.
func v1ID() string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 22)
	for i := range b {
		b[i] = alphabet[rand.IntN(len(alphabet))]
	}
	return "sb-" + string(b)
}

// SandboxCreate starts a sandbox: a fresh local folder stands for its
// filesystem. The task is scheduled at once, so the SDK's waitForScheduling
// (sandbox.go) gets a task ID on its first SandboxGetTaskId. Its lifetime is
// the definition's timeout_secs, after which it ends with a TIMEOUT result.
func (c *ControlPlane) SandboxCreate(ctx context.Context, req *pb.SandboxCreateRequest) (*pb.SandboxCreateResponse, error) {
	if err := c.rpc(ctx, "SandboxCreate"); err != nil {
		return nil, err
	}
	sb, err := c.createSandbox(req.GetAppId(), req.GetTags(), req.GetDefinition(), v1ID())
	if err != nil {
		return nil, err
	}
	return pb.SandboxCreateResponse_builder{SandboxId: sb.view.ID}.Build(), nil
}

// createSandbox is SandboxCreate and SandboxCreateV2 after their checks.
func (c *ControlPlane) createSandbox(appID string, reqTags []*pb.SandboxTag, def *pb.Sandbox, id string) (*fakeSandbox, error) {
	s := &c.sbx
	s.mu.Lock()
	defer s.mu.Unlock()
	env, ok := s.apps[appID]
	switch {
	case !ok:
		return nil, status.Errorf(codes.NotFound, "App %s not found", appID)
	case s.opts.Refuse != "":
		return nil, status.Error(codes.FailedPrecondition, s.opts.Refuse)
	case s.opts.Quota > 0 && s.running() >= s.opts.Quota:
		return nil, status.Errorf(codes.ResourceExhausted, "Sandbox concurrency limit reached (%d running); terminate sandboxes or raise the limit", s.opts.Quota)
	}
	if _, ok := s.images[def.GetImageId()]; !ok {
		return nil, status.Errorf(codes.InvalidArgument, "Image %s not found", def.GetImageId())
	}
	root, err := s.rootDir()
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	dir := filepath.Join(root, id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	tags := map[string]string{}
	for _, t := range reqTags {
		tags[t.GetTagName()] = t.GetTagValue()
	}
	sctx, cancel := context.WithCancel(context.Background())
	now := float64(time.Now().UnixNano()) / 1e9
	s.clock = max(now, s.clock+1e-6)
	sb := &fakeSandbox{
		env: env, taskID: shortID("ta-", id), created: s.clock, ctx: sctx, cancel: cancel,
		execs: map[string]*fakeExec{}, done: make(chan struct{}),
		view: SandboxView{ID: id, AppID: appID, ImageID: def.GetImageId(), Tags: tags,
			TimeoutSecs: def.GetTimeoutSecs(), MilliCPU: def.GetResources().GetMilliCpu(), MemoryMB: def.GetResources().GetMemoryMb(),
			Network: def.GetNetworkAccess().GetNetworkAccessType(), Workdir: def.GetWorkdir(), Running: true, Dir: dir},
	}
	if sb.view.TimeoutSecs == 0 {
		sb.view.TimeoutSecs = 300 // SandboxCreateParams.Timeout: "Defaults to 5 minutes"
	}
	sb.timer = time.AfterFunc(time.Duration(sb.view.TimeoutSecs)*time.Second, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.end(sb, pb.GenericResult_GENERIC_STATUS_TIMEOUT)
	})
	if s.byID == nil {
		s.byID, s.byTask = map[string]*fakeSandbox{}, map[string]*fakeSandbox{}
	}
	s.byID[id], s.byTask[sb.taskID] = sb, sb
	return sb, nil
}

func (s *sandboxes) running() int {
	n := 0
	for _, sb := range s.byID {
		if sb.view.Running {
			n++
		}
	}
	return n
}

// end finishes a sandbox with a result: its execs are killed and its local
// folder removed. Called with s.mu held.
func (s *sandboxes) end(sb *fakeSandbox, st pb.GenericResult_GenericStatus) {
	if !sb.view.Running {
		return
	}
	sb.view.Running, sb.view.Result = false, st
	sb.timer.Stop()
	sb.cancel()
	close(sb.done)
	for _, e := range sb.execs {
		if e.fs != nil && !e.fs.ended { // a write still waiting for its data
			e.fs.ended, e.lost = true, true
			close(e.done)
		}
	}
	execs := sb.execs
	go func() {
		// The execs' processes are gone once their runs return.
		for _, e := range execs {
			<-e.done
		}
		if r, ok := s.commands().(sandbox.Releaser); ok {
			_ = r.Release(sb.view.Dir) // its uid, cgroup and network namespace, run by root
		}
		_ = os.RemoveAll(sb.view.Dir)
		s.mu.Lock()
		sb.execs = map[string]*fakeExec{} // an ended sandbox's outputs are gone with it
		s.mu.Unlock()
	}()
}

// commands is the sandbox the fake's execs run in.
func (s *sandboxes) commands() sandbox.Sandbox {
	if s.opts.Run != nil {
		return s.opts.Run
	}
	return sandbox.Default()
}

func (s *sandboxes) get(id string) (*fakeSandbox, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sb, ok := s.byID[id]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Sandbox %s not found", id)
	}
	return sb, nil
}

func result(st pb.GenericResult_GenericStatus) *pb.GenericResult {
	b := pb.GenericResult_builder{Status: st}
	if st == pb.GenericResult_GENERIC_STATUS_TERMINATED {
		b.Exception = "Sandbox terminated"
	}
	return b.Build()
}

// sandbox is the sandbox an RPC names, once the call is counted, delayed and
// authorised.
func (c *ControlPlane) sandbox(ctx context.Context, method, id string) (*fakeSandbox, error) {
	if err := c.rpc(ctx, method); err != nil {
		return nil, err
	}
	return c.sbx.get(id)
}

// SandboxGetTaskId names the sandbox's task while it runs, and gives its
// result once it has ended (sandbox.go, waitForTaskID: a task_result means
// the sandbox finished before it was scheduled).
func (c *ControlPlane) SandboxGetTaskId(ctx context.Context, req *pb.SandboxGetTaskIdRequest) (*pb.SandboxGetTaskIdResponse, error) {
	return c.sandboxGetTaskId(ctx, "SandboxGetTaskId", req)
}

func (c *ControlPlane) sandboxGetTaskId(ctx context.Context, method string, req *pb.SandboxGetTaskIdRequest) (*pb.SandboxGetTaskIdResponse, error) {
	sb, err := c.sandbox(ctx, method, req.GetSandboxId())
	if err != nil {
		return nil, err
	}
	c.sbx.mu.Lock()
	defer c.sbx.mu.Unlock()
	if !sb.view.Running {
		return pb.SandboxGetTaskIdResponse_builder{TaskResult: result(sb.view.Result)}.Build(), nil
	}
	return pb.SandboxGetTaskIdResponse_builder{TaskId: &sb.taskID}.Build(), nil
}

// SandboxWait waits up to the request's timeout (seconds) for the sandbox to
// end; an empty result means it still runs, and the SDK's Wait asks again
// (sandbox.go, Sandbox.Wait).
func (c *ControlPlane) SandboxWait(ctx context.Context, req *pb.SandboxWaitRequest) (*pb.SandboxWaitResponse, error) {
	return c.sandboxWait(ctx, "SandboxWait", req)
}

func (c *ControlPlane) sandboxWait(ctx context.Context, method string, req *pb.SandboxWaitRequest) (*pb.SandboxWaitResponse, error) {
	sb, err := c.sandbox(ctx, method, req.GetSandboxId())
	if err != nil {
		return nil, err
	}
	t := time.NewTimer(time.Duration(float64(req.GetTimeout()) * float64(time.Second)))
	defer t.Stop()
	select {
	case <-sb.done:
	case <-t.C:
		return &pb.SandboxWaitResponse{}, nil
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	c.sbx.mu.Lock()
	defer c.sbx.mu.Unlock()
	return pb.SandboxWaitResponse_builder{Result: result(sb.view.Result)}.Build(), nil
}

// SandboxTerminate ends a sandbox; for one that had already ended it returns
// that result as existing_result.
func (c *ControlPlane) SandboxTerminate(ctx context.Context, req *pb.SandboxTerminateRequest) (*pb.SandboxTerminateResponse, error) {
	return c.sandboxTerminate(ctx, "SandboxTerminate", req)
}

func (c *ControlPlane) sandboxTerminate(ctx context.Context, method string, req *pb.SandboxTerminateRequest) (*pb.SandboxTerminateResponse, error) {
	sb, err := c.sandbox(ctx, method, req.GetSandboxId())
	if err != nil {
		return nil, err
	}
	c.sbx.mu.Lock()
	defer c.sbx.mu.Unlock()
	if !sb.view.Running {
		return pb.SandboxTerminateResponse_builder{ExistingResult: result(sb.view.Result)}.Build(), nil
	}
	c.sbx.end(sb, pb.GenericResult_GENERIC_STATUS_TERMINATED)
	return &pb.SandboxTerminateResponse{}, nil
}

// sandboxListPage is how many sandboxes one SandboxList answer holds.
const sandboxListPage = 100

// SandboxList lists running sandboxes (include_finished false is what the SDK
// sends) of an app, or of the environment when no app is given, that carry
// every requested tag, newest first, created before before_timestamp when it
// is set. The SDK pages with the created_at of the last one and stops at an
// empty page (sandbox.go, Sandboxes.List); an answer that ignored
// before_timestamp would make it loop forever.
func (c *ControlPlane) SandboxList(ctx context.Context, req *pb.SandboxListRequest) (*pb.SandboxListResponse, error) {
	return c.sandboxList(ctx, "SandboxList", req)
}

func (c *ControlPlane) sandboxList(ctx context.Context, method string, req *pb.SandboxListRequest) (*pb.SandboxListResponse, error) {
	if err := c.rpc(ctx, method); err != nil {
		return nil, err
	}
	c.sbx.mu.Lock()
	defer c.sbx.mu.Unlock()
	var match []*fakeSandbox
	for _, sb := range c.sbx.byID {
		switch {
		case !sb.view.Running && !req.GetIncludeFinished():
		case req.GetAppId() != "" && sb.view.AppID != req.GetAppId():
		case req.GetAppId() == "" && sb.env != req.GetEnvironmentName():
		case req.GetBeforeTimestamp() != 0 && sb.created >= req.GetBeforeTimestamp():
		case !hasTags(sb.view.Tags, req.GetTags()):
		default:
			match = append(match, sb)
		}
	}
	slices.SortFunc(match, func(a, b *fakeSandbox) int { return b.cmp(a) })
	if len(match) > sandboxListPage {
		match = match[:sandboxListPage]
	}
	infos := make([]*pb.SandboxInfo, 0, len(match))
	for _, sb := range match {
		var tags []*pb.SandboxTag
		for k, v := range sb.view.Tags {
			tags = append(tags, pb.SandboxTag_builder{TagName: k, TagValue: v}.Build())
		}
		infos = append(infos, pb.SandboxInfo_builder{Id: sb.view.ID, CreatedAt: sb.created, AppId: sb.view.AppID,
			Tags: tags, ImageId: sb.view.ImageID, TimeoutSecs: sb.view.TimeoutSecs}.Build())
	}
	return pb.SandboxListResponse_builder{Sandboxes: infos}.Build(), nil
}

func hasTags(have map[string]string, want []*pb.SandboxTag) bool {
	for _, t := range want {
		if v, ok := have[t.GetTagName()]; !ok || v != t.GetTagValue() {
			return false
		}
	}
	return true
}

// TaskGetCommandRouterAccess gives the address of the task command router and
// a JWT for it (task_command_router_client.go, getCommandRouterAccess). The
// SDK refuses any URL that is not https, and dials it without TLS only when
// the profile's server URL is on localhost (profile.isLocalhost() in
// config.go), which MODAL_SERVER_URL=http://127.0.0.1:PORT is: so the router
// is served in plain text behind an https URL.
func (c *ControlPlane) TaskGetCommandRouterAccess(ctx context.Context, req *pb.TaskGetCommandRouterAccessRequest) (*pb.TaskGetCommandRouterAccessResponse, error) {
	if err := c.rpc(ctx, "TaskGetCommandRouterAccess"); err != nil {
		return nil, err
	}
	c.sbx.mu.Lock()
	_, ok := c.sbx.byTask[req.GetTaskId()]
	c.sbx.mu.Unlock()
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Task %s not found", req.GetTaskId())
	}
	r, err := c.startRouter()
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return pb.TaskGetCommandRouterAccessResponse_builder{Jwt: r.jwt, Url: r.url}.Build(), nil
}

// sandboxRPCs are the RPCs a sandbox costs, on the control plane and the
// command router.
var sandboxRPCs = []string{
	"AppGetOrCreate", "EnvironmentGetOrCreate", "ImageGetOrCreate",
	"SandboxCreate", "SandboxCreateV2", "SandboxGetTaskId", "SandboxGetTaskIdV2", "SandboxWait", "SandboxWaitV2",
	"SandboxTerminate", "SandboxTerminateV2", "SandboxList", "SandboxListV2",
	"TaskGetCommandRouterAccess", "SandboxGetCommandRouterAccess",
	"TaskExecStart", "TaskExecWait", "TaskExecStdioRead", "TaskExecStdinWrite", "TaskExecStdinWriteStream",
}

// SandboxRPCs counts every sandbox RPC received so far.
func (c *ControlPlane) SandboxRPCs() int {
	n := 0
	for _, m := range sandboxRPCs {
		n += c.Requests(m)
	}
	return n
}
