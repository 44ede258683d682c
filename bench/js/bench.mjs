// Benchmark-only js-libp2p client loops that tests/interop/node.mjs has no mode for.
// Run with the pinned Node 22 from tests/interop; bench/run.sh links bench/js/node_modules to
// tests/interop/node_modules so the same pinned packages resolve.
//
//   bench.mjs latency    MA --count N          connect + first ping on N fresh connections: {"p50_ms","p99_ms"}
//   bench.mjs handshakes MA --count N --concurrency C [--warmup-seconds S]   full handshakes per second: MEASURE, then
//                                              {"per_second", "client_cpu_us"}
//   bench.mjs listen                           a listener without js-libp2p's inbound rate limits: prints LISTEN <ma>
//   [--psk FILE] on all. (node.mjs listen keeps js-libp2p's default inbound connection threshold, which resets
//   connections arriving faster than a few per second, so the connect loops need this listener.)

import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { preSharedKey } from '@libp2p/pnet'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

const PING_PROTOCOL = '/ipfs/ping/1.0.0'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    count: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '8' },
    'warmup-seconds': { type: 'string', default: '0' },
    psk: { type: 'string' }
  }
})
const [command, target] = positionals
const count = Number(values.count)
const concurrency = Number(values.concurrency)

const options = {
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  addresses: { listen: command === 'listen' ? ['/ip4/127.0.0.1/tcp/0'] : [] },
  connectionManager: {
    maxConnections: 100_000,
    dialTimeout: 10_000,
    inboundConnectionThreshold: 1_000_000,
    maxIncomingPendingConnections: 10_000
  },
  services: { identify: identify(), ping: ping() }
}
if (values.psk != null) options.connectionProtector = preSharedKey({ psk: readFileSync(values.psk) })
const node = await createLibp2p(options)
const ma = target != null ? multiaddr(target) : undefined

function readExactly (stream, n) {
  return new Promise((resolve, reject) => {
    const chunks = []
    let got = 0
    const done = (err) => {
      stream.removeEventListener('message', onMessage)
      stream.removeEventListener('close', onClose)
      if (err != null) reject(err)
      else resolve(Buffer.concat(chunks, got))
    }
    const onMessage = (evt) => {
      const data = evt.data
      for (const buf of (data instanceof Uint8Array ? [data] : data)) {
        chunks.push(buf)
        got += buf.byteLength
      }
      if (got >= n) done()
    }
    const onClose = () => done(new Error(`stream closed after ${got} of ${n} bytes`))
    stream.addEventListener('message', onMessage)
    stream.addEventListener('close', onClose)
  })
}

async function connectAndPing () {
  const conn = await node.dial(ma, { force: true })
  const stream = await conn.newStream(PING_PROTOCOL)
  const payload = randomBytes(32)
  stream.send(payload)
  const pong = await readExactly(stream, 32)
  if (!pong.subarray(0, 32).equals(payload)) throw new Error('ping reply differs')
  await closeQuietly(conn)
}

async function closeQuietly (conn) {
  // The remote may already be closing; a failed goodbye does not matter to the measurement.
  try { await conn.close() } catch { conn.abort?.(new Error('closed')) }
}

function percentile (sorted, p) {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p / 100 * sorted.length) - 1))
  return sorted[i]
}

try {
  if (command === 'listen') {
    for (const a of node.getMultiaddrs()) console.log(`LISTEN ${a.toString()}`)
    await new Promise((resolve) => {
      process.on('SIGTERM', resolve)
      process.on('SIGINT', resolve)
      process.stdin.on('end', resolve)
      process.stdin.resume()
    })
  } else if (command === 'latency') {
    const warmup = Math.max(20, Math.floor(count / 2))
    const samples = []
    for (let i = 0; i < warmup + count; i++) {
      const start = performance.now()
      await connectAndPing()
      const ms = performance.now() - start
      if (i >= warmup) samples.push(ms)
    }
    samples.sort((a, b) => a - b)
    console.log(JSON.stringify({ p50_ms: percentile(samples, 50), p99_ms: percentile(samples, 99) }))
  } else if (command === 'handshakes') {
    let remaining = 0
    const worker = async () => {
      while (remaining-- > 0) {
        const conn = await node.dial(ma, { force: true })
        await closeQuietly(conn)
      }
    }
    // Warm-up: at least 2 handshakes per worker, and on for --warmup-seconds (V8's optimising tiers, like .NET's tiered
    // JIT on the other side of the table, need a few seconds of the loop to settle).
    const warmupEnd = performance.now() + 1000 * Number(values['warmup-seconds'])
    remaining = 2 * concurrency
    await Promise.all(Array.from({ length: concurrency }, worker))
    while (performance.now() < warmupEnd) {
      remaining = 2 * concurrency
      await Promise.all(Array.from({ length: concurrency }, worker))
    }
    // MEASURE opens the measured window for the runner, which reads the listener's CPU time at it and at the result.
    console.log('MEASURE')
    remaining = count
    const cpu = process.cpuUsage()
    const start = performance.now()
    await Promise.all(Array.from({ length: concurrency }, worker))
    const seconds = (performance.now() - start) / 1000
    const used = process.cpuUsage(cpu)
    console.log(JSON.stringify({ per_second: count / seconds, client_cpu_us: (used.user + used.system) / count }))
  } else {
    throw new Error(`unknown command ${command}`)
  }
  await node.stop()
  process.exit(0)
} catch (err) {
  console.error(`error: ${err?.stack ?? err}`)
  process.exit(1)
}
