//! The client address as SFTPGo sends it: parsing, and the ranges that are
//! never looked up.
//!
//! Parsing follows Go's `netip.ParseAddr`, which the Go plugin uses: an IPv6
//! zone (`fe80::1%eth0`) is accepted and dropped, an IPv4 address with a
//! zone or an empty zone is refused, octets with leading zeros are refused.
//! An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) is treated as its IPv4
//! address, as Go's `net.IP` does.
//!
//! Non-public addresses are always allowed (plugin 1.2.0): the private
//! ranges of Go's `IsPrivate` (10/8, 172.16/12, 192.168/16, fc00::/7),
//! loopback (127/8, ::1), link-local unicast (169.254/16, fe80::/10) and
//! the CGNAT shared space (100.64/10).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Parses a client address; an IPv4-mapped IPv6 address becomes IPv4.
pub fn parse(text: &str) -> Result<IpAddr, String> {
    let address = match text.split_once('%') {
        Some((address, zone)) => {
            if zone.is_empty() {
                return Err(format!(
                    "ParseAddr({text:?}): zone must be a non-empty string"
                ));
            }
            let v6: Ipv6Addr = address
                .parse()
                .map_err(|_| format!("ParseAddr({text:?}): not an IPv6 address with a zone"))?;
            IpAddr::V6(v6)
        }
        None => text
            .parse::<IpAddr>()
            .map_err(|_| format!("ParseAddr({text:?}): not an IP address"))?,
    };
    Ok(address.to_canonical())
}

/// True for the addresses that are allowed without a lookup.
pub fn is_non_public(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4_non_public(v4),
        IpAddr::V6(v6) => v6_non_public(v6),
    }
}

fn v4_non_public(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    let cgnat = a == 100 && (b & 0xc0) == 64;
    ip.is_private() || ip.is_loopback() || ip.is_link_local() || cgnat
}

fn v6_non_public(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    let unique_local = (first & 0xfe00) == 0xfc00;
    let link_local = (first & 0xffc0) == 0xfe80;
    unique_local || link_local || ip.is_loopback()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        parse(text).unwrap()
    }

    #[test]
    fn zones_are_dropped_on_ipv6_only() {
        assert_eq!(ip("fe80::1%eth0"), ip("fe80::1"));
        assert_eq!(ip("2a02:cfc0::1%1"), ip("2a02:cfc0::1"));
        assert!(parse("fe80::1%").is_err());
        assert!(parse("1.2.3.4%eth0").is_err());
        assert!(parse("").is_err());
        assert!(parse("010.1.1.1").is_err(), "leading zeros, as netip");
        assert!(parse("not-an-ip").is_err());
    }

    #[test]
    fn mapped_ipv4_becomes_ipv4() {
        assert_eq!(ip("::ffff:81.2.69.142"), ip("81.2.69.142"));
        assert!(ip("::ffff:81.2.69.142").is_ipv4());
    }

    #[test]
    fn the_non_public_ranges() {
        for private in [
            "10.8.0.1",
            "192.168.255.1",
            "172.16.127.128",
            "172.31.255.255",
            "fd00::1",
            "fc00::1",
            "::ffff:10.1.2.3",
            "::ffff:192.168.0.1",
            "127.0.0.1",
            "127.255.0.1",
            "::1",
            "169.254.1.1",
            "fe80::1",
            "febf::1",
            "100.64.0.1",
            "100.127.255.255",
            "::ffff:100.64.0.1",
        ] {
            assert!(is_non_public(ip(private)), "{private} is not public");
        }
        for public in [
            "81.2.69.142",
            "172.32.0.1",
            "172.15.255.255",
            "100.63.255.255",
            "100.128.0.1",
            "169.255.0.1",
            "fec0::1",
            "fe00::1",
            "2a02:cfc0::1",
            "::ffff:81.2.69.142",
            "8.8.8.8",
        ] {
            assert!(!is_non_public(ip(public)), "{public} is public");
        }
    }
}
