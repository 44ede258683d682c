// UdpOverWebSocket: UDP datagrams for web pages, through a P2PNet WebSocket-to-UDP bridge
// (`p2pnet bridge ws-udp`, or `app.MapUdpBridge("/udp")` in an ASP.NET Core app).
//
// Wire contract (docs/bridge.md): after the bridge's one text greeting {"address":"<ip>","port":<n>}, every
// binary message is one datagram: [family: 1 byte, 4 or 6][address: 4 or 16 bytes][port: 2 bytes big-endian][payload].
// Sending, the address names the destination; receiving, it names the source.
//
//   import { UdpOverWebSocket } from './udp-over-websocket.js';
//   const udp = new UdpOverWebSocket('wss://bridge.example/udp');
//   const { address, port } = await udp.opened;        // the public UDP endpoint other peers see
//   udp.onmessage = ({ host, port, data }) => { ... };  // data is a Uint8Array
//   udp.send('198.51.100.7', 30303, new Uint8Array([1, 2, 3]));

const FAMILY_IPV4 = 4;
const FAMILY_IPV6 = 6;

/** A UDP socket for a web page, relayed by a WebSocket-to-UDP bridge. */
export class UdpOverWebSocket {
  #ws;
  #openedSettled = false;

  /**
   * Opens the websocket; await `opened` before sending.
   * @param {string} url The bridge endpoint, e.g. `wss://bridge.example/udp` (add `?access_token=T` if it needs a token).
   */
  constructor(url) {
    /** Called with `{ host, port, data }` for each datagram received; `data` is a Uint8Array. */
    this.onmessage = null;
    /** Called once with `{ code, reason }` when the websocket closes (see docs/bridge.md for the codes). */
    this.onclose = null;

    let resolveOpened, rejectOpened, resolveClosed;
    /** Resolves to `{ address, port }`, the public UDP endpoint the bridge bound for this page. */
    this.opened = new Promise((resolve, reject) => { resolveOpened = resolve; rejectOpened = reject; });
    /** Resolves to `{ code, reason }` when the websocket has closed. */
    this.closed = new Promise((resolve) => { resolveClosed = resolve; });
    // A page that never awaits `opened` should not see an unhandled rejection when the bridge refuses it.
    this.opened.catch(() => {});

    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    this.#ws = ws;

    ws.onmessage = (event) => {
      if (typeof event.data === 'string') {
        if (this.#openedSettled) {
          return; // only the first message is text; the bridge never sends another
        }
        this.#openedSettled = true;
        try {
          const greeting = JSON.parse(event.data);
          resolveOpened({ address: String(greeting.address), port: Number(greeting.port) });
        } catch (e) {
          rejectOpened(new Error(`UdpOverWebSocket: unreadable greeting from the bridge: ${e.message}`));
          ws.close(1002, 'unreadable greeting');
        }
        return;
      }
      let datagram;
      try {
        datagram = decodeFrame(event.data);
      } catch (e) {
        console.warn('UdpOverWebSocket: ignoring a malformed frame from the bridge:', e.message);
        return;
      }
      this.onmessage?.(datagram);
    };

    ws.onclose = (event) => {
      const closed = { code: event.code, reason: event.reason };
      if (!this.#openedSettled) {
        this.#openedSettled = true;
        rejectOpened(new Error(`UdpOverWebSocket: the bridge closed before greeting (${event.code} ${event.reason})`));
      }
      resolveClosed(closed);
      this.onclose?.(closed);
    };
  }

  /** Bytes queued in the websocket and not yet sent; wait while it is high to avoid buffering without bound. */
  get bufferedAmount() {
    return this.#ws.bufferedAmount;
  }

  /**
   * Sends one datagram.
   * @param {string} host An IPv4 or IPv6 address literal (no DNS names: the bridge relays, it does not resolve).
   * @param {number} port The destination UDP port, 1–65535.
   * @param {Uint8Array|ArrayBuffer|ArrayBufferView|string} bytes The payload; a string is sent as UTF-8.
   */
  send(host, port, bytes) {
    if (this.#ws.readyState !== WebSocket.OPEN || !this.#openedSettled) {
      throw new Error('UdpOverWebSocket: not open; await `opened` before sending');
    }
    this.#ws.send(encodeFrame(host, port, toBytes(bytes)));
  }

  /** Closes the websocket (and with it the bridge's UDP socket for this page). */
  close(code = 1000, reason = '') {
    this.#ws.close(code, reason);
  }
}

