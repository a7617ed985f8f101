//! A device's rumqttc options: client id, credentials, keep-alive, session,
//! last will.

use anyhow::{anyhow, Context, Result};
use rumqttc::{LastWill, MqttOptions, QoS};

use super::config::ConnectionSpec;

/// Requests a device buffers while it cannot send (readings past that are dropped).
pub const REQUEST_QUEUE: usize = 64;

/// The QoS of a 0/1 setting.
pub fn qos(n: u8) -> QoS {
    if n == 0 {
        QoS::AtMostOnce
    } else {
        QoS::AtLeastOnce
    }
}

/// rumqttc options for a device connecting to `broker` (`HOST:PORT`).
pub fn mqtt_options(spec: &ConnectionSpec, broker: &str) -> Result<MqttOptions> {
    let (host, port) = broker
        .rsplit_once(':')
        .ok_or_else(|| anyhow!("broker address {broker:?} is not HOST:PORT"))?;
    let port: u16 = port
        .parse()
        .with_context(|| format!("broker address {broker:?}: bad port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let mut o = MqttOptions::new(spec.client_id.clone(), host, port);
    // rumqttc refuses keep-alives under a second (other than none).
    let keep_alive = if spec.keep_alive.is_zero() {
        spec.keep_alive
    } else {
        spec.keep_alive.max(std::time::Duration::from_secs(1))
    };
    o.set_keep_alive(keep_alive)
        .set_clean_session(spec.clean_session || spec.client_id.is_empty())
        .set_max_packet_size(256 * 1024, 256 * 1024)
        .set_inflight(16);
    if let Some((user, password)) = &spec.credentials {
        o.set_credentials(user.clone(), password.clone());
    }
    if let Some(w) = &spec.will {
        o.set_last_will(LastWill::new(
            w.topic.clone(),
            w.payload.clone().into_bytes(),
            qos(w.qos),
            w.retain,
        ));
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::config::{ReconnectConfig, WillConfig};
    use std::time::Duration;

    #[test]
    fn builds_options_with_will_and_login() {
        let spec = ConnectionSpec {
            client_id: "thermo".into(),
            credentials: Some(("u".into(), "p".into())),
            keep_alive: Duration::from_secs(15),
            qos: 1,
            clean_session: false,
            will: Some(WillConfig {
                topic: "devices/thermo/status".into(),
                payload: "offline".into(),
                online: None,
                qos: 1,
                retain: true,
            }),
            reconnect: ReconnectConfig::default(),
        };
        let o = mqtt_options(&spec, "127.0.0.1:1883").unwrap();
        assert_eq!(o.broker_address(), ("127.0.0.1".to_string(), 1883));
        assert_eq!(o.keep_alive(), Duration::from_secs(15));
        assert!(!o.clean_session());
        assert_eq!(o.credentials().map(|l| l.username), Some("u".to_string()));
        assert_eq!(
            o.last_will().map(|w| w.topic),
            Some("devices/thermo/status".to_string())
        );
        assert!(mqtt_options(&spec, "nohost").is_err());
    }
}
