//! Fuzzes the ingestion API's decoding: bytes as a client sends them are
//! decoded as a `PublishRequest` or a `PublishBatchRequest` (prost), each
//! event goes through the conversion the ingestion service applies
//! (`plexus_engine::ingest::event_of`), and an accepted event through what
//! the engine does with it next: its timestamp and kind, and its queue
//! encoding, which must decode back to the same event. A third mode decodes
//! raw queue bytes (`plexus_actors::event::decode`), what a restart reads
//! back from disk.
#![no_main]

use plexus_actors::event::{decode, encode, Origin};
use plexus_engine::ingest::event_of;
use plexus_proto::plexus::v1::{PublishBatchRequest, PublishRequest};
use prost::Message;

fn accept(event: plexus_proto::Event) {
    let _ = event.timestamp_ns();
    let _ = event.kind();
    for origin in [Origin::Failed, Origin::Overflow, Origin::WriteAhead] {
        let bytes = encode(&event, origin);
        match decode(&bytes) {
            Ok((back, back_origin)) => {
                assert_eq!(back, event);
                assert_eq!(back_origin, origin);
            }
            Err(err) => panic!("an accepted event does not decode back: {err}"),
        }
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&mode, bytes)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            if let Ok(request) = PublishRequest::decode(bytes) {
                match event_of(request.event) {
                    Ok(event) => accept(event),
                    Err(status) => assert_eq!(status.code(), tonic::Code::InvalidArgument),
                }
            }
        }
        1 => {
            if let Ok(request) = PublishBatchRequest::decode(bytes) {
                for wire in request.events {
                    match event_of(Some(wire)) {
                        Ok(event) => accept(event),
                        Err(status) => assert_eq!(status.code(), tonic::Code::InvalidArgument),
                    }
                }
            }
        }
        _ => match decode(bytes) {
            Ok((event, origin)) => {
                let (back, back_origin) = match decode(&encode(&event, origin)) {
                    Ok(decoded) => decoded,
                    Err(err) => panic!("a decoded queue record does not round trip: {err}"),
                };
                assert_eq!((back, back_origin), (event, origin));
            }
            Err(err) => {
                let _ = err.to_string();
            }
        },
    }
});