/** Builds one frame: header naming `host`:`port`, then `payload`. */
export function encodeFrame(host, port, payload) {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`UdpOverWebSocket: bad port ${port}`);
  }
  const address = parseAddress(host);
  const frame = new Uint8Array(1 + address.length + 2 + payload.length);
  frame[0] = address.length === 4 ? FAMILY_IPV4 : FAMILY_IPV6;
  frame.set(address, 1);
  frame[1 + address.length] = port >> 8;
  frame[2 + address.length] = port & 0xff;
  frame.set(payload, 3 + address.length);
  return frame;
}

/** Reads one frame into `{ host, port, data }`; throws on a short header or an unknown family. */
export function decodeFrame(buffer) {
  const bytes = new Uint8Array(buffer);
  const addressLength = bytes[0] === FAMILY_IPV4 ? 4 : bytes[0] === FAMILY_IPV6 ? 16 : -1;
  if (addressLength < 0) {
    throw new Error(`bad address family byte ${bytes[0]}`);
  }
  if (bytes.length < 3 + addressLength) {
    throw new Error('short header');
  }
  return {
    host: formatAddress(bytes.subarray(1, 1 + addressLength)),
    port: (bytes[1 + addressLength] << 8) | bytes[2 + addressLength],
    data: bytes.subarray(3 + addressLength),
  };
}

/** Parses an IPv4 (`a.b.c.d`) or IPv6 (`2001:db8::1`, `[::1]`, `::ffff:1.2.3.4`) literal into 4 or 16 bytes. */
export function parseAddress(host) {
  let text = String(host).trim();
  if (text.startsWith('[') && text.endsWith(']')) {
    text = text.slice(1, -1);
  }
  if (!text.includes(':')) {
    const v4 = parseIPv4(text);
    if (!v4) {
      throw new Error(`UdpOverWebSocket: '${host}' is not an IP address (the bridge does not resolve names)`);
    }
    return v4;
  }

  const halves = text.split('::');
  if (halves.length > 2) {
    throw new Error(`UdpOverWebSocket: '${host}' is not an IPv6 address`);
  }
  const groups = (part) => (part === '' ? [] : part.split(':'));
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  const words = [];
  const pushGroups = (list, isLastPart) => {
    list.forEach((group, i) => {
      if (isLastPart && i === list.length - 1 && group.includes('.')) {
        const v4 = parseIPv4(group);
        if (!v4) {
          throw new Error(`UdpOverWebSocket: '${host}' is not an IPv6 address`);
        }
        words.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(group)) {
        words.push(parseInt(group, 16));
      } else {
        throw new Error(`UdpOverWebSocket: '${host}' is not an IPv6 address`);
      }
    });
  };
  pushGroups(head, halves.length === 1);
  const headCount = words.length;
  pushGroups(tail, true);
  const missing = 8 - words.length;
  if ((halves.length === 1 && missing !== 0) || (halves.length === 2 && missing < 1)) {
    throw new Error(`UdpOverWebSocket: '${host}' is not an IPv6 address`);
  }
  const all = halves.length === 2
    ? [...words.slice(0, headCount), ...new Array(missing).fill(0), ...words.slice(headCount)]
    : words;
  const bytes = new Uint8Array(16);
  all.forEach((word, i) => { bytes[2 * i] = word >> 8; bytes[2 * i + 1] = word & 0xff; });
  return bytes;
}

/** Formats 4 or 16 address bytes as text; IPv6 in the RFC 5952 canonical form. */
export function formatAddress(bytes) {
  if (bytes.length === 4) {
    return Array.from(bytes).join('.');
  }
  const words = [];
  for (let i = 0; i < 16; i += 2) {
    words.push((bytes[i] << 8) | bytes[i + 1]);
  }
  // The longest run of two or more zero words (the first, on a tie) becomes '::'.
  let bestStart = -1, bestLength = 1;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) { bestStart = i; bestLength = j - i; }
    i = j;
  }
  const hex = (list) => list.map((w) => w.toString(16)).join(':');
  if (bestStart < 0) {
    return hex(words);
  }
  return `${hex(words.slice(0, bestStart))}::${hex(words.slice(bestStart + bestLength))}`;
}

function parseIPv4(text) {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255)) {
    return null;
  }
  return new Uint8Array(parts.map(Number));
}

function toBytes(bytes) {
  if (typeof bytes === 'string') {
    return new TextEncoder().encode(bytes);
  }
  if (bytes instanceof Uint8Array) {
    return bytes;
  }
  if (bytes instanceof ArrayBuffer) {
    return new Uint8Array(bytes);
  }
  if (ArrayBuffer.isView(bytes)) {
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  throw new TypeError('UdpOverWebSocket: send() takes a Uint8Array, ArrayBuffer, typed array or string');
}
