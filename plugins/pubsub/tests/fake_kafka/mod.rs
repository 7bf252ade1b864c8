//! **A FAKE Kafka broker, for tests only. It is not Kafka.**
//!
//! No Kafka broker can run on this machine, so the Kafka publisher is tested
//! against this protocol-level stand-in, written on `kafka-protocol` (a Kafka
//! codec independent of the rskafka client under test). It speaks just
//! enough of the wire protocol for a producer: ApiVersions, Metadata (one
//! broker, the topics given, several partitions each), Produce (record
//! batches decoded and kept, so a test sees each record's partition, key,
//! headers, value and the `acks` asked for), and SaslHandshake /
//! SaslAuthenticate for PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802,
//! the server side). It listens on 127.0.0.1, over plain TCP or over TLS.
//! Replication, leadership changes, compression, transactions and every
//! other API are out of its scope.

#![allow(dead_code)]

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use hmac::{Hmac, Mac};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, BrokerId, MetadataResponse, ProduceResponse, RequestKind,
    ResponseHeader, ResponseKind, SaslAuthenticateResponse, SaslHandshakeResponse, TopicName,
};
use kafka_protocol::protocol::{decode_request_header_from_buffer, Encodable, StrBytes};
use kafka_protocol::records::RecordBatchDecoder;
use sha2::{Digest, Sha256, Sha512};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Kafka error codes the fake answers with.
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
const ILLEGAL_SASL_STATE: i16 = 34;
const SASL_AUTHENTICATION_FAILED: i16 = 58;

/// One record as the fake stored it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Produced {
    pub topic: String,
    pub partition: i32,
    pub acks: i16,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Vec<u8>)>,
    pub timestamp_ms: i64,
}

#[derive(Debug, Clone)]
pub struct Sasl {
    /// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    pub mechanism: &'static str,
    pub username: String,
    pub password: String,
}

#[derive(Default)]
struct State {
    topics: BTreeMap<String, i32>,
    produced: Vec<Produced>,
    offsets: BTreeMap<(String, i32), i64>,
    authentications: u32,
    refused_authentications: u32,
}

pub struct FakeKafka {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl Drop for FakeKafka {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl FakeKafka {
    /// Starts the fake on a free loopback port with these topics
    /// (name, partition count), optionally over TLS and requiring SASL.
    pub async fn start(
        topics: &[(&str, i32)],
        tls: Option<Arc<rustls::ServerConfig>>,
        sasl: Option<Sasl>,
    ) -> FakeKafka {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(Mutex::new(State {
            topics: topics.iter().map(|(t, n)| ((*t).to_owned(), *n)).collect(),
            ..State::default()
        }));
        let shared = state.clone();
        let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let state = shared.clone();
                let sasl = sasl.clone();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let _ = match acceptor {
                        Some(acceptor) => match acceptor.accept(socket).await {
                            Ok(stream) => serve(stream, addr, state, sasl).await,
                            Err(_) => Ok(()),
                        },
                        None => serve(socket, addr, state, sasl).await,
                    };
                });
            }
        });
        FakeKafka { addr, state, task }
    }

    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    pub fn produced(&self) -> Vec<Produced> {
        lock(&self.state).produced.clone()
    }

    pub fn create_topic(&self, name: &str, partitions: i32) {
        lock(&self.state).topics.insert(name.to_owned(), partitions);
    }

    /// (successful, refused) SASL authentications.
    pub fn authentications(&self) -> (u32, u32) {
        let state = lock(&self.state);
        (state.authentications, state.refused_authentications)
    }
}

