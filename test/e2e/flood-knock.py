"""Sends knocks (ICMP echo requests carrying the secret as iputils or BSD `ping -p` puts it) from
spoofed source addresses, through a raw socket that writes the IP header itself, as fast as it can
or at a given pace, and awaits no reply. For the flood test, inside the lab only.

  flood-knock.py --family 4|6 --to ADDRESS --pattern HEX --sources SPEC --count N --seconds S
                 [--rate PER_SECOND] [--layout iputils|bsd|both]

SPEC, used in turn: IPv4 FIRST-LAST (10.201.1.100-10.201.1.249); IPv6 W1:W2:FIRST-LAST, one source
fd70:6b:N::1 per N from FIRST to LAST (N fills the third and fourth 16-bit words: each N is its
own /64). Stops after N packets or S seconds, whichever comes first. --layout both alternates the
layouts packet by packet. Prints one JSON line: {"sent", "lost", "seconds", "sources"}, where lost
counts the packets the local stack refused (ENOBUFS), which sent does not include.
"""
import argparse
import ipaddress
import json
import socket
import struct
import time


def checksum_words(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    return sum(struct.unpack(f"!{len(data) // 2}H", data))


def fold(total: int) -> int:
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def payload(pattern: bytes, layout: str) -> bytes:
    # iputils: a 16-byte timeval whose high microsecond half (bytes 12-15) is zero, then the
    # pattern; BSD: an 8-byte timestamp, then the pattern; repeated to the 56-byte default size.
    return (bytes(16 if layout == "iputils" else 8) + pattern * 4)[:56]


def ipv4_packets(destination: str, pattern: bytes, sources: str, layouts: list):
    first, last = (int(ipaddress.IPv4Address(part)) for part in sources.split("-"))
    dst = socket.inet_aton(destination)
    packets = []
    for layout in layouts:
        body = struct.pack("!BBHHH", 8, 0, 0, 0x6B70, 1) + payload(pattern, layout)
        icmp = body[:2] + struct.pack("!H", fold(checksum_words(body))) + body[4:]
        # The kernel fills in the header checksum and the total length of an IP_HDRINCL packet.
        packets.append(
            [
                struct.pack(
                    "!BBHHHBBH4s",
                    0x45,
                    0,
                    20 + len(icmp),
                    0,
                    0,
                    64,
                    socket.IPPROTO_ICMP,
                    0,
                    ipaddress.IPv4Address(source).packed,
                )
                + dst
                + icmp
                for source in range(first, last + 1)
            ]
        )
    count = last - first + 1
    return count, lambda i: packets[i % len(layouts)][i % count]


def ipv6_packets(destination: str, pattern: bytes, sources: str, layouts: list):
    prefix, span = sources.rsplit(":", 1)
    first, last = (int(part) for part in span.split("-"))
    words = [int(word, 16) for word in prefix.split(":")]
    if len(words) != 2:
        raise SystemExit("IPv6 --sources: two 16-bit words, then :FIRST-LAST")
    dst = ipaddress.IPv6Address(destination).packed
    forms = []
    for layout in layouts:
        body = struct.pack("!BBHHH", 128, 0, 0, 0x6B70, 1) + payload(pattern, layout)
        # ICMPv6's checksum covers a pseudo-header (source, destination, length, next header): sum
        # everything but the source's third and fourth words once, and add those per packet.
        fixed = checksum_words(dst) + len(body) + socket.IPPROTO_ICMPV6 + checksum_words(body) + words[0] + words[1] + 1
        forms.append((fixed, body[:2], body[4:], struct.pack("!IHBB", 6 << 28, len(body), socket.IPPROTO_ICMPV6, 64)))
    count = last - first + 1

    def packet(i: int) -> bytes:
        fixed, head, tail, header = forms[i % len(forms)]
        n = first + i % count
        high, low = n >> 16, n & 0xFFFF
        source = struct.pack("!8H", words[0], words[1], high, low, 0, 0, 0, 1)
        return header + source + dst + head + struct.pack("!H", fold(fixed + high + low)) + tail

    return count, packet


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--family", choices=["4", "6"], required=True)
    parser.add_argument("--to", required=True)
    parser.add_argument("--pattern", required=True)
    parser.add_argument("--sources", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--layout", choices=["iputils", "bsd", "both"], default="iputils")
    args = parser.parse_args()
    pattern = bytes.fromhex(args.pattern)
    layouts = ["iputils", "bsd"] if args.layout == "both" else [args.layout]
    if args.family == "4":
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        distinct, packet = ipv4_packets(args.to, pattern, args.sources, layouts)
        address = (args.to, 0)
    else:
        # IPPROTO_RAW on an IPv6 socket: the packet carries its own IPv6 header, source included.
        sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
        distinct, packet = ipv6_packets(args.to, pattern, args.sources, layouts)
        address = (args.to, 0, 0, 0)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
    send = sock.sendto
    # Unpaced: large batches between clock reads; paced: about 200 small batches a second.
    batch = 256 if args.rate <= 0 else max(1, min(256, int(args.rate // 200)))
    started = time.monotonic()
    deadline = started + args.seconds
    sent = lost = 0
    while sent < args.count:
        now = time.monotonic()
        if now >= deadline:
            break
        if args.rate > 0:
            due = started + sent / args.rate
            if due > now:
                time.sleep(min(due - now, deadline - now))
                continue
        end = min(sent + batch, args.count)
        for i in range(sent, end):
            try:
                send(packet(i), address)
            except OSError:
                # A full queue (ENOBUFS): this packet is lost, as in any flood; go on.
                lost += 1
        sent = end
    seconds = time.monotonic() - started
    print(json.dumps({"sent": sent - lost, "lost": lost, "seconds": round(seconds, 3), "sources": min(distinct, sent)}))
    return 0


raise SystemExit(main())
