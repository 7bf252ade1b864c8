package main

// go-plugin servers listen on a unix socket everywhere but Windows, so a Go
// plugin cannot exercise a host's TCP path on Linux by itself. With
// PLEXUS_TCP_RELAY=1 this plugin puts a byte-level relay in front of its own
// socket: it captures the handshake line go-plugin prints, listens on
// 127.0.0.1 inside PLUGIN_MIN_PORT..PLUGIN_MAX_PORT, forwards every
// connection to the unix socket unchanged (TLS stays end to end between the
// host and grpc-go), and prints the same handshake line with network `tcp`
// and the relay's address.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
)

// startTCPRelay replaces os.Stdout with a pipe and returns once the relay
// goroutine is reading it; the real stdout receives the rewritten line.
func startTCPRelay() error {
	realStdout := os.Stdout
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	os.Stdout = w
	go func() {
		reader := bufio.NewReader(r)
		line, err := reader.ReadString('\n')
		if err != nil {
			fmt.Fprintf(os.Stderr, "tcp relay: reading the handshake: %v\n", err)
			os.Exit(1)
		}
		parts := strings.Split(strings.TrimSpace(line), "|")
		if len(parts) < 4 || parts[2] != "unix" {
			fmt.Fprintf(os.Stderr, "tcp relay: unexpected handshake %q\n", line)
			os.Exit(1)
		}
		socket := parts[3]
		listener, err := listenInPortRange()
		if err != nil {
			fmt.Fprintf(os.Stderr, "tcp relay: %v\n", err)
			os.Exit(1)
		}
		go relayConnections(listener, socket)
		parts[2] = "tcp"
		parts[3] = listener.Addr().String()
		fmt.Fprintln(realStdout, strings.Join(parts, "|"))
		realStdout.Sync()
		io.Copy(realStdout, reader)
	}()
	return nil
}

func listenInPortRange() (net.Listener, error) {
	minPort, err1 := strconv.Atoi(os.Getenv("PLUGIN_MIN_PORT"))
	maxPort, err2 := strconv.Atoi(os.Getenv("PLUGIN_MAX_PORT"))
	if err1 != nil || err2 != nil || minPort <= 0 || maxPort < minPort {
		return nil, fmt.Errorf("PLUGIN_MIN_PORT/PLUGIN_MAX_PORT missing or invalid")
	}
	for port := minPort; port <= maxPort; port++ {
		listener, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			return listener, nil
		}
	}
	return nil, fmt.Errorf("no free port in %d-%d", minPort, maxPort)
}

func relayConnections(listener net.Listener, socket string) {
	for {
		conn, err := listener.Accept()
		if err != nil {
			return
		}
		go func(client net.Conn) {
			defer client.Close()
			upstream, err := net.Dial("unix", socket)
			if err != nil {
				return
			}
			defer upstream.Close()
			done := make(chan struct{}, 2)
			go func() { io.Copy(upstream, client); done <- struct{}{} }()
			go func() { io.Copy(client, upstream); done <- struct{}{} }()
			<-done
		}(conn)
	}
}
