/**
 * The process harness itself: ports, start/kill/restart on the same data dir, logs, and start failures.
 */
import fs from 'node:fs';
import { describe, expect, test } from 'vitest';
import { etcdctl } from './etcdctl.js';
import { freePorts } from './ports.js';
import { MemberStartError } from './processes.js';
import { useMembers } from './vitest.js';

const members = useMembers();

describe('harness processes', () => {
  test('harness ports - distinct and never handed out twice in one process', async () => {
    const a = await freePorts(5);
    const b = await freePorts(5);
    expect(new Set([...a, ...b]).size).toBe(10);
  });

  test('harness processes - a latchkey member keeps its data across SIGKILL and restart', async () => {
    const m = await members.start({ kind: 'latchkey' });
    const firstPid = m.pid;
    expect(firstPid).toBeGreaterThan(0);
    expect((await etcdctl(m.endpoint, ['put', 'k', 'v'])).stdout).toBe('OK\n');

    await m.kill('SIGKILL');
    expect(m.running).toBe(false);
    expect(m.pid).toBeUndefined();
    expect(m.lastExit?.signal).toBe('SIGKILL');
    expect((await etcdctl(m.endpoint, ['get', 'k', '--dial-timeout=1s', '--command-timeout=1s'])).code).not.toBe(0);

    await m.restart();
    expect(m.pid).not.toBe(firstPid);
    expect((await etcdctl(m.endpoint, ['get', 'k', '--print-value-only'])).stdout).toBe('v\n');
    expect(m.readLog().match(/^=== start #\d/gm)).toEqual(['=== start #1', '=== start #2']);

    await m.stop();
    expect(m.running).toBe(false);
    expect(m.lastExit?.signal ?? m.lastExit?.code).toBeDefined();
    expect(fs.existsSync(m.dataDir)).toBe(true);
  });

  test('harness processes - a member that cannot start fails with its log', async () => {
    const err = await members.start({ kind: 'latchkey', extraArgs: ['--no-such-flag'], readyTimeoutMs: 10_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MemberStartError);
    expect((err as MemberStartError).message).toMatch(/exited before becoming healthy/);
    expect(fs.readFileSync((err as MemberStartError).logPath, 'utf8')).toMatch(/no-such-flag/);
    fs.rmSync((err as MemberStartError).logPath.replace(/\/member\.log$/, ''), { recursive: true, force: true });
  });
});
