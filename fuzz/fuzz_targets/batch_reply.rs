//! Fuzzes how the host settles a `plexus.v1.NotifierBatch` reply: a reply
//! decoded from arbitrary bytes (any number of results, any codes and
//! messages) for a batch of any size goes through
//! `plexus_actors::transport::batch_outcomes`, which must give exactly one
//! outcome per event of the batch, in order: delivered for code 0, failed
//! with the plugin's code otherwise, failed as a missing outcome when the
//! reply is short.
#![no_main]

use plexus_actors::transport::{batch_outcomes, DeliveryError};
use plexus_fuzz::Cursor;
use plexus_proto::plexus::v1::NotifierBatchReply;
use prost::Message;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut cursor = Cursor::new(data);
    // Up to a little more than the largest batch the host sends (4096).
    let count = usize::from(cursor.u16() % 4200);
    let Ok(reply) = NotifierBatchReply::decode(cursor.rest()) else {
        return;
    };
    let results = reply.results.clone();
    let outcomes = batch_outcomes(reply.results, count);
    assert_eq!(outcomes.len(), count);
    for (index, outcome) in outcomes.iter().enumerate() {
        match (results.get(index), outcome) {
            (Some(result), Ok(())) => assert_eq!(result.code, 0),
            (Some(result), Err(DeliveryError::Status { message, .. })) => {
                assert_ne!(result.code, 0);
                assert_eq!(message, &result.message);
            }
            (None, Err(err)) => assert_eq!(err, &DeliveryError::missing_outcome()),
            (result, outcome) => panic!("event {index}: result {result:?} gave {outcome:?}"),
        }
        if let Err(err) = outcome {
            let _ = err.to_string();
        }
    }
});
