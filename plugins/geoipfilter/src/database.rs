//! One opened country database and its lookup.
//!
//! The file is read into memory and accepted when its metadata parses, as
//! the Go reader accepts it: a truncated file or one that is not a MaxMind
//! DB is refused. (`Reader::verify` would also walk the whole search tree,
//! which takes long on a full database, and it refuses databases with an
//! empty description map, which the format and the Go reader allow.) It
//! is not memory-mapped: a database updater that rewrites the
//! file in place would change the pages under a live map (undefined
//! behaviour in the reader); an in-memory copy costs a few MB for a country
//! database and makes a reload an atomic swap of two independent values.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use maxminddb::{PathElement, Reader};

/// Where the country code is in a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbType {
    /// `--db-type 0`: MaxMind's layout, `country.iso_code` (GeoLite2/GeoIP2 Country and City).
    MaxMind,
    /// `--db-type 1`: a top-level `country_code` (IPLocate, IPinfo Lite).
    CountryCode,
}

impl DbType {
    fn path(self) -> &'static [PathElement<'static>] {
        const MAXMIND: &[PathElement<'static>] =
            &[PathElement::Key("country"), PathElement::Key("iso_code")];
        const COUNTRY_CODE: &[PathElement<'static>] = &[PathElement::Key("country_code")];
        match self {
            DbType::MaxMind => MAXMIND,
            DbType::CountryCode => COUNTRY_CODE,
        }
    }
}

/// An opened database.
pub struct CountryDb {
    reader: Reader<Vec<u8>>,
    db_type: DbType,
    path: PathBuf,
}

impl std::fmt::Debug for CountryDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountryDb")
            .field("path", &self.path)
            .field("db_type", &self.db_type)
            .field("database_type", &self.reader.metadata().database_type)
            .finish()
    }
}

impl CountryDb {
    /// Reads and opens the file; the error names the path.
    pub fn open(path: &Path, db_type: DbType) -> Result<CountryDb, String> {
        let bytes = std::fs::read(path)
            .map_err(|err| format!("cannot read the database {}: {err}", path.display()))?;
        CountryDb::from_bytes(bytes, path, db_type)
    }

    /// Opens a database already in memory; `path` is for messages.
    pub fn from_bytes(bytes: Vec<u8>, path: &Path, db_type: DbType) -> Result<CountryDb, String> {
        let invalid = |err: maxminddb::MaxMindDbError| {
            format!("{} is not a valid MaxMind DB: {err}", path.display())
        };
        let reader = Reader::from_source(bytes).map_err(invalid)?;
        Ok(CountryDb {
            reader,
            db_type,
            path: path.to_owned(),
        })
    }

    /// The country code of `ip`: `Ok(None)` when the database has no record
    /// for it, or a record without a code or with an empty one; `Err` when
    /// the lookup itself fails (an IPv6 address in an IPv4-only database, a
    /// code that is not a string).
    pub fn country(&self, ip: IpAddr) -> Result<Option<&str>, String> {
        let found = self
            .reader
            .lookup(ip.to_canonical())
            .map_err(|err| err.to_string())?;
        let code: Option<&str> = found
            .decode_path(self.db_type.path())
            .map_err(|err| err.to_string())?;
        Ok(code.filter(|code| !code.is_empty()))
    }

    /// The bare reader, for comparing against it in benchmarks.
    pub fn reader(&self) -> &Reader<Vec<u8>> {
        &self.reader
    }

    /// Where this database keeps the country code.
    pub fn db_type(&self) -> DbType {
        self.db_type
    }

    /// The file this database was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The metadata's `database_type`, e.g. `GeoLite2-Country`.
    pub fn database_type(&self) -> &str {
        &self.reader.metadata().database_type
    }
}
