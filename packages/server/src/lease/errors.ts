/** Errors raised by the lessor. The API layer maps each to etcd's wire error (api/errors.ts). */

export class LeaseError extends Error {
  readonly retryable: boolean = false;
}

export class LeaseNotFoundError extends LeaseError {
  constructor(readonly id: bigint) {
    super(`lease: lease ${id.toString(16)} not found`);
    this.name = 'LeaseNotFoundError';
  }
}

export class LeaseExistsError extends LeaseError {
  constructor(readonly id: bigint) {
    super(`lease: lease ${id.toString(16)} already exists`);
    this.name = 'LeaseExistsError';
  }
}

export class LeaseTTLTooLargeError extends LeaseError {
  constructor(readonly ttl: bigint) {
    super(`lease: TTL ${ttl} is too large`);
    this.name = 'LeaseTTLTooLargeError';
  }
}
