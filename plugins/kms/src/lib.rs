//! `plexus-kms`: SFTPGo's KMS plugin as a Plexus SDK plugin.
//!
//! A drop-in for `sftpgo-plugin-kms` for HashiCorp Vault / OpenBao transit
//! (`hashivault://`) and AWS KMS (`awskms://`): the same secret format,
//! byte for byte, including SFTPGo's local Secretbox layer when a master
//! key is configured. `gcpkms://`, `azurekeyvault://` and `ocikeyvault://`
//! are refused as not supported by this build.
//!
//! - [`secretbox`]: the local layer (HKDF-SHA256 + NaCl secretbox),
//! - [`target`]: the secrets URL and the key it names,
//! - [`vault`], [`aws`] with [`sigv4`]: the provider clients,
//! - [`providers`]: the clients made once and shared,
//! - [`service`]: the gRPC service tying them together,
//! - [`error`]: failures and their gRPC statuses.

pub mod aws;
pub mod error;
pub mod providers;
pub mod secretbox;
pub mod service;
pub mod sigv4;
pub mod target;
pub mod vault;

/// The plugin's name, in logs and error lines.
pub const NAME: &str = "plexus-kms";
