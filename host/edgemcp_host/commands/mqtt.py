"""`edgemcp mqtt pub|sub`: MQTT 5 topic messaging, like mosquitto_pub / mosquitto_sub."""
import argparse
import json
import sys
import threading
import time

from edgemcp_host import broker

EXAMPLES = """examples:
  edgemcp mqtt pub sensors/kitchen/temp 21.5
  edgemcp mqtt pub --qos 1 --retain --user-property unit=C sensors/kitchen/temp 21.5
  echo '{"on": true}' | edgemcp mqtt pub lights/hall -
  edgemcp mqtt sub 'edgemcp/+/events' --count 10
  edgemcp mqtt sub --share workers 'edgemcp/+/events'
      one of a group of consumers: the broker gives each message to one of them (MQTT 5
      shared subscription $share/workers/edgemcp/+/events)
  edgemcp mqtt sub --broker mqtts://broker.local:8883 -u me -P secret '#' --json
"""


def register(sub):
    p = sub.add_parser("mqtt", help="publish and subscribe to MQTT topics", description=__doc__,
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    s = p.add_subparsers(dest="mqtt_command", metavar="pub|sub", required=True)

    pub = s.add_parser("pub", help="publish one message", epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    pub.add_argument("topic")
    pub.add_argument("message", help="the payload; - reads it from standard input")
    pub.add_argument("--qos", "-q", type=int, choices=(0, 1, 2), default=0)
    pub.add_argument("--retain", "-r", action="store_true")
    pub.add_argument("--user-property", "-U", action="append", metavar="KEY=VALUE", default=[])
    pub.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the broker (default 10)")
    broker.add_arguments(pub)
    pub.set_defaults(func=publish)

    sb = s.add_parser("sub", help="print messages on topics (filters with + and #)", epilog=EXAMPLES,
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    sb.add_argument("topics", nargs="+", metavar="TOPIC")
    sb.add_argument("--qos", "-q", type=int, choices=(0, 1, 2), default=1)
    sb.add_argument("--count", "-C", type=int, default=0, help="exit after this many messages")
    sb.add_argument("--timeout", "-W", type=float, default=0, help="exit after this many seconds")
    sb.add_argument("--json", action="store_true", help="one JSON object per message, with its properties")
    sb.add_argument("--no-retained", action="store_true", help="skip retained messages")
    sb.add_argument("--share", metavar="GROUP", help="share the topics with the other subscribers of GROUP "
                    "(MQTT 5 $share/GROUP/TOPIC): each message reaches one of them")
    broker.add_arguments(sb)
    sb.set_defaults(func=subscribe)


def _fail(msg):
    print(f"edgemcp mqtt: {msg}", file=sys.stderr)
    return 1


def publish(args):
    for kv in args.user_property:
        if "=" not in kv:
            return _fail(f"--user-property takes KEY=VALUE, not {kv!r}")
    payload = sys.stdin.buffer.read() if args.message == "-" else args.message.encode()
    try:
        c = broker.connect(args, timeout=args.timeout)
    except broker.BrokerError as e:
        return _fail(str(e))
    try:
        info = c.publish(args.topic, payload, qos=args.qos, retain=args.retain,
                         properties=broker.user_properties(args.user_property))
        info.wait_for_publish(args.timeout)
        if not info.is_published():
            return _fail(f"the broker did not acknowledge the message within {args.timeout:g} s")
        if info.rc:
            return _fail(f"publish failed: {info.rc}")
    except ValueError as e:  # paho's own checks: bad topic, payload too large
        return _fail(str(e))
    finally:
        c.disconnect()
        c.loop_stop()
    return 0


def shared(group, topic):
    """$share/GROUP/TOPIC, for MQTT 5 shared subscriptions (a group name has no / + or #)."""
    if not group or any(c in group for c in "/+#"):
        raise ValueError(f"--share {group!r}: a group name is not empty and has no '/', '+' or '#'")
    if topic.startswith("$share/"):
        raise ValueError(f"{topic!r} is a shared subscription already: drop --share or the $share/ prefix")
    return f"$share/{group}/{topic}"


def subscribe(args):
    if args.share is not None:
        try:
            args.topics = [shared(args.share, t) for t in args.topics]
        except ValueError as e:
            return _fail(str(e))
    got = {"n": 0}
    finished = threading.Event()
    lock = threading.Lock()

    def on_message(client, userdata, msg):
        if args.no_retained and msg.retain:
            return
        with lock:
            if finished.is_set():
                return
            if args.json:
                props = getattr(msg.properties, "UserProperty", None) if msg.properties else None
                try:
                    payload = msg.payload.decode()
                except UnicodeDecodeError:
                    payload = msg.payload.hex()
                print(json.dumps({"topic": msg.topic, "payload": payload, "qos": msg.qos, "retain": bool(msg.retain),
                                  "user_properties": dict(props) if props else {}}), flush=True)
            else:
                print(f"{msg.topic} {msg.payload.decode(errors='replace')}", flush=True)
            got["n"] += 1
            if args.count and got["n"] >= args.count:
                finished.set()

    try:
        c = broker.connect(args, on_message=on_message)
    except broker.BrokerError as e:
        return _fail(str(e))
    try:
        for t in args.topics:
            rc, _ = c.subscribe(t, qos=args.qos)
            if rc:
                return _fail(f"cannot subscribe to {t!r}: {rc}")
        deadline = time.monotonic() + args.timeout if args.timeout else None
        while not finished.wait(0.2):
            if deadline and time.monotonic() > deadline:
                break
            if not c.is_connected():
                return _fail("the broker closed the connection")
    except ValueError as e:
        return _fail(str(e))
    finally:
        c.disconnect()
        c.loop_stop()
    return 0 if not args.count or got["n"] >= args.count else 3
