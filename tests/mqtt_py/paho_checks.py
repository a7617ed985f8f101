#!/usr/bin/env python3
"""MQTT checks against a running hub with the paho-mqtt Python client.

Run by tests/tests/mqtt_paho.rs, one check per hub:

    python3 paho_checks.py --host 127.0.0.1 --port 1883 --http http://127.0.0.1:8080 CHECK

Prints "ok CHECK" and exits 0 when the check passes; anything else is a
failure (an AssertionError says what was expected). Every wait is bounded.

Works with paho-mqtt 1.6 (Debian bookworm: `apt-get install
python3-paho-mqtt`) and 2.x (`python3 -m pip install paho-mqtt`); the
callbacks differ between the two and are normalised below.
"""

import argparse
import json
import queue
import sys
import time
import urllib.request

try:
    import paho.mqtt
    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties
    from paho.mqtt.subscribeoptions import SubscribeOptions
except ImportError as e:  # pragma: no cover - reported by the Rust side too
    sys.exit(f"paho-mqtt is not installed ({e}): apt-get install python3-paho-mqtt, "
             "or python3 -m pip install paho-mqtt")

# paho 2.x asks which callback signatures to use; 1.x has only its own.
PAHO2 = hasattr(mqtt, "CallbackAPIVersion")

WAIT = 20.0  # seconds for anything expected
QUIET = 2.0  # seconds in which nothing more may arrive

ARGS = None


def code(rc):
    """A reason or return code as a number (paho 1 gives ints for 3.1.1)."""
    return rc if isinstance(rc, int) else rc.value


def session_present(flags):
    """CONNACK's session-present flag (a dict in paho 1, an object in 2)."""
    if isinstance(flags, dict):
        return bool(flags.get("session present"))
    return bool(flags.session_present)


class Client:
    """A paho client whose callbacks feed queues the checks wait on."""

    def __init__(self, client_id, protocol=mqtt.MQTTv311, clean=True, transport="tcp",
                 will=None, connect=True, session_expiry=None):
        kwargs = {"client_id": client_id, "protocol": protocol, "transport": transport}
        if protocol != mqtt.MQTTv5:
            kwargs["clean_session"] = clean
        if PAHO2:
            self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, **kwargs)
        else:
            self.c = mqtt.Client(**kwargs)
        self.protocol = protocol
        self.clean = clean
        self.session_expiry = session_expiry
        self.messages = queue.Queue()
        self.connacks = queue.Queue()
        self.published = queue.Queue()
        self.subacks = queue.Queue()
        self.disconnects = queue.Queue()

        # The same callbacks for paho 1 (3.1.1 and 5 signatures) and paho 2.
        def on_connect(c, u, flags, rc, props=None):
            self.connacks.put((session_present(flags), code(rc)))

        def on_publish(c, u, mid, rc=None, props=None):
            self.published.put((mid, None if rc is None else code(rc)))

        def on_subscribe(c, u, mid, granted, props=None):
            self.subacks.put((mid, [code(g) for g in granted]))

        self.c.on_connect = on_connect
        self.c.on_message = lambda c, u, msg: self.messages.put(msg)
        self.c.on_publish = on_publish
        self.c.on_subscribe = on_subscribe
        self.c.on_disconnect = lambda *args: self.disconnects.put(args)
        if transport == "websockets":
            self.c.ws_set_options(path="/mqtt")
        if will:
            topic, payload, qos, retain = will
            self.c.will_set(topic, payload, qos=qos, retain=retain)
        if connect:
            self.connect()

    def connect(self, host=None, port=None):
        kwargs = {}
        if self.protocol == mqtt.MQTTv5:
            kwargs["clean_start"] = self.clean
            if self.session_expiry is not None:
                props = Properties(PacketTypes.CONNECT)
                props.SessionExpiryInterval = self.session_expiry
                kwargs["properties"] = props
        self.c.connect(host or ARGS.host, port or ARGS.port, keepalive=30, **kwargs)
        self.c.loop_start()
        present, rc = self.connacks.get(timeout=WAIT)
        assert rc == 0, f"CONNACK refused: {rc:#x}"
        return present

    def subscribe(self, topic, qos, **options):
        if self.protocol == mqtt.MQTTv5:
            opts = SubscribeOptions(qos=qos, **options)
            _, mid = self.c.subscribe(topic, options=opts)
        else:
            _, mid = self.c.subscribe(topic, qos)
        got_mid, rcs = self.subacks.get(timeout=WAIT)
        assert got_mid == mid, (got_mid, mid)
        return rcs

    def publish(self, topic, payload, qos=0, retain=False, wait=True):
        info = self.c.publish(topic, payload, qos=qos, retain=retain)
        if wait:
            info.wait_for_publish(timeout=WAIT)
            assert info.is_published(), f"publish to {topic} at QoS {qos} not completed"
        return info

    def message(self, topic=None):
        deadline = time.monotonic() + WAIT
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"no message on {topic or 'any topic'} within {WAIT}s"
            msg = self.messages.get(timeout=left)
            if topic is None or msg.topic == topic:
                return msg

    def quiet(self, seconds=QUIET):
        try:
            msg = self.messages.get(timeout=seconds)
        except queue.Empty:
            return
        raise AssertionError(f"expected nothing, got {msg.topic} {msg.payload!r}")

    def disconnect(self):
        self.c.disconnect()
        self.disconnects.get(timeout=WAIT)
        self.c.loop_stop()

    def kill(self):
        """Closes the socket without DISCONNECT."""
        self.c.loop_stop()
        self.c.socket().close()


