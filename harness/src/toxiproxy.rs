//! Async Toxiproxy client (wraps `toxiproxy_rust`).
