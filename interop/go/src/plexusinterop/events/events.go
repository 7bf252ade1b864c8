// Package events converts notifier events between the interop JSONL format
// and the generated protobuf messages.
//
// Every line of an events file (and of a plugin's record file) is one JSON
// object. Its "kind" key is "fs", "provider" or "log"; the other keys are the
// proto field names of the matching message, and all of them are always
// present. The Rust side of the interop tests reads and writes the very same
// format, so the decoder is strict: a missing or unknown key is an error
// rather than a silently zeroed field.
//
// Exactness notes:
//   - int64 values go through typed int64 struct fields, which encoding/json
//     parses with strconv.ParseInt and prints with strconv.FormatInt, so the
//     full range round-trips (no float64 detour).
//   - object_data is a []byte field, which encoding/json writes as standard
//     base64 with padding and reads back the same way.
//   - metadata is always written as an object ({} when empty), never null.
package events

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strings"

	pb "plexusinterop/notifierpb"
)

// Kind names used in the "kind" key.
const (
	KindFs       = "fs"
	KindProvider = "provider"
	KindLog      = "log"
)

// Event holds exactly one of the three notifier messages.
type Event struct {
	Fs       *pb.FsEvent
	Provider *pb.ProviderEvent
	Log      *pb.LogEvent
}

// Kind returns the JSON "kind" of the event, or "" if the event is empty.
func (e Event) Kind() string {
	switch {
	case e.Fs != nil:
		return KindFs
	case e.Provider != nil:
		return KindProvider
	case e.Log != nil:
		return KindLog
	}
	return ""
}

// The JSON shapes. Field order follows the .proto so that the written lines
// read naturally; consumers must not depend on key order anyway.

type fsJSON struct {
	Kind              string            `json:"kind"`
	Timestamp         int64             `json:"timestamp"`
	Action            string            `json:"action"`
	Username          string            `json:"username"`
	FsPath            string            `json:"fs_path"`
	FsTargetPath      string            `json:"fs_target_path"`
	SshCmd            string            `json:"ssh_cmd"`
	FileSize          int64             `json:"file_size"`
	Protocol          string            `json:"protocol"`
	Status            int32             `json:"status"`
	Ip                string            `json:"ip"`
	VirtualPath       string            `json:"virtual_path"`
	VirtualTargetPath string            `json:"virtual_target_path"`
	SessionId         string            `json:"session_id"`
	FsProvider        int32             `json:"fs_provider"`
	Bucket            string            `json:"bucket"`
	Endpoint          string            `json:"endpoint"`
	OpenFlags         int32             `json:"open_flags"`
	Role              string            `json:"role"`
	Elapsed           int64             `json:"elapsed"`
	Metadata          map[string]string `json:"metadata"`
}

type providerJSON struct {
	Kind       string `json:"kind"`
	Timestamp  int64  `json:"timestamp"`
	Action     string `json:"action"`
	ObjectType string `json:"object_type"`
	Username   string `json:"username"`
	Ip         string `json:"ip"`
	ObjectName string `json:"object_name"`
	ObjectData []byte `json:"object_data"`
	Role       string `json:"role"`
}

type logJSON struct {
	Kind      string `json:"kind"`
	Timestamp int64  `json:"timestamp"`
	Event     int32  `json:"event"`
	Username  string `json:"username"`
	Protocol  string `json:"protocol"`
	Ip        string `json:"ip"`
	Message   string `json:"message"`
	Role      string `json:"role"`
}

// requiredKeys maps each kind to the sorted set of keys its lines must have,
// derived from the struct tags so the two can never drift apart.
var requiredKeys = map[string][]string{
	KindFs:       jsonKeys(fsJSON{}),
	KindProvider: jsonKeys(providerJSON{}),
	KindLog:      jsonKeys(logJSON{}),
}

func jsonKeys(v interface{}) []string {
	t := reflect.TypeOf(v)
	keys := make([]string, 0, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		name := strings.Split(t.Field(i).Tag.Get("json"), ",")[0]
		keys = append(keys, name)
	}
	sort.Strings(keys)
	return keys
}

