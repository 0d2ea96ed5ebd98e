//! The mail outbox: messages are queued in storage with the change that caused them and sent
//! by an [`OutboxDispatcher`], with retries and exponential backoff, so none is lost when the
//! mail server is down.
//!
//! Delivery is at least once: a message is marked sent only after the mail server accepted
//! it. Dispatchers claim messages with a lease ([`OutboxPolicy::lease`]), so several server
//! instances sharing one database send each message once; a message is sent again only if
//! its dispatcher died, or could not record the success, before the lease ran out.

mod dispatcher;
mod policy;

pub use dispatcher::{DispatchReport, OutboxDispatcher, OutboxHandle};
pub use policy::OutboxPolicy;
