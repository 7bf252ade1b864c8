// Command plexus-gohost is a go-plugin host for notifier plugins, built the
// way SFTPGo's host is: a go-plugin client restricted to gRPC, SFTPGo's
// notifier handshake, optional AutoMTLS, a plugin map holding "notifier", an
// unmanaged client and a child environment that does not inherit the host's.
// The Plexus interop tests use it to drive plugins written with the Plexus
// Rust SDK, proving they work under a real Go host.
//
// It reads a JSONL events file (see package events), sends every event with
// the unary RPC matching its kind, waits for all of them, shuts the plugin
// down and prints one JSON summary line on stdout:
//
//	{"sent":N,"failed":F,"elapsed_ns":T,"events_per_sec":X,"latency_ns":{"p50":..,"p99":..,"max":..}}
//
// sent counts every RPC issued (events x repeat), failed the ones among them
// that returned an error. Exit status: 0 when every RPC succeeded, 1 when any
// failed or the plugin could not be started, 2 for usage or input errors.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"

	"plexusinterop/events"
	"plexusinterop/notifier"
)

// envFlag collects repeated -env KEY=VALUE flags.
type envFlag []string

func (e *envFlag) String() string { return strings.Join(*e, " ") }

func (e *envFlag) Set(v string) error {
	if i := strings.IndexByte(v, '='); i <= 0 {
		return errors.New("want KEY=VALUE")
	}
	*e = append(*e, v)
	return nil
}

type options struct {
	pluginPath  string
	pluginArgs  string
	eventsPath  string
	env         envFlag
	autoMTLS    bool
	concurrency int
	timeout     time.Duration
	repeat      int
	logLevel    string
}

// summary is the line printed on stdout.
type summary struct {
	Sent         int     `json:"sent"`
	Failed       int64   `json:"failed"`
	ElapsedNs    int64   `json:"elapsed_ns"`
	EventsPerSec float64 `json:"events_per_sec"`
	LatencyNs    latency `json:"latency_ns"`
}

type latency struct {
	P50 int64 `json:"p50"`
	P99 int64 `json:"p99"`
	Max int64 `json:"max"`
}

// maxLoggedFailures bounds the per-RPC error lines of a failing throughput run.
const maxLoggedFailures = 10

func main() {
	var o options
	flag.StringVar(&o.pluginPath, "plugin", "", "plugin executable (required)")
	flag.StringVar(&o.pluginArgs, "args", "", "space separated arguments for the plugin")
	flag.StringVar(&o.eventsPath, "events", "", "JSONL file of events to send (required)")
	flag.Var(&o.env, "env", "KEY=VALUE for the plugin's environment (repeatable); the host's own environment is not passed on")
	flag.BoolVar(&o.autoMTLS, "auto-mtls", false, "negotiate go-plugin AutoMTLS with the plugin")
	flag.IntVar(&o.concurrency, "concurrency", 250, "max RPCs in flight; 1 sends strictly sequentially in file order")
	flag.DurationVar(&o.timeout, "timeout", 20*time.Second, "timeout of each RPC")
	flag.IntVar(&o.repeat, "repeat", 1, "send the whole events file this many times")
	flag.StringVar(&o.logLevel, "log-level", "info", "host log level: trace, debug, info, warn, error")
	flag.Parse()

	if err := o.validate(); err != nil {
		fmt.Fprintf(os.Stderr, "plexus-gohost: %v\n", err)
		flag.Usage()
		os.Exit(2)
	}

	// go-plugin logs the plugin's stderr through this logger (under a
	// sub-logger named after the executable), keeping JSON fields and levels.
	logger := hclog.New(&hclog.LoggerOptions{
		Name:   "plexus-gohost",
		Level:  hclog.LevelFromString(o.logLevel),
		Output: os.Stderr,
	})

	evs, err := events.ReadFile(o.eventsPath)
	if err != nil {
		fmt.Fprintf(os.Stderr, "plexus-gohost: reading events: %v\n", err)
		os.Exit(2)
	}

	client, impl, err := startPlugin(o, logger)
	if err != nil {
		fmt.Fprintf(os.Stderr, "plexus-gohost: starting plugin %s: %v\n", o.pluginPath, err)
		os.Exit(1)
	}

	// Managed is false, so nothing else will stop the child if we are
	// interrupted: do it here rather than leave an orphaned plugin behind.
	sigCh := make(chan os.Signal, 1)
	signal.Notify(sigCh, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-sigCh
		logger.Warn("interrupted, stopping the plugin", "signal", sig.String())
		client.Kill()
		os.Exit(1)
	}()

	sum := run(o, impl, evs, logger)

	// Graceful: go-plugin calls the controller's Shutdown RPC and waits for
	// the process to exit, killing it only if that takes more than 2s.
	client.Kill()

	out, err := json.Marshal(sum)
	if err != nil {
		fmt.Fprintf(os.Stderr, "plexus-gohost: %v\n", err)
		os.Exit(1)
	}
	fmt.Println(string(out))

	if sum.Failed > 0 {
		fmt.Fprintf(os.Stderr, "plexus-gohost: %d of %d RPCs failed\n", sum.Failed, sum.Sent)
		os.Exit(1)
	}
}

