//! The paho-mqtt Python client (1.6 or 2.x) against the hub: each check in
//! `tests/mqtt_py/paho_checks.py` runs against a hub of its own. paho must
//! be installed (`apt-get install python3-paho-mqtt`, or `python3 -m pip
//! install paho-mqtt`); without it these tests fail and say so.

mod mqtt_support;

use hubbub_tests::*;
use mqtt_support::*;

async fn run(check: &str) {
    let hub = Hub::start_default();
    paho_check(&hub, check).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_qos_flows_v311() {
    run("qos_v311").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_qos_flows_v5() {
    run("qos_v5").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_retained() {
    run("retained").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_will() {
    run("will").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_persistent_session() {
    run("persistent_session").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_room_bridge() {
    run("room_bridge").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_over_websocket() {
    run("websocket").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_bad_client_id() {
    run("bad_client_id").await;
}
