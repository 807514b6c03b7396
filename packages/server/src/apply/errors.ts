/** Errors raised while applying a request. The API layer maps each to etcd's wire error (api/errors.ts). */

/** ignore_value / ignore_lease on a key that does not exist. */
export class KeyNotFoundError extends Error {
  readonly retryable = false;
  constructor() {
    super('apply: key not found');
    this.name = 'KeyNotFoundError';
  }
}

/** The entry could not be decoded: a bug or corruption, never a client error once it is in the log. */
export class BadEntryError extends Error {
  constructor(index: number, options?: ErrorOptions) {
    super(`apply: entry ${index} is not a valid request`, options);
    this.name = 'BadEntryError';
  }
}

/** The CORRUPT alarm is raised: writes are refused until an operator disarms it (etcd's ErrCorrupt). */
export class CorruptClusterError extends Error {
  readonly retryable = false;
  constructor() {
    super('apply: the cluster is marked corrupt');
    this.name = 'CorruptClusterError';
  }
}
