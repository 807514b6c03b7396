/** Errors raised by the MVCC store. The API layer maps each to etcd's wire error (api/errors.ts). */

export class MvccError extends Error {
  readonly retryable: boolean = false;
}

/** The requested revision is below the compaction point. */
export class CompactedError extends MvccError {
  constructor(readonly compactRevision: bigint) {
    super('mvcc: required revision has been compacted');
    this.name = 'CompactedError';
  }
}

/** The requested revision is above the store's current revision. */
export class FutureRevisionError extends MvccError {
  constructor(readonly currentRevision: bigint) {
    super('mvcc: required revision is a future revision');
    this.name = 'FutureRevisionError';
  }
}

/** The backend is over its quota (the NOSPACE alarm is raised): only reads, deletes and compaction go on. */
export class NoSpaceError extends MvccError {
  constructor() {
    super('mvcc: database space exceeded');
    this.name = 'NoSpaceError';
  }
}

/** The stored data contradicts itself; the server must stop rather than serve it. */
export class CorruptError extends MvccError {
  constructor(message: string, options?: ErrorOptions) {
    super(`mvcc: corrupt store: ${message}`, options);
    this.name = 'CorruptError';
  }
}
