//! The two LDAP operations of a login, over pooled connections: finding
//! the user (a search on a connection bound as the service account, shared
//! with concurrent searches) and checking the password (a bind as the user
//! on a connection of the second pool, held alone for the bind). New connections go through the HA order of [`Endpoints`]; a
//! pooled connection that fails at the transport level is dropped and the
//! operation is retried once on a fresh one, so a server restart or an
//! idle timeout is invisible to the user.

use std::sync::Arc;

use ldap3::{DerefAliases, LdapError, Scope, SearchEntry, SearchOptions};

use crate::connect::{describe, Dialer};
use crate::endpoints::Endpoints;
use crate::error::AuthError;
use crate::filter::{escape, user_filter};
use crate::pool::{Connection, Pool, SharedPool};
use crate::settings::Settings;
use crate::tls::client_config;

/// The LDAP result code of a refused bind.
pub const INVALID_CREDENTIALS: u32 = 49;
/// Active Directory's LDAP_MATCHING_RULE_IN_CHAIN.
pub const IN_CHAIN: &str = "1.2.840.113556.1.4.1941";
/// `sizeLimitExceeded`: more entries than the two asked for.
const SIZE_LIMIT_EXCEEDED: u32 = 4;

/// The one entry found for a username.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserEntry {
    pub dn: String,
    /// Attribute name (as the server spelled it) and values.
    pub attributes: Vec<(String, Vec<String>)>,
    /// DNs of the groups found through nesting (Active Directory only).
    pub nested_groups: Vec<String>,
}

impl UserEntry {
    /// The values of an attribute, its name compared without case.
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.attributes
            .iter()
            .filter(move |(attr, _)| attr.eq_ignore_ascii_case(name))
            .flat_map(|(_, values)| values.iter().map(String::as_str))
    }
}

/// One directory: its settings, endpoints and pools.
pub struct Directory {
    settings: Arc<Settings>,
    dialer: Arc<Dialer>,
    endpoints: Arc<Endpoints>,
    searches: SharedPool,
    binds: Pool,
}

impl Directory {
    /// Builds the TLS configuration (CA files are read here) and the pools;
    /// connections are opened on first use. Call [`Directory::start_monitor`]
    /// inside a tokio runtime to re-probe failed servers.
    pub fn new(settings: Arc<Settings>) -> Result<Directory, String> {
        let tls = client_config(
            &settings.ca_certificates,
            settings.skip_tls_verify,
            &settings
                .origin
                .name(crate::settings::field::CA_CERTIFICATES),
        )?;
        let dialer = Arc::new(Dialer::new(
            tls,
            settings.start_tls,
            settings.skip_tls_verify,
            settings.connect_timeout,
        ));
        let wait = settings.operation_timeout;
        Ok(Directory {
            endpoints: Endpoints::new(&settings.urls),
            searches: SharedPool::new("search", settings.pool_size, wait),
            binds: Pool::new("user bind", settings.pool_size, wait),
            dialer,
            settings,
        })
    }

    pub fn settings(&self) -> &Arc<Settings> {
        &self.settings
    }

    pub fn endpoints(&self) -> &Arc<Endpoints> {
        &self.endpoints
    }

    /// Open connections of the search pool and idle connections of the
    /// user-bind pool.
    pub fn idle_connections(&self) -> (usize, usize) {
        (self.searches.open_count(), self.binds.idle_count())
    }

    /// Starts the task that probes failed servers (connect + service bind).
    pub fn start_monitor(&self) {
        let dialer = self.dialer.clone();
        let settings = self.settings.clone();
        self.endpoints
            .spawn_monitor(self.settings.monitor_interval, move |url| {
                let dialer = dialer.clone();
                let settings = settings.clone();
                async move { open_on(&dialer, &settings, &url, true).await.is_ok() }
            });
    }