/// Where a connection is in its SASL exchange.
enum Auth {
    Open,
    NeedHandshake,
    NeedAuthenticate,
    Scram(ScramServer),
    Done,
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    sasl: Option<Sasl>,
) -> Result<(), String> {
    let mut auth = if sasl.is_some() {
        Auth::NeedHandshake
    } else {
        Auth::Open
    };
    loop {
        let Ok(len) = stream.read_i32().await else {
            return Ok(());
        };
        let mut frame = vec![0; len.max(0) as usize];
        stream
            .read_exact(&mut frame)
            .await
            .map_err(|e| e.to_string())?;
        let mut bytes = Bytes::from(frame);
        let header = decode_request_header_from_buffer(&mut bytes).map_err(|e| e.to_string())?;
        let api_key = ApiKey::try_from(header.request_api_key)
            .map_err(|_| format!("unknown api key {}", header.request_api_key))?;
        let version = header.request_api_version;
        let request =
            RequestKind::decode(api_key, &mut bytes, version).map_err(|e| e.to_string())?;
        let authenticated = matches!(auth, Auth::Open | Auth::Done);
        let response = match request {
            RequestKind::ApiVersions(_) => ResponseKind::ApiVersions(api_versions()),
            RequestKind::SaslHandshake(req) => {
                let Some(sasl) = &sasl else {
                    return Err("SASL handshake on a broker without SASL".into());
                };
                let mut response = SaslHandshakeResponse::default();
                response.mechanisms = vec![StrBytes::from_static_str(sasl.mechanism)];
                if req.mechanism.as_str() == sasl.mechanism {
                    auth = Auth::NeedAuthenticate;
                } else {
                    response.error_code = UNSUPPORTED_SASL_MECHANISM;
                }
                ResponseKind::SaslHandshake(response)
            }
            RequestKind::SaslAuthenticate(req) => {
                let Some(sasl) = &sasl else {
                    return Err("SASL authenticate on a broker without SASL".into());
                };
                let mut response = SaslAuthenticateResponse::default();
                let step = std::mem::replace(&mut auth, Auth::NeedHandshake);
                match (step, sasl.mechanism) {
                    (Auth::NeedAuthenticate, "PLAIN") => {
                        let expected =
                            format!("\0{}\0{}", sasl.username, sasl.password).into_bytes();
                        if req.auth_bytes.as_ref() == expected.as_slice() {
                            auth = Auth::Done;
                        } else {
                            response.error_code = SASL_AUTHENTICATION_FAILED;
                        }
                    }
                    (Auth::NeedAuthenticate, mechanism) => {
                        match ScramServer::first(mechanism, sasl, &req.auth_bytes) {
                            Some((server, reply)) => {
                                response.auth_bytes = Bytes::from(reply);
                                auth = Auth::Scram(server);
                            }
                            None => response.error_code = SASL_AUTHENTICATION_FAILED,
                        }
                    }
                    (Auth::Scram(server), _) => match server.last(&req.auth_bytes) {
                        Some(reply) => {
                            response.auth_bytes = Bytes::from(reply);
                            auth = Auth::Done;
                        }
                        None => response.error_code = SASL_AUTHENTICATION_FAILED,
                    },
                    _ => response.error_code = ILLEGAL_SASL_STATE,
                }
                let mut shared = lock(&state);
                if response.error_code == 0 && matches!(auth, Auth::Done) {
                    shared.authentications += 1;
                } else if response.error_code != 0 {
                    shared.refused_authentications += 1;
                    response.error_message =
                        Some(StrBytes::from_static_str("authentication failed"));
                }
                ResponseKind::SaslAuthenticate(response)
            }
            // Kafka closes a connection that skips authentication.
            _ if !authenticated => return Ok(()),
            RequestKind::Metadata(req) => {
                let shared = lock(&state);
                let wanted: Vec<String> = match &req.topics {
                    Some(topics) => topics
                        .iter()
                        .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
                        .collect(),
                    None => shared.topics.keys().cloned().collect(),
                };
                ResponseKind::Metadata(metadata(addr, &shared.topics, &wanted))
            }
            RequestKind::Produce(req) => {
                let mut shared = lock(&state);
                let mut response = ProduceResponse::default();
                for topic in &req.topic_data {
                    let name = topic.name.0.to_string();
                    let mut topic_response = TopicProduceResponse::default();
                    topic_response.name = topic.name.clone();
                    for partition in &topic.partition_data {
                        let mut part = PartitionProduceResponse::default();
                        part.index = partition.index;
                        let known = shared
                            .topics
                            .get(&name)
                            .is_some_and(|n| (0..*n).contains(&partition.index));
                        if !known {
                            part.error_code = UNKNOWN_TOPIC_OR_PARTITION;
                            topic_response.partition_responses.push(part);
                            continue;
                        }
                        let mut records = partition.records.clone().unwrap_or_default();
                        let mut stored = Vec::new();
                        while !records.is_empty() {
                            let set = RecordBatchDecoder::decode(&mut records)
                                .map_err(|e| format!("bad record batch: {e}"))?;
                            for record in set.records {
                                stored.push(Produced {
                                    topic: name.clone(),
                                    partition: partition.index,
                                    acks: req.acks,
                                    key: record.key.map(|k| k.to_vec()),
                                    value: record.value.map(|v| v.to_vec()),
                                    headers: record
                                        .headers
                                        .iter()
                                        .map(|(k, v)| {
                                            (
                                                k.to_string(),
                                                v.as_ref().map(|v| v.to_vec()).unwrap_or_default(),
                                            )
                                        })
                                        .collect(),
                                    timestamp_ms: record.timestamp,
                                });
                            }
                        }
                        let offset = shared
                            .offsets
                            .entry((name.clone(), partition.index))
                            .or_insert(0);
                        part.base_offset = *offset;
                        *offset += stored.len() as i64;
                        part.log_append_time_ms = -1;
                        shared.produced.extend(stored);
                        topic_response.partition_responses.push(part);
                    }
                    response.responses.push(topic_response);
                }
                ResponseKind::Produce(response)
            }
            other => return Err(format!("the fake broker does not serve {other:?}")),
        };
        let mut out = BytesMut::new();
        ResponseHeader::default()
            .with_correlation_id(header.correlation_id)
            .encode(&mut out, api_key.response_header_version(version))
            .map_err(|e| e.to_string())?;
        response
            .encode(&mut out, version)
            .map_err(|e| e.to_string())?;
        stream
            .write_i32(out.len() as i32)
            .await
            .map_err(|e| e.to_string())?;
        stream.write_all(&out).await.map_err(|e| e.to_string())?;
        stream.flush().await.map_err(|e| e.to_string())?;
    }
}

