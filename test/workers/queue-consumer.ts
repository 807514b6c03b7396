/**
 * A queue consumer process that takes items and never acks them — the consumer that dies mid-item in the queue
 * conformance test. It prints one JSON line per item taken and then holds it until it is killed:
 *
 *   {"ev":"ready","lease":"<hex>"}
 *   {"ev":"taken","id":"<item id>","value":"…","attempt":1,"token":"<claim revision>"}
 *
 * Usage (built into test/dist/workers/queue-consumer.js by `npx tsc -b`):
 *   node queue-consumer.js --endpoints E[,E…] --name Q [--ttl S] [--take N]
 */
import { Client, type Delivery } from '@latchkey/client';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : fallback;
}

const client = new Client({ endpoints: arg('endpoints', '127.0.0.1:2379').split(',') });
const session = await client.session({ ttl: Number(arg('ttl', '2')) });
const queue = client.queue(arg('name', '/queue'));
const held: Delivery[] = [];
console.log(JSON.stringify({ ev: 'ready', lease: session.leaseId.toString(16) }));
for (let i = 0; i < Number(arg('take', '1')); i++) {
  const d = await queue.dequeue({ session });
  held.push(d);
  console.log(JSON.stringify({ ev: 'taken', id: d.id, value: d.text, attempt: d.attempt, token: d.fencingToken.toString() }));
}
// Hold everything until killed (the session keeps the claims alive).
await new Promise(() => undefined);
