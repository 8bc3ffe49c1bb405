//! bill-acceptor
