"""Sends one ICMP echo request shaped like BSD/macOS `ping -p`: an 8-byte timestamp, then the
16-byte pattern repeated to a 56-byte payload (copies at payload bytes 8, 24 and 40), and waits
for the echo reply. Exit 0 on a reply, 1 without. Usage: bsd-knock.py 4|6 ADDRESS PATTERN_HEX"""
import os
import socket
import struct
import sys
import time


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def main() -> int:
    family, address, pattern_hex = sys.argv[1], sys.argv[2], sys.argv[3]
    pattern = bytes.fromhex(pattern_hex)
    now = time.time()
    payload = (struct.pack("!II", int(now), int((now % 1) * 1e6)) + pattern * 3)[:56]
    ident = os.getpid() & 0xFFFF
    if family == "4":
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        header = struct.pack("!BBHHH", 8, 0, 0, ident, 1)
        packet = struct.pack("!BBHHH", 8, 0, checksum(header + payload), ident, 1) + payload
        reply_type, skip = 0, None
    else:
        # The kernel fills in the ICMPv6 checksum (it covers the pseudo-header).
        sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        packet = struct.pack("!BBHHH", 128, 0, 0, ident, 1) + payload
        reply_type, skip = 129, 0
    sock.settimeout(2)
    sock.sendto(packet, (address, 0))
    deadline = time.time() + 2
    while time.time() < deadline:
        try:
            data = sock.recv(2048)
        except socket.timeout:
            break
        # IPv4 raw sockets deliver the IP header too; IPv6 ones do not.
        offset = ((data[0] & 0x0F) * 4) if skip is None else skip
        kind, _, _, reply_ident, _ = struct.unpack("!BBHHH", data[offset : offset + 8])
        if kind == reply_type and reply_ident == ident and data[offset + 8 :] == payload:
            return 0
    return 1


sys.exit(main())
