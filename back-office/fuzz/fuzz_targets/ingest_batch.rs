#![no_main]
//! An ingest body: JSON decoding and the batch chain check must never panic.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(batch) = serde_json::from_slice::<backend_sync::IngestBatch>(data) {
        let _ = back_office::ingest::check_batch(&batch.records);
        for r in &batch.records {
            let _ = backend_sync::JournalEvent::from_payload(&r.payload);
        }
    }
});
