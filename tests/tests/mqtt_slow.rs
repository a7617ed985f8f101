//! An MQTT subscriber that stops reading loses only its own oldest queued
//! messages (counted), and slows no one else.

mod mqtt_support;

use hubbub_tests::*;
use mqtt_support::*;
use rumqttc::v5::mqttbytes::{v5, QoS as Q5};

fn slow_consumer_drops(metrics: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("hubbub_queue_drops") && l.contains("slow_consumer"))
        .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_stops_reading_drops_its_oldest_and_slows_no_one() {
    // The publisher sends 200 messages as fast as it can: no rate limit
    // here (its burst would be exactly used up), only slow readers.
    let hub = Hub::with_config(
        "[mqtt]\nmax_queued_messages = 50\nmax_inflight = 32\n[limits]\nmessages_per_second = 0\n",
    );

    // Subscribes at QoS 1, then never acknowledges or reads again.
    let mut slow = raw5(&hub, "slow-reader").await;
    let codes = slow
        .subscribe5(1, vec![v5::Filter::new("news/t", Q5::AtLeastOnce)])
        .await;
    assert_eq!(
        codes,
        vec![v5::SubscribeReasonCode::Success(Q5::AtLeastOnce)]
    );

    let (mut fast, _) = Mq5::connect(opts5(&hub, "fast-reader")).await;
    fast.subscribe("news/t", Q5::AtLeastOnce).await;
    let (publisher, _) = Mq5::connect(opts5(&hub, "news-publisher")).await;

    // In steps the fast reader keeps up with, so only the slow one falls behind.
    for chunk in 0..20 {
        for i in chunk * 10..chunk * 10 + 10 {
            publisher
                .client
                .publish("news/t", Q5::AtLeastOnce, false, format!("m{i}"))
                .await
                .expect("publish request");
        }
        for i in chunk * 10..chunk * 10 + 10 {
            let p = fast.publish_on("news/t").await;
            assert_eq!(
                text(&p.payload),
                format!("m{i}"),
                "the fast reader keeps every message, in order"
            );
        }
    }

    let metrics = Http::new(&hub.http_base()).get("/metrics").await.body;
    let drops = slow_consumer_drops(&metrics);
    // 200 published; 32 in flight and 50 queued for the slow reader.
    assert_eq!(
        drops,
        200 - 32 - 50,
        "only the slow reader's oldest queued messages were dropped"
    );

    // It is still connected: it reads its window, then what is queued,
    // newest last, and answers a ping.
    slow.ping().await;
}
