//! One error type for every database operation, so the plugins can map it
//! to a gRPC status (bad input → INVALID_ARGUMENT, the rest → UNAVAILABLE).

/// What went wrong talking to the event database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The request itself is wrong (limit out of range, unknown driver, …).
    #[error("{0}")]
    InvalidArgument(String),
    /// The database holds a schema this binary does not know how to handle.
    #[error("{0}")]
    Schema(String),
    /// The database failed or could not be reached.
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    /// The single writer task has stopped.
    #[error("the event writer has stopped")]
    WriterStopped,
}
