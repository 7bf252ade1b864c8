//! Every branch of the CheckIP decision, on MaxMind's test databases and on
//! databases written here (db-type 1, a record without a code, an empty
//! code, a code that is not a string, an IPv4-only database).

mod common;

use std::path::Path;

use common::{maxmind, write_db, Record};
use mmdb_writer::IpVersion;
use plexus_geoipfilter::cli::country_list;
use plexus_geoipfilter::database::{CountryDb, DbType};
use plexus_geoipfilter::decision::Policy;

fn policy(allowed: &str, denied: &str) -> Policy {
    Policy {
        allowed: country_list(allowed),
        denied: country_list(denied),
        ..Policy::default()
    }
}

fn fail_closed(mut policy: Policy) -> Policy {
    policy.deny_on_lookup_error = true;
    policy.deny_unknown_country = true;
    policy
}

fn geoip2() -> CountryDb {
    CountryDb::open(&maxmind("GeoIP2-Country-Test.mmdb"), DbType::MaxMind).unwrap()
}

#[test]
fn maxmind_test_data_countries() {
    for name in [
        "GeoIP2-Country-Test.mmdb",
        "GeoLite2-Country-Test.mmdb",
        "GeoIP2-City-Test.mmdb",
    ] {
        let db = CountryDb::open(&maxmind(name), DbType::MaxMind).unwrap();
        let country = |ip: &str| db.country(ip.parse().unwrap()).unwrap().map(str::to_owned);
        assert_eq!(country("81.2.69.142").as_deref(), Some("GB"), "{name}");
        assert_eq!(
            country("::ffff:81.2.69.142").as_deref(),
            Some("GB"),
            "{name}"
        );
        assert_eq!(country("2.125.160.216").as_deref(), Some("GB"), "{name}");
        assert_eq!(country("1.1.1.1"), None, "{name}: no record");
    }
    let db = geoip2();
    let country = |ip: &str| db.country(ip.parse().unwrap()).unwrap().map(str::to_owned);
    assert_eq!(country("149.101.100.1").as_deref(), Some("US"));
    assert_eq!(country("67.43.156.1").as_deref(), Some("BT"));
    assert_eq!(country("202.196.224.1").as_deref(), Some("PH"));
    assert_eq!(country("2a02:cfc0::1").as_deref(), Some("FR"));
    assert_eq!(country("214.1.1.1"), None, "a record without iso_code");
    assert_eq!(country("2a02:d500::1"), None, "a record without iso_code");
}

#[test]
fn allow_list() {
    let db = geoip2();
    let p = policy("GB, US", "");
    assert_eq!(p.check("81.2.69.142", &db), Ok(()));
    assert_eq!(p.check("149.101.100.1", &db), Ok(()));
    assert_eq!(
        p.check("2a02:cfc0::1", &db),
        Err("country FR is not allowed, ip 2a02:cfc0::1".into())
    );
    assert_eq!(
        p.check("67.43.156.1", &db),
        Err("country BT is not allowed, ip 67.43.156.1".into())
    );
    // Codes are compared exactly: "gb" never matches "GB".
    assert_eq!(
        policy("gb", "").check("81.2.69.142", &db),
        Err("country GB is not allowed, ip 81.2.69.142".into())
    );
}

#[test]
fn deny_list_and_its_precedence() {
    let db = geoip2();
    let p = policy("", "FR,BT");
    assert_eq!(
        p.check("2a02:cfc0::1", &db),
        Err("country FR is denied, ip 2a02:cfc0::1".into())
    );
    assert_eq!(
        p.check("81.2.69.142", &db),
        Ok(()),
        "not denied, no allow list"
    );
    let both = policy("FR,GB", "FR");
    assert_eq!(
        both.check("2a02:cfc0::1", &db),
        Err("country FR is denied, ip 2a02:cfc0::1".into()),
        "the deny list wins"
    );
    assert_eq!(both.check("81.2.69.142", &db), Ok(()));
}