fn api_versions() -> ApiVersionsResponse {
    let mut response = ApiVersionsResponse::default();
    for (key, min, max) in [
        (ApiKey::Produce, 3, 7),
        (ApiKey::Metadata, 0, 4),
        (ApiKey::ApiVersions, 0, 3),
        (ApiKey::SaslHandshake, 0, 1),
        (ApiKey::SaslAuthenticate, 0, 1),
    ] {
        let mut version = ApiVersion::default();
        version.api_key = key as i16;
        version.min_version = min;
        version.max_version = max;
        response.api_keys.push(version);
    }
    response
}

fn metadata(
    addr: SocketAddr,
    topics: &BTreeMap<String, i32>,
    wanted: &[String],
) -> MetadataResponse {
    let mut response = MetadataResponse::default();
    let mut broker = MetadataResponseBroker::default();
    broker.node_id = BrokerId(0);
    broker.host = StrBytes::from_string(addr.ip().to_string());
    broker.port = i32::from(addr.port());
    response.brokers.push(broker);
    response.controller_id = BrokerId(0);
    for name in wanted {
        let mut topic = MetadataResponseTopic::default();
        topic.name = Some(TopicName(StrBytes::from_string(name.clone())));
        match topics.get(name) {
            Some(count) => {
                for index in 0..*count {
                    let mut partition = MetadataResponsePartition::default();
                    partition.partition_index = index;
                    partition.leader_id = BrokerId(0);
                    partition.replica_nodes = vec![BrokerId(0)];
                    partition.isr_nodes = vec![BrokerId(0)];
                    topic.partitions.push(partition);
                }
            }
            None => topic.error_code = UNKNOWN_TOPIC_OR_PARTITION,
        }
        response.topics.push(topic);
    }
    response
}

