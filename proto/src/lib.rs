//! The wire contract of Plexus.
//!
//! Everything both sides of a plugin connection must agree on lives here:
//! the generated gRPC code for SFTPGo's five plugin services (package `proto`)
//! and go-plugin's own services (package `plugin`), plus the small pure
//! codecs that the host (`plexus-engine`) and the plugin side (`plexus-sdk`)
//! share: the handshake line, the hclog log line, the AutoMTLS certificates
//! and the magic cookies.

pub mod cookie;
pub mod event;
pub mod handshake;
pub mod hclog;
pub mod mtls;

/// SFTPGo's plugin services and messages (protobuf package `proto`).
#[allow(clippy::all, missing_docs)]
pub mod sftpgo {
    tonic::include_proto!("proto");
}

/// go-plugin's own services: controller, broker and stdio (protobuf package `plugin`).
#[allow(clippy::all, missing_docs)]
pub mod goplugin {
    tonic::include_proto!("plugin");
}

/// Plexus's own ingestion API (protobuf package `plexus.v1`).
pub mod plexus {
    #[allow(clippy::all, missing_docs)]
    pub mod v1 {
        tonic::include_proto!("plexus.v1");
    }

    /// The encoded `FileDescriptorSet` of every .proto file here, for gRPC
    /// server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/plexus_descriptors.bin"));
}

// The generated `plexus.v1` code names SFTPGo's messages by package path.
use sftpgo as proto;

pub use cookie::{HandshakeCookie, PluginKind};
pub use event::Event;
pub use handshake::{HandshakeError, HandshakeLine, Network};
