# edgemcp.mqtt's wire codec on the device: properties round trip, variable byte integers at
# their limits, and malformed input raising MQTTError(0x81) rather than anything else.
from edgemcp import mqtt

# properties of every type, user properties in order, and back
props = {0x01: 1, 0x02: 3600, 0x03: "application/json", 0x09: b"\x00\xffcorr", 0x0B: 268435455,
         0x13: 60, 0x27: 1 << 20}
user = [("MCP-COMPONENT-TYPE", "mcp-server"), ("k", "vé"), ("k", "second")]
enc = mqtt.encode_props(props, user)
dec, end = mqtt.decode_props(memoryview(enc), 0, len(enc))
assert end == len(enc)
assert dec.pop(mqtt.USER) == user, dec
assert dec == props, dec
assert mqtt.encode_props() == b"\x00"


def bad(data, what):
    try:
        mqtt.decode_props(memoryview(data), 0, len(data))
    except mqtt.MQTTError as e:
        assert e.code == mqtt.MALFORMED and what in e.args[1], e.args
    else:
        raise AssertionError("accepted " + repr(data))


bad(b"\x02\x7f\x00", "unknown property 0x7f")
bad(b"\x05\x11\x00", "properties")  # longer than the packet
bad(b"\x03\x03\x00\x09", "truncated")  # string longer than its properties
bad(b"\xff\xff\xff\xff\x7f", "variable byte integer")
bad(b"\x02\x13\x00", "properties")  # a 2-byte value cut to 1
bad(b"\x03\x26\x00\x01", "truncated")  # user property without its value

# variable byte integers: 1 to 4 bytes, at the limits
for n, size in ((0, 1), (127, 1), (128, 2), (16383, 2), (16384, 3), (2097151, 3), (2097152, 4), (268435455, 4)):
    b = bytearray()
    mqtt._vbi(b, n)
    assert len(b) == size, (n, b)
    assert mqtt._read_vbi(b, 0, len(b)) == (n, size)

# broker URLs
assert mqtt.parse_url("mqtt://broker.local") == ("broker.local", 1883, False)
assert mqtt.parse_url("mqtts://10.0.0.2") == ("10.0.0.2", 8883, True)
assert mqtt.parse_url("mqtt://h:1884/ignored") == ("h", 1884, False)
assert mqtt.parse_url("mqtts://[::1]:8884") == ("::1", 8884, True)
for u in ("http://h", "mqtt://", "h:1883", "mqtt://h:port"):
    try:
        mqtt.parse_url(u)
    except ValueError:
        pass
    else:
        raise AssertionError("accepted " + u)

# a client's CONNECT carries what was asked: will with properties, credentials, keep-alive
c = mqtt.Client("mqtt://127.0.0.1:1", client_id="dev", username="u", password="p", keepalive=30,
                will=("w/t", b"", 1, True, {mqtt.WILL_DELAY: 5}, [("a", "b")]), user=[("x", "y")],
                max_packet=2048)
p = bytes(c._connect_packet())
assert p[0] == 0x10
assert p[2:9] == b"\x00\x04MQTT\x05"
assert p[9] == 0x80 | 0x40 | 0x20 | 0x08 | 0x04 | 0x02, hex(p[9])  # user, password, will retain, will QoS 1, will, clean start
assert p[10:12] == b"\x00\x1e"
assert b"w/t" in p and b"\x18\x00\x00\x00\x05" in p and b"\x27\x00\x00\x08\x00" in p
print("ok")
