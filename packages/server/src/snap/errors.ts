/** Errors of snapshot files: reading, checking, converting and restoring them. None is retryable. */

export class SnapshotError extends Error {
  readonly retryable: boolean = false;
}

/** The file is not a bbolt database (no valid meta page), or is too short to be one. */
export class NotBoltFileError extends SnapshotError {
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(`snapshot: ${path} is not a bbolt database: ${reason}`);
    this.name = 'NotBoltFileError';
  }
}

/** The bbolt structure is damaged: a page out of bounds, of the wrong type, referenced twice, keys out of order… */
export class CorruptSnapshotError extends SnapshotError {
  constructor(
    message: string,
    /** Every problem found (for a check, possibly many). */
    readonly problems: readonly string[] = [message],
    options?: ErrorOptions,
  ) {
    super(`snapshot: corrupt database: ${message}`, options);
    this.name = 'CorruptSnapshotError';
  }
}

/** The SHA-256 trailer does not match the database bytes (a truncated or altered download). */
export class HashMismatchError extends SnapshotError {
  constructor(
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`snapshot: sha256 mismatch: the file says ${expected}, its data hashes to ${actual}`);
    this.name = 'HashMismatchError';
  }
}

/** The file has no SHA-256 trailer (its size is not 32 more than a multiple of 512) and the check was not skipped. */
export class MissingHashError extends SnapshotError {
  constructor(readonly size: number) {
    super(`snapshot: missing sha256 trailer (file size ${size}); a copy of a data directory's db needs skipHashCheck`);
    this.name = 'MissingHashError';
  }
}

/** The database is valid bbolt but not laid out as etcd's backend (a record that does not decode, …). */
export class LayoutError extends SnapshotError {
  constructor(message: string, options?: ErrorOptions) {
    super(`snapshot: not an etcd backend: ${message}`, options);
    this.name = 'LayoutError';
  }
}

/** Restore refuses to touch an existing data directory, or was given a cluster it cannot be a member of. */
export class RestoreConfigError extends SnapshotError {
  constructor(message: string) {
    super(`snapshot restore: ${message}`);
    this.name = 'RestoreConfigError';
  }
}
