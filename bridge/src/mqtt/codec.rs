//! The wire format: rumqttc's kept MQTT 3.1.1 and 5 codecs, adapted to the
//! version-neutral packets of [`super::packet`]. The version is read from
//! the CONNECT before anything else is decoded.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use rumqttc::mqttbytes::{self as b4, v4};
use rumqttc::v5::mqttbytes::{self as b5, v5};

use super::packet::{
    Connect, Inbound, Outbound, Publish, PublishProps, Qos, Reason, RetainHandling,
    SubscribeFilter, SubscribeOutcome, Version, Will,
};

/// Why bytes from a client could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Broken framing or contents.
    #[error("malformed packet: {0}")]
    Malformed(String),
    /// Over the maximum packet size.
    #[error("packet of {size} bytes is over the limit of {max} bytes")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A protocol level the hub does not speak.
    #[error("unsupported MQTT protocol level {0}; this hub speaks 3.1.1 (4) and 5")]
    UnsupportedVersion(u8),
    /// The first packet was not CONNECT.
    #[error("the first packet must be CONNECT")]
    NotConnect,
}

/// Reads the remaining-length varint at `buf[1..]`: (its byte count, value).
fn remaining_length(buf: &[u8]) -> Result<Option<(usize, usize)>, DecodeError> {
    let mut value = 0usize;
    for (i, byte) in buf.iter().skip(1).take(4).enumerate() {
        value |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Some((i + 1, value)));
        }
    }
    if buf.len() > 4 {
        Err(DecodeError::Malformed(
            "remaining length over 4 bytes".into(),
        ))
    } else {
        Ok(None)
    }
}

/// Whether the fixed-header flags are the ones MQTT fixes for the packet
/// type (3.1.1 section 2.2.2, 5 section 2.1.3): 0010 for PUBREL, SUBSCRIBE and
/// UNSUBSCRIBE, 0000 for the others; PUBLISH's are its own (the decoder
/// refuses QoS 3). The kept decoder does not check them; the spec says any
/// other value is malformed.
fn flags_ok(first: u8) -> bool {
    let flags = first & 0x0F;
    match first >> 4 {
        3 => true,
        6 | 8 | 10 => flags == 0b0010,
        _ => flags == 0,
    }
}

/// Tells the version from the start of a CONNECT, or `None` if more bytes
/// are needed.
pub fn sniff_version(buf: &[u8], max: usize) -> Result<Option<Version>, DecodeError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    if first >> 4 != 1 {
        return Err(DecodeError::NotConnect);
    }
    let Some((len_len, remaining)) = remaining_length(buf)? else {
        return Ok(None);
    };
    if remaining > max {
        return Err(DecodeError::TooLarge {
            size: remaining,
            max,
        });
    }
    // Look no further than this packet. Once all of it is here, a protocol
    // name or level past its end is malformed: waiting for more would take
    // bytes that are not the CONNECT's (found by fuzzing: a complete CONNECT
    // whose name length runs past it held the handshake until the connect
    // timeout, buffering up to 64 KiB past the packet and past the limit).
    let start = 1 + len_len;
    let complete = buf.len() - start >= remaining;
    let header = &buf[start..buf.len().min(start + remaining)];
    let more = |what: &str| {
        if complete {
            Err(DecodeError::Malformed(format!(
                "CONNECT of {remaining} bytes ends inside its {what}"
            )))
        } else {
            Ok(None)
        }
    };
    if header.len() < 2 {
        return more("protocol name");
    }
    let name_len = usize::from(u16::from_be_bytes([header[0], header[1]]));
    let Some(&level) = header.get(2 + name_len) else {
        return more("protocol name or level");
    };
    match (&header[2..2 + name_len], level) {
        (b"MQTT", 4) => Ok(Some(Version::V311)),
        (b"MQTT", 5) => Ok(Some(Version::V5)),
        (b"MQTT" | b"MQIsdp", level) => Err(DecodeError::UnsupportedVersion(level)),
        _ => Err(DecodeError::Malformed("unknown protocol name".into())),
    }
}

