#!/usr/bin/env python3
"""conn_hold.py: open N idle MQTT 3.1.1 connections and keep them open.

    conn_hold.py PORT N [KEEPALIVE_S]

Each connection sends a raw CONNECT (client id "hold-<i>", clean session, no
credentials; standard library only, no MQTT package) and waits for CONNACK
return code 0. Prints "held N in S s" once all are connected, then answers
nothing and sleeps until killed (PINGREQ is not sent: use a keep-alive longer
than the measurement). Used to read a broker's RSS per idle connection."""
import asyncio
import struct
import sys
import time


def connect_packet(client_id: str, keepalive: int) -> bytes:
    cid = client_id.encode()
    var = b"\x00\x04MQTT\x04\x02" + struct.pack("!H", keepalive)  # level 4, clean session
    payload = struct.pack("!H", len(cid)) + cid
    rest = var + payload
    return bytes([0x10, len(rest)]) + rest  # remaining length < 128 here


async def one(port: int, i: int, keepalive: int, held: list):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(connect_packet(f"hold-{i}", keepalive))
    connack = await reader.readexactly(4)
    if connack[0] != 0x20 or connack[3] != 0:
        raise SystemExit(f"connection {i}: CONNACK {connack.hex()}")
    held.append(writer)


async def main():
    port, n = int(sys.argv[1]), int(sys.argv[2])
    keepalive = int(sys.argv[3]) if len(sys.argv) > 3 else 3600
    held: list = []
    t0 = time.monotonic()
    for start in range(0, n, 500):  # 500 at a time: stay under the listen backlog
        await asyncio.gather(*(one(port, i, keepalive, held) for i in range(start, min(n, start + 500))))
    print(f"held {len(held)} in {time.monotonic() - t0:.1f} s", flush=True)
    await asyncio.sleep(1e9)


asyncio.run(main())
