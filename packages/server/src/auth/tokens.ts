import { randomBytes } from 'node:crypto';
import type { Clock } from '../node/clock.js';

/** How the guard issues and recognizes auth tokens: simple (below) or JWT (jwt-tokens.ts). */
export interface TokenProvider {
  /**
   * True when tokens carry their own claims: one issued at an auth revision older than the store's newest is
   * refused (it may name a deleted user or predate a new password), and the client authenticates again.
   */
  readonly selfContained: boolean;
  /** A token for `user`, chosen by the member that proposes the Authenticate request, before proposing it. */
  mint(user: string, revision: bigint): string;
  /** Applying Authenticate on every member: the token becomes valid here. */
  assign(token: string, user: string, revision: bigint): void;
  /** The user and auth revision of a valid token, or undefined. */
  lookup(token: string): { user: string; revision: bigint } | undefined;
  /** Applying a user's deletion or password change: the user's tokens stop working. */
  revokeUser(user: string): void;
}

/**
 * Simple tokens (etcd's default token provider): opaque random strings handed out by Authenticate, valid for a
 * TTL that every use extends. Authenticate is replicated, so every member learns each token when it applies the
 * request; the expiry bookkeeping is member-local (like lease deadlines) and never affects replicated state.
 */
export class SimpleTokens implements TokenProvider {
  readonly selfContained = false;
  private readonly tokens = new Map<string, { user: string; revision: bigint; expiry: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly ttlMs = 300_000,
  ) {}

  /** A fresh token, chosen by the member that proposes the Authenticate request. */
  mint(): string {
    return `${randomBytes(12).toString('base64url')}.${Date.now().toString(36)}`;
  }

  assign(token: string, user: string, revision: bigint): void {
    this.tokens.set(token, { user, revision, expiry: this.clock.now() + this.ttlMs });
    if (this.tokens.size % 1024 === 0) this.sweep();
  }

  /** The user and auth revision of a valid token (extending its life), or undefined. */
  lookup(token: string): { user: string; revision: bigint } | undefined {
    const t = this.tokens.get(token);
    const now = this.clock.now();
    if (!t || t.expiry <= now) {
      if (t) this.tokens.delete(token);
      return undefined;
    }
    t.expiry = now + this.ttlMs;
    return { user: t.user, revision: t.revision };
  }

  /** Drops every token of a user (deleted, password changed). */
  revokeUser(user: string): void {
    for (const [k, t] of this.tokens) if (t.user === user) this.tokens.delete(k);
  }

  private sweep(): void {
    const now = this.clock.now();
    for (const [k, t] of this.tokens) if (t.expiry <= now) this.tokens.delete(k);
  }
}
