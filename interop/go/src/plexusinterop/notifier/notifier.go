// Package notifier is the go-plugin glue for SFTPGo's notifier plugin type,
// shared by the fixture plugin (server side) and the fixture host (client
// side). It follows the shape every go-plugin gRPC plugin has: a handshake, a
// plugin.GRPCPlugin that registers the server and builds the client, and an
// interface that hides the generated stubs from the rest of the code.
package notifier

import (
	"context"

	"github.com/golang/protobuf/ptypes/empty"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pb "plexusinterop/notifierpb"
)

// PluginName is the key in the plugin map. SFTPGo dispenses plugins by their
// type name, so a notifier plugin must be served under "notifier".
const PluginName = "notifier"

// Handshake is SFTPGo's notifier handshake. Both sides must agree on it: the
// host puts the cookie into the child's environment and the plugin refuses to
// run without it.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "SFTPGO_PLUGIN_NOTIFIER",
	MagicCookieValue: "c499b98b-cd59-4df2-92b3-6268817f4d80",
}

// Notifier is what a notifier plugin implements and what the host calls.
// A returned error means the event was not delivered.
type Notifier interface {
	SendFsEvent(ctx context.Context, ev *pb.FsEvent) error
	SendProviderEvent(ctx context.Context, ev *pb.ProviderEvent) error
	SendLogEvent(ctx context.Context, ev *pb.LogEvent) error
}

// Plugin implements plugin.GRPCPlugin. Impl is only needed on the serving
// side; the host leaves it nil.
type Plugin struct {
	// go-plugin still requires the net/rpc half of the Plugin interface.
	plugin.NetRPCUnsupportedPlugin

	Impl Notifier
}

var _ plugin.GRPCPlugin = (*Plugin)(nil)

// PluginMap is the plugin set both sides use.
func PluginMap(impl Notifier) map[string]plugin.Plugin {
	return map[string]plugin.Plugin{PluginName: &Plugin{Impl: impl}}
}

// GRPCServer registers the notifier service on the plugin's gRPC server.
func (p *Plugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterNotifierServer(s, &grpcServer{impl: p.Impl})
	return nil
}

// GRPCClient returns a Notifier that talks to the plugin over conn.
func (p *Plugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (interface{}, error) {
	return &grpcClient{client: pb.NewNotifierClient(conn)}, nil
}

// grpcServer adapts a Notifier to the generated server interface.
type grpcServer struct {
	impl Notifier
}

func (s *grpcServer) SendFsEvent(ctx context.Context, ev *pb.FsEvent) (*empty.Empty, error) {
	return reply(s.impl.SendFsEvent(ctx, ev))
}

func (s *grpcServer) SendProviderEvent(ctx context.Context, ev *pb.ProviderEvent) (*empty.Empty, error) {
	return reply(s.impl.SendProviderEvent(ctx, ev))
}

func (s *grpcServer) SendLogEvent(ctx context.Context, ev *pb.LogEvent) (*empty.Empty, error) {
	return reply(s.impl.SendLogEvent(ctx, ev))
}

// reply turns an implementation result into a gRPC response. The error is
// passed through unchanged so a status error keeps its code.
func reply(err error) (*empty.Empty, error) {
	if err != nil {
		return nil, err
	}
	return &empty.Empty{}, nil
}

// grpcClient adapts the generated client to Notifier.
type grpcClient struct {
	client pb.NotifierClient
}

func (c *grpcClient) SendFsEvent(ctx context.Context, ev *pb.FsEvent) error {
	_, err := c.client.SendFsEvent(ctx, ev)
	return err
}

func (c *grpcClient) SendProviderEvent(ctx context.Context, ev *pb.ProviderEvent) error {
	_, err := c.client.SendProviderEvent(ctx, ev)
	return err
}

func (c *grpcClient) SendLogEvent(ctx context.Context, ev *pb.LogEvent) error {
	_, err := c.client.SendLogEvent(ctx, ev)
	return err
}