def history(room):
    with urllib.request.urlopen(f"{ARGS.http}/api/rooms/{room}/messages?limit=100", timeout=WAIT) as r:
        return json.load(r)["messages"]


def check_qos(protocol):
    sub = Client("paho-sub", protocol)
    assert sub.subscribe("paho/q", 2) == [2]
    pub = Client("paho-pub", protocol)
    for qos in (0, 1, 2):
        # wait_for_publish: QoS 1 completes on PUBACK, QoS 2 on PUBCOMP.
        pub.publish("paho/q", f"q{qos}", qos=qos)
    codes = [pub.published.get(timeout=WAIT)[1] for _ in range(3)]
    # paho 2 passes MQTT 5 reason codes on (3.1.1 has none: 0).
    assert all(rc in (None, 0) for rc in codes), codes
    for qos in (0, 1, 2):
        msg = sub.message("paho/q")
        assert (msg.payload, msg.qos, msg.retain) == (f"q{qos}".encode(), qos, False), (msg.payload, msg.qos)
    sub.quiet()
    # min(publish QoS, subscription QoS)
    low = Client("paho-low", protocol)
    low.subscribe("paho/low", 1)
    pub.publish("paho/low", "two", qos=2)
    msg = low.message("paho/low")
    assert msg.qos == 1, msg.qos


def check_qos_v311():
    check_qos(mqtt.MQTTv311)


def check_qos_v5():
    check_qos(mqtt.MQTTv5)


def check_retained():
    pub = Client("paho-ret-pub")
    pub.publish("paho/ret", "kept", qos=1, retain=True)
    sub = Client("paho-ret-sub")
    sub.subscribe("paho/#", 1)
    msg = sub.message("paho/ret")
    assert (msg.payload, msg.retain, msg.qos) == (b"kept", True, 1), (msg.payload, msg.retain, msg.qos)
    pub.publish("paho/ret", b"", qos=1, retain=True)
    cleared = sub.message("paho/ret")
    assert cleared.payload == b"", cleared.payload
    late = Client("paho-ret-late")
    late.subscribe("paho/#", 1)
    late.quiet()


def check_will():
    watcher = Client("paho-will-watcher")
    watcher.subscribe("wills/#", 1)
    doomed = Client("paho-doomed", will=("wills/paho-doomed", "gone", 1, False))
    doomed.kill()
    msg = watcher.message("wills/paho-doomed")
    assert msg.payload == b"gone", msg.payload
    polite = Client("paho-polite", protocol=mqtt.MQTTv5, will=("wills/paho-polite", "no", 1, False))
    polite.disconnect()
    watcher.quiet()


