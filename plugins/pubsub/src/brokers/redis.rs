//! Redis Streams (Plexus extension): each event is one `XADD` entry with
//! the metadata fields (`action`, `object_type`, `event`), `id` (the event
//! id) and `body` (the Go plugin's JSON). With `maxlen=N` the stream is
//! trimmed to N entries (`MAXLEN N`). The reply (the entry id) is the acknowledgement.
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

impl RedisPublisher {
    pub async fn connect(config: &RedisConfig) -> Result<Self, String> {
        let shown = redact(&config.server_url);
        let client = redis::Client::open(config.server_url.as_str())
            .map_err(|err| format!("REDIS_SERVER_URL {shown}: {err}"))?;
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