/// Encodes and decodes one connection's packets.
#[derive(Debug, Clone, Copy)]
pub struct Codec {
    version: Version,
    max_in: usize,
}

fn qos_of(q: u8) -> Qos {
    match q {
        2 => Qos::ExactlyOnce,
        1 => Qos::AtLeastOnce,
        _ => Qos::AtMostOnce,
    }
}

fn q4(q: Qos) -> b4::QoS {
    match q {
        Qos::AtMostOnce => b4::QoS::AtMostOnce,
        Qos::AtLeastOnce => b4::QoS::AtLeastOnce,
        Qos::ExactlyOnce => b4::QoS::ExactlyOnce,
    }
}

fn q5(q: Qos) -> b5::QoS {
    match q {
        Qos::AtMostOnce => b5::QoS::AtMostOnce,
        Qos::AtLeastOnce => b5::QoS::AtLeastOnce,
        Qos::ExactlyOnce => b5::QoS::ExactlyOnce,
    }
}

fn utf8_topic(topic: Bytes) -> Result<String, DecodeError> {
    String::from_utf8(topic.to_vec())
        .map_err(|_| DecodeError::Malformed("topic is not valid UTF-8".into()))
}

impl Codec {
    /// A codec for `version`, refusing packets over `max_in` bytes.
    pub fn new(version: Version, max_in: usize) -> Self {
        Self { version, max_in }
    }

    /// The version spoken.
    pub fn version(&self) -> Version {
        self.version
    }

    /// Takes one whole packet off the front of `buf`, or `None` if more
    /// bytes are needed.
    pub fn decode(&self, buf: &mut BytesMut) -> Result<Option<Inbound>, DecodeError> {
        // An MQTT 5 DISCONNECT may be just two bytes (no reason code: a
        // normal disconnect), or three (a reason code, no property length:
        // no properties, MQTT 5 3.14.2.2.1). The kept decoder refuses the
        // first and waits forever for the property length of the second.
        if self.version == Version::V5 && buf.len() >= 2 && buf[0] == 0xE0 && buf[1] <= 1 {
            if buf[1] == 0 {
                let _ = buf.split_to(2);
                return Ok(Some(Inbound::Disconnect {
                    reason: 0,
                    session_expiry: None,
                }));
            }
            if buf.len() < 3 {
                return Ok(None);
            }
            let reason = buf[2];
            let _ = buf.split_to(3);
            return Ok(Some(Inbound::Disconnect {
                reason,
                session_expiry: None,
            }));
        }
        if let Some(&first) = buf.first() {
            if !flags_ok(first) {
                return Err(DecodeError::Malformed(format!(
                    "reserved fixed-header flags {:#06b} on packet type {}",
                    first & 0x0F,
                    first >> 4
                )));
            }
        }
        // "Insufficient bytes" means "read more" only while the packet is
        // not all there. Once the decoder has taken the whole packet off
        // the buffer, it means the contents end early (a property length
        // cut off): malformed, not a reason to wait.
        let before = buf.len();
        let cut_short = |buf: &BytesMut| {
            DecodeError::Malformed(format!(
                "the packet ends early ({} bytes taken)",
                before - buf.len()
            ))
        };
        match self.version {
            Version::V311 => match v4::Packet::read(buf, self.max_in) {
                Ok(p) => Self::from_v4(p).map(Some),
                Err(b4::Error::InsufficientBytes(_)) if buf.len() == before => Ok(None),
                Err(b4::Error::InsufficientBytes(_)) => Err(cut_short(buf)),
                Err(b4::Error::PayloadSizeLimitExceeded(size)) => Err(DecodeError::TooLarge {
                    size,
                    max: self.max_in,
                }),
                Err(e) => Err(DecodeError::Malformed(e.to_string())),
            },
            Version::V5 => match v5::Packet::read(buf, Some(self.max_in as u32)) {
                Ok(p) => Self::from_v5(p).map(Some),
                Err(b5::Error::InsufficientBytes(_)) if buf.len() == before => Ok(None),
                Err(b5::Error::InsufficientBytes(_)) => Err(cut_short(buf)),
                Err(b5::Error::PayloadSizeLimitExceeded { pkt_size, .. }) => {
                    Err(DecodeError::TooLarge {
                        size: pkt_size,
                        max: self.max_in,
                    })
                }
                Err(e) => Err(DecodeError::Malformed(e.to_string())),
            },
        }
    }

