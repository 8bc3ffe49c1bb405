//! Arbitrary bytes from the serial line into both frame decoders and every reply/request parser:
//! nothing may panic, and the decoder must always make progress.
#![no_main]

use bill_acceptor::frame::{FrameDecoder, Framing};
use bill_acceptor::model::Request;
use bill_acceptor::Protocol;
use libfuzzer_sys::fuzz_target;

const REQUESTS: [Request; 8] = [
    Request::Poll,
    Request::Identify,
    Request::GetBillTable,
    Request::Stack,
    Request::Reset,
    Request::SetSecurity(0),
    Request::EnableBills { enabled: 0xFFFF, escrow: 0xFFFF },
    Request::SetInhibit(false),
];

fuzz_target!(|data: &[u8]| {
    for (framing, protocol) in [(Framing::Ccnet, Protocol::Ccnet), (Framing::Id003, Protocol::Id003)] {
        let wire = protocol.wire();
        let mut decoder = FrameDecoder::new(framing);
        // Split the input in two pushes, as a serial read would.
        let (a, b) = data.split_at(data.len() / 2);
        decoder.push(a);
        decoder.push(b);
        let mut frames = 0usize;
        while let Some(item) = decoder.next_frame() {
            frames += 1;
            assert!(frames <= data.len() + 1, "decoder made no progress");
            if let Ok(frame) = item {
                let _ = wire.decode_request(&frame.payload);
                for req in &REQUESTS {
                    let _ = wire.decode_reply(req, &frame.payload);
                }
            }
        }
        // Raw payload parsers too.
        let _ = wire.decode_request(data);
        for req in &REQUESTS {
            let _ = wire.decode_reply(req, data);
        }
    }
});
