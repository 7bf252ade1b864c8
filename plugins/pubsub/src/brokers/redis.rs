//! Redis Streams (Plexus extension): each event is one `XADD` entry with
//! the metadata fields (`action`, `object_type`, `event`), `id` (the event
//! id) and `body` (the Go plugin's JSON). With `maxlen=N` the stream is
//! trimmed to N entries (`MAXLEN N`). The reply (the entry id) is the acknowledgement.
//! A `rediss://` server URL connects over TLS (rustls).
//!
//! Concurrent events (a batch from a Plexus host, or SFTPGo's concurrent
//! unary calls) are written as one Redis pipeline: a writer task takes
//! every event waiting when it is free, sends their `XADD`s as one
//! pipeline, and answers each event with its own entry's reply (a
//! pipeline with `ignore_errors`, so one refused entry fails only its
//! event). A lone event goes alone at once: nothing waits for a batch to
//! fill. Up to [`PIPELINES_IN_FLIGHT`] pipelines are on the wire at a time;
//! Redis runs a connection's commands in the order they arrive. redis's
//! `ConnectionManager` carries them on one connection and reconnects by
//! itself with backoff.

use crate::config::{redact, RedisConfig};
use crate::message::Message;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Semaphore};

/// The most `XADD`s in one pipeline.
pub const MAX_PIPELINE: usize = 512;
/// Pipelines sent and not yet answered, at most.
pub const PIPELINES_IN_FLIGHT: usize = 4;

/// An event's `XADD`, and where to answer.
type Pending = (redis::Cmd, oneshot::Sender<Result<(), String>>);

pub struct RedisPublisher {
    pending: mpsc::UnboundedSender<Pending>,
    stream: String,
    maxlen: Option<u64>,
}

/// Sends the waiting events as pipelines until every publisher handle is
/// gone.
async fn writer(connection: ConnectionManager, mut pending: mpsc::UnboundedReceiver<Pending>) {
    let in_flight = Arc::new(Semaphore::new(PIPELINES_IN_FLIGHT));
    while let Some(first) = pending.recv().await {
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        // Everything that arrived while the permit was awaited joins.
        let mut group = vec![first];
        while group.len() < MAX_PIPELINE {
            match pending.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        let mut connection = connection.clone();
        tokio::spawn(async move {
            send_pipeline(&mut connection, group).await;
            drop(permit);
        });
    }
}

/// One pipeline of `XADD`s; each event gets its own entry's outcome.
async fn send_pipeline(connection: &mut ConnectionManager, group: Vec<Pending>) {
    let mut pipeline = redis::pipe();
    pipeline.ignore_errors();
    let mut answers = Vec::with_capacity(group.len());
    for (cmd, answer) in group {
        pipeline.add_command(cmd);
        answers.push(answer);
    }
    match pipeline
        .query_async::<Vec<redis::RedisResult<String>>>(connection)
        .await
    {
        Ok(replies) if replies.len() == answers.len() => {
            for (reply, answer) in replies.into_iter().zip(answers) {
                let _ = answer.send(
                    reply
                        .map(drop)
                        .map_err(|err| format!("Redis XADD failed: {err}")),
                );
            }
        }
        Ok(replies) => {
            let err = format!(
                "Redis answered {} replies to a pipeline of {} XADD commands",
                replies.len(),
                answers.len()
            );
            for answer in answers {
                let _ = answer.send(Err(err.clone()));
            }
        }
        Err(err) => {
            let err = format!("Redis XADD failed: {err}");
            for answer in answers {
                let _ = answer.send(Err(err.clone()));
            }
        }
    }
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
        let (pending, waiting) = mpsc::unbounded_channel();
        tokio::spawn(writer(connection, waiting));
        Ok(RedisPublisher {
            pending,
            stream: config.stream.clone(),
            maxlen: config.maxlen,
        })
    }

    pub async fn publish(&self, message: &Message) -> Result<(), String> {
        let (answer, outcome) = oneshot::channel();
        self.pending
            .send((xadd(&self.stream, self.maxlen, message), answer))
            .map_err(|_| "the Redis writer has stopped".to_owned())?;
        outcome
            .await
            .map_err(|_| "the Redis writer has stopped".to_owned())?
    }
}

#[cfg(test)]
mod tests {
    use super::{send_pipeline, Pending};
    use tokio::sync::oneshot;

    const REDIS_URL: &str = "redis://127.0.0.1:6379/0";

    /// Against the local Redis: one pipeline where the middle entry is
    /// refused (its key holds a string) fails that event only.
    #[tokio::test]
    async fn a_refused_entry_fails_only_its_own_event() {
        let client = redis::Client::open(REDIS_URL).expect("Redis URL");
        let mut connection = redis::aio::ConnectionManager::new(client)
            .await
            .unwrap_or_else(|err| {
                panic!(
                    "Redis is not reachable on 127.0.0.1:6379 ({err}). The plexus-pubsub tests \
                     run against the real local server and are never skipped."
                )
            });
        let pid = std::process::id();
        let stream = format!("plexus-unit-pipeline-{pid}");
        let string_key = format!("plexus-unit-not-a-stream-{pid}");
        let _: () = redis::cmd("SET")
            .arg(&string_key)
            .arg("x")
            .query_async(&mut connection)
            .await
            .expect("SET");
        let xadd = |key: &str| {
            let mut cmd = redis::cmd("XADD");
            cmd.arg(key).arg("*").arg("body").arg("b");
            cmd
        };
        let mut group: Vec<Pending> = Vec::new();
        let mut outcomes = Vec::new();
        for key in [&stream, &string_key, &stream] {
            let (answer, outcome) = oneshot::channel();
            group.push((xadd(key), answer));
            outcomes.push(outcome);
        }
        send_pipeline(&mut connection, group).await;
        let mut results = Vec::new();
        for outcome in outcomes {
            results.push(outcome.await.expect("answered"));
        }
        let _: () = redis::cmd("DEL")
            .arg(&stream)
            .arg(&string_key)
            .query_async(&mut connection)
            .await
            .expect("DEL");
        assert!(results[0].is_ok(), "{results:?}");
        let refused = results[1]
            .as_ref()
            .expect_err("the string key refuses XADD");
        assert!(refused.contains("WRONGTYPE"), "{refused}");
        assert!(results[2].is_ok(), "{results:?}");
    }
}