    fn from_v4(p: v4::Packet) -> Result<Inbound, DecodeError> {
        Ok(match p {
            v4::Packet::Connect(c) => Inbound::Connect(Connect {
                client_id: c.client_id,
                clean_start: c.clean_session,
                keep_alive: c.keep_alive,
                will: c.last_will.map(|w| Will {
                    message: Publish {
                        topic: w.topic,
                        payload: w.message,
                        qos: qos_of(w.qos as u8),
                        retain: w.retain,
                        dup: false,
                        pkid: 0,
                        expiry_secs: None,
                        props: None,
                    },
                    delay_secs: 0,
                }),
                username: c.login.as_ref().map(|l| l.username.clone()),
                password: c.login.map(|l| Bytes::from(l.password.into_bytes())),
                session_expiry: None,
                receive_maximum: None,
                max_packet_size: None,
            }),
            v4::Packet::Publish(p) => Inbound::Publish(Publish {
                topic: p.topic,
                payload: p.payload,
                qos: qos_of(p.qos as u8),
                retain: p.retain,
                dup: p.dup,
                pkid: p.pkid,
                expiry_secs: None,
                props: None,
            }),
            v4::Packet::PubAck(a) => Inbound::PubAck(a.pkid),
            v4::Packet::PubRec(a) => Inbound::PubRec(a.pkid),
            v4::Packet::PubRel(a) => Inbound::PubRel(a.pkid),
            v4::Packet::PubComp(a) => Inbound::PubComp(a.pkid),
            v4::Packet::Subscribe(s) => Inbound::Subscribe {
                pkid: s.pkid,
                filters: s
                    .filters
                    .into_iter()
                    .map(|f| SubscribeFilter {
                        filter: f.path,
                        qos: qos_of(f.qos as u8),
                        no_local: false,
                        retain_as_published: false,
                        retain_handling: RetainHandling::OnSubscribe,
                    })
                    .collect(),
            },
            v4::Packet::Unsubscribe(u) => Inbound::Unsubscribe {
                pkid: u.pkid,
                filters: u.topics,
            },
            v4::Packet::PingReq => Inbound::PingReq,
            v4::Packet::Disconnect => Inbound::Disconnect {
                reason: 0,
                session_expiry: None,
            },
            other => {
                return Err(DecodeError::Malformed(format!(
                    "a client may not send {}",
                    packet_name_v4(&other)
                )))
            }
        })
    }

    fn props_of(p: &v5::PublishProperties) -> Option<Arc<PublishProps>> {
        let props = PublishProps {
            payload_format: p.payload_format_indicator,
            content_type: p.content_type.clone(),
            response_topic: p.response_topic.clone(),
            correlation_data: p.correlation_data.clone(),
            user_properties: p.user_properties.clone(),
        };
        (props != PublishProps::default()).then(|| Arc::new(props))
    }

