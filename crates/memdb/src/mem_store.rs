//! In-memory Store (being written).
