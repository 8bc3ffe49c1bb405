//! card-reader