    fn from_v5(p: v5::Packet) -> Result<Inbound, DecodeError> {
        Ok(match p {
            v5::Packet::Connect(c, will, login) => {
                let props = c.properties.unwrap_or_default();
                let will = match will {
                    Some(w) => {
                        let (delay, expiry, publish_props) = match &w.properties {
                            Some(wp) => (
                                wp.delay_interval.unwrap_or(0),
                                wp.message_expiry_interval,
                                v5::PublishProperties {
                                    payload_format_indicator: wp.payload_format_indicator,
                                    content_type: wp.content_type.clone(),
                                    response_topic: wp.response_topic.clone(),
                                    correlation_data: wp.correlation_data.clone(),
                                    user_properties: wp.user_properties.clone(),
                                    ..Default::default()
                                },
                            ),
                            None => (0, None, v5::PublishProperties::default()),
                        };
                        Some(Will {
                            message: Publish {
                                topic: utf8_topic(w.topic)?,
                                payload: w.message,
                                qos: qos_of(w.qos as u8),
                                retain: w.retain,
                                dup: false,
                                pkid: 0,
                                expiry_secs: expiry,
                                props: Self::props_of(&publish_props),
                            },
                            delay_secs: delay,
                        })
                    }
                    None => None,
                };
                Inbound::Connect(Connect {
                    client_id: c.client_id,
                    clean_start: c.clean_start,
                    keep_alive: c.keep_alive,
                    will,
                    username: login
                        .as_ref()
                        .map(|l| l.username.clone())
                        .filter(|u| !u.is_empty()),
                    password: login.map(|l| Bytes::from(l.password.into_bytes())),
                    session_expiry: props.session_expiry_interval,
                    receive_maximum: props.receive_maximum,
                    max_packet_size: props.max_packet_size,
                })
            }
            v5::Packet::Publish(p) => {
                let props = p.properties.unwrap_or_default();
                if props.topic_alias.is_some() {
                    return Err(DecodeError::Malformed(
                        "topic aliases are not accepted (topic alias maximum is 0)".into(),
                    ));
                }
                Inbound::Publish(Publish {
                    topic: utf8_topic(p.topic)?,
                    payload: p.payload,
                    qos: qos_of(p.qos as u8),
                    retain: p.retain,
                    dup: p.dup,
                    pkid: p.pkid,
                    expiry_secs: props.message_expiry_interval,
                    props: Self::props_of(&props),
                })
            }
            v5::Packet::PubAck(a) => Inbound::PubAck(a.pkid),
            v5::Packet::PubRec(a) => Inbound::PubRec(a.pkid),
            v5::Packet::PubRel(a) => Inbound::PubRel(a.pkid),
            v5::Packet::PubComp(a) => Inbound::PubComp(a.pkid),
            v5::Packet::Subscribe(s) => Inbound::Subscribe {
                pkid: s.pkid,
                filters: s
                    .filters
                    .into_iter()
                    .map(|f| SubscribeFilter {
                        filter: f.path,
                        qos: qos_of(f.qos as u8),
                        no_local: f.nolocal,
                        retain_as_published: f.preserve_retain,
                        retain_handling: match f.retain_forward_rule {
                            v5::RetainForwardRule::OnEverySubscribe => RetainHandling::OnSubscribe,
                            v5::RetainForwardRule::OnNewSubscribe => RetainHandling::OnNewSubscribe,
                            v5::RetainForwardRule::Never => RetainHandling::Never,
                        },
                    })
                    .collect(),
            },
            v5::Packet::Unsubscribe(u) => Inbound::Unsubscribe {
                pkid: u.pkid,
                filters: u.filters,
            },
            v5::Packet::PingReq(_) => Inbound::PingReq,
            v5::Packet::Disconnect(d) => Inbound::Disconnect {
                reason: d.reason_code as u8,
                session_expiry: d.properties.and_then(|p| p.session_expiry_interval),
            },
            _ => {
                return Err(DecodeError::Malformed(
                    "a client may not send this packet type".into(),
                ))
            }
        })
    }

    /// Appends the wire form of `packet` to `out`. Packets the version
    /// cannot express (a 3.1.1 DISCONNECT from the server) write nothing.
    pub fn encode(&self, packet: &Outbound, out: &mut BytesMut) {
        let written = match self.version {
            Version::V311 => Self::to_v4(packet).map(|p| {
                p.write(out, usize::MAX)
                    .map(drop)
                    .map_err(|e| e.to_string())
            }),
            Version::V5 => Some(
                Self::to_v5(packet)
                    .write(out, None)
                    .map(drop)
                    .map_err(|e| e.to_string()),
            ),
        };
        if let Some(Err(e)) = written {
            tracing::warn!(error = %e, "could not encode an MQTT packet");
        }
    }