    /// A new connection, bound as the service account when `service`,
    /// from the first URL in HA order that works.
    async fn open(&self, service: bool) -> Result<Connection, AuthError> {
        let mut last = String::from("no URL configured");
        for url in self.endpoints.order() {
            match open_on(&self.dialer, &self.settings, &url, service).await {
                Ok(conn) => {
                    self.endpoints.mark_up(&url);
                    return Ok(conn);
                }
                Err(err) => {
                    self.endpoints.mark_down(&url, &err);
                    last = format!("{url}: {err}");
                }
            }
        }
        Err(AuthError::Unavailable(last))
    }

    /// Finds the one entry of `username`; `with_keys` also asks for the
    /// public key attribute.
    pub async fn find_user(&self, username: &str, with_keys: bool) -> Result<UserEntry, AuthError> {
        let filter = user_filter(&self.settings.search_query, username);
        let attributes = self.settings.search_attributes(with_keys);
        let options = SearchOptions::new()
            .deref(DerefAliases::Searching)
            .sizelimit(2);
        let attributes: Vec<&str> = attributes.iter().map(String::as_str).collect();
        let result = self.search(&filter, &attributes, options).await?;
        entry_of(username, result)
    }

    /// The DNs of every group `dn` belongs to, directly or through nested
    /// groups: a search with Active Directory's LDAP_MATCHING_RULE_IN_CHAIN
    /// (1.2.840.113556.1.4.1941). Other servers do not know the rule and
    /// find nothing (or refuse the filter).
    pub async fn nested_groups(&self, dn: &str) -> Result<Vec<String>, AuthError> {
        let filter = format!("(member:{IN_CHAIN}:={})", escape(dn));
        let options = SearchOptions::new().deref(DerefAliases::Searching);
        let ldap3::SearchResult(entries, status) = self.search(&filter, &["1.1"], options).await?;
        if status.rc != 0 {
            return Err(AuthError::Ldap(format!(
                "nested group search (Active Directory only): {}",
                describe(&LdapError::LdapResult { result: status })
            )));
        }
        Ok(entries
            .into_iter()
            .filter(|e| !e.is_ref() && !e.is_intermediate())
            .map(|e| SearchEntry::construct(e).dn)
            .collect())
    }

    /// One subtree search under the base DN on a shared service-bound
    /// connection. A transport failure on a connection that was already
    /// open (the server may have closed it while idle) drops it and tries
    /// once more on another; any other failure names the server.
    async fn search(
        &self,
        filter: &str,
        attributes: &[&str],
        options: SearchOptions,
    ) -> Result<ldap3::SearchResult, AuthError> {
        let mut retried = false;
        loop {
            let mut lease = self.searches.get(|| self.open(true)).await?;
            let result = lease
                .ldap()
                .with_search_options(options.clone())
                .with_timeout(self.settings.operation_timeout)
                .search(
                    &self.settings.base_dn,
                    Scope::Subtree,
                    filter,
                    attributes.to_vec(),
                )
                .await;
            match result {
                Ok(result) => return Ok(result),
                Err(err) if transport(&err) && lease.reused && !retried => {
                    tracing::debug!(url = %lease.url(), "pooled search connection failed, reconnecting: {}", describe(&err));
                    lease.discard();
                    retried = true;
                }
                Err(err) => {
                    let url = lease.url();
                    if transport(&err) {
                        lease.discard();
                    }
                    return Err(self.failed(url, &err));
                }
            }
        }
    }

