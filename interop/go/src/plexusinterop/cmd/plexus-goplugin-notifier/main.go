// Command plexus-goplugin-notifier is a go-plugin gRPC notifier plugin, built
// the way third-party SFTPGo notifier plugins are. The Plexus interop tests
// start it from the Rust host to check that Plexus speaks the same protocol as
// SFTPGo's Go host.
//
// It is configured through its environment only:
//
//	PLEXUS_RECORD_FILE  every received event is appended to this file as one
//	                    JSON line (the interop events format) before the RPC
//	                    returns. Unset: nothing is recorded, RPCs still succeed.
//	PLEXUS_FAIL_WHILE   while a file exists at this path, every RPC fails with
//	                    codes.Unavailable and the event is not recorded.
//	PLEXUS_ENV_DUMP     at start, the whole environment is written to this file,
//	                    sorted, one KEY=VALUE per line (see dumpEnv).
//	PLEXUS_TCP_RELAY    "1": expose the plugin on loopback TCP through a relay
//	                    (see tcprelay.go), so a host's TCP path meets grpc-go.
//	PLEXUS_DELAY_MS     every RPC waits this many milliseconds first.
//
// Run without the host's magic cookie it prints go-plugin's "This binary is a
// plugin" message and exits 1.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"plexusinterop/events"
	"plexusinterop/notifier"
	pb "plexusinterop/notifierpb"
)

func main() {
	// Hosts parse the plugin's stderr line by line and re-log JSON lines with
	// their level and fields intact, so plugins conventionally log JSON.
	logger := hclog.New(&hclog.LoggerOptions{
		Name:       "plexus-goplugin-notifier",
		Level:      hclog.Info,
		Output:     os.Stderr,
		JSONFormat: true,
	})

	if path := os.Getenv("PLEXUS_ENV_DUMP"); path != "" {
		if err := dumpEnv(path); err != nil {
			logger.Error("cannot dump the environment", "path", path, "error", err)
			os.Exit(1)
		}
	}

	rec, err := openRecorder(os.Getenv("PLEXUS_RECORD_FILE"))
	if err != nil {
		logger.Error("cannot open the record file", "error", err)
		os.Exit(1)
	}
	defer rec.close()

	impl := &recordingNotifier{rec: rec, failWhile: os.Getenv("PLEXUS_FAIL_WHILE")}
	if ms, err := strconv.Atoi(os.Getenv("PLEXUS_DELAY_MS")); err == nil && ms > 0 {
		// Each call takes this long: calls stay in flight, as with a
		// plugin that writes to a slow backend.
		impl.delay = time.Duration(ms) * time.Millisecond
	}

	logger.Info("notifier plugin starting",
		"pid", os.Getpid(),
		"record_file", os.Getenv("PLEXUS_RECORD_FILE"),
		"fail_while", impl.failWhile)

	if os.Getenv("PLEXUS_TCP_RELAY") == "1" {
		if err := startTCPRelay(); err != nil {
			logger.Error("cannot start the tcp relay", "error", err)
			os.Exit(1)
		}
	}

	// Serve returns once the host asks the plugin to shut down (through
	// go-plugin's controller service) or the connection goes away.
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: notifier.Handshake,
		Plugins:         notifier.PluginMap(impl),
		GRPCServer:      plugin.DefaultGRPCServer,
		Logger:          logger,
	})
	logger.Info("notifier plugin stopped")
}

// recordingNotifier implements notifier.Notifier.
type recordingNotifier struct {
	rec       *recorder
	failWhile string
	delay     time.Duration
}

func (n *recordingNotifier) SendFsEvent(_ context.Context, ev *pb.FsEvent) error {
	return n.handle(events.Event{Fs: ev})
}

func (n *recordingNotifier) SendProviderEvent(_ context.Context, ev *pb.ProviderEvent) error {
	return n.handle(events.Event{Provider: ev})
}

func (n *recordingNotifier) SendLogEvent(_ context.Context, ev *pb.LogEvent) error {
	return n.handle(events.Event{Log: ev})
}

func (n *recordingNotifier) handle(ev events.Event) error {
	if n.delay > 0 {
		time.Sleep(n.delay)
	}
	// Checked on every call so a test can switch failures on and off while
	// the plugin runs, e.g. to exercise the host's retry queue.
	if n.failWhile != "" {
		if _, err := os.Stat(n.failWhile); err == nil {
			return status.Errorf(codes.Unavailable, "failing while %s exists", n.failWhile)
		}
	}
	if err := n.rec.record(ev); err != nil {
		return status.Errorf(codes.Internal, "cannot record the %s event: %v", ev.Kind(), err)
	}
	return nil
}

// recorder appends events to a file, one JSON line each. A nil recorder
// records nothing.
type recorder struct {
	mu sync.Mutex
	f  *os.File
}

func openRecorder(path string) (*recorder, error) {
	if path == "" {
		return nil, nil
	}
	// O_APPEND: several plugin processes (restarts, multiple instances) may
	// share one record file, and a test may truncate it between phases.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &recorder{f: f}, nil
}

// record writes the whole line with a single write(2) while holding the lock,
// so concurrent RPCs never interleave and the line is in the file (visible to
// a reader) by the time the RPC returns. No user-space buffering is involved.
func (r *recorder) record(ev events.Event) error {
	if r == nil {
		return nil
	}
	line, err := events.Marshal(ev)
	if err != nil {
		return err
	}
	line = append(line, '\n')

	r.mu.Lock()
	defer r.mu.Unlock()
	_, err = r.f.Write(line)
	return err
}

func (r *recorder) close() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.f.Close()
}

// dumpEnv writes the environment, sorted, one KEY=VALUE per line. Values can
// contain newlines (go-plugin's PLUGIN_CLIENT_CERT is a PEM block), so
// backslash, CR and LF in values are escaped as \\, \r and \n to keep the
// one-line-per-variable shape. The file is written next to its final name and
// renamed, so a reader never sees half of it.
func dumpEnv(path string) error {
	env := os.Environ()
	sort.Strings(env)
	escape := strings.NewReplacer(`\`, `\\`, "\r", `\r`, "\n", `\n`)

	var b strings.Builder
	for _, kv := range env {
		b.WriteString(escape.Replace(kv))
		b.WriteByte('\n')
	}

	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	if _, err := tmp.WriteString(b.String()); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("rename: %v", err)
	}
	return nil
}
