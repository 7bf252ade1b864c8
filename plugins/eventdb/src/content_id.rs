//! Ids derived from an event's content, for stores that must hold each
//! event once however often it is delivered.
//!
//! Every path an event takes to the store can deliver it twice: a host
//! that crashed after the insert but before it learned of it re-sends it
//! (SFTPGo after a timeout, Plexus's write-ahead log after a kill -9), a
//! broker redelivers what was not acknowledged, a publisher retries past
//! the broker's duplicate window. All of them re-send the same content, so
//! an id computed from that content makes the insert idempotent without
//! any id travelling with the event: SFTPGo's messages have no field for
//! one.
//!
//! The id is the first 128 bits of a SHA-256 over the columns the store
//! writes (kind, then each value length-prefixed, in a fixed order), as 32
//! lowercase hex characters: it fits the tables' `varchar(36)` ids. The fs
//! event's `metadata` map is not stored, so it is not hashed either: two
//! events differing only there would be the same row. The store's own
//! instance id is not part of it (it is the same for every row).

use sha2::{Digest, Sha256};

use crate::NewEvent;

/// The length of every content id.
pub const CONTENT_ID_LEN: usize = 32;

/// Feeds values to the hash, each one unambiguous on its own.
struct Canonical(Sha256);

impl Canonical {
    fn bytes(&mut self, value: &[u8]) -> &mut Self {
        self.0.update((value.len() as u64).to_be_bytes());
        self.0.update(value);
        self
    }

    fn text(&mut self, value: &str) -> &mut Self {
        self.bytes(value.as_bytes())
    }

    fn int(&mut self, value: i64) -> &mut Self {
        self.0.update(value.to_be_bytes());
        self
    }
}

/// The content id of `event`.
pub fn content_id(event: &NewEvent) -> String {
    let mut hash = Canonical(Sha256::new());
    match event {
        NewEvent::Fs(e) => {
            hash.text("fs")
                .int(e.timestamp)
                .text(&e.action)
                .text(&e.username)
                .text(&e.fs_path)
                .text(&e.fs_target_path)
                .text(&e.virtual_path)
                .text(&e.virtual_target_path)
                .text(&e.ssh_cmd)
                .int(e.file_size)
                .int(e.elapsed)
                .int(i64::from(e.status))
                .text(&e.protocol)
                .text(&e.session_id)
                .text(&e.ip)
                .int(i64::from(e.fs_provider))
                .text(&e.bucket)
                .text(&e.endpoint)
                .int(i64::from(e.open_flags))
                .text(&e.role);
        }
        NewEvent::Provider(e) => {
            hash.text("provider")
                .int(e.timestamp)
                .text(&e.action)
                .text(&e.username)
                .text(&e.ip)
                .text(&e.object_type)
                .text(&e.object_name)
                .bytes(&e.object_data)
                .text(&e.role);
        }
        NewEvent::Log(e) => {
            hash.text("log")
                .int(e.timestamp)
                .int(i64::from(e.event))
                .text(&e.protocol)
                .text(&e.username)
                .text(&e.ip)
                .text(&e.message)
                .text(&e.role);
        }
    }
    let digest = hash.0.finalize();
    let mut id = String::with_capacity(CONTENT_ID_LEN);
    for byte in &digest[..CONTENT_ID_LEN / 2] {
        id.push_str(&format!("{byte:02x}"));
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;
    use plexus_proto::sftpgo::{FsEvent, LogEvent, ProviderEvent};

    fn upload(path: &str) -> NewEvent {
        NewEvent::Fs(Box::new(FsEvent {
            timestamp: 1_700_000_000_000_000_001,
            action: "upload".into(),
            username: "alice".into(),
            virtual_path: path.into(),
            ..Default::default()
        }))
    }

    #[test]
    fn the_same_content_gets_the_same_id_and_any_change_another() {
        let id = content_id(&upload("/a"));
        assert_eq!(id.len(), CONTENT_ID_LEN);
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(id, content_id(&upload("/a")));
        assert_ne!(id, content_id(&upload("/b")));
        let NewEvent::Fs(mut other) = upload("/a") else {
            unreachable!()
        };
        other.timestamp += 1;
        assert_ne!(id, content_id(&NewEvent::Fs(other)));
    }

    #[test]
    fn values_cannot_slide_into_their_neighbours() {
        let split = |user: &str, path: &str| {
            content_id(&NewEvent::Fs(Box::new(FsEvent {
                username: user.into(),
                fs_path: path.into(),
                ..Default::default()
            })))
        };
        assert_ne!(split("ab", "c"), split("a", "bc"));
    }

    #[test]
    fn kinds_and_unstored_fields() {
        let provider = content_id(&NewEvent::Provider(ProviderEvent::default()));
        let log = content_id(&NewEvent::Log(LogEvent::default()));
        assert_ne!(provider, log);
        let NewEvent::Fs(mut with_metadata) = upload("/a") else {
            unreachable!()
        };
        with_metadata.metadata.insert("k".into(), "v".into());
        assert_eq!(
            content_id(&NewEvent::Fs(with_metadata)),
            content_id(&upload("/a")),
            "metadata is not stored, so it does not tell rows apart"
        );
    }
}
