//! The outbox: what to deliver is queued in storage with the change that caused it and
//! delivered by an [`OutboxDispatcher`], with retries and exponential backoff, so nothing is
//! lost when the mail server is down. Messages name what to send, never a rendered mail or a
//! token: mail is rendered, and its token created, at delivery time.
//!
//! Delivery is at least once: a message is marked sent only after the mail server accepted
//! it. Dispatchers claim messages with a lease ([`OutboxPolicy::lease`]), so several server
//! instances sharing one database send each message once; a message is sent again only if
//! its dispatcher died, or could not record the success, before the lease ran out.

mod deliveries;
mod dispatcher;
mod policy;

pub use dispatcher::{DispatchReport, OutboxDispatcher, OutboxHandle};
pub use policy::OutboxPolicy;
