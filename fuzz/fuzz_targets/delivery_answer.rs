//! Fuzzes the unary delivery client (`plexus_engine::unary`) with whatever
//! a notifier plugin may send back on its connection: any bytes as the
//! plugin's side of the HTTP/2 stream, for 1 to 4 calls in flight. Every
//! call must get exactly one outcome (the connection ends when the plugin
//! closes its side), and nothing the plugin sends may panic the host.
#![no_main]

use plexus_fuzz::Cursor;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut cursor = Cursor::new(data);
    let calls = 1 + usize::from(cursor.u8() % 4);
    let outcomes = plexus_engine::unary::answers_to(cursor.rest(), calls);
    assert_eq!(outcomes.len(), calls);
    for (index, outcome) in outcomes.iter().enumerate() {
        match outcome {
            Some(Ok(())) | Some(Err(_)) => {}
            None => panic!("call {index} got no outcome"),
        }
    }
});
