#!/usr/bin/env python3
"""A layer-2 delay line between two links, for a lab with real round trips (run as root in the lab's
middle namespace, which holds one end of the client's link and one of the server's).

Usage: delay-bridge.py CLIENT_LINK SERVER_LINK DELAY_MS [DROP_ECHO_REQUESTS]

Every frame that arrives on one link leaves on the other DELAY_MS later, in order; the first
DROP_ECHO_REQUESTS ICMP or ICMPv6 echo requests from the client side (default 0) are dropped
instead: a lost knock. Prints `ready` once both links are read. The kernel has no qdisc for this
(no netem), hence a program.

Both sockets carry the virtio-net header (PACKET_VNET_HDR): a veth hands on TCP segments of up to
64 KiB and with their checksum still to be filled in, as the sender's offloads left them; with the
header they leave the other link as they came, to be cut and summed there. Without it, every TCP
segment would arrive with a wrong checksum and be dropped.
"""
import collections
import select
import socket
import sys
import time

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_VNET_HDR = 15
VNET_HDR_LEN = 10
# The largest frame a veth hands on: a 64 KiB segment, its headers and the virtio-net header.
MAX_FRAME = 1 << 17


def open_link(name: str) -> socket.socket:
    # Protocol 0 until bound: a packet socket made with ETH_P_ALL hears every link from the start,
    # and a frame of the other link queued before bind() would be sent back where it came from.
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    sock.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind((name, ETH_P_ALL))
    sock.setblocking(False)
    return sock


def is_echo_request(frame: bytes) -> bool:
    """IPv4 ICMP type 8 or IPv6 ICMPv6 type 128 (no extension headers: ping sends none)."""
    ethertype = frame[12:14]
    if ethertype == b"\x08\x00" and len(frame) > 34 and frame[23] == 1:
        header = (frame[14] & 0x0F) * 4
        return len(frame) > 14 + header and frame[14 + header] == 8
    if ethertype == b"\x86\xdd" and len(frame) > 54 and frame[20] == 58:
        return frame[54] == 128
    return False


def main() -> None:
    client_link, server_link, delay_ms = sys.argv[1], sys.argv[2], float(sys.argv[3])
    to_drop = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    delay = delay_ms / 1000
    client, server = open_link(client_link), open_link(server_link)
    other = {client.fileno(): server, server.fileno(): client}
    by_fd = {client.fileno(): client, server.fileno(): server}
    poller = select.poll()
    for sock in (client, server):
        poller.register(sock, select.POLLIN)
    # One delay for both ways, so the frames come due in the order they arrived.
    due: collections.deque = collections.deque()
    print("ready", flush=True)
    while True:
        now = time.monotonic()
        while due and due[0][0] <= now:
            _, out, data = due.popleft()
            try:
                out.send(data)
            except OSError:
                pass  # a full queue on the way out: the frame is lost, as on a real link
        wait_ms = None if not due else max(0.0, (due[0][0] - time.monotonic()) * 1000)
        for fd, _ in poller.poll(wait_ms):
            sock = by_fd[fd]
            while True:
                try:
                    data, address = sock.recvfrom(MAX_FRAME)
                except BlockingIOError:
                    break
                if address[2] == socket.PACKET_OUTGOING:
                    continue
                if to_drop > 0 and sock is client and is_echo_request(data[VNET_HDR_LEN:]):
                    to_drop -= 1
                    continue
                due.append((time.monotonic() + delay, other[fd], data))


if __name__ == "__main__":
    main()