    /// Binds as `dn` with `password`. A refused bind is
    /// [`AuthError::BindRefused`]; the connection stays in the pool.
    pub async fn check_password(&self, dn: &str, password: &str) -> Result<(), AuthError> {
        if password.is_empty() {
            // An empty password would be an unauthenticated bind.
            return Err(AuthError::InvalidCredentials);
        }
        let mut retried = false;
        loop {
            let mut lease = self.binds.get(|| self.open(false)).await?;
            let timeout = self.settings.operation_timeout;
            match lease
                .ldap()
                .with_timeout(timeout)
                .simple_bind(dn, password)
                .await
            {
                Ok(result) if result.rc == 0 => {
                    lease.release();
                    return Ok(());
                }
                Ok(result) => {
                    lease.release();
                    return Err(AuthError::BindRefused {
                        code: result.rc,
                        text: if result.rc == INVALID_CREDENTIALS {
                            "Invalid Credentials".to_owned()
                        } else {
                            result.text
                        },
                    });
                }
                Err(err) if transport(&err) && lease.reused && !retried => {
                    tracing::debug!(url = %lease.url(), "pooled bind connection failed, reconnecting: {}", describe(&err));
                    retried = true;
                }
                Err(err) => {
                    let url = lease.url();
                    if transport(&err) {
                        drop(lease);
                    } else {
                        lease.release();
                    }
                    return Err(self.failed(url, &err));
                }
            }
        }
    }

    /// The error of an operation on a connection to `url` (which the
    /// caller kept after a server-side answer and dropped after a
    /// transport failure); a transport failure marks the URL down.
    fn failed(&self, url: Arc<str>, err: &LdapError) -> AuthError {
        if transport(err) {
            self.endpoints.mark_down(&url, &describe(err));
            AuthError::Unavailable(format!("{url}: {}", describe(err)))
        } else {
            AuthError::Ldap(describe(err))
        }
    }
}

/// Dials `url` and, when `service`, binds as the service account
/// (password: simple bind; none: unauthenticated bind with the DN).
async fn open_on(
    dialer: &Dialer,
    settings: &Settings,
    url: &Arc<str>,
    service: bool,
) -> Result<Connection, String> {
    let mut ldap = dialer.dial(url).await?;
    if service {
        let result = ldap
            .with_timeout(settings.operation_timeout)
            .simple_bind(&settings.bind_dn, settings.password.expose())
            .await
            .map_err(|err| describe(&err))?;
        if result.rc != 0 {
            return Err(format!(
                "the service account bind failed: {}",
                describe(&LdapError::LdapResult { result })
            ));
        }
    }
    Ok(Connection {
        ldap,
        url: url.clone(),
    })
}

/// Exactly one entry with a DN, or why not.
fn entry_of(username: &str, result: ldap3::SearchResult) -> Result<UserEntry, AuthError> {
    let ldap3::SearchResult(entries, status) = result;
    let entries: Vec<SearchEntry> = entries
        .into_iter()
        .filter(|entry| !entry.is_ref() && !entry.is_intermediate())
        .map(SearchEntry::construct)
        .collect();
    if status.rc == SIZE_LIMIT_EXCEEDED || entries.len() > 1 {
        tracing::debug!(user = username, "the search matched more than one entry");
        return Err(AuthError::Ambiguous {
            username: username.to_owned(),
        });
    }
    if status.rc != 0 {
        return Err(AuthError::Ldap(describe(&LdapError::LdapResult {
            result: status,
        })));
    }
    let Some(entry) = entries.into_iter().next() else {
        tracing::debug!(user = username, "the search matched no entry");
        return Err(AuthError::UserNotFound(username.to_owned()));
    };
    if entry.dn.is_empty() {
        return Err(AuthError::Ldap(format!(
            "user {username:?}: unable to find dn"
        )));
    }
    let mut attributes: Vec<(String, Vec<String>)> = entry.attrs.into_iter().collect();
    for (name, values) in entry.bin_attrs {
        let values = values
            .into_iter()
            .filter_map(|v| String::from_utf8(v).ok())
            .collect();
        attributes.push((name, values));
    }
    Ok(UserEntry {
        dn: entry.dn,
        attributes,
        nested_groups: Vec::new(),
    })
}

/// Not an LDAP result: the connection itself failed.
fn transport(err: &LdapError) -> bool {
    !matches!(err, LdapError::LdapResult { .. })
}
