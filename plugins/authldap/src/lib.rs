//! `plexus-auth-ldap`: SFTPGo's LDAP / Active Directory auth plugin as a
//! Plexus SDK plugin.
//!
//! A drop-in for `sftpgo-plugin-auth`: the same `serve` flags, the same
//! `SFTPGO_PLUGIN_AUTH_*` variables, the same multi-directory
//! `--config-file`, and the same JSON user document handed back to SFTPGo.
//! It differs where the Go plugin is weak: service-account and user-bind
//! connections are pooled instead of dialled per request, the credential
//! cache keeps salted hashes instead of passwords, overlapping group prefixes
//! are refused with a clear message, and SSH public keys can be read from an
//! LDAP attribute.
//!
//! The crate is a library too, so the tests and the benchmark reach each
//! part without a process in between:
//! - [`settings`]: one directory's validated settings, [`cli`] and
//!   [`config_file`]: where they come from,
//! - [`tls`]: the rustls client configuration (extra CAs, skip-verify),
//! - [`filter`]: RFC 4515 escaping of the username,
//! - [`endpoints`]: the URLs, the active set and the re-probe task,
//! - [`connect`]: dialling one URL (LDAPS / StartTLS / timeouts),
//! - [`pool`]: the bounded connection pools (shared for searches,
//!   exclusive for user binds),
//! - [`directory`]: the search and the user bind over the pools,
//! - [`groups`]: group and role mapping by prefix,
//! - [`user`]: the user document returned to SFTPGo,
//! - [`cache`]: the credential cache,
//! - [`public_key`]: matching SSH keys read from LDAP,
//! - [`authenticator`]: one directory's login flows,
//! - [`multi`]: several directories and the last-good LRU,
//! - [`service`]: the gRPC `proto.Auth` service.

pub mod authenticator;
pub mod cache;
pub mod cli;
pub mod config_file;
pub mod connect;
pub mod directory;
pub mod endpoints;
pub mod error;
pub mod filter;
pub mod groups;
pub mod multi;
pub mod pool;
pub mod public_key;
pub mod service;
pub mod settings;
pub mod tls;
pub mod user;

/// The plugin's name, in logs and error lines.
pub const NAME: &str = "plexus-auth-ldap";