#[test]
fn the_message_keeps_the_address_as_sent() {
    let db = geoip2();
    let p = policy("", "FR,GB");
    assert_eq!(
        p.check("2a02:cfc0::1%eth0", &db),
        Err("country FR is denied, ip 2a02:cfc0::1%eth0".into()),
        "zone accepted and dropped for the lookup"
    );
    assert_eq!(
        p.check("::ffff:81.2.69.142", &db),
        Err("country GB is denied, ip ::ffff:81.2.69.142".into())
    );
}

#[test]
fn non_public_addresses_are_allowed_even_fail_closed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("all.mmdb");
    // A database that would deny these addresses if they were looked up.
    write_db(
        &path,
        IpVersion::V6,
        &[
            ("0.0.0.0/0", Record::MaxMind("XX")),
            ("::/0", Record::MaxMind("XX")),
        ],
    );
    let db = CountryDb::open(&path, DbType::MaxMind).unwrap();
    let p = fail_closed(policy("IT", "XX"));
    assert!(
        p.check("8.8.8.8", &db).is_err(),
        "public addresses are looked up"
    );
    for ip in [
        "10.8.0.1",
        "192.168.255.1",
        "172.16.127.128",
        "fd12::1",
        "::ffff:10.0.0.1",
        "127.0.0.1",
        "::1",
        "169.254.3.4",
        "fe80::1%eth0",
        "100.64.1.1",
    ] {
        assert_eq!(p.check(ip, &db), Ok(()), "{ip}");
    }
}

#[test]
fn unparsable_addresses() {
    let db = geoip2();
    let open = policy("IT", "");
    for ip in ["", "not-an-ip", "1.2.3.4%eth0", "fe80::1%"] {
        assert_eq!(open.check(ip, &db), Ok(()), "fail-open: {ip:?}");
    }
    let closed = Policy {
        deny_on_lookup_error: true,
        ..policy("IT", "")
    };
    let err = closed.check("not-an-ip", &db).unwrap_err();
    assert!(err.starts_with("unable to parse ip not-an-ip"), "{err}");
    assert!(closed.check("", &db).is_err());
    let unknown_only = Policy {
        deny_unknown_country: true,
        ..policy("IT", "")
    };
    assert_eq!(
        unknown_only.check("not-an-ip", &db),
        Ok(()),
        "a parse error is not an unknown country"
    );
}

#[test]
fn unknown_country() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("edge.mmdb");
    write_db(
        &path,
        IpVersion::V6,
        &[
            ("5.5.5.0/24", Record::MaxMind("")),
            ("6.6.6.0/24", Record::NoCode),
            ("7.7.7.0/24", Record::MaxMind("IT")),
            ("2a01:4f8::/32", Record::MaxMind("DE")),
        ],
    );
    let db = CountryDb::open(&path, DbType::MaxMind).unwrap();
    let open = policy("IT", "");
    assert_eq!(open.check("7.7.7.7", &db), Ok(()));
    assert_eq!(
        open.check("2a01:4f8::1", &db),
        Err("country DE is not allowed, ip 2a01:4f8::1".into())
    );
    // An empty code, a record without a code, no record: unknown, allowed.
    for ip in ["5.5.5.5", "6.6.6.6", "9.9.9.9", "2a03::1"] {
        assert_eq!(open.check(ip, &db), Ok(()), "fail-open: {ip}");
    }
    let closed = Policy {
        deny_unknown_country: true,
        ..policy("IT", "")
    };
    for ip in ["5.5.5.5", "6.6.6.6", "9.9.9.9", "2a03::1"] {
        assert_eq!(
            closed.check(ip, &db),
            Err(format!("unable to get the country, ip {ip} is denied")),
            "fail-closed: {ip}"
        );
    }
    let lookup_only = Policy {
        deny_on_lookup_error: true,
        ..policy("IT", "")
    };
    assert_eq!(
        lookup_only.check("9.9.9.9", &db),
        Ok(()),
        "no record is not a lookup error"
    );
}

