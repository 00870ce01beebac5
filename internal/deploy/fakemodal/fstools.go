package fakemodal

// The sandbox filesystem API of the SDK (sandbox_fs.go) runs Modal's own tool
// inside the sandbox, /__modal/.bin/modal-sandbox-fs-tools, with one JSON
// command as its argument (sandbox_fs_utils.go, make*Command), data on stdin,
// and on failure a JSON error payload {"error_kind", "message"} on stderr
// (tryParseErrorPayload). The fake plays that tool for WriteFile, the one
// operation goatbench uses, against the sandbox's local folder.

import (
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	pb "github.com/modal-labs/modal-client/go/proto/modal_proto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// fsToolsPath is sandboxFsToolsPath in sandbox_fs.go.
const fsToolsPath = "/__modal/.bin/modal-sandbox-fs-tools"

// fsWrite is a WriteFile exec waiting for its stdin.
type fsWrite struct {
	path  string // relative to the sandbox folder
	stdin []byte
	ended bool
}

// startFSTool starts a fs-tools exec; called with the sandbox lock held.
func startFSTool(sb *fakeSandbox, e *fakeExec, arg string) error {
	var cmd struct {
		WriteFile *struct {
			Path string `json:"path"`
		}
	}
	if err := json.Unmarshal([]byte(arg), &cmd); err != nil || cmd.WriteFile == nil {
		return status.Errorf(codes.Unimplemented, "the fake fs tools only know WriteFile, not %s", arg)
	}
	rel, ok := strings.CutPrefix(path.Clean(cmd.WriteFile.Path), strings.TrimSuffix(sb.view.Workdir, "/")+"/")
	if !ok || !fs.ValidPath(rel) {
		// Outside the workdir the fake has no folder to stand for it.
		e.finishFS(fsError("PermissionDenied", "Permission denied"))
		return nil
	}
	e.fs = &fsWrite{path: rel}
	return nil
}

func fsError(kind, msg string) []byte {
	b, _ := json.Marshal(map[string]string{"error_kind": kind, "message": msg})
	return b
}

// finishFS ends a fs-tools exec: exit 0, or 1 with the payload on stderr.
func (e *fakeExec) finishFS(errPayload []byte) {
	if errPayload != nil {
		e.code, e.stderr = 1, errPayload
	}
	close(e.done)
}

// writeFS performs the WriteFile once stdin has ended: parents are created,
// the file replaced (the SDK's WriteBytes contract), inside the sandbox folder
// only (os.Root: a symlink left by a command cannot lead the write out of it).
func writeFS(dir string, w *fsWrite) []byte {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fsError("Other", err.Error())
	}
	defer root.Close()
	if d := path.Dir(w.path); d != "." {
		if err := root.MkdirAll(d, 0o755); err != nil {
			return fsError("NotDirectory", "Not a directory")
		}
	}
	if st, err := root.Stat(w.path); err == nil && st.IsDir() {
		return fsError("IsDirectory", "Is a directory")
	}
	if err := root.WriteFile(w.path, w.stdin, 0o644); err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return fsError("PermissionDenied", "Permission denied")
		}
		return fsError("Other", err.Error())
	}
	return nil
}

// TaskExecStdinWriteStream takes a start message (task, exec, offset), data
// chunks and an end message that closes stdin (task_command_router_client.go,
// execStdinWriteStreamAttempt). Only fs-tools execs take stdin in the fake.
func (r *router) TaskExecStdinWriteStream(stream grpc.ClientStreamingServer[pb.TaskExecStdinWriteStreamRequest, pb.TaskExecStdinWriteStreamResponse]) error {
	if err := r.rpc(stream.Context(), "TaskExecStdinWriteStream"); err != nil {
		return err
	}
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	start := first.GetStart()
	if start == nil {
		return status.Error(codes.InvalidArgument, "the first message must be start")
	}
	sb, e, err := r.exec(start.GetTaskId(), start.GetExecId())
	if err != nil {
		return err
	}
	s := &r.c.sbx
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return stream.SendAndClose(&pb.TaskExecStdinWriteStreamResponse{})
		}
		if err != nil {
			return err
		}
		s.mu.Lock()
		w := e.fs
		switch {
		case w == nil || w.ended:
			s.mu.Unlock()
			return status.Error(codes.FailedPrecondition, "stdin is closed")
		case msg.GetEnd() != nil:
			w.ended = true
			e.finishFS(writeFS(sb.view.Dir, w))
		default:
			w.stdin = append(w.stdin, msg.GetData()...)
		}
		s.mu.Unlock()
	}
}
