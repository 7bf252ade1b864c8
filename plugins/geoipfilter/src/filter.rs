//! The `proto.IPFilter` service: CheckIP decides with the database in
//! force, Reload reads the file again and swaps it in.
//!
//! The database in force sits in an `ArcSwap`: a CheckIP takes a reference
//! without a lock and keeps using that database to the end of its decision
//! even if a reload swaps another in meanwhile. A reload opens
//! the new file on a blocking thread first and swaps only on success, so
//! there is no moment without a database, and a failed reload (missing,
//! unreadable, corrupt file) keeps the previous one (plugin 1.2.0; the Go
//! 1.0.x plugin closed it first and then allowed everything).

use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use plexus_sdk::ipfilter::{CheckIpRequest, IpFilter};
use plexus_sdk::{async_trait, Request, Response, Status};

use crate::database::{CountryDb, DbType};
use crate::decision::Policy;

/// The plugin: the policy, the file, and the database in force.
pub struct GeoFilter {
    policy: Policy,
    db_file: PathBuf,
    db_type: DbType,
    current: ArcSwap<CountryDb>,
}

impl GeoFilter {
    /// Opens the database (a failure here stops the plugin's start).
    pub fn open(db_file: PathBuf, db_type: DbType, policy: Policy) -> Result<GeoFilter, String> {
        let db = CountryDb::open(&db_file, db_type)?;
        Ok(GeoFilter::with_database(db, db_file, policy))
    }

    /// A filter over a database already opened.
    pub fn with_database(db: CountryDb, db_file: PathBuf, policy: Policy) -> GeoFilter {
        let db_type = db.db_type();
        GeoFilter {
            policy,
            db_file,
            db_type,
            current: ArcSwap::from_pointee(db),
        }
    }

    /// The database in force.
    pub fn database(&self) -> Arc<CountryDb> {
        self.current.load_full()
    }

    /// The decision for one address, with the database in force.
    pub fn check(&self, ip: &str) -> Result<(), String> {
        self.policy.check(ip, &self.current.load())
    }

    /// Reads the file again; on success the new database replaces the old
    /// one, on failure the old one stays and the error is returned.
    pub async fn reload_database(&self) -> Result<(), String> {
        let (path, db_type) = (self.db_file.clone(), self.db_type);
        let opened = tokio::task::spawn_blocking(move || CountryDb::open(&path, db_type))
            .await
            .map_err(|err| format!("the reload task failed: {err}"))??;
        tracing::info!(path = %self.db_file.display(), database_type = opened.database_type(), "database reloaded");
        self.current.store(Arc::new(opened));
        Ok(())
    }
}

#[async_trait]
impl IpFilter for GeoFilter {
    async fn check_ip(&self, request: Request<CheckIpRequest>) -> Result<Response<()>, Status> {
        self.check(&request.get_ref().ip)
            .map(Response::new)
            .map_err(Status::permission_denied)
    }

    async fn reload(&self, _: Request<()>) -> Result<Response<()>, Status> {
        match self.reload_database().await {
            Ok(()) => Ok(Response::new(())),
            Err(err) => {
                tracing::error!(path = %self.db_file.display(), error = %err, "unable to reload the database, the previous one stays in use");
                Err(Status::failed_precondition(format!(
                    "unable to reload the database, the previous one stays in use: {err}"
                )))
            }
        }
    }
}