#[test]
fn lookup_errors() {
    let dir = tempfile::tempdir().unwrap();
    let v4 = dir.path().join("v4.mmdb");
    write_db(&v4, IpVersion::V4, &[("7.7.7.0/24", Record::MaxMind("IT"))]);
    let db = CountryDb::open(&v4, DbType::MaxMind).unwrap();
    let open = policy("IT", "");
    assert_eq!(open.check("7.7.7.7", &db), Ok(()));
    assert_eq!(
        open.check("2a01:4f8::1", &db),
        Ok(()),
        "IPv6 in an IPv4-only database: allowed"
    );
    let closed = Policy {
        deny_on_lookup_error: true,
        ..policy("IT", "")
    };
    let err = closed.check("2a01:4f8::1", &db).unwrap_err();
    assert!(
        err.starts_with("unable to lookup ip 2a01:4f8::1: "),
        "{err}"
    );
    assert!(err.contains("IPv4-only"), "{err}");

    let numeric = dir.path().join("numeric.mmdb");
    write_db(
        &numeric,
        IpVersion::V6,
        &[("8.8.8.0/24", Record::NumericCode)],
    );
    let db = CountryDb::open(&numeric, DbType::MaxMind).unwrap();
    assert_eq!(
        open.check("8.8.8.8", &db),
        Ok(()),
        "a non-string code: allowed"
    );
    assert!(closed
        .check("8.8.8.8", &db)
        .unwrap_err()
        .starts_with("unable to lookup ip 8.8.8.8"));
}

#[test]
fn db_type_1_reads_the_top_level_country_code() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("iplocate.mmdb");
    write_db(
        &path,
        IpVersion::V6,
        &[
            ("7.7.7.0/24", Record::CountryCode("IT")),
            ("2a01:4f8::/32", Record::CountryCode("DE")),
            ("5.5.5.0/24", Record::CountryCode("")),
        ],
    );
    let db = CountryDb::open(&path, DbType::CountryCode).unwrap();
    let p = policy("", "DE");
    assert_eq!(p.check("7.7.7.7", &db), Ok(()));
    assert_eq!(p.check("::ffff:7.7.7.7", &db), Ok(()));
    assert_eq!(
        p.check("2a01:4f8::1", &db),
        Err("country DE is denied, ip 2a01:4f8::1".into())
    );
    assert_eq!(
        db.country("5.5.5.5".parse().unwrap()),
        Ok(None),
        "empty code"
    );
    // The same file read with the MaxMind layout: its `country` is a name,
    // not a map, so the lookup fails (allowed, or denied fail-closed).
    let as_maxmind = CountryDb::open(&path, DbType::MaxMind).unwrap();
    assert!(as_maxmind.country("2a01:4f8::1".parse().unwrap()).is_err());
    assert_eq!(p.check("2a01:4f8::1", &as_maxmind), Ok(()));
    assert!(fail_closed(policy("", "DE"))
        .check("2a01:4f8::1", &as_maxmind)
        .is_err());
    // And MaxMind's file read with db-type 1 has no top-level code.
    let geoip2 =
        CountryDb::open(&maxmind("GeoIP2-Country-Test.mmdb"), DbType::CountryCode).unwrap();
    assert_eq!(geoip2.country("81.2.69.142".parse().unwrap()), Ok(None));
}

#[test]
fn opening_bad_files_names_them() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.mmdb");
    let err = CountryDb::open(&missing, DbType::MaxMind).unwrap_err();
    assert!(err.contains("missing.mmdb"), "{err}");
    let garbage = dir.path().join("garbage.mmdb");
    std::fs::write(&garbage, b"this is not a MaxMind DB").unwrap();
    let err = CountryDb::open(&garbage, DbType::MaxMind).unwrap_err();
    assert!(
        err.contains("garbage.mmdb") && err.contains("not a valid MaxMind DB"),
        "{err}"
    );
    // A real database cut short: its metadata (at the end) is gone.
    let bytes = std::fs::read(maxmind("GeoIP2-Country-Test.mmdb")).unwrap();
    let half = bytes[..bytes.len() / 2].to_vec();
    let err =
        CountryDb::from_bytes(half, Path::new("truncated.mmdb"), DbType::MaxMind).unwrap_err();
    assert!(err.contains("truncated.mmdb"), "{err}");
}
