//! Why a login failed, and how that reaches the host: a gRPC status whose
//! message says what happened without ever holding a password. SFTPGo
//! treats any error as a failed login; the status codes help Plexus and
//! the logs tell a wrong password from an LDAP outage.

use plexus_sdk::Status;

/// A failed authentication step.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Empty password, or the cache holds another password for the user.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The directory refused the user's bind (result 49 is the usual one).
    #[error("invalid credentials: LDAP result code {code} ({text})")]
    BindRefused { code: u32, text: String },
    #[error("user {0:?} does not exist")]
    UserNotFound(String),
    #[error("user {username:?}: the search matched more than one entry, exactly one is required")]
    Ambiguous { username: String },
    /// A rule of the settings refuses the user (groups, role, requirements).
    #[error("{0}")]
    NotAllowed(String),
    #[error("not implemented")]
    NotImplemented,
    /// No LDAP server could be reached (or none accepted the service bind).
    #[error("LDAP server unavailable: {0}")]
    Unavailable(String),
    /// The server answered an operation with an error.
    #[error("LDAP error: {0}")]
    Ldap(String),
    /// The user JSON sent by the host cannot be read.
    #[error("invalid user JSON from the host: {0}")]
    BadUser(String),
    #[error("{0}")]
    BadRequest(String),
}

impl AuthError {
    /// The status returned to the host.
    pub fn to_status(&self) -> Status {
        let message = self.to_string();
        match self {
            AuthError::InvalidCredentials
            | AuthError::BindRefused { .. }
            | AuthError::UserNotFound(_)
            | AuthError::Ambiguous { .. } => Status::unauthenticated(message),
            AuthError::NotAllowed(_) => Status::permission_denied(message),
            AuthError::NotImplemented => Status::unimplemented(message),
            AuthError::Unavailable(_) => Status::unavailable(message),
            AuthError::Ldap(_) => Status::internal(message),
            AuthError::BadUser(_) | AuthError::BadRequest(_) => Status::invalid_argument(message),
        }
    }
}

impl From<AuthError> for Status {
    fn from(err: AuthError) -> Status {
        err.to_status()
    }
}