    fn to_v4(packet: &Outbound) -> Option<v4::Packet> {
        Some(match packet {
            Outbound::ConnAck(reason, info) => v4::Packet::ConnAck(v4::ConnAck::new(
                match reason {
                    Reason::Success => v4::ConnectReturnCode::Success,
                    Reason::UnsupportedProtocolVersion => {
                        v4::ConnectReturnCode::RefusedProtocolVersion
                    }
                    Reason::ClientIdNotValid => v4::ConnectReturnCode::BadClientId,
                    Reason::BadUserNameOrPassword => v4::ConnectReturnCode::BadUserNamePassword,
                    Reason::NotAuthorized => v4::ConnectReturnCode::NotAuthorized,
                    _ => v4::ConnectReturnCode::ServiceUnavailable,
                },
                info.session_present,
            )),
            Outbound::Publish(p) => {
                let mut publish =
                    v4::Publish::from_bytes(p.topic.clone(), q4(p.qos), p.payload.clone());
                publish.retain = p.retain;
                publish.dup = p.dup;
                publish.pkid = p.pkid;
                v4::Packet::Publish(publish)
            }
            Outbound::PubAck(pkid, ..) => v4::Packet::PubAck(v4::PubAck::new(*pkid)),
            Outbound::PubRec(pkid, ..) => v4::Packet::PubRec(v4::PubRec::new(*pkid)),
            Outbound::PubRel(pkid) => v4::Packet::PubRel(v4::PubRel::new(*pkid)),
            Outbound::PubComp(pkid) => v4::Packet::PubComp(v4::PubComp::new(*pkid)),
            Outbound::SubAck(pkid, outcomes) => v4::Packet::SubAck(v4::SubAck::new(
                *pkid,
                outcomes
                    .iter()
                    .map(|o| match o {
                        SubscribeOutcome::Granted(q) => v4::SubscribeReasonCode::Success(q4(*q)),
                        SubscribeOutcome::Refused(_) => v4::SubscribeReasonCode::Failure,
                    })
                    .collect(),
            )),
            Outbound::UnsubAck(pkid, _) => v4::Packet::UnsubAck(v4::UnsubAck::new(*pkid)),
            Outbound::PingResp => v4::Packet::PingResp,
            Outbound::Disconnect(..) => return None,
        })
    }

