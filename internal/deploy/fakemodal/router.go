package fakemodal

// The task command router: the second gRPC service of a sandbox, through which
// the SDK starts commands, reads their output and waits for them
// (task_command_router_client.go; ContainerProcess in sandbox.go). The fake
// runs every command for real, in the sandbox's local folder, through a
// goatbench sandbox (bubblewrap where it works).

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	pb "github.com/modal-labs/modal-client/go/proto/modal_proto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/goatbench/goatbench/internal/sandbox"
)

// router serves pb.TaskCommandRouterServer on loopback.
type router struct {
	pb.UnimplementedTaskCommandRouterServer
	c   *ControlPlane
	srv *grpc.Server
	url string
	jwt string
}

// fakeExec is one command started with TaskExecStart.
type fakeExec struct {
	done    chan struct{}
	out     []byte // stdout and stderr, merged (see run below)
	stderr  []byte // only fs-tools execs write stderr on their own
	fs      *fsWrite
	code    int32
	signal  int32 // set instead of code when the command was killed
	lost    bool  // the sandbox died under it
	started time.Time
}

func (c *ControlPlane) startRouter() (*router, error) {
	s := &c.sbx
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.router != nil {
		return s.router, nil
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fake command router: %w", err)
	}
	r := &router{c: c, srv: grpc.NewServer(), jwt: fakeJWT(time.Now().Add(time.Hour)),
		url: "https://" + lis.Addr().String()}
	pb.RegisterTaskCommandRouterServer(r.srv, r)
	go func() { _ = r.srv.Serve(lis) }()
	s.router = r
	return r, nil
}

// stop ends every sandbox and the router.
func (s *sandboxes) stop() {
	s.mu.Lock()
	for _, sb := range s.byID {
		s.end(sb, pb.GenericResult_GENERIC_STATUS_TERMINATED)
	}
	r, root := s.router, s.root
	s.mu.Unlock()
	if r != nil {
		r.srv.Stop()
	}
	if root != "" {
		_ = os.RemoveAll(root)
	}
}

// rpc counts the call, waits out the latency and checks the JWT the SDK sends
// as "authorization: Bearer" (task_command_router_client.go, authContext).
func (r *router) rpc(ctx context.Context, method string) error {
	r.c.count(method)
	if err := r.c.sbx.delay(ctx); err != nil {
		return err
	}
	md, _ := metadata.FromIncomingContext(ctx)
	if first(md, "authorization") != "Bearer "+r.jwt {
		return status.Error(codes.Unauthenticated, "invalid or missing JWT")
	}
	return nil
}

// lost is the error of a call on a sandbox whose container is gone: NotFound,
// one of the codes the SDK reads as "sandbox unavailable" (sandbox_fs_utils.go,
// isSandboxUnavailable) and not one it retries (commandRouterRetryableCodes),
// so the caller learns at once.
func lost(taskID string) error {
	return status.Errorf(codes.NotFound, "task %s is not running: the sandbox has stopped", taskID)
}

func (r *router) exec(taskID, execID string) (*fakeSandbox, *fakeExec, error) {
	s := &r.c.sbx
	s.mu.Lock()
	defer s.mu.Unlock()
	sb, ok := s.byTask[taskID]
	if !ok {
		return nil, nil, status.Errorf(codes.NotFound, "task %s not found", taskID)
	}
	e, ok := sb.execs[execID]
	if !ok {
		return nil, nil, status.Errorf(codes.NotFound, "exec %s not found", execID)
	}
	return sb, e, nil
}

// TaskExecStart starts a command: command_args is the argv, workdir (or the
// sandbox's) its directory, timeout_secs its limit (buildTaskExecStartRequestProto
// in sandbox.go). The fake's sandbox folder stands for the sandbox's workdir,
// so only that directory is accepted.
func (r *router) TaskExecStart(ctx context.Context, req *pb.TaskExecStartRequest) (*pb.TaskExecStartResponse, error) {
	if err := r.rpc(ctx, "TaskExecStart"); err != nil {
		return nil, err
	}
	s := &r.c.sbx
	s.mu.Lock()
	defer s.mu.Unlock()
	sb, ok := s.byTask[req.GetTaskId()]
	switch {
	case !ok:
		return nil, status.Errorf(codes.NotFound, "task %s not found", req.GetTaskId())
	case !sb.view.Running:
		return nil, lost(req.GetTaskId())
	case len(req.GetCommandArgs()) == 0:
		return nil, status.Error(codes.InvalidArgument, "command_args is empty")
	}
	if wd := req.GetWorkdir(); wd != "" && wd != sb.view.Workdir {
		return nil, status.Errorf(codes.InvalidArgument, "the fake runs commands only in the sandbox's workdir %q, not %q", sb.view.Workdir, wd)
	}
	if _, dup := sb.execs[req.GetExecId()]; dup {
		return nil, status.Errorf(codes.AlreadyExists, "exec %s already exists", req.GetExecId())
	}
	sb.view.Execs++
	if s.opts.DieAfter > 0 && sb.view.Execs >= s.opts.DieAfter && hasAllTags(sb.view.Tags, s.opts.DieTags) {
		s.end(sb, pb.GenericResult_GENERIC_STATUS_FAILURE)
		return nil, lost(req.GetTaskId())
	}
	e := &fakeExec{done: make(chan struct{}), started: time.Now()}
	sb.execs[req.GetExecId()] = e
	if args := req.GetCommandArgs(); args[0] == fsToolsPath && len(args) == 2 {
		return &pb.TaskExecStartResponse{}, startFSTool(sb, e, args[1])
	}
	run := s.commands()
	timeout := time.Duration(req.GetTimeoutSecs()) * time.Second
	if timeout == 0 {
		timeout = time.Duration(sb.view.TimeoutSecs) * time.Second // the sandbox's own lifetime bounds it
	}
	go func() {
		defer close(e.done)
		// The goatbench sandboxes run `bash -c script` with stdout and stderr
		// on one pipe; the argv is quoted into such a script, and everything
		// it printed is delivered as stdout.
		res, err := run.Run(sb.ctx, sandbox.Command{Dir: sb.view.Dir, Script: commandLine(req.GetCommandArgs()),
			Timeout: timeout, OutputCap: 16 << 20})
		s.mu.Lock()
		defer s.mu.Unlock()
		e.out = []byte(res.Output)
		switch {
		case sb.ctx.Err() != nil || err != nil:
			e.lost = true
		case res.TimedOut || res.ExitCode < 0:
			e.signal = 9 // killed
		default:
			e.code = int32(res.ExitCode)
		}
	}()
	return &pb.TaskExecStartResponse{}, nil
}

