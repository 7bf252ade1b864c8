//! The command line, as sftpgo-plugin-pubsub has it: no flags, `argv[1]`
//! the topic URL, optional `argv[2]` the instance id added to every
//! message. SFTPGo passes them from the plugin's `args`.

/// What the command line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    pub topic_url: String,
    pub instance_id: String,
}

/// Reads the arguments after the program name; further ones are ignored,
/// as the Go plugin ignores them.
pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Args, String> {
    let mut args = args.into_iter();
    let topic_url = match args.next() {
        Some(url) if !url.trim().is_empty() => url,
        _ => return Err("please specify the topic url as command line argument".to_owned()),
    };
    let instance_id = args.next().unwrap_or_default();
    Ok(Args {
        topic_url,
        instance_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn topic_and_optional_instance() {
        assert_eq!(
            parse(args(&["nats://a"])),
            Ok(Args {
                topic_url: "nats://a".into(),
                instance_id: String::new()
            })
        );
        assert_eq!(
            parse(args(&["rabbit://x", "node-1", "extra"])),
            Ok(Args {
                topic_url: "rabbit://x".into(),
                instance_id: "node-1".into()
            })
        );
        assert!(parse(args(&[])).unwrap_err().contains("topic url"));
        assert!(parse(args(&[""])).is_err());
    }
}