def check_persistent_session():
    dev = Client("paho-persist", clean=False)
    dev.subscribe("inbox/paho", 1)
    dev.disconnect()
    pub = Client("paho-persist-pub")
    for i in range(3):
        pub.publish("inbox/paho", f"missed {i}", qos=1)
    dev = Client("paho-persist", clean=False, connect=False)
    assert dev.connect(), "CONNACK session present"
    for i in range(3):
        msg = dev.message("inbox/paho")
        assert (msg.payload, msg.qos) == (f"missed {i}".encode(), 1), (msg.payload, msg.qos)
    dev.quiet()
    # MQTT 5 with a session expiry.
    dev5 = Client("paho-persist5", protocol=mqtt.MQTTv5, clean=False, session_expiry=300)
    dev5.subscribe("inbox/paho5", 1)
    dev5.disconnect()
    pub.publish("inbox/paho5", "missed v5", qos=1)
    dev5 = Client("paho-persist5", protocol=mqtt.MQTTv5, clean=False, session_expiry=300, connect=False)
    assert dev5.connect(), "CONNACK session present"
    assert dev5.message("inbox/paho5").payload == b"missed v5"


def check_room_bridge():
    dev = Client("paho-dev", protocol=mqtt.MQTTv5)
    dev.subscribe("rooms/paho-room", 1)
    dev.publish("rooms/paho-room", "hello from paho", qos=1)
    # Acknowledged means stored.
    stored = history("paho-room")
    assert [m["text"] for m in stored] == ["hello from paho"], stored
    msg = dev.message("rooms/paho-room")
    m = json.loads(msg.payload)
    assert (m["text"], m["from"], m["via"], m["seq"]) == ("hello from paho", "paho-dev", "mqtt", 1), m
    assert m == stored[0], (m, stored[0])
    dev.publish("rooms/paho-room", json.dumps({"text": "with ref", "ref": "p-1"}), qos=1)
    dev.publish("rooms/paho-room", json.dumps({"text": "with ref", "ref": "p-1"}), qos=1)
    m = json.loads(dev.message("rooms/paho-room").payload)
    assert (m["text"], m["ref"]) == ("with ref", "p-1"), m
    dev.quiet()
    assert len(history("paho-room")) == 2
    # Presence: retained JSON naming the client.
    watcher = Client("paho-presence", protocol=mqtt.MQTTv311)
    watcher.subscribe("rooms/paho-room/presence", 1)
    msg = watcher.message("rooms/paho-room/presence")
    p = json.loads(msg.payload)
    assert msg.retain and p == {"room": "paho-room", "online": ["paho-dev"]}, (msg.retain, p)


def check_websocket():
    host, port = ARGS.http[len("http://"):].rsplit(":", 1)
    dev = Client("paho-ws", transport="websockets", connect=False)
    dev.connect(host=host, port=int(port))
    dev.subscribe("rooms/paho-ws", 1)
    dev.publish("rooms/paho-ws", "over websocket", qos=1)
    m = json.loads(dev.message("rooms/paho-ws").payload)
    assert (m["text"], m["from"], m["via"]) == ("over websocket", "paho-ws", "mqtt"), m
    tcp = Client("paho-tcp")
    tcp.publish("rooms/paho-ws", "over tcp", qos=1)
    m = json.loads(dev.message("rooms/paho-ws").payload)
    assert m["text"] == "over tcp", m


def check_bad_client_id():
    for protocol in (mqtt.MQTTv311, mqtt.MQTTv5):
        c = Client("bad/id", protocol=protocol, connect=False)
        c.c.connect(ARGS.host, ARGS.port, keepalive=30)
        c.c.loop_start()
        _, rc = c.connacks.get(timeout=WAIT)
        c.c.loop_stop()
        # 3.1.1 return code 2 (paho 2 shows it as 0x85), MQTT 5 reason 0x85.
        assert rc in (2, 0x85), f"protocol {protocol}: CONNACK {rc:#x}"


CHECKS = {name.removeprefix("check_"): f for name, f in globals().items() if name.startswith("check_") and name not in ("check_qos",)}


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--http", required=True)
    parser.add_argument("check", choices=sorted(CHECKS))
    ARGS = parser.parse_args()
    CHECKS[ARGS.check]()
    print(f"ok {ARGS.check} (paho-mqtt {paho.mqtt.__version__})", flush=True)


if __name__ == "__main__":
    main()
