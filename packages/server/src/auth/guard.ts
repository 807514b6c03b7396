import type { DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest } from '@latchkey/proto';
import { AuthError, type AuthStore } from './store.js';
import type { Passwords } from './password.js';
import type { TokenProvider } from './tokens.js';

/**
 * Who is asking, and the auth revision their rights were checked at (carried into the log with a write, so the
 * applier can refuse it if the auth state changed in between). Undefined while auth is off.
 */
export interface AuthInfo {
  user: string;
  revision: bigint;
}

/** Reads a header value the way the API layers expose metadata. */
export interface MetadataLike {
  get(key: string): string[];
  /** Common name of the client's verified TLS certificate, if any. */
  readonly commonName?: string | undefined;
}

/**
 * Per-request authorization, used both where requests arrive (to refuse early) and where writes are applied
 * (to decide against the replicated auth state at that point of the log, so a permission revoked before a write
 * commits is honoured).
 */
export class AuthGuard {
  constructor(
    readonly store: AuthStore,
    readonly tokens: TokenProvider,
    /** Hashes and checks passwords (off the main thread). */
    readonly passwords: Passwords,
  ) {}

  /**
   * The caller's identity from the `token` metadata (gRPC) or `authorization` header (gateway); undefined when
   * auth is off. Throws `UserEmpty` without a token and `InvalidAuthToken` for an unknown or expired one.
   */
  identify(md: MetadataLike): AuthInfo | undefined {
    if (!this.store.enabled) return undefined;
    const token = md.get('token')[0] ?? md.get('authorization')[0];
    if (!token) {
      // Under client-cert-auth, the certificate's common name is the user (a token, when sent, wins).
      if (md.commonName && this.store.user(md.commonName)) return { user: md.commonName, revision: this.store.revision };
      throw new AuthError('UserEmpty');
    }
    const t = this.tokens.lookup(token);
    if (!t) throw new AuthError('InvalidAuthToken');
    // A self-contained token (JWT) names the auth revision it was issued at; one from before the latest auth change
    // (a password change, a deleted user) is refused with etcd's error for it, on which clients log in again.
    if (this.tokens.selfContained && t.revision < this.store.revision) throw new AuthError('AuthOldRevision');
    return { user: t.user, revision: this.store.revision };
  }

  requireAdmin(ai: AuthInfo | undefined): void {
    if (ai && !this.store.isAdmin(ai.user)) throw new AuthError('PermissionDenied');
  }

  checkRange(ai: AuthInfo | undefined, r: RangeRequest): void {
    if (ai) this.need(ai, r.key, r.rangeEnd, false);
  }

  checkPut(ai: AuthInfo | undefined, p: PutRequest): void {
    if (ai) this.need(ai, p.key, new Uint8Array(0), true);
  }

  checkDeleteRange(ai: AuthInfo | undefined, d: DeleteRangeRequest): void {
    if (ai) this.need(ai, d.key, d.rangeEnd, true);
  }

  /** Every compare needs read access; every op its own access, nested transactions included. */
  checkTxn(ai: AuthInfo | undefined, t: TxnRequest): void {
    if (!ai) return;
    for (const c of t.compare) this.need(ai, c.key, c.rangeEnd, false);
    const ops = (list: RequestOp[]): void => {
      for (const op of list) {
        if (op.requestRange) this.checkRange(ai, op.requestRange);
        else if (op.requestPut) this.checkPut(ai, op.requestPut);
        else if (op.requestDeleteRange) this.checkDeleteRange(ai, op.requestDeleteRange);
        else if (op.requestTxn) this.checkTxn(ai, op.requestTxn);
      }
    };
    ops(t.success);
    ops(t.failure);
  }

  /** Watching [key, end) needs read access. */
  mayWatch(ai: AuthInfo | undefined, key: Uint8Array, end: Uint8Array): boolean {
    return !ai || this.store.isPermitted(ai.user, key, end, false);
  }

  /** Revoking a lease needs write access to every key attached to it. */
  checkLeaseRevoke(ai: AuthInfo | undefined, keys: Iterable<Uint8Array>): void {
    if (!ai) return;
    for (const k of keys) this.need(ai, k, new Uint8Array(0), true);
  }

  /** At apply time: the request must have been checked against the auth state it is applied under. */
  checkRevision(ai: AuthInfo): void {
    if (ai.revision < this.store.revision) throw new AuthError('AuthOldRevision');
    if (!this.store.user(ai.user)) throw new AuthError('UserNotFound');
  }

  private need(ai: AuthInfo, key: Uint8Array, end: Uint8Array, write: boolean): void {
    if (!this.store.isPermitted(ai.user, key, end, write)) throw new AuthError('PermissionDenied');
  }
}
