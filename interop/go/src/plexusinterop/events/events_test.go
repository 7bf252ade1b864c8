package events

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

const sample = `{"kind":"fs","timestamp":-9223372036854775808,"action":"upload","username":"jürgen","fs_path":"/srv/日本/ファイル.txt","fs_target_path":"","ssh_cmd":"","file_size":9223372036854775807,"protocol":"SFTP","status":1,"ip":"::1","virtual_path":"/日本/ファイル.txt","virtual_target_path":"","session_id":"s1","fs_provider":0,"bucket":"","endpoint":"","open_flags":577,"role":"","elapsed":-1,"metadata":{"k":"v","ключ":"значение"}}
{"kind":"fs","timestamp":0,"action":"","username":"","fs_path":"","fs_target_path":"","ssh_cmd":"","file_size":0,"protocol":"","status":0,"ip":"","virtual_path":"","virtual_target_path":"","session_id":"","fs_provider":0,"bucket":"","endpoint":"","open_flags":0,"role":"","elapsed":0,"metadata":{}}
{"kind":"provider","timestamp":9223372036854775807,"action":"add","object_type":"user","username":"admin","ip":"10.0.0.1","object_name":"ünïcode","object_data":"eyJhIjoxfQ==","role":"r"}
{"kind":"provider","timestamp":1,"action":"","object_type":"","username":"","ip":"","object_name":"","object_data":"","role":""}
{"kind":"log","timestamp":-9223372036854775808,"event":-2147483648,"username":"u","protocol":"SSH","ip":"1.2.3.4","message":"a <b> & \"c\" \\ \n 🚀","role":""}
`

func TestRoundTrip(t *testing.T) {
	evs, err := Read(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(sample), "\n")
	if len(evs) != len(lines) {
		t.Fatalf("got %d events, want %d", len(evs), len(lines))
	}
	for i, ev := range evs {
		out, err := Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		// Compare as JSON values, numbers kept as their literal text.
		if !reflect.DeepEqual(parse(t, out), parse(t, []byte(lines[i]))) {
			t.Errorf("line %d:\n got %s\nwant %s", i+1, out, lines[i])
		}
	}
	if got := evs[0].Fs.Timestamp; got != -9223372036854775808 {
		t.Errorf("timestamp %d", got)
	}
	if got := string(evs[2].Provider.ObjectData); got != `{"a":1}` {
		t.Errorf("object_data %q", got)
	}
}

func parse(t *testing.T, b []byte) interface{} {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	var v interface{}
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestRejects(t *testing.T) {
	for _, line := range []string{
		`{"kind":"log","timestamp":1,"event":1,"username":"","protocol":"","ip":"","message":""}`,                 // missing role
		`{"kind":"log","timestamp":1,"event":1,"username":"","protocol":"","ip":"","message":"","role":"","x":1}`, // unknown key
		`{"kind":"log","timestamp":1.5,"event":1,"username":"","protocol":"","ip":"","message":"","role":""}`,     // fractional int
		`{"kind":"log","timestamp":9223372036854775808,"event":1,"username":"","protocol":"","ip":"","message":"","role":""}`,
		`{"kind":"log","timestamp":1,"event":2147483648,"username":"","protocol":"","ip":"","message":"","role":""}`,
		`{"kind":"provider","timestamp":1,"action":"","object_type":"","username":"","ip":"","object_name":"","object_data":"eyJhIjoxfQ","role":""}`, // unpadded
		`{"kind":"nope"}`,
		`{"timestamp":1}`,
	} {
		if _, err := Unmarshal([]byte(line)); err == nil {
			t.Errorf("accepted %s", line)
		}
	}
}
