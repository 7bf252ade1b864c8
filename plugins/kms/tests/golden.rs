//! The local Secretbox layer against an independent implementation
//! (`testdata/secretbox_vectors.py`: PyNaCl + cryptography's HKDF): the
//! committed vectors (mode 1 with a master key, legacy mode 0) open here
//! and are reproduced byte for byte from the same R and nonce, and fresh
//! secrets sealed here open in the script.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use plexus_kms::secretbox::{open, seal, seal_with};
use serde::Deserialize;

#[derive(Deserialize)]
struct Vector {
    name: String,
    plaintext: String,
    additional_data: String,
    master_key: String,
    mode: i32,
    key: String,
    nonce: String,
    payload: String,
}

fn vectors() -> Vec<Vector> {
    let vectors: Vec<Vector> =
        serde_json::from_str(include_str!("../testdata/secretbox-vectors.json")).unwrap();
    assert!(vectors.len() >= 6);
    assert!(vectors.iter().any(|v| v.mode == 0) && vectors.iter().any(|v| v.mode == 1));
    vectors
}

#[test]
fn the_vectors_open() {
    for v in vectors() {
        let opened = open(
            &v.payload,
            &v.key,
            &v.additional_data,
            v.mode,
            &v.master_key,
        );
        assert_eq!(opened.as_deref(), Ok(v.plaintext.as_str()), "{}", v.name);
        if !v.additional_data.is_empty() {
            assert!(
                open(&v.payload, &v.key, "someone-else", v.mode, &v.master_key).is_err(),
                "{}",
                v.name
            );
        }
    }
}

#[test]
fn sealing_reproduces_the_mode_1_vectors() {
    for v in vectors().into_iter().filter(|v| v.mode == 1) {
        let salt = hex::decode(&v.key).unwrap();
        let nonce = hex::decode(&v.nonce).unwrap();
        let sealed = seal_with(
            &v.plaintext,
            &v.additional_data,
            &v.master_key,
            &salt,
            &nonce,
        )
        .unwrap();
        assert_eq!(sealed.payload, v.payload, "{}", v.name);
        assert_eq!(sealed.key, v.key);
        assert_eq!(sealed.mode, 1);
    }
}

#[test]
fn the_independent_implementation_opens_what_is_sealed_here() {
    let cases = [
        ("a secret", "alice", "master key one"),
        ("pässwörd ✓", "", "k2"),
        (
            "x",
            "node.example.com",
            "another master key, longer than thirty-two bytes",
        ),
    ];
    let secrets: Vec<serde_json::Value> = cases
        .iter()
        .map(|(plaintext, ad, master_key)| {
            let sealed = seal(plaintext, ad, master_key).unwrap();
            serde_json::json!({"payload": sealed.payload, "key": sealed.key,
                "additional_data": ad, "mode": sealed.mode, "master_key": master_key})
        })
        .collect();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/secretbox_vectors.py");
    let mut child = Command::new("python3")
        .arg(&script)
        .arg("open")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 must be installed (plugins/kms/tests/setup.sh)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&secrets).unwrap().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "the script failed (PyNaCl and cryptography are installed by plugins/kms/tests/setup.sh): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let opened: Vec<String> = serde_json::from_slice(&output.stdout).unwrap();
    let expected: Vec<&str> = cases.iter().map(|c| c.0).collect();
    assert_eq!(opened, expected);
}
