// Command plexus-publish publishes upload events to a running `plexus serve`
// with Go's standard gRPC client, over its unix socket or over TCP with the
// ingestion token. It is the Go example of the README's "Publishing from
// other languages", and the interop tests run it against the daemon.
//
// Usage:
//
//	plexus-publish -target unix:///path/to/plexus.sock -n 10
//	PLEXUS_INGEST_TOKEN=... plexus-publish -target 127.0.0.1:7878 -n 10
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	bus "plexusinterop/eventbuspb"
	pb "plexusinterop/notifierpb"
)

func main() {
	target := flag.String("target", "", "unix:///path/to/plexus.sock, or host:port")
	count := flag.Int("n", 10, "events to publish: the first with Publish, the rest in one PublishBatch")
	user := flag.String("user", "go-client", "the events' username")
	flag.Parse()
	if *target == "" || *count < 1 {
		fmt.Fprintln(os.Stderr, "usage: plexus-publish -target TARGET [-n COUNT] [-user NAME]")
		os.Exit(2)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Over TCP the daemon wants `authorization: Bearer <token>`.
	if token := os.Getenv("PLEXUS_INGEST_TOKEN"); token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	}
	conn, err := grpc.DialContext(ctx, *target, grpc.WithInsecure(), grpc.WithBlock())
	if err != nil {
		fmt.Fprintf(os.Stderr, "plexus-publish: cannot connect to %s: %v\n", *target, err)
		os.Exit(1)
	}
	defer conn.Close()
	client := bus.NewEventBusClient(conn)

	upload := func(i int) *bus.Event {
		return &bus.Event{Kind: &bus.Event_Fs{Fs: &pb.FsEvent{
			Timestamp:   time.Now().UnixNano(),
			Action:      "upload",
			Username:    *user,
			FsPath:      fmt.Sprintf("/srv/%s/file-%d", *user, i),
			VirtualPath: fmt.Sprintf("/file-%d", i),
			Protocol:    "SFTP",
			Status:      1,
			FileSize:    int64(1024 * i),
			Ip:          "127.0.0.1",
		}}}
	}

	reply, err := client.Publish(ctx, &bus.PublishRequest{Event: upload(0)})
	if err != nil {
		fmt.Fprintf(os.Stderr, "plexus-publish: Publish: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("Publish: %d notifiers matched\n", reply.Targets)

	if *count > 1 {
		batch := &bus.PublishBatchRequest{}
		for i := 1; i < *count; i++ {
			batch.Events = append(batch.Events, upload(i))
		}
		batchReply, err := client.PublishBatch(ctx, batch)
		if err != nil {
			fmt.Fprintf(os.Stderr, "plexus-publish: PublishBatch: %v\n", err)
			os.Exit(1)
		}
		if batchReply.Error != "" {
			fmt.Fprintf(os.Stderr, "plexus-publish: PublishBatch accepted %d of %d: %s\n",
				batchReply.Accepted, len(batch.Events), batchReply.Error)
			os.Exit(1)
		}
		fmt.Printf("PublishBatch: %d accepted\n", batchReply.Accepted)
	}
}