/// The server side of SCRAM (RFC 5802), for one exchange.
struct ScramServer {
    sha512: bool,
    salted_password: Vec<u8>,
    client_first_bare: String,
    server_first: String,
    nonce: String,
}

fn hmac(sha512: bool, key: &[u8], data: &[u8]) -> Vec<u8> {
    if sha512 {
        let mut mac = Hmac::<Sha512>::new_from_slice(key).expect("any key length");
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    } else {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }
}

fn hash(sha512: bool, data: &[u8]) -> Vec<u8> {
    if sha512 {
        Sha512::digest(data).to_vec()
    } else {
        Sha256::digest(data).to_vec()
    }
}

/// Hi() of RFC 5802: PBKDF2 with HMAC, one block.
fn salted_password(sha512: bool, password: &str, salt: &[u8], iterations: u32) -> Vec<u8> {
    let mut block = salt.to_vec();
    block.extend_from_slice(&1u32.to_be_bytes());
    let mut u = hmac(sha512, password.as_bytes(), &block);
    let mut out = u.clone();
    for _ in 1..iterations {
        u = hmac(sha512, password.as_bytes(), &u);
        for (o, x) in out.iter_mut().zip(&u) {
            *o ^= x;
        }
    }
    out
}

fn attribute(message: &str, name: char) -> Option<&str> {
    message
        .split(',')
        .find_map(|part| part.strip_prefix(name)?.strip_prefix('='))
}

impl ScramServer {
    const ITERATIONS: u32 = 4096;

    /// Reads client-first (`n,,n=user,r=nonce`), answers server-first.
    fn first(mechanism: &str, sasl: &Sasl, client_first: &[u8]) -> Option<(ScramServer, Vec<u8>)> {
        let sha512 = match mechanism {
            "SCRAM-SHA-256" => false,
            "SCRAM-SHA-512" => true,
            _ => return None,
        };
        let text = std::str::from_utf8(client_first).ok()?;
        let bare = text.strip_prefix("n,,")?.to_owned();
        if attribute(&bare, 'n')? != sasl.username {
            return None;
        }
        let nonce = format!("{}fakebrokernonce", attribute(&bare, 'r')?);
        let salt = b"fake-kafka-salt";
        let server_first = format!("r={nonce},s={},i={}", B64.encode(salt), Self::ITERATIONS);
        let server = ScramServer {
            sha512,
            salted_password: salted_password(sha512, &sasl.password, salt, Self::ITERATIONS),
            client_first_bare: bare,
            server_first: server_first.clone(),
            nonce,
        };
        Some((server, server_first.into_bytes()))
    }

    /// Checks client-final's proof, answers server-final (`v=...`).
    fn last(&self, client_final: &[u8]) -> Option<Vec<u8>> {
        let text = std::str::from_utf8(client_final).ok()?;
        let (without_proof, proof) = text.rsplit_once(",p=")?;
        if attribute(without_proof, 'r')? != self.nonce {
            return None;
        }
        let auth_message = format!(
            "{},{},{}",
            self.client_first_bare, self.server_first, without_proof
        );
        let client_key = hmac(self.sha512, &self.salted_password, b"Client Key");
        let stored_key = hash(self.sha512, &client_key);
        let signature = hmac(self.sha512, &stored_key, auth_message.as_bytes());
        let expected: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(a, b)| a ^ b)
            .collect();
        if B64.decode(proof).ok()? != expected {
            return None;
        }
        let server_key = hmac(self.sha512, &self.salted_password, b"Server Key");
        let server_signature = hmac(self.sha512, &server_key, auth_message.as_bytes());
        Some(format!("v={}", B64.encode(server_signature)).into_bytes())
    }
}
