//! Test databases: MaxMind's own test files (fetched once into the target
//! directory by `tests/fetch-testdata.sh`, never committed) and small
//! databases written here with a Rust mmdb writer, for the layouts and edge
//! cases MaxMind's files do not have.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use ipnet::IpNet;
use mmdb_writer::{IpVersion, Value, Writer};

/// `target/testdata/maxmind`: where the fetched files are cached.
fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/testdata/maxmind")
}

/// A MaxMind test database by name (`GeoIP2-Country-Test.mmdb`, ...),
/// fetched on first use. Panics with the script's output when it cannot be
/// fetched: these tests are never skipped.
pub fn maxmind(name: &str) -> PathBuf {
    static FETCHED: OnceLock<()> = OnceLock::new();
    FETCHED.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fetch-testdata.sh");
        let output = Command::new("bash")
            .arg(&script)
            .arg(cache_dir())
            .output()
            .expect("run tests/fetch-testdata.sh");
        assert!(
            output.status.success(),
            "cannot fetch MaxMind's test databases (python3 -m pip download maxminddb==3.2.0): {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    });
    let path = cache_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing after the fetch",
        path.display()
    );
    path
}

fn net(text: &str) -> IpNet {
    text.parse().expect("a network")
}

/// What a record holds.
pub enum Record<'a> {
    /// `{"country": {"iso_code": code}}` (MaxMind layout).
    MaxMind(&'a str),
    /// `{"country_code": code}` (IPLocate / IPinfo layout).
    CountryCode(&'a str),
    /// `{"country": {"names": {"en": ...}}}`: a country without a code.
    NoCode,
    /// `{"country": {"iso_code": 42}}`: a code that is not a string.
    NumericCode,
}

impl Record<'_> {
    fn value(&self) -> Value {
        match self {
            Record::MaxMind(code) => {
                Value::map([("country", Value::map([("iso_code", Value::from(*code))]))])
            }
            Record::CountryCode(code) => Value::map([
                ("country_code", Value::from(*code)),
                ("country", Value::from("Somewhere")),
            ]),
            Record::NoCode => Value::map([(
                "country",
                Value::map([("names", Value::map([("en", Value::from("Nowhere"))]))]),
            )]),
            Record::NumericCode => {
                Value::map([("country", Value::map([("iso_code", Value::from(42u32))]))])
            }
        }
    }
}

/// Writes a database with these networks to `path`.
pub fn write_db(path: &Path, ip_version: IpVersion, records: &[(&str, Record<'_>)]) {
    let mut writer = Writer::builder("Plexus-Test-Country")
        .ip_version(ip_version)
        .build();
    for (network, record) in records {
        writer
            .insert_value(net(network), record.value())
            .expect("insert a record");
    }
    std::fs::write(path, writer.to_bytes().expect("serialize the database"))
        .expect("write the database");
}
