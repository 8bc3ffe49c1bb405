//! backend-sync