func (o *options) validate() error {
	switch {
	case flag.NArg() > 0:
		return fmt.Errorf("unexpected arguments %q", flag.Args())
	case o.pluginPath == "":
		return errors.New("-plugin is required")
	case o.eventsPath == "":
		return errors.New("-events is required")
	case o.concurrency < 1:
		return errors.New("-concurrency must be at least 1")
	case o.repeat < 1:
		return errors.New("-repeat must be at least 1")
	case o.timeout <= 0:
		return errors.New("-timeout must be positive")
	}
	return nil
}

// startPlugin launches the plugin, completes the go-plugin handshake and
// dispenses the notifier. On error the child (if any) has been stopped.
func startPlugin(o options, logger hclog.Logger) (*plugin.Client, notifier.Notifier, error) {
	// Resolve the executable while the host environment (PATH) is intact.
	cmd := exec.Command(o.pluginPath, strings.Fields(o.pluginArgs)...)
	// The child gets exactly the -env variables, plus what go-plugin appends
	// itself (see startWithoutHostEnv). A non-nil empty slice on purpose: a
	// nil Env means "inherit" to os/exec.
	cmd.Env = append([]string{}, o.env...)

	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  notifier.Handshake,
		Plugins:          notifier.PluginMap(nil),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         o.autoMTLS,
		Managed:          false,
		Logger:           logger,
	})

	rpcClient, err := startWithoutHostEnv(client)
	if err != nil {
		client.Kill()
		return nil, nil, err
	}
	raw, err := rpcClient.Dispense(notifier.PluginName)
	if err != nil {
		client.Kill()
		return nil, nil, fmt.Errorf("dispensing %q: %v", notifier.PluginName, err)
	}
	impl, ok := raw.(notifier.Notifier)
	if !ok {
		client.Kill()
		return nil, nil, fmt.Errorf("dispensed %T, not a notifier", raw)
	}
	return client, impl, nil
}

// startWithoutHostEnv starts the plugin process with the host's environment
// hidden from it.
//
// SFTPGo sets go-plugin's ClientConfig.SkipHostEnv so its plugins do not
// inherit the server's environment. go-plugin 1.0.1 (the Debian package we
// build against) has no such option: Client.Start always builds the child's
// environment as cmd.Env + os.Environ() + its own variables (the magic
// cookie, PLUGIN_MIN_PORT, PLUGIN_MAX_PORT, PLUGIN_PROTOCOL_VERSIONS and, with
// AutoMTLS, PLUGIN_CLIENT_CERT). To get the SkipHostEnv result we empty our
// own environment for the duration of Start, so os.Environ() contributes
// nothing, and restore it afterwards. Nothing else in the host runs
// concurrently at this point, so no other code observes the empty
// environment.
func startWithoutHostEnv(client *plugin.Client) (plugin.ClientProtocol, error) {
	saved := os.Environ()
	os.Clearenv()
	defer func() {
		for _, kv := range saved {
			if i := strings.IndexByte(kv, '='); i > 0 {
				os.Setenv(kv[:i], kv[i+1:])
			}
		}
	}()
	// Client() runs Start (spawn + handshake) and then dials the plugin.
	return client.Client()
}

// run sends every event repeat times. Like SFTPGo, each event gets its own
// goroutine; a semaphore caps how many are in flight. The slot is taken
// before the goroutine is spawned, so with -concurrency 1 each RPC starts only
// after the previous one returned, in file order.
func run(o options, impl notifier.Notifier, evs []events.Event, logger hclog.Logger) summary {
	total := len(evs) * o.repeat
	latencies := make([]time.Duration, total)
	var failed int64

	sem := make(chan struct{}, o.concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < total; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func(i int, ev events.Event) {
			defer func() {
				<-sem
				wg.Done()
			}()
			ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
			defer cancel()

			t0 := time.Now()
			err := send(ctx, impl, ev)
			latencies[i] = time.Since(t0)

			if err != nil {
				if n := atomic.AddInt64(&failed, 1); n <= maxLoggedFailures {
					logger.Error("RPC failed", "index", i, "kind", ev.Kind(), "error", err)
				}
			}
		}(i, evs[i%len(evs)])
	}
	wg.Wait()
	elapsed := time.Since(start)

	if failed > maxLoggedFailures {
		logger.Error("more RPCs failed", "not_logged", failed-maxLoggedFailures)
	}

	sum := summary{
		Sent:      total,
		Failed:    failed,
		ElapsedNs: elapsed.Nanoseconds(),
		LatencyNs: percentiles(latencies),
	}
	if total > 0 && elapsed > 0 {
		sum.EventsPerSec = float64(total) / elapsed.Seconds()
	}
	return sum
}

func send(ctx context.Context, impl notifier.Notifier, ev events.Event) error {
	switch {
	case ev.Fs != nil:
		return impl.SendFsEvent(ctx, ev.Fs)
	case ev.Provider != nil:
		return impl.SendProviderEvent(ctx, ev.Provider)
	case ev.Log != nil:
		return impl.SendLogEvent(ctx, ev.Log)
	}
	return errors.New("empty event")
}

// percentiles uses the nearest-rank method; it sorts d in place.
func percentiles(d []time.Duration) latency {
	if len(d) == 0 {
		return latency{}
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	rank := func(p float64) int64 {
		i := int(math.Ceil(p*float64(len(d)))) - 1
		if i < 0 {
			i = 0
		}
		return d[i].Nanoseconds()
	}
	return latency{P50: rank(0.50), P99: rank(0.99), Max: d[len(d)-1].Nanoseconds()}
}
