import { describe, expect, it } from 'vitest';
import { EtcdError, TxnRequest, type Init } from '@latchkey/proto';
import { checkTxn } from './validate.js';

const b = (s: string) => Buffer.from(s);
const put = (k: string) => ({ requestPut: { key: b(k), value: b('v') } });
const del = (k: string, end = '') => ({ requestDeleteRange: { key: b(k), rangeEnd: b(end) } });
const check = (t: Init<TxnRequest>, max = 128) => () => checkTxn(TxnRequest.create(t), max);

describe('validate - txn', () => {
  it('limits ops by the largest of compare/success/failure, not their sum', () => {
    const ops = Array.from({ length: 128 }, (_, i) => put(`k${i}`));
    expect(check({ success: ops, failure: ops })).not.toThrow();
    expect(check({ success: [...ops, put('x')] })).toThrow(EtcdError.TooManyOps.message);
  });

  it('gives a nested txn the budget its parent leaves', () => {
    const nested = { requestTxn: { success: [put('a'), put('b')] } };
    expect(check({ success: [nested, put('c')] }, 4)).not.toThrow();
    expect(check({ success: [nested, put('c'), put('d')] }, 4)).toThrow(EtcdError.TooManyOps.message);
  });

  it('rejects two puts of one key and a put inside a deleted range, allows two deletes', () => {
    expect(check({ success: [put('a'), put('a')] })).toThrow(EtcdError.DuplicateKey.message);
    expect(check({ success: [del('a', 'c'), put('b')] })).toThrow(EtcdError.DuplicateKey.message);
    expect(check({ success: [del('a'), del('a')] })).not.toThrow();
    expect(check({ success: [put('a')], failure: [put('a')] })).not.toThrow();
  });

  it('checks nested branches against the parent, but lets the two branches of one nested txn overlap', () => {
    expect(check({ success: [put('a'), { requestTxn: { success: [put('a')] } }] })).toThrow(EtcdError.DuplicateKey.message);
    expect(check({ success: [{ requestTxn: { success: [put('a')], failure: [put('a')] } }] })).not.toThrow();
  });

  it('rejects empty keys in compares and ops, and empty ops', () => {
    expect(check({ compare: [{ key: new Uint8Array(0) }] })).toThrow(EtcdError.EmptyKey.message);
    expect(check({ success: [{ requestRange: { key: new Uint8Array(0) } }] })).toThrow(EtcdError.EmptyKey.message);
    expect(check({ success: [{}] })).toThrow(EtcdError.KeyNotFound.message);
  });
});
