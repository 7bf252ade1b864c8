//! Go's own `encoding/gob` decodes what the NATS publisher sends without
//! `natsv2`, exactly as Go CDK's subscriber does (`Decode` into a
//! `map[string]string`, then into a `[]byte`): one, two and three metadata
//! keys, and bodies whose lengths take one, two and three bytes. Needs the
//! `go` tool (Debian's golang-go, installed by `.ci/run`); without it the
//! test fails, it is not skipped.

use plexus_pubsub::gob;
use std::process::Command;

const DECODER: &str = r#"package main

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"fmt"
	"os"
)

func main() {
	for _, path := range os.Args[1:] {
		data, err := os.ReadFile(path)
		if err != nil {
			panic(err)
		}
		dec := gob.NewDecoder(bytes.NewReader(data))
		var metadata map[string]string
		if err := dec.Decode(&metadata); err != nil {
			fmt.Fprintln(os.Stderr, path, "metadata:", err)
			os.Exit(2)
		}
		var body []byte
		if err := dec.Decode(&body); err != nil {
			fmt.Fprintln(os.Stderr, path, "body:", err)
			os.Exit(2)
		}
		out, _ := json.Marshal(map[string]interface{}{"metadata": metadata, "body": string(body)})
		fmt.Println(string(out))
	}
}
"#;

#[test]
fn go_decodes_the_gob_stream() {
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("decode.go");
    std::fs::write(&program, DECODER).unwrap();
    let cases: Vec<(Vec<(&str, &str)>, String)> = vec![
        (vec![("action", "upload")], r#"{"a":1}"#.to_owned()),
        (
            vec![("action", "add"), ("object_type", "user")],
            format!(r#"{{"x":"{}"}}"#, "y".repeat(300)),
        ),
        (
            vec![("action", "log"), ("event", "1"), ("é", "a b")],
            format!(r#"{{"x":"{}"}}"#, "z".repeat(70_000)),
        ),
    ];
    let mut files = Vec::new();
    for (n, (metadata, body)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("case{n}.bin"));
        std::fs::write(&path, gob::encode(metadata, body.as_bytes())).unwrap();
        files.push(path);
    }
    let out = Command::new("go")
        .arg("run")
        .arg(&program)
        .args(&files)
        .env("GO111MODULE", "off")
        .env("GOFLAGS", "")
        .env("GOPATH", dir.path().join("gopath"))
        .env("GOCACHE", dir.path().join("gocache"))
        .output()
        .unwrap_or_else(|err| {
            panic!("cannot run `go` ({err}): this test needs Debian's golang-go (installed by .ci/run)")
        });
    assert!(
        out.status.success(),
        "Go could not decode the gob stream: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("decoder output"))
        .collect();
    assert_eq!(lines.len(), cases.len());
    for ((metadata, body), got) in cases.iter().zip(&lines) {
        assert_eq!(got["body"], serde_json::Value::String(body.clone()));
        let expected: serde_json::Map<String, serde_json::Value> = metadata
            .iter()
            .map(|(k, v)| ((*k).to_owned(), serde_json::Value::String((*v).to_owned())))
            .collect();
        assert_eq!(got["metadata"], serde_json::Value::Object(expected));
    }
}