    fn to_v5(packet: &Outbound) -> v5::Packet {
        match packet {
            Outbound::ConnAck(reason, info) => v5::Packet::ConnAck(v5::ConnAck {
                session_present: info.session_present,
                code: connack_code_v5(*reason),
                properties: Some(v5::ConnAckProperties {
                    session_expiry_interval: info.session_expiry,
                    receive_max: info.receive_maximum,
                    max_qos: None,
                    retain_available: Some(1),
                    max_packet_size: info.max_packet_size,
                    assigned_client_identifier: info.assigned_client_id.clone(),
                    topic_alias_max: Some(0),
                    reason_string: info.reason_string.clone(),
                    user_properties: Vec::new(),
                    wildcard_subscription_available: Some(1),
                    subscription_identifiers_available: Some(0),
                    shared_subscription_available: Some(0),
                    server_keep_alive: info.server_keep_alive,
                    response_information: None,
                    server_reference: None,
                    authentication_method: None,
                    authentication_data: None,
                }),
            }),
            Outbound::Publish(p) => {
                let properties = (p.expiry_secs.is_some() || p.props.is_some()).then(|| {
                    let extra = p.props.as_deref().cloned().unwrap_or_default();
                    v5::PublishProperties {
                        payload_format_indicator: extra.payload_format,
                        message_expiry_interval: p.expiry_secs,
                        topic_alias: None,
                        response_topic: extra.response_topic,
                        correlation_data: extra.correlation_data,
                        user_properties: extra.user_properties,
                        subscription_identifiers: Vec::new(),
                        content_type: extra.content_type,
                    }
                });
                v5::Packet::Publish(v5::Publish {
                    dup: p.dup,
                    qos: q5(p.qos),
                    retain: p.retain,
                    topic: Bytes::from(p.topic.clone().into_bytes()),
                    pkid: p.pkid,
                    payload: p.payload.clone(),
                    properties,
                })
            }
            Outbound::PubAck(pkid, reason, words) => v5::Packet::PubAck(v5::PubAck {
                pkid: *pkid,
                reason: puback_reason_v5(*reason),
                properties: words.clone().map(|w| v5::PubAckProperties {
                    reason_string: Some(w),
                    user_properties: Vec::new(),
                }),
            }),
            Outbound::PubRec(pkid, reason, words) => v5::Packet::PubRec(v5::PubRec {
                pkid: *pkid,
                reason: pubrec_reason_v5(*reason),
                properties: words.clone().map(|w| v5::PubRecProperties {
                    reason_string: Some(w),
                    user_properties: Vec::new(),
                }),
            }),
            Outbound::PubRel(pkid) => v5::Packet::PubRel(v5::PubRel {
                pkid: *pkid,
                reason: v5::PubRelReason::Success,
                properties: None,
            }),
            Outbound::PubComp(pkid) => v5::Packet::PubComp(v5::PubComp {
                pkid: *pkid,
                reason: v5::PubCompReason::Success,
                properties: None,
            }),
            Outbound::SubAck(pkid, outcomes) => v5::Packet::SubAck(v5::SubAck {
                pkid: *pkid,
                return_codes: outcomes
                    .iter()
                    .map(|o| match o {
                        SubscribeOutcome::Granted(q) => v5::SubscribeReasonCode::Success(q5(*q)),
                        SubscribeOutcome::Refused(Reason::NotAuthorized) => {
                            v5::SubscribeReasonCode::NotAuthorized
                        }
                        SubscribeOutcome::Refused(Reason::TopicFilterInvalid) => {
                            v5::SubscribeReasonCode::TopicFilterInvalid
                        }
                        SubscribeOutcome::Refused(Reason::SharedSubscriptionsNotSupported) => {
                            v5::SubscribeReasonCode::SharedSubscriptionsNotSupported
                        }
                        SubscribeOutcome::Refused(Reason::QuotaExceeded) => {
                            v5::SubscribeReasonCode::QuotaExceeded
                        }
                        SubscribeOutcome::Refused(_) => v5::SubscribeReasonCode::Unspecified,
                    })
                    .collect(),
                properties: None,
            }),
            Outbound::UnsubAck(pkid, count) => v5::Packet::UnsubAck(v5::UnsubAck {
                pkid: *pkid,
                reasons: vec![v5::UnsubAckReason::Success; *count],
                properties: None,
            }),
            Outbound::PingResp => v5::Packet::PingResp(v5::PingResp),
            Outbound::Disconnect(reason, words) => v5::Packet::Disconnect(v5::Disconnect {
                reason_code: disconnect_reason_v5(*reason),
                properties: words.clone().map(|w| v5::DisconnectProperties {
                    session_expiry_interval: None,
                    reason_string: Some(w),
                    user_properties: Vec::new(),
                    server_reference: None,
                }),
            }),
        }
    }
}

fn packet_name_v4(p: &v4::Packet) -> &'static str {
    match p {
        v4::Packet::ConnAck(_) => "CONNACK",
        v4::Packet::SubAck(_) => "SUBACK",
        v4::Packet::UnsubAck(_) => "UNSUBACK",
        v4::Packet::PingResp => "PINGRESP",
        _ => "this packet",
    }
}

fn connack_code_v5(reason: Reason) -> v5::ConnectReturnCode {
    use v5::ConnectReturnCode as C;
    match reason {
        Reason::Success => C::Success,
        Reason::UnsupportedProtocolVersion => C::UnsupportedProtocolVersion,
        Reason::ClientIdNotValid => C::ClientIdentifierNotValid,
        Reason::BadUserNameOrPassword => C::BadUserNamePassword,
        Reason::NotAuthorized => C::NotAuthorized,
        Reason::ServerBusy => C::ServerBusy,
        Reason::MalformedPacket => C::MalformedPacket,
        Reason::ProtocolError => C::ProtocolError,
        Reason::PacketTooLarge => C::PacketTooLarge,
        Reason::ServerShuttingDown => C::ServerUnavailable,
        Reason::QuotaExceeded => C::QuotaExceeded,
        _ => C::UnspecifiedError,
    }
}

