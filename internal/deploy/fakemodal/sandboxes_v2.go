package fakemodal

// The V2 sandbox backend, which the SDK v0.11.1 uses by default (config.go:
// SandboxV2 "Defaults to true"; MODAL_SANDBOX_V2=false or sandbox_v2 in
// .modal.toml selects V1). Sandboxes.Create then calls ExperimentalCreate
// (sandbox.go): SandboxCreateV2 answers with the task ID and the command
// router's access at once, so neither SandboxGetTaskId nor a router-access
// RPC follows. A sandbox ID that is not of the V1 shape routes every later
// call of that sandbox (wait, terminate, task ID, router access) to its V2
// RPC (getSandboxVersion), and Sandboxes.List calls SandboxListV2.

import (
	"context"
	"math/rand/v2"

	pb "github.com/modal-labs/modal-client/go/proto/modal_proto"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// v2ID is a sandbox ID the SDK does not take for V1: 24 characters after
// "sb-" (isV1SandboxID wants 22).
func v2ID() string {
	const alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 24)
	for i := range b {
		b[i] = alphabet[rand.IntN(len(alphabet))]
	}
	return "sb-" + string(b)
}

// SandboxCreateV2 creates a sandbox like SandboxCreate and returns its task ID
// and command router access with it.
func (c *ControlPlane) SandboxCreateV2(ctx context.Context, req *pb.SandboxCreateV2Request) (*pb.SandboxCreateV2Response, error) {
	if err := c.rpc(ctx, "SandboxCreateV2"); err != nil {
		return nil, err
	}
	sb, err := c.createSandbox(req.GetAppId(), req.GetTags(), req.GetDefinition(), v2ID())
	if err != nil {
		return nil, err
	}
	r, err := c.startRouter()
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return pb.SandboxCreateV2Response_builder{SandboxId: sb.view.ID, TaskId: sb.taskID,
		CommandRouterAccess: pb.CommandRouterAccess_builder{Jwt: r.jwt, Url: r.url}.Build()}.Build(), nil
}

// SandboxGetCommandRouterAccess is TaskGetCommandRouterAccess by sandbox ID
// (task_command_router_client.go, getCommandRouterAccess with isV2).
func (c *ControlPlane) SandboxGetCommandRouterAccess(ctx context.Context, req *pb.SandboxGetCommandRouterAccessRequest) (*pb.SandboxGetCommandRouterAccessResponse, error) {
	if err := c.rpc(ctx, "SandboxGetCommandRouterAccess"); err != nil {
		return nil, err
	}
	if _, err := c.sbx.get(req.GetSandboxId()); err != nil {
		return nil, err
	}
	r, err := c.startRouter()
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return pb.SandboxGetCommandRouterAccessResponse_builder{Jwt: r.jwt, Url: r.url}.Build(), nil
}

// SandboxGetTaskIdV2 is SandboxGetTaskId for V2 sandboxes.
func (c *ControlPlane) SandboxGetTaskIdV2(ctx context.Context, req *pb.SandboxGetTaskIdRequest) (*pb.SandboxGetTaskIdResponse, error) {
	return c.sandboxGetTaskId(ctx, "SandboxGetTaskIdV2", req)
}

// SandboxWaitV2 is SandboxWait for V2 sandboxes.
func (c *ControlPlane) SandboxWaitV2(ctx context.Context, req *pb.SandboxWaitRequest) (*pb.SandboxWaitResponse, error) {
	return c.sandboxWait(ctx, "SandboxWaitV2", req)
}

// SandboxTerminateV2 is SandboxTerminate for V2 sandboxes.
func (c *ControlPlane) SandboxTerminateV2(ctx context.Context, req *pb.SandboxTerminateRequest) (*pb.SandboxTerminateResponse, error) {
	return c.sandboxTerminate(ctx, "SandboxTerminateV2", req)
}

// SandboxListV2 lists V1 and V2 sandboxes alike (ExperimentalList: "lists all
// sandboxes (v1 and v2)"), with SandboxList's filters and paging.
func (c *ControlPlane) SandboxListV2(ctx context.Context, req *pb.SandboxListRequest) (*pb.SandboxListResponse, error) {
	return c.sandboxList(ctx, "SandboxListV2", req)
}
