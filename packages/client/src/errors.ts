/**
 * Typed client errors. Every error the client throws is a `LatchkeyError` carrying the gRPC `code`, the server's
 * exact `details` text and `retryable` — whether sending the same request again is known to be safe and useful.
 * `retryable` is about the *request's fate*, not about idempotency: an error that proves the request was never
 * applied (no leader, connection never established, invalid token) is retryable; a timeout on a write is not,
 * because the write may have committed.
 *
 * Server errors are recognised by etcd's exact message strings (the catalog in `@latchkey/proto`), so they type the
 * same against latchkey and against a real etcd.
 */
import { EtcdError, etcdErrorByMessage, GrpcCode, type EtcdErrorName } from '@latchkey/proto';

export { GrpcCode };

export interface LatchkeyErrorOptions {
  code?: GrpcCode;
  retryable?: boolean;
  cause?: unknown;
  /** The catalog name of the etcd error, when the server sent one. */
  etcdError?: EtcdErrorName;
}

export class LatchkeyError extends Error {
  override name = 'LatchkeyError';
  /** gRPC status code (`GrpcCode.UNKNOWN` for client-side failures without one). */
  readonly code: GrpcCode;
  /** True when the request is known not to have taken effect and may be sent again. */
  readonly retryable: boolean;
  /** etcd's name for the error (`'Compacted'`, `'LeaseNotFound'`, …) when the server sent a known one. */
  readonly etcdError: EtcdErrorName | undefined;

  constructor(message: string, options: LatchkeyErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code ?? GrpcCode.UNKNOWN;
    this.retryable = options.retryable ?? false;
    this.etcdError = options.etcdError;
  }
}

/** The requested revision was compacted away (`etcdserver: mvcc: required revision has been compacted`). */
export class CompactedError extends LatchkeyError {
  override name = 'CompactedError';
  /** The compaction revision, when the server reported it (watches do). */
  readonly compactRevision: bigint | undefined;
  constructor(message: string, compactRevision?: bigint, options: LatchkeyErrorOptions = {}) {
    super(message, { code: GrpcCode.OUT_OF_RANGE, etcdError: 'Compacted', ...options });
    this.compactRevision = compactRevision;
  }
}

export class FutureRevisionError extends LatchkeyError {
  override name = 'FutureRevisionError';
}
export class LeaseNotFoundError extends LatchkeyError {
  override name = 'LeaseNotFoundError';
}
export class PermissionDeniedError extends LatchkeyError {
  override name = 'PermissionDeniedError';
}
/** Bad credentials, an expired token that could not be renewed, or auth misuse. */
export class AuthError extends LatchkeyError {
  override name = 'AuthError';
}
/** The cluster (or the member asked) has no leader, is stopping, or the connection failed before sending. */
export class UnavailableError extends LatchkeyError {
  override name = 'UnavailableError';
}
/** The deadline passed. For writes the outcome is unknown: the write may or may not have committed. */
export class DeadlineExceededError extends LatchkeyError {
  override name = 'DeadlineExceededError';
}
/** The caller's `AbortSignal` fired. `cause` is the signal's reason. */
export class AbortError extends LatchkeyError {
  override name = 'AbortError';
  constructor(reason?: unknown) {
    super(reason instanceof Error ? `aborted: ${reason.message}` : 'aborted', { code: GrpcCode.CANCELLED, cause: reason });
  }
}
/** The request was malformed (empty key, too many ops, duplicate key, request too large, …). */
export class InvalidArgumentError extends LatchkeyError {
  override name = 'InvalidArgumentError';
}
/** `etcdserver: mvcc: database space exceeded`: the NOSPACE alarm is raised; writes fail until it is disarmed. */
export class NoSpaceError extends LatchkeyError {
  override name = 'NoSpaceError';
}
/** An election operation on a leadership this client does not hold (`election: not leader`). */
export class NotLeaderError extends LatchkeyError {
  override name = 'NotLeaderError';
}
/** An election has no leader (`election: no leader`). */
export class NoLeaderError extends LatchkeyError {
  override name = 'NoLeaderError';
}
/** The lock (or other lease-bound hold) may have been lost: a guarded write did not commit, or the session expired. */
export class LockLostError extends LatchkeyError {
  override name = 'LockLostError';
}
/** The session's lease expired or was revoked; everything made on the session is gone. */
export class SessionExpiredError extends LatchkeyError {
  override name = 'SessionExpiredError';
}
/** A `tryAcquire`-style call found the resource held. */
export class LockedError extends LatchkeyError {
  override name = 'LockedError';
}
/** The client was closed. */
export class ClientClosedError extends LatchkeyError {
  override name = 'ClientClosedError';
  constructor() {
    super('client closed', { code: GrpcCode.CANCELLED });
  }
}

