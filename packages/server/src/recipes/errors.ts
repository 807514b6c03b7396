/**
 * Errors of the lock and election recipes, named after the Go errors etcd's server-side services return (its
 * `concurrency` package). The API layer maps each to etcd's wire error in its one table (api/errors.ts).
 */

export type RecipeErrorKind =
  /** Leader(): nobody holds the election (`election: no leader`). */
  | 'ElectionNoLeader'
  /** Proclaim() with a leader key that no longer leads (`election: not leader`). */
  | 'ElectionNotLeader'
  /** Proclaim()/Resign() without a leader key (`"leader" field must be provided`). */
  | 'ElectionMissingLeader'
  /** Lock(): the waiter's own key vanished (its lease expired) while it waited (`mutex: session is expired`). */
  | 'SessionExpired'
  /** A watch the recipe waited on ended without the event it waited for (`lost watcher waiting for delete`). */
  | 'LostWatcher';

export class RecipeError extends Error {
  readonly retryable = false;
  constructor(
    readonly kind: RecipeErrorKind,
    options?: ErrorOptions,
  ) {
    super(`recipes: ${kind}`, options);
    this.name = 'RecipeError';
  }
}
