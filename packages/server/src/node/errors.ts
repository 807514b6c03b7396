import type { EtcdErrorName } from '@latchkey/proto';

/** Errors raised by the node layer (proposals, reads, cluster state). api/errors.ts maps them to the wire. */

export class NodeError extends Error {
  readonly retryable: boolean = false;
}

export class RequestTooLargeError extends NodeError {
  constructor(readonly size: number, readonly limit: number) {
    super(`node: request of ${size} bytes exceeds the limit of ${limit}`);
    this.name = 'RequestTooLargeError';
  }
}

export class NoLeaderError extends NodeError {
  override readonly retryable = true;
  constructor(options?: ErrorOptions) {
    super('node: no leader', options);
    this.name = 'NoLeaderError';
  }
}

export class TimeoutError extends NodeError {
  override readonly retryable = true;
  constructor(what: string) {
    super(`node: ${what} timed out`);
    this.name = 'TimeoutError';
  }
}

export class StoppedError extends NodeError {
  override readonly retryable = true;
  constructor() {
    super('node: server stopped');
    this.name = 'StoppedError';
  }
}

/** The request was canceled by the client before it completed. */
export class CanceledError extends NodeError {
  constructor() {
    super('node: request canceled');
    this.name = 'CanceledError';
  }
}

/** A membership request etcd refuses with a specific error (named after its entry in the wire catalog). */
export class MembershipError extends NodeError {
  constructor(readonly etcd: EtcdErrorName) {
    super(`node: membership: ${etcd}`);
    this.name = 'MembershipError';
  }
}

export class TooManyRequestsError extends NodeError {
  override readonly retryable = true;
  constructor() {
    super('node: too many requests');
    this.name = 'TooManyRequestsError';
  }
}
