//! The click queue under overload: counting is given up, redirects never are.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use referral_core::testing::{PausingStorage, StorageCall};
use referral_core::{
    ManualClock, MemoryStorage, NewAccount, RecordingMailer, Storage, CLICK_QUEUE_CAPACITY,
};

use crate::harness::{config, engine_on, APP_BASE_URL, PASSWORD};

/// A visitor of their own per `i`: a different client address each.
fn visitor(i: usize) -> Option<IpAddr> {
    Some(IpAddr::V4(Ipv4Addr::from(0x0a00_0000_u32 + i as u32)))
}

#[tokio::test]
async fn a_full_click_queue_drops_clicks_while_every_redirect_still_answers() {
    let memory = MemoryStorage::new();
    let pausing = PausingStorage::new(Arc::new(memory.clone()));
    // The writer's first batch is held inside storage: the queue behind it fills.
    let mut writer = pausing.pause_before(StorageCall::RecordClicks);
    let clock = ManualClock::starting_now();
    let engine = engine_on(
        Arc::new(pausing.clone()),
        Arc::new(RecordingMailer::new()),
        &clock,
        config().build().expect("config"),
    );
    let owner = engine
        .register(NewAccount::new("owner@example.com", PASSWORD))
        .await
        .expect("registration");
    let code = owner.user.referral_code.to_string();
    let expected = format!("{APP_BASE_URL}/register?ref={code}");

    let first = engine
        .follow_share_link(&code, visitor(0), Some("agent"))
        .await;
    assert_eq!(first, expected);
    tokio::time::timeout(Duration::from_secs(10), writer.reached())
        .await
        .expect("the writer takes the first click and reaches storage");

    // The writer holds one click; the queue takes CLICK_QUEUE_CAPACITY more, then drops.
    let overflow = 100;
    for i in 1..=CLICK_QUEUE_CAPACITY + overflow {
        let location = engine
            .follow_share_link(&code, visitor(i), Some("agent"))
            .await;
        assert_eq!(
            location, expected,
            "redirect {i} answers while counting is behind"
        );
    }
    let stats = engine.click_queue_stats();
    assert_eq!(stats.queued, CLICK_QUEUE_CAPACITY as u64 + 1);
    assert_eq!(stats.dropped, overflow as u64);
    assert_eq!(stats.settled, 0, "nothing counted while the writer is held");

    writer.release();
    tokio::time::timeout(Duration::from_secs(60), engine.flush_clicks())
        .await
        .expect("the queue drains");
    let stats = engine.click_queue_stats();
    assert_eq!(stats.settled, stats.queued);
    let stored = memory
        .user_by_id(owner.user.id)
        .await
        .expect("lookup")
        .expect("the owner");
    let counted = engine.referral_stats(&stored).await.expect("stats").clicks;
    assert_eq!(
        counted,
        CLICK_QUEUE_CAPACITY as u64 + 1,
        "every queued click counted (each from a visitor of its own), the dropped ones not"
    );
}
