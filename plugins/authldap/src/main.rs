//! `plexus-auth-ldap serve`: reads the flags or the config file, checks
//! every directory's settings and CA files (a failure stops the start with
//! one line naming the setting), and serves `proto.Auth` until the host
//! stops it.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use plexus_auth_ldap::authenticator::Authenticator;
use plexus_auth_ldap::cli::{Cli, Command, Source};
use plexus_auth_ldap::config_file::{ConfigFile, DEFAULT_CACHE_SIZE};
use plexus_auth_ldap::multi::Directories;
use plexus_auth_ldap::service::LdapAuth;
use plexus_auth_ldap::settings::{Origin, Settings};
use plexus_auth_ldap::NAME;
use plexus_sdk::auth::AuthServer;
use plexus_sdk::{PluginKind, PluginServer};

fn main() -> ExitCode {
    let Command::Serve(args) = Cli::parse().command;
    if let Err(err) = plexus_sdk::check_cookie(PluginKind::Auth) {
        err.report(PluginKind::Auth);
        return err.exit_code();
    }
    plexus_sdk::logging::init(NAME);
    let (configs, cache_size) = match load(*args) {
        Ok(loaded) => loaded,
        Err(err) => return fatal(&err),
    };
    let mut list = Vec::with_capacity(configs.len());
    for (index, settings) in configs.into_iter().enumerate() {
        for warning in &settings.warnings {
            tracing::warn!("{warning}");
        }
        tracing::info!(
            directory = index,
            urls = ?settings.urls,
            base_dn = %settings.base_dn,
            start_tls = settings.start_tls,
            group_attributes = ?settings.group_attributes,
            cache_time_s = settings.cache_time.as_secs(),
            pool_size = settings.pool_size,
            public_keys = settings.public_key_attribute.is_some(),
            "LDAP directory configured"
        );
        match Authenticator::new(settings) {
            Ok(auth) => list.push(auth),
            Err(err) => return fatal(&err),
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return fatal(&format!("cannot start the async runtime: {err}")),
    };
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "starting {NAME}");
    let directories = Arc::new(Directories::new(list, cache_size));
    runtime.block_on(async move {
        directories.start();
        PluginServer::new(AuthServer::new(LdapAuth::new(directories)))
            .run()
            .await
    })
}

/// The checked settings of every directory, and the LRU size.
fn load(args: plexus_auth_ldap::cli::ServeArgs) -> Result<(Vec<Settings>, usize), String> {
    match args.source()? {
        Source::ConfigFile(path) => {
            let file = ConfigFile::load(&path)?;
            Ok((file.configs, file.cache_size))
        }
        Source::Flags(raw) => Ok((vec![raw.validate(Origin::Flags)?], DEFAULT_CACHE_SIZE)),
    }
}

/// One `[ERROR]` line on stderr (a go-plugin host maps the prefix), exit 1.
fn fatal(message: &str) -> ExitCode {
    eprintln!("[ERROR] {NAME}: {message}");
    ExitCode::FAILURE
}