func hasAllTags(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// commandLine makes argv one bash command line.
func commandLine(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

// TaskExecWait answers once the command has exited, with its exit code, or
// the signal that killed it (TaskExecWaitResponse's exit_status oneof; the
// SDK maps a signal to 128+signal in ContainerProcess.Wait). The SDK bounds
// each call to 60 s and asks again (ExecWait), so the fake holds the call at
// most that long.
func (r *router) TaskExecWait(ctx context.Context, req *pb.TaskExecWaitRequest) (*pb.TaskExecWaitResponse, error) {
	if err := r.rpc(ctx, "TaskExecWait"); err != nil {
		return nil, err
	}
	_, e, err := r.exec(req.GetTaskId(), req.GetExecId())
	if err != nil {
		return nil, err
	}
	select {
	case <-e.done:
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	r.c.sbx.mu.Lock()
	defer r.c.sbx.mu.Unlock()
	switch {
	case e.lost:
		return nil, lost(req.GetTaskId())
	case e.signal != 0:
		return pb.TaskExecWaitResponse_builder{Signal: &e.signal}.Build(), nil
	}
	return pb.TaskExecWaitResponse_builder{Code: &e.code}.Build(), nil
}

// stdioChunk is the most output one TaskExecStdioRead message carries.
const stdioChunk = 64 << 10

// TaskExecStdioRead streams a command's stdout or stderr from the requested
// offset, then ends the stream (io.EOF to the SDK's execStdioReader). The fake
// sends the output once the command has exited; a command's stderr is empty,
// as the local sandbox merges it into stdout.
func (r *router) TaskExecStdioRead(req *pb.TaskExecStdioReadRequest, stream grpc.ServerStreamingServer[pb.TaskExecStdioReadResponse]) error {
	ctx := stream.Context()
	if err := r.rpc(ctx, "TaskExecStdioRead"); err != nil {
		return err
	}
	_, e, err := r.exec(req.GetTaskId(), req.GetExecId())
	if err != nil {
		return err
	}
	select {
	case <-e.done:
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}
	r.c.sbx.mu.Lock()
	out, gone := e.out, e.lost
	if req.GetFileDescriptor() != pb.TaskExecStdioFileDescriptor_TASK_EXEC_STDIO_FILE_DESCRIPTOR_STDOUT {
		out = e.stderr
	}
	r.c.sbx.mu.Unlock()
	if gone {
		return lost(req.GetTaskId())
	}
	off := min(int(req.GetOffset()), len(out))
	for data := out[off:]; len(data) > 0; {
		n := min(len(data), stdioChunk)
		if err := stream.Send(pb.TaskExecStdioReadResponse_builder{Data: data[:n]}.Build()); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

// TaskExecStdinWrite is refused: the local sandbox gives its commands no
// stdin, and goatbench's Modal workspace never writes any (it passes data in
// the command's arguments).
func (r *router) TaskExecStdinWrite(ctx context.Context, _ *pb.TaskExecStdinWriteRequest) (*pb.TaskExecStdinWriteResponse, error) {
	if err := r.rpc(ctx, "TaskExecStdinWrite"); err != nil {
		return nil, err
	}
	return nil, status.Error(codes.Unimplemented, "the fake command router takes no stdin")
}

// RouterURL is the address TaskGetCommandRouterAccess hands out; "" before
// the first sandbox asked for it.
func (c *ControlPlane) RouterURL() string {
	c.sbx.mu.Lock()
	defer c.sbx.mu.Unlock()
	if c.sbx.router == nil {
		return ""
	}
	return c.sbx.router.url
}
