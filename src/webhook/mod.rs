//! Webhook ingestion: the signature check, the size cap, decoding into our own small event
//! enum, and the durable queue that holds an accepted delivery until a worker has processed it.
//! The HTTP handler only verifies, persists and enqueues; all work happens in the gate's worker.

pub mod event;
pub mod queue;
pub use queue::{Enqueued, Queue, QueueError};
pub mod signature;
pub mod handler;

pub use event::{Delivery, Event};

