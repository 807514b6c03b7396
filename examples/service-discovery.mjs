#!/usr/bin/env node
/**
 * Service discovery: three instances of an "api" service register themselves (lease TTL 3 s); a client follows
 * the live set and spreads requests over it round-robin. Then one instance shuts down cleanly, another one's
 * lease is revoked behind its back (as when a process is paused past its TTL) and it re-registers by itself.
 *
 *   node examples/service-discovery.mjs [--endpoints 127.0.0.1:2379] [--service /examples/services/api]
 *
 * The stored values are etcd's naming format ({"Op":0,"Addr":…,"Metadata":…}), so a Go gRPC client resolving
 * `etcd:///examples/services/api` through etcd's resolver sees the same instances.
 */
import { parseArgs } from 'node:util';
import { Client } from '@latchkey/client';

const { values: opt } = parseArgs({
  options: {
    endpoints: { type: 'string', default: process.env.ENDPOINTS ?? '127.0.0.1:2379' },
    service: { type: 'string', default: '/examples/services/api' },
  },
});
const endpoints = opt.endpoints.split(',');
const service = opt.service;
const ids = (s) => s.instances.map((i) => `${i.id}@${i.addr}`).join(' ') || '(none)';

// Each instance is its own client (in real life: its own process).
const instances = await Promise.all(
  ['api-1', 'api-2', 'api-3'].map(async (id, n) => {
    const c = new Client({ endpoints });
    const reg = await c.registry.register(service, { id, addr: `10.0.0.${n + 1}:8080`, metadata: { zone: n % 2 ? 'b' : 'a' } }, { ttl: 3 });
    reg.onStateChange((s) => console.log(`  [${id}] registration ${s}`));
    return { id, c, reg };
  }),
);

const client = new Client({ endpoints });
const set = client.registry.discover(service);
const printer = (async () => {
  for await (const s of set) console.log(`live set @${s.revision}${s.resynced ? ' (re-read)' : ''}: ${ids(s)}`);
})();

await set.waitFor((s) => s.instances.length === 3, { timeoutMs: 10_000 });
console.log('requests:', Array.from({ length: 6 }, () => set.pick('round-robin').id).join(' '));

console.log('api-2 shuts down');
await instances[1].reg.close();
await set.waitFor((s) => !s.instances.some((i) => i.id === 'api-2'), { timeoutMs: 10_000 });
console.log('requests:', Array.from({ length: 4 }, () => set.pick('round-robin').id).join(' '));

console.log("api-3's lease is revoked (its process was paused too long); it notices and registers again");
await client.leases.revoke(instances[2].reg.leaseId);
await set.waitFor((s) => !s.instances.some((i) => i.id === 'api-3'), { timeoutMs: 10_000 });
await set.waitFor((s) => s.instances.some((i) => i.id === 'api-3'), { timeoutMs: 10_000 });
await instances[2].reg.registered({ timeoutMs: 10_000 }); // (its own view may lag the watchers' by one reply)
console.log(`api-3 registered ${instances[2].reg.registrations} times; requests:`, Array.from({ length: 4 }, () => set.pick('random').id).join(' '));

set.close();
await printer;
for (const i of instances) {
  await i.reg.close();
  i.c.close();
}
client.close();
