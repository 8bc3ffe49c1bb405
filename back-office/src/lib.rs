//! back-office
