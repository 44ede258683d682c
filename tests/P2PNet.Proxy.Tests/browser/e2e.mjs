// End-to-end check of the WebSocket-to-UDP bridge in real headless Chromium.
//
//   node e2e.mjs <pageUrl> <bridgeUrl> <echoPort> [echo6Port]
//
// <pageUrl> serves samples/UdpBridgeBrowser (index.html + udp-over-websocket.js); <bridgeUrl> is the bridge's ws://
// URL; a UDP echo server listens on 127.0.0.1:<echoPort> (and on [::1]:<echo6Port> if given). Prints one line per
// check ("OK …"), then "E2E PASS" and exits 0; on any failure prints "E2E FAIL: …" and exits 1.
import { chromium } from 'playwright-core';

const [pageUrl, bridgeUrl, echoPortText, echo6PortText] = process.argv.slice(2);
if (!pageUrl || !bridgeUrl || !echoPortText) {
  console.error('usage: node e2e.mjs <pageUrl> <bridgeUrl> <echoPort> [echo6Port]');
  process.exit(2);
}
const echoPort = Number(echoPortText);
const echo6Port = echo6PortText ? Number(echo6PortText) : null;

// Nothing here may hang the test run.
const overall = setTimeout(() => {
  console.log('E2E FAIL: timed out after 90 s');
  process.exit(1);
}, 90_000);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  headless: true,
  timeout: 60_000,
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});

let failed = false;
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(20_000);
  page.on('console', (message) => console.log(`[page ${message.type()}] ${message.text()}`));
  page.on('pageerror', (error) => console.log(`[page error] ${error.message}`));

  // 1. The sample page, driven through its own UI.
  await page.goto(`${pageUrl}?bridge=${encodeURIComponent(bridgeUrl)}`);
  await page.click('#connect');
  await page.waitForFunction(() => /^127\.0\.0\.1:\d+$/.test(document.getElementById('public-endpoint').textContent));
  const endpoint = await page.textContent('#public-endpoint');
  console.log(`OK greeting: public UDP endpoint ${endpoint}`);

  await page.fill('#dest-host', '127.0.0.1');
  await page.fill('#dest-port', String(echoPort));
  await page.fill('#message', 'hello from chromium');
  await page.click('#send');
  const expected = `← 127.0.0.1:${echoPort}: hello from chromium`;
  await page.waitForFunction((text) => [...document.querySelectorAll('#log li.in')].some((li) => li.textContent === text), expected);
  console.log('OK sample page: sent through the UI, echo shown in the log');

  // 2. The module's API: many binary datagrams of every size class, each echoed intact.
  const api = await page.evaluate(async ({ bridgeUrl, echoPort, echo6Port }) => {
    const { UdpOverWebSocket } = await import(new URL('udp-over-websocket.js', location.href).href);
    const udp = new UdpOverWebSocket(bridgeUrl);
    const opened = await udp.opened;
    const count = 200;
    const window = 16; // datagrams in flight: UDP drops what a busy receiver cannot queue, so do not blast
    const sent = new Map();
    const received = [];
    let ipv6 = false;
    let next = 0;
    let finish;
    const done = new Promise((resolve) => { finish = resolve; });
    const pump = () => {
      while (next < count && next - received.length < window) {
        const payload = new Uint8Array(2 + ((next * 37) % 1200));
        crypto.getRandomValues(payload);
        payload[0] = next >> 8;
        payload[1] = next & 0xff;
        sent.set(next, Array.from(payload));
        udp.send('127.0.0.1', echoPort, payload);
        next++;
      }
    };
    udp.onmessage = ({ host, port, data }) => {
      if (host === '::1' && port === echo6Port) {
        ipv6 = new TextDecoder().decode(data) === 'over ipv6';
      } else {
        received.push({ host, port, data: Array.from(data) });
        pump();
      }
      if (received.length === count && (ipv6 || !echo6Port)) finish();
    };
    if (echo6Port) {
      udp.send('::1', echo6Port, new TextEncoder().encode('over ipv6'));
    }
    pump();
    await Promise.race([done, new Promise((resolve) => setTimeout(resolve, 20_000))]);
    let intact = 0;
    for (const { host, port, data } of received) {
      const i = (data[0] << 8) | data[1];
      const original = sent.get(i);
      if (host === '127.0.0.1' && port === echoPort && original
          && original.length === data.length && original.every((b, k) => b === data[k])) {
        intact++;
      }
    }
    udp.close();
    const closed = await udp.closed;
    return { opened, count, received: received.length, intact, ipv6, closed };
  }, { bridgeUrl, echoPort, echo6Port });
  if (api.intact !== api.count) {
    throw new Error(`only ${api.intact} of ${api.count} datagrams came back intact (${api.received} frames received)`);
  }
  console.log(`OK module API: ${api.intact}/${api.count} binary datagrams echoed intact via ${api.opened.address}:${api.opened.port}`);
  if (echo6Port) {
    if (!api.ipv6) throw new Error('the IPv6 echo did not come back from [::1]');
    console.log('OK IPv6: datagram to [::1] echoed, source reported as ::1');
  }
  if (api.closed.code !== 1000) throw new Error(`closing from the page gave ${api.closed.code}`);
  console.log('OK close from the page: 1000');

  // 3. A malformed frame closes the websocket with 1007 and a reason the page can read.
  const malformed = await page.evaluate(async (bridgeUrl) => {
    const ws = new WebSocket(bridgeUrl);
    ws.binaryType = 'arraybuffer';
    return await new Promise((resolve) => {
      ws.onmessage = (event) => { if (typeof event.data === 'string') ws.send(new Uint8Array([9, 1, 2])); };
      ws.onclose = (event) => resolve({ code: event.code, reason: event.reason });
    });
  }, bridgeUrl);
  if (malformed.code !== 1007 || !malformed.reason.startsWith('Bad address family byte 9')) {
    throw new Error(`malformed frame closed with ${malformed.code} '${malformed.reason}'`);
  }
  console.log(`OK malformed frame: closed ${malformed.code} '${malformed.reason}'`);

  console.log('E2E PASS');
} catch (error) {
  failed = true;
  console.log(`E2E FAIL: ${error.stack || error}`);
} finally {
  clearTimeout(overall);
  await browser.close();
}
process.exit(failed ? 1 : 0);
