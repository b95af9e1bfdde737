//! # gateway
//!
//! The chat gateway this project owns as its system under test, modelled
//! on LeanCloud's 2015 realtime service: a [`router`] that assigns clients
//! to connection [`node`]s (WebSocket over TLS), inter-node [`rpc`] to
//! deliver to room members on other nodes, [`membership`] through Consul,
//! and the [`switches`] that reproduce the 2015 and 2017 outages and their
//! fixes. [`sim`] is the client simulator that drives it and records what
//! was sent, acknowledged and delivered.

#![warn(missing_docs)]

pub mod local;
pub mod membership;
pub mod node;
pub mod peers;
pub mod protocol;
pub mod router;
pub mod rpc;
pub mod sim;
pub mod switches;
pub mod sys;
pub mod tls;