/** Server errors after which the same request may be sent again (it was not applied). */
const RETRYABLE: ReadonlySet<EtcdErrorName> = new Set<EtcdErrorName>([
  'NoLeader',
  'NotCapable',
  'Stopped',
  'InvalidAuthToken',
  'AuthOldRevision',
  'TooManyRequests',
  'LeaderChanged',
]);

/** The shape of a grpc-js `ServiceError` (kept structural so this module does not import grpc-js). */
interface GrpcLike {
  code?: unknown;
  details?: unknown;
  message?: unknown;
}

/**
 * Whether the server refused the call's auth token: unknown or expired (`invalid auth token`), or issued before
 * the latest auth change (`revision of auth store is old`, etcd with JWT tokens). Either way the remedy is to
 * log in again.
 */
export function isTokenRefused(err: LatchkeyError | undefined): boolean {
  return err?.etcdError === 'InvalidAuthToken' || err?.etcdError === 'AuthOldRevision';
}

/**
 * The typed error for a failed gRPC call. `sent` tells whether the request may have reached a server: a
 * connection-level UNAVAILABLE before sending is retryable, the same code after sending is not (for writes).
 */
export function fromGrpcError(err: unknown, sent = true): LatchkeyError {
  if (err instanceof LatchkeyError) return err;
  const e = (err ?? {}) as GrpcLike;
  const code = typeof e.code === 'number' ? (e.code as GrpcCode) : GrpcCode.UNKNOWN;
  const details = typeof e.details === 'string' && e.details !== '' ? e.details : String(e.message ?? err);
  const name = etcdErrorByMessage(details);
  const base = { code, cause: err, etcdError: name } satisfies LatchkeyErrorOptions;
  if (name !== undefined) {
    const retryable = RETRYABLE.has(name);
    switch (name) {
      case 'Compacted':
        return new CompactedError(details, undefined, base);
      case 'FutureRev':
        return new FutureRevisionError(details, base);
      case 'LeaseNotFound':
        return new LeaseNotFoundError(details, base);
      case 'PermissionDenied':
        return new PermissionDeniedError(details, base);
      case 'AuthFailed':
      case 'InvalidAuthToken':
      case 'AuthNotEnabled':
      case 'UserEmpty':
        return new AuthError(details, { ...base, retryable });
      case 'NoSpace':
        return new NoSpaceError(details, base);
      case 'ElectionNotLeader':
        return new NotLeaderError(details, base);
      case 'ElectionNoLeader':
        return new NoLeaderError(details, base);
      case 'EmptyKey':
      case 'TooManyOps':
      case 'DuplicateKey':
      case 'RequestTooLarge':
      case 'ValueProvided':
      case 'LeaseProvided':
      case 'KeyNotFound':
        return new InvalidArgumentError(details, base);
      default:
        if (code === GrpcCode.UNAVAILABLE) return new UnavailableError(details, { ...base, retryable });
        return new LatchkeyError(details, { ...base, retryable });
    }
  }
  switch (code) {
    case GrpcCode.UNAVAILABLE:
      return new UnavailableError(details, { ...base, retryable: !sent });
    case GrpcCode.DEADLINE_EXCEEDED:
      return new DeadlineExceededError(details, base);
    case GrpcCode.PERMISSION_DENIED:
      return new PermissionDeniedError(details, base);
    case GrpcCode.UNAUTHENTICATED:
      return new AuthError(details, base);
    case GrpcCode.INVALID_ARGUMENT:
      return new InvalidArgumentError(details, base);
    default:
      return new LatchkeyError(details, base);
  }
}

/** The exact wire text of an etcd error, for callers that compare messages. */
export const etcdMessages = Object.fromEntries(
  Object.entries(EtcdError).map(([k, v]) => [k, v.message]),
) as { readonly [K in EtcdErrorName]: string };
