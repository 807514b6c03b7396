import { describe, expect, it } from 'vitest';
import { MemoryBackend } from '../backend/memory-backend.js';
import { Table } from '../backend/backend.js';
import { Membership } from './membership.js';

describe('Membership.isRemoved', () => {
  it('answers from the backend, and sees removals made after the first question', () => {
    const backend = new MemoryBackend();
    const m = new Membership(backend);
    const a = 0x8a33864596c66934n;
    const b = 0x1n;
    backend.batch(() => m.put({ id: a, name: 'a', peerURLs: ['http://127.0.0.1:1'], clientURLs: [], isLearner: false }));
    expect(m.isRemoved(a)).toBe(false);
    backend.batch(() => m.remove(a));
    expect(m.isRemoved(a)).toBe(true);
    expect(m.isRemoved(b)).toBe(false);
    // A fresh view of the same backend (a restart) reads the same answer.
    expect(new Membership(backend).isRemoved(a)).toBe(true);
    expect(m.list().map((x) => x.id)).toEqual([]);
  });

  it('a removal in a batch that fails is not remembered', () => {
    const backend = new MemoryBackend();
    const m = new Membership(backend);
    expect(m.isRemoved(7n)).toBe(false);
    expect(() =>
      backend.batch(() => {
        m.remove(7n);
        throw new Error('apply failed');
      }),
    ).toThrow('apply failed');
    expect(m.isRemoved(7n)).toBe(false);
  });

  it('other meta keys are not taken for removed ids', () => {
    const backend = new MemoryBackend();
    backend.batch(() => {
      backend.put(Table.Meta, Buffer.from('removed'), Buffer.of(1));
      backend.put(Table.Meta, Buffer.from('removed0'), Buffer.of(1));
      backend.put(Table.Meta, Buffer.from('removed/ff'), Buffer.of(1));
    });
    const m = new Membership(backend);
    expect(m.isRemoved(0xffn)).toBe(true);
    expect(m.isRemoved(0n)).toBe(false);
  });
});
