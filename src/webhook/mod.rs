//! Webhook ingestion: the signature check, the size cap, decoding into our own small event
//! enum, and the durable queue that holds an accepted delivery until a worker has processed it.
//! The HTTP handler only verifies, persists and enqueues; all work happens in the gate's worker.

pub(crate) mod decode;
pub(crate) mod event;
pub(crate) mod handler;
pub(crate) mod intake;
pub mod queue;
pub(crate) mod signature;

pub use decode::{DecodeError, decode_event};
pub use event::{
    CheckRunEvent, Delivery, Event, EventAccount, MergeGroupEvent, PullRequestEvent, PushEvent,
    ReviewEvent, StatusEvent,
};
pub use intake::BodyIntake;
pub use queue::{Enqueued, Queue, QueueError, QueueOptions, SetAside};
pub use signature::{SignatureError, sign, verify_signature};