// Marshal encodes an event as one JSON object, without a trailing newline.
func Marshal(e Event) ([]byte, error) {
	var v interface{}
	switch {
	case e.Fs != nil:
		m := e.Fs
		md := m.GetMetadata()
		if md == nil {
			md = map[string]string{} // {} rather than null
		}
		v = fsJSON{
			Kind:              KindFs,
			Timestamp:         m.GetTimestamp(),
			Action:            m.GetAction(),
			Username:          m.GetUsername(),
			FsPath:            m.GetFsPath(),
			FsTargetPath:      m.GetFsTargetPath(),
			SshCmd:            m.GetSshCmd(),
			FileSize:          m.GetFileSize(),
			Protocol:          m.GetProtocol(),
			Status:            m.GetStatus(),
			Ip:                m.GetIp(),
			VirtualPath:       m.GetVirtualPath(),
			VirtualTargetPath: m.GetVirtualTargetPath(),
			SessionId:         m.GetSessionId(),
			FsProvider:        m.GetFsProvider(),
			Bucket:            m.GetBucket(),
			Endpoint:          m.GetEndpoint(),
			OpenFlags:         m.GetOpenFlags(),
			Role:              m.GetRole(),
			Elapsed:           m.GetElapsed(),
			Metadata:          md,
		}
	case e.Provider != nil:
		m := e.Provider
		data := m.GetObjectData()
		if data == nil {
			data = []byte{} // "" rather than null: proto3 decodes empty bytes as nil
		}
		v = providerJSON{
			Kind:       KindProvider,
			Timestamp:  m.GetTimestamp(),
			Action:     m.GetAction(),
			ObjectType: m.GetObjectType(),
			Username:   m.GetUsername(),
			Ip:         m.GetIp(),
			ObjectName: m.GetObjectName(),
			ObjectData: data,
			Role:       m.GetRole(),
		}
	case e.Log != nil:
		m := e.Log
		v = logJSON{
			Kind:      KindLog,
			Timestamp: m.GetTimestamp(),
			Event:     m.GetEvent(),
			Username:  m.GetUsername(),
			Protocol:  m.GetProtocol(),
			Ip:        m.GetIp(),
			Message:   m.GetMessage(),
			Role:      m.GetRole(),
		}
	default:
		return nil, errors.New("empty event")
	}

	// json.Marshal would escape <, > and & as \u003c...; that is valid JSON but
	// makes paths and messages harder to read in a record file.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Unmarshal decodes one JSON object (one line of an events file).
func Unmarshal(line []byte) (Event, error) {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(line, &keys); err != nil {
		return Event{}, err
	}
	var kind string
	if raw, ok := keys["kind"]; !ok {
		return Event{}, errors.New(`missing key "kind"`)
	} else if err := json.Unmarshal(raw, &kind); err != nil {
		return Event{}, fmt.Errorf(`bad "kind": %v`, err)
	}
	want, ok := requiredKeys[kind]
	if !ok {
		return Event{}, fmt.Errorf("unknown kind %q", kind)
	}
	if err := checkKeys(keys, want); err != nil {
		return Event{}, fmt.Errorf("%s event: %v", kind, err)
	}

	switch kind {
	case KindFs:
		var j fsJSON
		if err := strictDecode(line, &j); err != nil {
			return Event{}, err
		}
		if j.Metadata == nil {
			return Event{}, errors.New(`fs event: "metadata" must be an object`)
		}
		return Event{Fs: &pb.FsEvent{
			Timestamp:         j.Timestamp,
			Action:            j.Action,
			Username:          j.Username,
			FsPath:            j.FsPath,
			FsTargetPath:      j.FsTargetPath,
			SshCmd:            j.SshCmd,
			FileSize:          j.FileSize,
			Protocol:          j.Protocol,
			Status:            j.Status,
			Ip:                j.Ip,
			VirtualPath:       j.VirtualPath,
			VirtualTargetPath: j.VirtualTargetPath,
			SessionId:         j.SessionId,
			FsProvider:        j.FsProvider,
			Bucket:            j.Bucket,
			Endpoint:          j.Endpoint,
			OpenFlags:         j.OpenFlags,
			Role:              j.Role,
			Elapsed:           j.Elapsed,
			Metadata:          j.Metadata,
		}}, nil
	case KindProvider:
		var j providerJSON
		if err := strictDecode(line, &j); err != nil {
			return Event{}, err
		}
		return Event{Provider: &pb.ProviderEvent{
			Timestamp:  j.Timestamp,
			Action:     j.Action,
			ObjectType: j.ObjectType,
			Username:   j.Username,
			Ip:         j.Ip,
			ObjectName: j.ObjectName,
			ObjectData: j.ObjectData,
			Role:       j.Role,
		}}, nil
	default: // KindLog
		var j logJSON
		if err := strictDecode(line, &j); err != nil {
			return Event{}, err
		}
		return Event{Log: &pb.LogEvent{
			Timestamp: j.Timestamp,
			Event:     j.Event,
			Username:  j.Username,
			Protocol:  j.Protocol,
			Ip:        j.Ip,
			Message:   j.Message,
			Role:      j.Role,
		}}, nil
	}
}

func checkKeys(got map[string]json.RawMessage, want []string) error {
	var missing, unknown []string
	for _, k := range want {
		if _, ok := got[k]; !ok {
			missing = append(missing, k)
		}
	}
	for k := range got {
		if i := sort.SearchStrings(want, k); i == len(want) || want[i] != k {
			unknown = append(unknown, k)
		}
	}
	var problems []string
	if len(missing) > 0 {
		problems = append(problems, fmt.Sprintf("missing keys %q", missing))
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		problems = append(problems, fmt.Sprintf("unknown keys %q", unknown))
	}
	if len(problems) == 0 {
		return nil
	}
	return errors.New(strings.Join(problems, ", "))
}

// strictDecode decodes into a typed struct. Typed fields make encoding/json
// reject fractional or out-of-range numbers instead of rounding them.
func strictDecode(line []byte, v interface{}) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

// Read decodes a JSONL stream. Blank lines are skipped; errors name the line.
func Read(r io.Reader) ([]Event, error) {
	var out []Event
	sc := bufio.NewScanner(r)
	// Provider events carry whole objects as base64; allow long lines.
	sc.Buffer(make([]byte, 64*1024), 64*1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		ev, err := Unmarshal(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", n, err)
		}
		out = append(out, ev)
	}
	return out, sc.Err()
}

// ReadFile decodes the JSONL file at path.
func ReadFile(path string) ([]Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	evs, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return evs, nil
}
