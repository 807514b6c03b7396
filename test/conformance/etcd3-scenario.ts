/** The scenario the etcd3 conformance tests run: what microsoft's etcd3 client observes, as a transcript. */
import { Etcd3, EtcdLockFailedError, type IKeyValue } from 'etcd3';
import { until } from '../harness/wait.js';

export type Transcript = string[];

const kvLine = (kv: IKeyValue): string => `${kv.key.toString()}=${kv.value.toString()} c${kv.create_revision} m${kv.mod_revision} v${kv.version}`;

export async function scenario(client: Etcd3): Promise<Transcript> {
  const t: Transcript = [];
  const log = (s: string): void => void t.push(s);

  // KV
  await client.put('k/a').value('1');
  await client.put('k/b').value('2');
  await client.put('k/c').value('3');
  await client.put('k/a').value('1b');
  log(`get a: ${await client.get('k/a').string()}`);
  log(`get missing: ${String(await client.get('k/none').string())}`);
  log(`prefix: ${JSON.stringify(await client.getAll().prefix('k/').strings())}`);
  log(`count: ${await client.getAll().prefix('k/').count()}`);
  log(`keys desc limit 2: ${JSON.stringify(await client.getAll().prefix('k/').sort('Key', 'Descend').limit(2).keys())}`);
  log(`raw: ${(await client.get('k/a').exec()).kvs.map(kvLine).join(',')}`);
  const del = await client.delete().key('k/c').getPrevious();
  log(`delete prev: ${del.map(kvLine).join(',')}`);
  log(`number: ${await client.put('n').value(42).then(() => client.get('n').number())}`);

  // Transactions
  const r1 = await client.if('k/a', 'Value', '==', '1b').then(client.put('k/a').value('txn')).else(client.get('k/a')).commit();
  log(`txn1: succeeded=${r1.succeeded} responses=${r1.responses.length}`);
  const r2 = await client.if('k/none', 'Create', '>', 0).then(client.put('x').value('y')).else(client.get('k/b')).commit();
  log(`txn2: succeeded=${r2.succeeded} value=${r2.responses[0]?.response_range?.kvs[0]?.value.toString()}`);

  // Leases
  const lease = client.lease(30, { autoKeepAlive: false });
  await lease.put('leased/1').value('x').exec();
  await lease.put('leased/2').value('y').exec();
  log(`leased keys: ${JSON.stringify(await client.getAll().prefix('leased/').keys())}`);
  const ka = await lease.keepaliveOnce();
  log(`keepalive ttl: ${ka.TTL}`);
  await lease.revoke();
  log(`after revoke: ${JSON.stringify(await client.getAll().prefix('leased/').keys())}`);

  // Watch
  const watcher = await client.watch().prefix('w/').create();
  const events: string[] = [];
  watcher.on('put', (kv) => events.push(`put ${kv.key.toString()}=${kv.value.toString()}`));
  watcher.on('delete', (kv) => events.push(`delete ${kv.key.toString()}`));
  await client.put('w/1').value('a');
  await client.put('w/2').value('b');
  await client.delete().key('w/1');
  await until(() => events.length >= 3, 'three watch events');
  log(`watch: ${events.join('; ')}`);
  await watcher.cancel();

  // Locks (etcd3's lock is a create-if-absent try-lock)
  const l1 = client.lock('the-lock');
  await l1.acquire();
  let second = 'acquired';
  try {
    await client.lock('the-lock').acquire();
  } catch (err) {
    second = err instanceof EtcdLockFailedError ? 'EtcdLockFailedError' : String(err);
  }
  log(`second lock: ${second}`);
  await l1.release();
  const l3 = client.lock('the-lock');
  await l3.acquire();
  log('third lock: acquired after release');
  await l3.release();

  // Election
  const election = client.election('elect', 5);
  const c1 = election.campaign('alice');
  await c1.wait();
  log(`leader: ${await election.leader()}`);
  const c2 = election.campaign('bob');
  let bobElected = false;
  c2.on('elected', () => {
    bobElected = true;
  });
  await new Promise((r) => setTimeout(r, 200));
  log(`bob elected while alice leads: ${bobElected}`);
  await c1.proclaim('alice-2');
  log(`after proclaim: ${await election.leader()}`);
  await c1.resign();
  await until(() => bobElected, 'bob elected after resign');
  log(`after resign: ${await election.leader()}`);
  await c2.resign();

  // STM
  await client.put('stm/counter').value('0');
  await Promise.all(
    Array.from({ length: 5 }, () =>
      client.stm({ retries: 20 }).transact(async (tx) => {
        const v = Number(await tx.get('stm/counter').string());
        await tx.put('stm/counter').value(String(v + 1));
      }),
    ),
  );
  log(`stm counter: ${await client.get('stm/counter').string()}`);
  return t;
}