fn puback_reason_v5(reason: Reason) -> v5::PubAckReason {
    use v5::PubAckReason as R;
    match reason {
        Reason::Success => R::Success,
        Reason::NoMatchingSubscribers => R::NoMatchingSubscribers,
        Reason::NotAuthorized => R::NotAuthorized,
        Reason::TopicNameInvalid => R::TopicNameInvalid,
        Reason::PayloadFormatInvalid => R::PayloadFormatInvalid,
        Reason::ImplementationSpecific => R::ImplementationSpecificError,
        Reason::QuotaExceeded => R::QuotaExceeded,
        _ => R::UnspecifiedError,
    }
}

fn pubrec_reason_v5(reason: Reason) -> v5::PubRecReason {
    use v5::PubRecReason as R;
    match reason {
        Reason::Success => R::Success,
        Reason::NoMatchingSubscribers => R::NoMatchingSubscribers,
        Reason::NotAuthorized => R::NotAuthorized,
        Reason::TopicNameInvalid => R::TopicNameInvalid,
        Reason::PayloadFormatInvalid => R::PayloadFormatInvalid,
        Reason::ImplementationSpecific => R::ImplementationSpecificError,
        Reason::QuotaExceeded => R::QuotaExceeded,
        _ => R::UnspecifiedError,
    }
}

