#!/usr/bin/env python3
"""Knock-latency sniffer for bench/sections/connect.ts (run inside the client namespace, as root).

Usage: sniff.py IFACE CLIENT_IPV4 SERVER_IPV4 SSH_PORT

Reads every frame on IFACE with an AF_PACKET socket (outgoing ones included) and prints one line
per interesting packet, with the kernel's receive/transmit timestamp (SO_TIMESTAMPNS, CLOCK_REALTIME):

    <ns since epoch> req     ICMP echo request client -> server (the knock)
    <ns since epoch> rep     ICMP echo reply   server -> client
    <ns since epoch> syn     TCP SYN           client -> server:SSH_PORT

and `ready` once the socket is bound. No tcpdump needed; only the first 128 bytes of a frame are read.
"""
import socket
import struct
import sys

ETH_P_ALL = 0x0003
SO_TIMESTAMPNS = 35  # linux/asm-generic/socket.h; SCM_TIMESTAMPNS has the same value


def main() -> None:
    iface, client, server, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    client_b, server_b = socket.inet_aton(client), socket.inet_aton(server)
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind((iface, 0))
    out = sys.stdout
    out.write("ready\n")
    out.flush()
    cmsg_space = socket.CMSG_SPACE(16)
    while True:
        data, ancdata, _flags, _addr = sock.recvmsg(128, cmsg_space)
        if len(data) < 34 or data[12:14] != b"\x08\x00":
            continue
        ihl = (data[14] & 0x0F) * 4
        proto = data[23]
        src, dst = data[26:30], data[30:34]
        l4 = 14 + ihl
        kind = None
        if proto == 1 and len(data) > l4:
            icmp_type = data[l4]
            if icmp_type == 8 and src == client_b and dst == server_b:
                kind = "req"
            elif icmp_type == 0 and src == server_b and dst == client_b:
                kind = "rep"
        elif proto == 6 and len(data) >= l4 + 14 and src == client_b and dst == server_b:
            dport = struct.unpack("!H", data[l4 + 2 : l4 + 4])[0]
            flags = data[l4 + 13]
            if dport == port and flags & 0x12 == 0x02:
                kind = "syn"
        if kind is None:
            continue
        stamp = None
        for level, ctype, cdata in ancdata:
            if level == socket.SOL_SOCKET and ctype == SO_TIMESTAMPNS and len(cdata) >= 16:
                sec, nsec = struct.unpack("qq", cdata[:16])
                stamp = sec * 1_000_000_000 + nsec
        if stamp is None:
            continue
        out.write(f"{stamp} {kind}\n")
        out.flush()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
