//! MQTT packets as the hub sees them, the same for 3.1.1 and 5: the codec
//! turns either wire version into these and back.

use std::sync::Arc;

use bytes::Bytes;

/// Protocol version of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// MQTT 3.1.1 (protocol level 4).
    V311,
    /// MQTT 5 (protocol level 5).
    V5,
}

/// Quality of service.
#[allow(clippy::enum_variant_names)] // the names MQTT gives them
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Qos {
    /// At most once.
    AtMostOnce = 0,
    /// At least once.
    AtLeastOnce = 1,
    /// Exactly once.
    ExactlyOnce = 2,
}

/// MQTT 5 publish properties the hub passes through unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishProps {
    /// Payload format indicator.
    pub payload_format: Option<u8>,
    /// Content type.
    pub content_type: Option<String>,
    /// Response topic.
    pub response_topic: Option<String>,
    /// Correlation data.
    pub correlation_data: Option<Bytes>,
    /// User properties.
    pub user_properties: Vec<(String, String)>,
}

/// An application message.
#[derive(Debug, Clone)]
pub struct Publish {
    /// Topic name.
    pub topic: String,
    /// Payload.
    pub payload: Bytes,
    /// Requested quality of service.
    pub qos: Qos,
    /// Retain flag.
    pub retain: bool,
    /// Duplicate flag (a redelivery).
    pub dup: bool,
    /// Packet id (0 for QoS 0).
    pub pkid: u16,
    /// MQTT 5 message expiry interval, in seconds.
    pub expiry_secs: Option<u32>,
    /// MQTT 5 pass-through properties.
    pub props: Option<Arc<PublishProps>>,
}

/// A last will.
#[derive(Debug, Clone)]
pub struct Will {
    /// The message to publish.
    pub message: Publish,
    /// MQTT 5 will delay, in seconds.
    pub delay_secs: u32,
}

/// A CONNECT.
#[derive(Debug, Clone)]
pub struct Connect {
    /// Client id as sent (may be empty).
    pub client_id: String,
    /// Clean session (3.1.1) or clean start (5).
    pub clean_start: bool,
    /// Keep-alive in seconds; 0 disables it.
    pub keep_alive: u16,
    /// Will, if any.
    pub will: Option<Will>,
    /// User name.
    pub username: Option<String>,
    /// Password.
    pub password: Option<Bytes>,
    /// MQTT 5 session expiry interval (seconds); `None` if not given.
    pub session_expiry: Option<u32>,
    /// MQTT 5 receive maximum (QoS>0 messages the client takes at once).
    pub receive_maximum: Option<u16>,
    /// MQTT 5 maximum packet size the client accepts.
    pub max_packet_size: Option<u32>,
}

/// MQTT 5 retain handling of a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetainHandling {
    /// Send retained messages on every subscribe.
    OnSubscribe,
    /// Send them only if the subscription is new.
    OnNewSubscribe,
    /// Never send them.
    Never,
}

/// One filter of a SUBSCRIBE.
#[derive(Debug, Clone)]
pub struct SubscribeFilter {
    /// The topic filter.
    pub filter: String,
    /// Maximum QoS requested.
    pub qos: Qos,
    /// MQTT 5: don't send the client its own publications.
    pub no_local: bool,
    /// MQTT 5: keep the retain flag on forwarded messages.
    pub retain_as_published: bool,
    /// MQTT 5: when to send retained messages.
    pub retain_handling: RetainHandling,
}

/// A packet from a client.
#[derive(Debug, Clone)]
pub enum Inbound {
    /// CONNECT.
    Connect(Connect),
    /// PUBLISH.
    Publish(Publish),
    /// PUBACK.
    PubAck(u16),
    /// PUBREC.
    PubRec(u16),
    /// PUBREL.
    PubRel(u16),
    /// PUBCOMP.
    PubComp(u16),
    /// SUBSCRIBE.
    Subscribe {
        /// Packet id.
        pkid: u16,
        /// Filters.
        filters: Vec<SubscribeFilter>,
    },
    /// UNSUBSCRIBE.
    Unsubscribe {
        /// Packet id.
        pkid: u16,
        /// Filters.
        filters: Vec<String>,
    },
    /// PINGREQ.
    PingReq,
    /// DISCONNECT.
    Disconnect {
        /// MQTT 5 reason (0 normal, 4 "with will").
        reason: u8,
        /// MQTT 5 new session expiry.
        session_expiry: Option<u32>,
    },
}

/// Reason codes the hub sends, with their MQTT 5 values; the codec maps
/// them to the nearest 3.1.1 code where one exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// 0x00
    Success,
    /// 0x10
    NoMatchingSubscribers,
    /// 0x81
    MalformedPacket,
    /// 0x82
    ProtocolError,
    /// 0x83
    ImplementationSpecific,
    /// 0x84
    UnsupportedProtocolVersion,
    /// 0x85
    ClientIdNotValid,
    /// 0x86
    BadUserNameOrPassword,
    /// 0x87
    NotAuthorized,
    /// 0x89
    ServerBusy,
    /// 0x8B
    ServerShuttingDown,
    /// 0x8D
    KeepAliveTimeout,
    /// 0x8E
    SessionTakenOver,
    /// 0x8F
    TopicFilterInvalid,
    /// 0x90
    TopicNameInvalid,
    /// 0x95
    PacketTooLarge,
    /// 0x96
    MessageRateTooHigh,
    /// 0x97
    QuotaExceeded,
    /// 0x99
    PayloadFormatInvalid,
    /// 0x9E
    SharedSubscriptionsNotSupported,
}

/// The result of one filter of a SUBSCRIBE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscribeOutcome {
    /// Granted at this QoS.
    Granted(Qos),
    /// Refused.
    Refused(Reason),
}

/// What the hub tells a client in CONNACK besides the code.
#[derive(Debug, Clone, Default)]
pub struct ConnAckInfo {
    /// A session was resumed.
    pub session_present: bool,
    /// The id the hub assigned, for an empty client id (MQTT 5).
    pub assigned_client_id: Option<String>,
    /// The hub's receive maximum (MQTT 5).
    pub receive_maximum: Option<u16>,
    /// The largest packet the hub accepts (MQTT 5).
    pub max_packet_size: Option<u32>,
    /// Session expiry the hub will apply, if it differs (MQTT 5).
    pub session_expiry: Option<u32>,
    /// Keep-alive the hub imposes, if it differs (MQTT 5).
    pub server_keep_alive: Option<u16>,
    /// Human words for a refusal (MQTT 5).
    pub reason_string: Option<String>,
}

/// A packet to a client.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// CONNACK.
    ConnAck(Reason, ConnAckInfo),
    /// PUBLISH.
    Publish(Publish),
    /// PUBACK with a reason and optional words.
    PubAck(u16, Reason, Option<String>),
    /// PUBREC with a reason and optional words.
    PubRec(u16, Reason, Option<String>),
    /// PUBREL.
    PubRel(u16),
    /// PUBCOMP.
    PubComp(u16),
    /// SUBACK.
    SubAck(u16, Vec<SubscribeOutcome>),
    /// UNSUBACK.
    UnsubAck(u16, usize),
    /// PINGRESP.
    PingResp,
    /// DISCONNECT (MQTT 5 only; 3.1.1 just closes).
    Disconnect(Reason, Option<String>),
}
