//! Where credentials come from, once the configuration has been read: a
//! small tree (an assumed role sits on the source that signs its STS
//! call) that can be fetched again whenever the credentials expire.
//! Deciding which source applies is [`crate::chain`]'s concern; fetching
//! from each kind is its own module's.

use std::future::Future;
use std::pin::Pin;

use crate::container::Container;
use crate::credentials::Credentials;
use crate::error::Error;
use crate::http::Clients;
use crate::imds::Imds;
use crate::process;
use crate::sts;

/// One credential source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Keys from the environment or a profile.
    Static(Credentials),
    /// STS `AssumeRole`, signed with what `base` gives.
    AssumeRole {
        base: Box<Source>,
        request: sts::AssumeRole,
        endpoint: sts::Endpoint,
        /// `profile "dev"` or `the URL's role parameter`, for messages.
        origin: String,
    },
    /// STS `AssumeRoleWithWebIdentity`.
    WebIdentity {
        request: sts::WebIdentity,
        endpoint: sts::Endpoint,
    },
    /// A profile's `credential_process`.
    Process { command: String, profile: String },
    /// The container credentials endpoint.
    Container(Container),
    /// The instance metadata service; `tried` lists the sources the chain
    /// passed before falling back to it (empty when a profile asked for
    /// it by name), for the error when it fails too.
    Imds { imds: Imds, tried: Vec<String> },
}

type Fetch<'a> = Pin<Box<dyn Future<Output = Result<Credentials, Error>> + Send + 'a>>;

impl Source {
    /// Gets fresh credentials from the source (and the sources under it).
    pub fn fetch<'a>(&'a self, http: &'a Clients) -> Fetch<'a> {
        Box::pin(async move {
            match self {
                Source::Static(credentials) => Ok(credentials.clone()),
                Source::AssumeRole {
                    base,
                    request,
                    endpoint,
                    origin,
                } => {
                    let source = base
                        .fetch(http)
                        .await
                        .map_err(|err| err.context(&format!("{origin}: source credentials")))?;
                    sts::assume_role(&http.sts, endpoint, request, &source)
                        .await
                        .map_err(|err| err.context(origin))
                }
                Source::WebIdentity { request, endpoint } => {
                    sts::assume_role_with_web_identity(&http.sts, endpoint, request).await
                }
                Source::Process { command, profile } => process::fetch(command, profile).await,
                Source::Container(container) => container.fetch(&http.container).await,
                Source::Imds { imds, tried } => imds.fetch(&http.imds).await.map_err(|err| {
                    if tried.is_empty() {
                        err
                    } else {
                        Error::fetch(format!(
                            "no AWS credentials found; tried: {}; {}",
                            tried.join("; "),
                            err.message()
                        ))
                    }
                }),
            }
        })
    }

    /// The source in a few words, for logs (no secrets).
    pub fn describe(&self) -> String {
        match self {
            Source::Static(credentials) => credentials.source().to_owned(),
            Source::AssumeRole {
                base,
                request,
                origin,
                ..
            } => format!(
                "role {} assumed with {} ({origin})",
                request.role_arn,
                base.describe()
            ),
            Source::WebIdentity { request, .. } => format!(
                "role {} assumed with the web identity token in {}",
                request.role_arn,
                request.token_file.display()
            ),
            Source::Process { profile, .. } => {
                format!("credential_process of profile {profile:?}")
            }
            Source::Container(container) => {
                format!("container credentials at {}", container.url)
            }
            Source::Imds { imds, .. } => format!("EC2 instance metadata at {}", imds.endpoint),
        }
    }
}
