// js-libp2p gossipsub peer for the P2PNet interop tests, driven like `p2pnet pubsub`:
//   node gossip.mjs --topic T [--listen MA]... [--bootstrap MA]... [--publish TEXT [--every-ms MS]]
// Prints `LISTEN <ma>/p2p/<id>` per address, `SUBSCRIBED <topic>`, then `MESSAGE <topic> <from peer id> <text>` per
// message received (and `PUBLISHED <n>` after each publish). Runs until SIGTERM/SIGINT.
import { parseArgs } from 'node:util'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

const out = (line) => process.stdout.write(line + '\n')
const fail = (message, code = 1) => { process.stderr.write(`error: ${message}\n`); process.exit(code) }

let values
try {
  ({ values } = parseArgs({
    options: {
      topic: { type: 'string' },
      listen: { type: 'string', multiple: true },
      bootstrap: { type: 'string', multiple: true },
      publish: { type: 'string' },
      'every-ms': { type: 'string' }
    }
  }))
} catch (err) {
  fail(err.message, 2)
}
if (values.topic == null) fail('--topic is required', 2)

const node = await createLibp2p({
  addresses: { listen: values.listen ?? ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: {
    identify: identify(),
    // Fast heartbeat so the mesh forms quickly in tests; StrictSign is the default.
    pubsub: gossipsub({ heartbeatInterval: 200, allowPublishToZeroTopicPeers: true, emitSelf: false })
  }
})
const pubsub = node.services.pubsub
pubsub.addEventListener('message', (evt) => {
  const message = evt.detail
  const from = message.type === 'signed' ? message.from.toString() : '-'
  out(`MESSAGE ${message.topic} ${from} ${new TextDecoder().decode(message.data).replace(/\r?\n/g, ' ')}`)
})
for (const address of node.getMultiaddrs()) {
  out(`LISTEN ${address.toString()}`)
}
pubsub.subscribe(values.topic)
out(`SUBSCRIBED ${values.topic}`)
for (const address of values.bootstrap ?? []) {
  try {
    await node.dial(multiaddr(address), { signal: AbortSignal.timeout(20_000) })
  } catch (err) {
    process.stderr.write(`bootstrap ${address}: ${err.message}\n`)
  }
}

let timer
if (values.publish != null) {
  let published = 0
  const publishOnce = async () => {
    try {
      await pubsub.publish(values.topic, new TextEncoder().encode(values.publish))
      out(`PUBLISHED ${++published}`)
    } catch (err) {
      process.stderr.write(`publish: ${err.message}\n`)
    }
  }
  const every = Number(values['every-ms'] ?? 0)
  if (every > 0) {
    timer = setInterval(publishOnce, every)
  } else {
    // Once: after a topic peer is known, so the message has somewhere to go.
    const wait = setInterval(() => {
      if (pubsub.getSubscribers(values.topic).length > 0) {
        clearInterval(wait)
        publishOnce()
      }
    }, 100)
  }
}

const stop = async () => {
  if (timer != null) clearInterval(timer)
  await node.stop()
  process.exit(0)
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
