//! SSH public keys read from LDAP (an extension asked for by users of the
//! Go plugin, which answers "not implemented"): the key SFTPGo offers, in
//! authorized_keys form, is compared by key type and base64 blob with each
//! value of the configured attribute (e.g. `sshPublicKey` of the
//! openssh-lpk schema). Options and comments on either side are ignored.

/// The key type and base64 blob of an authorized_keys line.
pub fn parse(line: &str) -> Option<(&str, &str)> {
    let tokens: Vec<&str> = line.split_whitespace().collect();
    tokens.windows(2).find_map(|pair| {
        let (kind, blob) = (pair[0], pair[1]);
        (is_key_type(kind) && !blob.is_empty()).then_some((kind, blob))
    })
}

/// One of the offered key's lines matches one stored value.
pub fn authorized<'a>(offered: &str, stored: impl IntoIterator<Item = &'a str>) -> bool {
    let Some(offered) = parse(offered) else {
        return false;
    };
    stored
        .into_iter()
        .flat_map(str::lines)
        .filter_map(parse)
        .any(|key| key == offered)
}

fn is_key_type(token: &str) -> bool {
    token.starts_with("ssh-")
        || token.starts_with("ecdsa-sha2-")
        || token.starts_with("sk-")
        || token.contains("-cert-v01@openssh.com")
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

    #[test]
    fn keys_match_by_type_and_blob() {
        let offered = format!("{KEY}\n");
        assert!(authorized(
            &offered,
            [format!("{KEY} alice@laptop").as_str()]
        ));
        assert!(authorized(
            &offered,
            [format!("from=\"10.0.0.0/8\" {KEY}").as_str()]
        ));
        assert!(authorized(&offered, ["ssh-rsa AAAAB3 other", KEY]));
        assert!(!authorized(&offered, ["ssh-rsa AAAAB3 other"]));
        assert!(!authorized("garbage", [KEY]));
        assert!(!authorized(&offered, std::iter::empty()));
    }
}
