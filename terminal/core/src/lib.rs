//! `kiosk-core` holds every money rule of the kiosk and the domain rules around it, as pure
//! state machines: events in (with the time as a value), journal entries and device commands out.
//! No tokio, no SQLite, no UI, no device driver — the runtime in `terminal` translates between
//! this core and the world, and the fault simulation drives the same code on a fake clock.
//!
//! | module | owns |
//! |---|---|
//! | [`money`] | `Money`, limits, allocation of a payment over services |
//! | [`session`] | the customer session, crash recovery of open payments, card outcome assessment, unreceipted fiscalisation, shift renewal |
//! | [`commands`] | the commands the core sends the bill validator and the card reader |
//! | [`ledger`] | what the journal says about money: open payments, the cassette, stuck notes, fiscal documents |
//! | [`service`] | the service desk: PIN entry and lockout, encashment, stuck-note resolution, shift close |
//! | [`service_pin`] | service-PIN hashes (Argon2id) and the lockout rule |
//! | [`accounts`] | account numbers, payment QR codes (GOST R 56042-2014), masking of personal data |
//! | [`readings`] | meters, tariff zones and the acceptance rules for readings |

pub mod accounts;
pub mod commands;
pub mod ledger;
pub mod money;
pub mod readings;
pub mod service;
pub mod service_pin;
pub mod session;
