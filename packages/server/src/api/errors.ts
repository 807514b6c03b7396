import { EtcdError, GrpcCode, type WireErrorSpec } from '@latchkey/proto';
import { CorruptClusterError, KeyNotFoundError } from '../apply/errors.js';
import { AuthError } from '../auth/store.js';
import { LeaseExistsError, LeaseNotFoundError, LeaseTTLTooLargeError } from '../lease/errors.js';
import { CompactedError, FutureRevisionError, NoSpaceError } from '../mvcc/errors.js';
import {
  MembershipError,
  CanceledError,
  NoLeaderError,
  RequestTooLargeError,
  StoppedError,
  TimeoutError,
  TooManyRequestsError,
} from '../node/errors.js';
import { RecipeError, type RecipeErrorKind } from '../recipes/errors.js';

/** An error that already is a wire error (request validation, protocol rules): code + exact message. */
export class WireStatusError extends Error {
  constructor(readonly spec: WireErrorSpec) {
    super(spec.message);
    this.name = 'WireStatusError';
  }
}

/**
 * The one table from domain errors to etcd's wire errors. Unknown errors become INTERNAL with their message;
 * `unexpected` is set so the caller logs them (they are bugs).
 */
export function toWireError(err: unknown): WireErrorSpec & { unexpected?: boolean } {
  if (err instanceof WireStatusError) return err.spec;
  if (err instanceof AuthError) return EtcdError[err.etcd];
  if (err instanceof MembershipError) return EtcdError[err.etcd];
  if (err instanceof CompactedError) return EtcdError.Compacted;
  if (err instanceof FutureRevisionError) return EtcdError.FutureRev;
  if (err instanceof NoSpaceError) return EtcdError.NoSpace;
  if (err instanceof LeaseNotFoundError) return EtcdError.LeaseNotFound;
  if (err instanceof LeaseExistsError) return EtcdError.LeaseExist;
  if (err instanceof LeaseTTLTooLargeError) return EtcdError.LeaseTTLTooLarge;
  if (err instanceof KeyNotFoundError) return EtcdError.KeyNotFound;
  if (err instanceof CorruptClusterError) return EtcdError.Corrupt;
  if (err instanceof RequestTooLargeError) return EtcdError.RequestTooLarge;
  if (err instanceof NoLeaderError) return EtcdError.NoLeader;
  if (err instanceof TimeoutError) return EtcdError.Timeout;
  if (err instanceof StoppedError) return EtcdError.Stopped;
  if (err instanceof TooManyRequestsError) return EtcdError.TooManyRequests;
  if (err instanceof CanceledError) return EtcdError.RequestCanceled;
  if (err instanceof RecipeError) return RECIPE_ERRORS[err.kind];
  return { code: GrpcCode.INTERNAL, message: err instanceof Error ? err.message : String(err), unexpected: true };
}

/** The lock and election recipes' errors: what etcd's v3lock/v3election services return (Go errors: code Unknown). */
const RECIPE_ERRORS: Record<RecipeErrorKind, WireErrorSpec> = {
  ElectionNoLeader: EtcdError.ElectionNoLeader,
  ElectionNotLeader: EtcdError.ElectionNotLeader,
  ElectionMissingLeader: EtcdError.ElectionMissingLeader,
  SessionExpired: { code: GrpcCode.UNKNOWN, message: 'mutex: session is expired' },
  LostWatcher: { code: GrpcCode.UNKNOWN, message: 'lost watcher waiting for delete' },
};
