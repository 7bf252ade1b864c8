//! Redis Streams (Plexus extension): each event is one `XADD` entry with
//! the metadata fields (`action`, `object_type`, `event`), `id` (the event
//! id) and `body` (the Go plugin's JSON). With `maxlen=N` the stream is
//! trimmed to N entries (`MAXLEN N`). The reply (the entry id) is the acknowledgement.
//! A `rediss://` server URL connects over TLS (rustls).
//! redis's `ConnectionManager` multiplexes concurrent events on one
//! connection (pipelined) and reconnects by itself with backoff.

use crate::config::{redact, RedisConfig};
use crate::message::Message;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::time::Duration;

pub struct RedisPublisher {
    connection: ConnectionManager,
    stream: String,
    maxlen: Option<u64>,
}

/// The `XADD` command for one message.
pub fn xadd(stream: &str, maxlen: Option<u64>, message: &Message) -> redis::Cmd {
    let mut cmd = redis::cmd("XADD");
    cmd.arg(stream);
    if let Some(n) = maxlen {
        cmd.arg("MAXLEN").arg(n);
    }
    cmd.arg("*");
    for (k, v) in &message.metadata {
        cmd.arg(*k).arg(v.as_str());
    }
    cmd.arg("id")
        .arg(message.id.as_str())
        .arg("body")
        .arg(message.body.as_slice());
    cmd
}

/// The client, over TLS for a `rediss://` URL: `TLS_ROOT_CERT` (which
/// replaces the system's roots in the redis crate), the client certificate,
/// and `TLS_SKIP_VERIFY` (the URL's `#insecure`).
fn client(config: &RedisConfig) -> Result<redis::Client, String> {
    let Some(tls) = &config.tls else {
        return redis::Client::open(config.server_url.as_str()).map_err(|err| err.to_string());
    };
    let mut url = config.server_url.trim().to_owned();
    if tls.skip_verify && !url.contains('#') {
        tracing::warn!("TLS_SKIP_VERIFY is set: the Redis server's certificate is not verified");
        url.push_str("#insecure");
    }
    let (root_cert, client_cert, client_key) = crate::tls::pem_files(tls)?;
    if root_cert.is_none() && client_cert.is_none() {
        return redis::Client::open(url.as_str()).map_err(|err| err.to_string());
    }
    let client_tls = match (client_cert, client_key) {
        (Some(client_cert), Some(client_key)) => Some(redis::ClientTlsConfig {
            client_cert,
            client_key,
        }),
        _ => None,
    };
    redis::Client::build_with_tls(
        url.as_str(),
        redis::TlsCertificates {
            client_tls,
            root_cert,
        },
    )
    .map_err(|err| err.to_string())
}

impl RedisPublisher {
    pub async fn connect(config: &RedisConfig) -> Result<Self, String> {
        let shown = redact(&config.server_url);
        let client = client(config).map_err(|err| format!("REDIS_SERVER_URL {shown}: {err}"))?;
        let settings = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(10)))
            .set_response_timeout(Some(Duration::from_secs(30)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(30));
        let connection = ConnectionManager::new_with_config(client, settings)
            .await
            .map_err(|err| format!("failed to dial REDIS_SERVER_URL {shown}: {err}"))?;
        Ok(RedisPublisher {
            connection,
            stream: config.stream.clone(),
            maxlen: config.maxlen,
        })
    }

    pub async fn publish(&self, message: &Message) -> Result<(), String> {
        let mut connection = self.connection.clone();
        let _entry: String = xadd(&self.stream, self.maxlen, message)
            .query_async(&mut connection)
            .await
            .map_err(|err| format!("Redis XADD failed: {err}"))?;
        Ok(())
    }
}
