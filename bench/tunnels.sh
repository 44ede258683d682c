#!/usr/bin/env bash
# Figures for docs/tunnels.md, all in one run on this machine (loopback): throughput of one TCP connection directly,
# through a reverse SSH tunnel (`ssh -R`, the P2P VPS design's own mechanism) and through a p2pnet tunnel
# (`p2pnet tunnel serve` + `expose`); new tunnelled connections per second; memory per idle tunnelled connection.
# Needs root (sshd), iperf3, openssh-server, python3. Prints the figures and the load average beside them.
#   bench/tunnels.sh [SECONDS per throughput run, default 10]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
dotnet build samples/P2PNet.Cli -c Release -v q -nologo >/dev/null
P=(dotnet samples/P2PNet.Cli/bin/Release/net10.0/p2pnet.dll)
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
wait_for() { for _ in $(seq 300); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done; echo "timed out waiting for '$2' in $1" >&2; cat "$1" >&2; exit 1; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

# The services on the "device": iperf3 and a TCP echo server.
iperf3 -s -B 127.0.0.1 -p 25201 >/dev/null 2>&1 & pids+=($!)
python3 - 25300 <<'PY' >/dev/null 2>&1 & pids+=($!)
import asyncio, sys
async def echo(r, w):
    try:
        while data := await r.read(65536):
            w.write(data); await w.drain()
    except ConnectionError:
        pass
    w.close()
async def main():
    s = await asyncio.start_server(echo, "127.0.0.1", int(sys.argv[1]), backlog=4096)
    await s.serve_forever()
asyncio.run(main())
PY

# sshd for `ssh -R`, with its own config, host key and authorized key.
mkdir -p /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$tmp/host_key"; ssh-keygen -q -t ed25519 -N '' -f "$tmp/client_key"
cp "$tmp/client_key.pub" "$tmp/authorized_keys"; chmod 600 "$tmp/authorized_keys"
cat > "$tmp/sshd_config" <<CFG
Port 25222
ListenAddress 127.0.0.1
HostKey $tmp/host_key
PidFile $tmp/sshd.pid
AuthorizedKeysFile $tmp/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
UsePAM no
StrictModes no
CFG
/usr/sbin/sshd -D -e -f "$tmp/sshd_config" 2>"$tmp/sshd.log" & pids+=($!)
sleep 1
ssh -N -p 25222 -i "$tmp/client_key" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes \
  -o ExitOnForwardFailure=yes -R 127.0.0.1:25400:127.0.0.1:25201 root@127.0.0.1 2>"$tmp/ssh.log" & pids+=($!)

# The p2pnet tunnel.
token=$("${P[@]}" tunnel token new --db "$tmp/t.db" --name bench)
"${P[@]}" tunnel serve --key "$tmp/s.key" --listen /ip4/127.0.0.1/tcp/0 --db "$tmp/t.db" --public-host 127.0.0.1 \
  --bind 127.0.0.1 --ports 25500-25509 --max-connections 4096 >"$tmp/serve.out" 2>"$tmp/serve.err" & serve_pid=$!; pids+=($serve_pid)
wait_for "$tmp/serve.out" "TUNNEL SERVER"
addr=$(awk '/TUNNEL SERVER/ {print $3; exit}' "$tmp/serve.out")
"${P[@]}" tunnel expose --key "$tmp/d.key" --server "$addr" --token "$token" --tcp iperf=127.0.0.1:25201 \
  --tcp echo=127.0.0.1:25300 >"$tmp/expose.out" 2>"$tmp/expose.err" & expose_pid=$!; pids+=($expose_pid)
wait_for "$tmp/expose.out" "EXPOSED echo"
iperf_port=$(awk '/EXPOSED iperf/ {split($4, a, ":"); print a[2]}' "$tmp/expose.out")
echo_port=$(awk '/EXPOSED echo/ {split($4, a, ":"); print a[2]}' "$tmp/expose.out")
sleep 1

gbit() { iperf3 -c 127.0.0.1 -p "$1" -t "$secs" -J | python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9))'; }
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
direct=$(gbit 25201); sshr=$(gbit 25400); tunnel=$(gbit "$iperf_port")
echo "throughput, 1 TCP connection, ${secs} s each (Gbit/s): direct $direct | ssh -R $sshr | p2pnet tunnel $tunnel"
python3 -c "print('tunnel / ssh -R: %.2fx' % ($tunnel / $sshr))"

# New connections per second: connect, 1 byte each way, close; 64 at a time (a C# client: python's asyncio is slower
# than the tunnel).
cp bench/tunnel-load.cs "$tmp/load.cs"
load() { (cd "$tmp" && dotnet run --file load.cs -- "$@"); }
load cps 25300 10 1 >/dev/null # builds the client
echo "new connections per second (10000, 64 concurrent, 1 byte each way; rate errors): direct $(load cps 25300 10000 64) | p2pnet tunnel $(load cps "$echo_port" 10000 64)"

# Memory per idle tunnelled connection: hold 2000 connections open (one echo each) and compare RSS.
before_s=$(rss_kb $serve_pid); before_d=$(rss_kb $expose_pid)
load hold "$echo_port" 2000 60 "$tmp/held" & holder=$!; pids+=($holder)
for _ in $(seq 1200); do [ -f "$tmp/held" ] && break; sleep 0.1; done
sleep 3
after_s=$(rss_kb $serve_pid); after_d=$(rss_kb $expose_pid)
kill $holder 2>/dev/null || true
python3 -c "print('memory per idle tunnelled connection (2000 held): server %.1f KiB, device %.1f KiB' % (($after_s-$before_s)/2000, ($after_d-$before_d)/2000))"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
