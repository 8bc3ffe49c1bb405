//! receipt-printer
