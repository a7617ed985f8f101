//! The REST API: posting, reading, rooms, health, metrics.

use hubbub_tests::*;
use serde_json::{json, Value};

const CONFIG: &str = "[hub]\nid = \"hub-e2e\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_json_returns_201_with_the_canonical_message() {
    let hub = Hub::with_config(CONFIG);
    let http = hub.http();
    let reply = http
        .post_json(
            "kitchen",
            &json!({"text":"hello","from":"carol","ref":"c-1"}),
        )
        .await;
    assert_eq!(reply.status, 201, "{reply:?}");
    assert!(
        reply
            .content_type
            .as_deref()
            .is_some_and(|c| c.starts_with("application/json")),
        "{reply:?}"
    );
    let m = reply.json();
    assert_canonical(&m);
    assert_eq!(m["room"], "kitchen");
    assert_eq!(m["seq"], 1);
    assert_eq!(m["from"], "carol");
    assert_eq!(m["text"], "hello");
    assert_eq!(m["origin"], "hub-e2e");
    assert_eq!(m["via"], "http");
    assert_eq!(m["ref"], "c-1");
    assert_eq!(http.all_messages("kitchen").await, [m]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_text_post_takes_from_and_ref_from_the_query_and_headers() {
    let hub = Hub::start_default();
    let http = hub.http();
    let plain = [("content-type", "text/plain; charset=utf-8")];

    let r = http
        .post(
            "/api/rooms/den/messages?from=dave",
            &plain,
            b"hi there".to_vec(),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let m = r.json();
    assert_eq!(
        (m["from"].clone(), m["text"].clone()),
        (json!("dave"), json!("hi there"))
    );
    assert!(m.get("ref").is_none(), "no ref given: {m}");

    let headers = [
        ("content-type", "application/x-www-form-urlencoded"),
        ("idempotency-key", "k-1"),
    ];
    let r = http
        .post(
            "/api/rooms/den/messages?from=dave",
            &headers,
            b"curl style".to_vec(),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let first = r.json();
    assert_eq!(first["ref"], "k-1");
    assert_eq!(first["text"], "curl style");
    let r = http
        .post(
            "/api/rooms/den/messages?from=dave",
            &headers,
            b"curl style".to_vec(),
        )
        .await;
    assert_eq!(
        r.status, 200,
        "a repeated Idempotency-Key answers 200: {r:?}"
    );
    assert_eq!(r.json(), first);

    let r = http
        .post(
            "/api/rooms/den/messages?from=dave&ref=q-1",
            &plain,
            b"by query".to_vec(),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["ref"], "q-1");

    let r = http
        .post("/api/rooms/den/messages", &plain, b"who am i".to_vec())
        .await;
    assert_eq!(r.json()["from"], "anonymous");
    let m = http.post_text("den", "json without from").await;
    assert_eq!(m["from"], "anonymous");
    assert_gap_free(&http.all_messages("den").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_are_paged_with_before_after_and_limit() {
    let hub = Hub::start_default();
    let http = hub.http();
    for i in 1..=60 {
        http.post_text("pages", &format!("page {i}")).await;
    }
    let reply = http.messages("pages", "").await;
    assert_eq!(reply.status, 200);
    let body = reply.json();
    assert_eq!(body["room"], "pages");
    let listed = http.room("pages").await.unwrap();
    assert_eq!(body["epoch"], listed["epoch"]);
    assert_eq!(listed["last_seq"], 60);
    let latest: Vec<Value> = body["messages"].as_array().unwrap().clone();
    assert_eq!(
        seqs(&latest),
        (11..=60).collect::<Vec<_>>(),
        "default: latest 50"
    );
    for m in &latest {
        assert_canonical(m);
        assert_eq!(text_of(m), format!("page {}", seq_of(m)));
    }
    let page = |q: &'static str| {
        let http = http.clone();
        async move { seqs(&http.message_list("pages", q).await) }
    };
    assert_eq!(page("limit=5").await, [56, 57, 58, 59, 60]);
    assert_eq!(page("after=10&limit=3").await, [11, 12, 13]);
    assert_eq!(page("before=10&limit=3").await, [7, 8, 9]);
    assert_eq!(page("before=3").await, [1, 2]);
    assert_eq!(page("before=1").await, Vec::<u64>::new());
    assert_eq!(page("after=60").await, Vec::<u64>::new());
    assert_eq!(page("after=0&limit=500").await.len(), 60);
    assert_eq!(page("limit=500").await.len(), 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_rooms_without_auto_create() {
    let hub = Hub::with_config(
        "[rooms]\nauto_create = false\n\n[rooms.declare.kitchen]\ntitle = \"Kitchen\"\n\n\
         [rooms.declare.garden]\n",
    );
    let http = hub.http();
    let rooms = http.rooms().await;
    let names: Vec<&str> = rooms["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["garden", "kitchen"], "{rooms}");
    let kitchen = http.room("kitchen").await.unwrap();
    assert_eq!(kitchen["title"], "Kitchen", "{kitchen}");
    assert!(kitchen["epoch"].as_str().is_some_and(|e| !e.is_empty()));
    assert_eq!(kitchen["last_seq"], 0);
    assert!(kitchen.get("online").is_some(), "{kitchen}");
    let garden = http.room("garden").await.unwrap();
    assert!(garden.get("title").is_none_or(Value::is_null), "{garden}");

    http.post_json("garage", &json!({"text":"hi"}))
        .await
        .assert_error(404, "no_such_room");
    assert!(http.room("garage").await.is_none());

    http.post_text("kitchen", "soup is ready").await;
    let mut ws = hub.ws_as("ann").await;
    let joined = ws.join("kitchen").await;
    assert_eq!(joined["title"], "Kitchen");
    let kitchen = http.room("kitchen").await.unwrap();
    assert_eq!(kitchen["last_seq"], 1);
    let online = &kitchen["online"];
    assert!(
        online == &json!(1) || online.as_array().is_some_and(|a| a.len() == 1),
        "one client online: {kitchen}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_ok_with_the_hub_id() {
    let hub = Hub::with_config(CONFIG);
    let reply = hub.http().get("/healthz").await;
    assert_eq!(reply.status, 200);
    let v = reply.json();
    assert_eq!(v["status"], "ok", "{v}");
    assert_eq!(v["hub"], "hub-e2e", "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_expose_deliveries_and_flush_times() {
    let hub = Hub::start_default();
    let mut ws = hub.ws_as("obs").await;
    ws.join("watched").await;
    hub.http().post_text("watched", "count me").await;
    ws.recv_until("message").await;
    let text = hub.http().metrics().await;
    assert!(text.contains("hubbub_deliveries"), "{text}");
    assert!(text.contains("hubbub_store_flush_seconds"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_page_is_served() {
    let hub = Hub::start_default();
    let reply = hub.http().get("/").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(
        reply
            .content_type
            .as_deref()
            .is_some_and(|c| c.starts_with("text/html")),
        "{reply:?}"
    );
    assert!(!reply.body.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_message_is_the_same_json_on_http_ws_and_sse() {
    let hub = Hub::with_config(CONFIG);
    let mut ws = hub.ws_as("viewer").await;
    ws.join("mirror").await;
    let mut sse = SseClient::connect(&hub.http_base(), "mirror", None, "since=0").await;
    let http = hub.http();
    let posted = http
        .post_json(
            "mirror",
            &json!({"text":"same everywhere","from":"poster","ref":"m-1"}),
        )
        .await
        .json();
    let frame = ws.recv_until("message").await;
    assert_eq!(canonical(&frame), posted);
    let ev = sse.next_event().await;
    assert_eq!(ev.event, "message");
    assert_eq!(ev.id_u64(), 1);
    assert_eq!(ev.json(), posted);
    assert_eq!(http.all_messages("mirror").await, [posted]);
}