fn disconnect_reason_v5(reason: Reason) -> v5::DisconnectReasonCode {
    use v5::DisconnectReasonCode as D;
    match reason {
        Reason::Success => D::NormalDisconnection,
        Reason::MalformedPacket => D::MalformedPacket,
        Reason::ProtocolError => D::ProtocolError,
        Reason::NotAuthorized => D::NotAuthorized,
        Reason::ServerBusy => D::ServerBusy,
        Reason::ServerShuttingDown => D::ServerShuttingDown,
        Reason::KeepAliveTimeout => D::KeepAliveTimeout,
        Reason::SessionTakenOver => D::SessionTakenOver,
        Reason::TopicFilterInvalid => D::TopicFilterInvalid,
        Reason::TopicNameInvalid => D::TopicNameInvalid,
        Reason::PacketTooLarge => D::PacketTooLarge,
        Reason::PayloadFormatInvalid => D::PayloadFormatInvalid,
        Reason::SharedSubscriptionsNotSupported => D::SharedSubscriptionNotSupported,
        Reason::MessageRateTooHigh => D::MessageRateTooHigh,
        Reason::QuotaExceeded => D::QuotaExceeded,
        _ => D::UnspecifiedError,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connect_bytes(name: &[u8], level: u8) -> Vec<u8> {
        let mut body = vec![0, name.len() as u8];
        body.extend_from_slice(name);
        body.extend_from_slice(&[level, 0b10, 0, 60, 0, 1, b'c']);
        let mut out = vec![0x10, body.len() as u8];
        out.extend(body);
        out
    }

    #[test]
    fn sniffs_the_version() {
        assert_eq!(
            sniff_version(&connect_bytes(b"MQTT", 4), 1024).unwrap(),
            Some(Version::V311)
        );
        assert_eq!(
            sniff_version(&connect_bytes(b"MQTT", 5), 1024).unwrap(),
            Some(Version::V5)
        );
        assert!(matches!(
            sniff_version(&connect_bytes(b"MQIsdp", 3), 1024),
            Err(DecodeError::UnsupportedVersion(3))
        ));
        assert!(matches!(
            sniff_version(&[0x30, 0], 1024),
            Err(DecodeError::NotConnect)
        ));
        assert_eq!(sniff_version(&[0x10], 1024).unwrap(), None);
        assert!(matches!(
            sniff_version(&[0x10, 0xff, 0xff, 0xff, 0xff, 0x01], 1024),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn a_whole_connect_with_a_name_past_its_end_is_malformed() {
        // Found by fuzzing: remaining length 2, then a protocol name
        // length of 0x51 that runs past the packet. Once the packet is all
        // here, waiting for the name would only read what follows it.
        let connect = [0x10u8, 0x02, 0x00, 0x51];
        assert!(matches!(
            sniff_version(&connect, 64),
            Err(DecodeError::Malformed(_))
        ));
        // What follows the packet changes nothing.
        let mut more = connect.to_vec();
        more.extend_from_slice(&[0x30; 100]);
        assert!(matches!(
            sniff_version(&more, 64),
            Err(DecodeError::Malformed(_))
        ));
        // A name that ends in the packet without the level after it.
        assert!(matches!(
            sniff_version(&[0x10, 0x06, 0x00, 0x04, b'M', b'Q', b'T', b'T'], 64),
            Err(DecodeError::Malformed(_))
        ));
        // Cut off inside the packet: wait.
        assert_eq!(
            sniff_version(&connect_bytes(b"MQTT", 4)[..7], 64).unwrap(),
            None
        );
    }

    #[test]
    fn decodes_a_311_connect_and_waits_for_more_bytes() {
        let codec = Codec::new(Version::V311, 1024);
        let bytes = connect_bytes(b"MQTT", 4);
        let mut partial = BytesMut::from(&bytes[..5]);
        assert!(codec.decode(&mut partial).unwrap().is_none());
        let mut whole = BytesMut::from(&bytes[..]);
        match codec.decode(&mut whole).unwrap() {
            Some(Inbound::Connect(c)) => {
                assert_eq!(c.client_id, "c");
                assert!(c.clean_start);
                assert_eq!(c.keep_alive, 60);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_v5_disconnect_with_only_a_reason_code_is_whole() {
        let codec = Codec::new(Version::V5, 1024);
        let mut buf = BytesMut::from(&[0xE0u8, 1][..]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        buf.extend_from_slice(&[0x04]);
        assert!(matches!(
            codec.decode(&mut buf).unwrap(),
            Some(Inbound::Disconnect { reason: 4, .. })
        ));
        assert!(buf.is_empty());
    }

    #[test]
    fn a_v5_packet_cut_short_inside_is_malformed_not_pending() {
        // SUBSCRIBE, remaining length 2: a packet id and no property length.
        let codec = Codec::new(Version::V5, 1024);
        let mut buf = BytesMut::from(&[0x82u8, 2, 0, 1][..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn reserved_flags_are_malformed() {
        for version in [Version::V311, Version::V5] {
            let codec = Codec::new(version, 1024);
            // SUBSCRIBE with flags 0000, PINGREQ with flags 0001.
            for bytes in [&[0x80u8, 6, 0, 1, 0, 1, b'a', 0][..], &[0xC1, 0][..]] {
                let mut buf = BytesMut::from(bytes);
                assert!(
                    matches!(codec.decode(&mut buf), Err(DecodeError::Malformed(_))),
                    "{version:?} {bytes:02x?}"
                );
            }
            let mut buf = BytesMut::from(&[0xC0u8, 0][..]);
            assert!(matches!(codec.decode(&mut buf), Ok(Some(Inbound::PingReq))));
        }
    }

    /// The fuzz seeds (`bridge/fuzz/seeds/mqtt_packet`) are what their
    /// names say: a CONNECT of that version, then whole client packets.
    #[test]
    fn the_fuzz_seeds_decode() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/mqtt_packet");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let version = match name.split('-').next() {
                Some("v311") => Version::V311,
                Some("v5") => Version::V5,
                _ => panic!("{name}: a seed's name starts with v311- or v5-"),
            };
            let mut buf = BytesMut::from(&std::fs::read(&path).unwrap()[..]);
            assert_eq!(sniff_version(&buf, 1024).unwrap(), Some(version), "{name}");
            let codec = Codec::new(version, 1024);
            let mut packets = Vec::new();
            while !buf.is_empty() {
                match codec.decode(&mut buf) {
                    Ok(Some(p)) => packets.push(p),
                    other => panic!("{name}: {other:?} after {packets:?}"),
                }
            }
            assert!(matches!(packets[0], Inbound::Connect(_)), "{name}");
            seen += 1;
        }
        assert!(seen >= 4, "seeds in {}", dir.display());
    }

    #[test]
    fn a_bare_v5_disconnect_is_normal() {
        let codec = Codec::new(Version::V5, 1024);
        let mut buf = BytesMut::from(&[0xE0u8, 0][..]);
        assert!(matches!(
            codec.decode(&mut buf).unwrap(),
            Some(Inbound::Disconnect { reason: 0, .. })
        ));
    }
}
