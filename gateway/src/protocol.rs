//! Wire formats: client <-> node frames (JSON in WebSocket text messages)
//! and node <-> node RPC frames (length-prefixed JSON over TCP).

use serde::{Deserialize, Serialize};

/// What a message is: core traffic, or non-core work a degraded node may shed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A chat message: the core path, never shed.
    Message,
    /// A reaction (like): non-core.
    Reaction,
    /// A read receipt: non-core.
    Receipt,
}

impl Kind {
    /// Whether this is core work (never shed).
    pub fn is_core(self) -> bool {
        self == Kind::Message
    }
}

/// A frame a client sends to its node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Join a room: the node answers `Joined`.
    Join {
        /// The room.
        room: String,
    },
    /// Send to every member of a room: the node answers `Ack`.
    Send {
        /// The room.
        room: String,
        /// The message id, unique across the run (chosen by the client).
        id: u64,
        /// Core or non-core.
        kind: Kind,
        /// The payload.
        body: String,
    },
}

/// How the gateway answered a send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AckStatus {
    /// Accepted and fanned out (except to the `undeliverable` nodes).
    Ok,
    /// Dropped on purpose by degradation (non-core work under load).
    Shed,
    /// Not accepted.
    Error,
}

/// A frame a node sends to a client.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum ServerFrame {
    /// First frame of a session: who you are and where.
    Welcome {
        /// The node's name.
        node: String,
        /// The client id as the node understood it.
        client: String,
    },
    /// The join took effect.
    Joined {
        /// The room.
        room: String,
    },
    /// The outcome of a send.
    Ack {
        /// The message id.
        id: u64,
        /// Accepted, shed or refused.
        status: AckStatus,
        /// Nodes the message could not be handed to (their members are
        /// reported undeliverable rather than silently skipped).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        undeliverable: Vec<String>,
    },
    /// A message for a room this client joined.
    Deliver {
        /// The room.
        room: String,
        /// The message id.
        id: u64,
        /// The sender's client id.
        from: String,
        /// Core or non-core.
        kind: Kind,
    },
}

/// A request from one node to another.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum RpcRequest {
    /// Deliver a message to the callee's local members of `room`.
    Deliver {
        /// The room.
        room: String,
        /// The message id.
        id: u64,
        /// The sender's client id.
        from: String,
        /// Core or non-core.
        kind: Kind,
        /// The payload (carried so a backlog costs what it did in 2015).
        body: String,
    },
    /// Liveness probe (used to close a circuit again).
    Ping,
    /// A starting node announces itself before it takes clients, so that
    /// the callee calls it from then on even if membership lags (see
    /// [`crate::peers`]).
    Hello {
        /// The caller, as membership would list it.
        member: crate::membership::Member,
        /// Random per process start: a new one means the caller restarted.
        boot: u64,
    },
}

/// One RPC frame on the wire: a request or a reply, matched by `rid`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "dir", rename_all = "snake_case")]
pub enum RpcFrame {
    /// A call.
    Call {
        /// The request id, unique per link.
        rid: u64,
        /// The request.
        req: RpcRequest,
    },
    /// A reply.
    Reply {
        /// The request id being answered.
        rid: u64,
        /// Local recipients the callee handed the message to.
        delivered: u32,
    },
}

/// The WebSocket settings of both ends of a client session.
///
/// tungstenite's defaults suit bulk transfer: 128 KiB read and write
/// buffers per connection, zeroed when allocated, and 64 MiB messages.
/// Chat frames are a few hundred bytes, so at 10,000 sessions those buffers
/// are 2.5 GB on each side and their zeroing a visible share of a reconnect
/// storm's CPU. A frame over [`MAX_FRAME_BYTES`] ends the session.
pub fn ws_config() -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
    tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(4 * 1024)
        .max_message_size(Some(MAX_FRAME_BYTES))
        .max_frame_size(Some(MAX_FRAME_BYTES))
}

/// The largest client or server frame a session accepts.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// Encodes any frame as JSON.
pub fn encode<T: Serialize>(frame: &T) -> String {
    serde_json::to_string(frame).expect("frames always serialise")
}

/// Decodes a frame, naming what was wrong.
pub fn decode<'a, T: Deserialize<'a>>(text: &'a str) -> Result<T, serde_json::Error> {
    serde_json::from_str(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_frames_round_trip() {
        let f = ClientFrame::Send {
            room: "r1".into(),
            id: 42,
            kind: Kind::Reaction,
            body: "x".into(),
        };
        let text = encode(&f);
        assert!(text.contains(r#""t":"send""#), "{text}");
        assert_eq!(decode::<ClientFrame>(&text).unwrap(), f);
        let j: ClientFrame = decode(r#"{"t":"join","room":"lobby"}"#).unwrap();
        assert_eq!(
            j,
            ClientFrame::Join {
                room: "lobby".into()
            }
        );
    }

    #[test]
    fn server_frames_round_trip_and_omit_empty_lists() {
        let ack = ServerFrame::Ack {
            id: 7,
            status: AckStatus::Ok,
            undeliverable: vec![],
        };
        let text = encode(&ack);
        assert!(!text.contains("undeliverable"), "{text}");
        assert_eq!(decode::<ServerFrame>(&text).unwrap(), ack);
        let bad = ServerFrame::Ack {
            id: 8,
            status: AckStatus::Ok,
            undeliverable: vec!["node-3".into()],
        };
        assert_eq!(decode::<ServerFrame>(&encode(&bad)).unwrap(), bad);
    }

    #[test]
    fn rpc_frames_round_trip() {
        let call = RpcFrame::Call {
            rid: 1,
            req: RpcRequest::Deliver {
                room: "r".into(),
                id: 9,
                from: "c1".into(),
                kind: Kind::Message,
                body: "hello".into(),
            },
        };
        assert_eq!(decode::<RpcFrame>(&encode(&call)).unwrap(), call);
        let reply = RpcFrame::Reply {
            rid: 1,
            delivered: 3,
        };
        assert_eq!(decode::<RpcFrame>(&encode(&reply)).unwrap(), reply);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode::<ClientFrame>("{\"t\":\"nope\"}").is_err());
        assert!(decode::<RpcFrame>("not json").is_err());
        assert!(Kind::Message.is_core() && !Kind::Reaction.is_core());
    }
}
