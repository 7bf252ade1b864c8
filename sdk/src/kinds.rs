//! Which generated gRPC servers a plugin can serve, and the kind each one is.
//!
//! The five SFTPGo plugin kinds each have one service (`proto.Notifier`,
//! `proto.KMS`, `proto.Auth`, `proto.Searcher`, `proto.IPFilter`). Tying the
//! generated server type to its [`PluginKind`] lets the SDK pick the right
//! magic cookie from the type alone, so a notifier can never be served
//! under the KMS cookie by mistake. The trait is sealed: exactly these five.

use plexus_proto::sftpgo::auth_server::{Auth, AuthServer};
use plexus_proto::sftpgo::ip_filter_server::{IpFilter, IpFilterServer};
use plexus_proto::sftpgo::kms_server::{Kms, KmsServer};
use plexus_proto::sftpgo::notifier_server::{Notifier, NotifierServer};
use plexus_proto::sftpgo::searcher_server::{Searcher, SearcherServer};
use plexus_proto::PluginKind;
use tonic::service::Routes;

/// The largest request a plugin accepts, set explicitly: gRPC's default of
/// 4 MiB, the same limit every Go plugin has. A Plexus host keeps each
/// batch below it (`engine.max_batch_bytes`, 3.75 MiB by default) and sends
/// a larger event alone; SFTPGo sends one event per call anyway.
pub const MAX_RECEIVE_BYTES: usize = 4 * 1024 * 1024;

pub(crate) mod sealed {
    pub trait Sealed {}
}

/// A generated SFTPGo plugin server (`NotifierServer<T>`, `KmsServer<T>`,
/// `AuthServer<T>`, `SearcherServer<T>`, `IpFilterServer<T>`) that
/// [`PluginServer`](crate::PluginServer) can serve.
pub trait PluginService: sealed::Sealed + Send + 'static {
    /// The plugin kind: decides the magic cookie and the logged name.
    const KIND: PluginKind;

    /// Adds the service to the server's routes.
    #[doc(hidden)]
    fn add_to(self, routes: Routes) -> Routes;
}

macro_rules! plugin_service {
    ($server:ident, $service:ident, $kind:expr) => {
        impl<T: $service> sealed::Sealed for $server<T> {}

        impl<T: $service> PluginService for $server<T> {
            const KIND: PluginKind = $kind;

            fn add_to(self, routes: Routes) -> Routes {
                routes.add_service(self.max_decoding_message_size(MAX_RECEIVE_BYTES))
            }
        }
    };
}

plugin_service!(NotifierServer, Notifier, PluginKind::Notifier);
plugin_service!(KmsServer, Kms, PluginKind::Kms);
plugin_service!(AuthServer, Auth, PluginKind::Auth);
plugin_service!(SearcherServer, Searcher, PluginKind::EventSearcher);
plugin_service!(IpFilterServer, IpFilter, PluginKind::IpFilter);
