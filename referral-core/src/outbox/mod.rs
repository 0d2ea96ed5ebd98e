//! The outbox: what to deliver is queued in storage with the change that caused it and
//! delivered by an [`OutboxDispatcher`], with retries and exponential backoff, so nothing is
//! lost when the mail server is down. Messages name what to send, never a rendered mail or a
//! token: mail is rendered, and its token created, at delivery time.
//!
//! Delivery is at least once: a message is marked sent only after the mail server accepted
//! it. Dispatchers claim messages with a lease ([`OutboxPolicy::lease`]), so several server
//! instances sharing one database send each message once; a message is sent again only if
//! its dispatcher died, or could not record the success, before the lease ran out.
//!
//! Events go the same road: the engine writes each with its change (topic `event`),
//! and the dispatcher fans it out into one delivery per destination (each registered
//! [`EventHandler`](crate::EventHandler), the webhook), each retried and given up on by
//! itself. Storage claims the messages of one topic about one user in order, so each
//! destination receives a user's events in the order they happened.

mod dead_letters;
mod deliveries;
mod dispatcher;
mod policy;

pub use dead_letters::{DeadLetterPage, DeadLetterView, REDELIVERY_QUEUED_MESSAGE};
pub use dispatcher::{DispatchReport, OutboxDispatcher, OutboxHandle};
pub use policy::OutboxPolicy;
