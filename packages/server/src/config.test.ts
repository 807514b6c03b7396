import { describe, expect, it } from 'vitest';
import { parseConfig } from './config.js';

const parse = (...argv: string[]) => parseConfig(argv, {}).config!;

describe('config - backend batching flags', () => {
  it('defaults to etcd’s 100 ms and 10,000 writes, also for an explicit 0', () => {
    expect([parse().backendBatchIntervalMs, parse().backendBatchLimit]).toEqual([100, 10_000]);
    const zero = parse('--backend-batch-interval', '0', '--backend-batch-limit', '0');
    expect([zero.backendBatchIntervalMs, zero.backendBatchLimit]).toEqual([100, 10_000]);
  });

  it('takes Go durations and a count', () => {
    expect(parse('--backend-batch-interval', '10ms').backendBatchIntervalMs).toBe(10);
    expect(parse('--backend-batch-interval', '1.5s').backendBatchIntervalMs).toBe(1500);
    expect(parse('--backend-batch-interval', '1m30s').backendBatchIntervalMs).toBe(90_000);
    expect(parse('--backend-batch-interval', '500us').backendBatchIntervalMs).toBe(0.5);
    expect(parse('--backend-batch-limit', '250').backendBatchLimit).toBe(250);
  });

  it('refuses what Go would refuse, with the flag in the message', () => {
    for (const bad of ['10', 'ms', '5ms2', '1d', '']) {
      expect(() => parse('--backend-batch-interval', bad)).toThrow(/--backend-batch-interval: invalid value/);
    }
    expect(() => parse('--backend-batch-limit', 'x')).toThrow(/--backend-batch-limit: invalid value "x"/);
  });
});
