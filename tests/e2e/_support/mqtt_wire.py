"""MQTT 5 on the wire, for the tests that stand between a client and a broker or play a broker
themselves: variable byte integers and whole packets."""


def vbi(n):
    """n as an MQTT variable byte integer."""
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def read_vbi(b, i):
    """-> (value, index after it) of the variable byte integer at b[i]."""
    n = shift = 0
    while True:
        n |= (b[i] & 0x7F) << shift
        shift += 7
        i += 1
        if not b[i - 1] & 0x80:
            return n, i


def packet(first, body):
    """A whole packet: its first byte, the remaining length, the body."""
    return bytes((first,)) + vbi(len(body)) + body


def read_packet(sock):
    """-> (first byte, body) of the next packet on `sock`, or None when it closed."""
    def exact(n):
        b = b""
        while len(b) < n:
            c = sock.recv(n - len(b))
            if not c:
                raise EOFError
            b += c
        return b
    try:
        first = exact(1)[0]
        n = shift = 0
        while True:
            b = exact(1)[0]
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        return first, exact(n)
    except (EOFError, OSError):
        return None
