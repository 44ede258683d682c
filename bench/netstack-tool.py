#!/usr/bin/env python3
"""Kernel-side load for bench/netstack.sh (Debian's python3, standard library only).

  sink PORT                      accept one connection, read to EOF, print bytes
  send HOST PORT BYTES           send BYTES zero bytes, print seconds and Gbit/s
  recv HOST PORT PATH            GET PATH over HTTP/1.1 (Connection: close), print bytes, seconds and Gbit/s
  cps HOST PORT SECONDS          connect+close in a loop for SECONDS, print connections per second
  hold HOST PORT COUNT           open COUNT idle connections, print READY, hold them until stdin closes

NETSTACK_CC=name (environment) sets the congestion control of send's socket (TCP_CONGESTION; root may choose any
the kernel has, whatever the namespace's default).
"""
import os, socket, sys, time

def connect(host, port):
    s = socket.socket()
    cc = os.environ.get("NETSTACK_CC")
    if cc: s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, cc.encode())
    s.connect((host, port)); return s

def sink(port):
    l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind(("0.0.0.0", port)); l.listen(1); print("READY", flush=True)
    c, _ = l.accept(); buf = bytearray(1 << 20); total = 0
    while True:
        n = c.recv_into(buf)
        if n == 0: break
        total += n
    print(total, flush=True)

def send(host, port, count):
    s = connect(host, port); chunk = bytes(1 << 20); left = count
    t = time.perf_counter()
    while left > 0:
        n = s.send(chunk[:min(left, len(chunk))]); left -= n
    s.shutdown(socket.SHUT_WR)
    while s.recv(65536): pass
    dt = time.perf_counter() - t
    print(f"{dt:.3f} {count * 8 / dt / 1e9:.2f}")

def recv(host, port, path):
    s = socket.create_connection((host, port)); t = time.perf_counter()
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    buf = bytearray(1 << 20); total = 0
    while True:
        n = s.recv_into(buf)
        if n == 0: break
        total += n
    dt = time.perf_counter() - t
    print(f"{total} {dt:.3f} {total * 8 / dt / 1e9:.2f}")

def cps(host, port, seconds):
    end = time.perf_counter() + seconds; n = 0
    while time.perf_counter() < end:
        s = socket.create_connection((host, port)); s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0"); s.close(); n += 1
    print(f"{n / seconds:.0f}")

def hold(host, port, count):
    socks = [socket.create_connection((host, port)) for _ in range(count)]
    print("READY", flush=True); sys.stdin.read()

cmd = sys.argv[1]
if cmd == "sink": sink(int(sys.argv[2]))
elif cmd == "send": send(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
elif cmd == "recv": recv(sys.argv[2], int(sys.argv[3]), sys.argv[4])
elif cmd == "cps": cps(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
elif cmd == "hold": hold(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
