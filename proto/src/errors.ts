/**
 * The catalog of errors on etcd's wire: a gRPC status code plus the exact message text. Clients (etcd's Go
 * clientv3, etcdctl, microsoft's etcd3) match on these strings byte for byte, so they are part of the contract.
 * The server maps its typed domain errors to these entries in one table (server/src/api/errors.ts); the client
 * maps them back to typed errors in one table (client/src/errors.ts).
 */

/** gRPC status codes (numbering from the gRPC specification). */
export enum GrpcCode {
  OK = 0,
  CANCELLED = 1,
  UNKNOWN = 2,
  INVALID_ARGUMENT = 3,
  DEADLINE_EXCEEDED = 4,
  NOT_FOUND = 5,
  ALREADY_EXISTS = 6,
  PERMISSION_DENIED = 7,
  RESOURCE_EXHAUSTED = 8,
  FAILED_PRECONDITION = 9,
  ABORTED = 10,
  OUT_OF_RANGE = 11,
  UNIMPLEMENTED = 12,
  INTERNAL = 13,
  UNAVAILABLE = 14,
  DATA_LOSS = 15,
  UNAUTHENTICATED = 16,
}

/**
 * The codes as grpc-go spells them (index = code): the names in Go status texts (`rpc error: code =
 * Unauthenticated desc = …`) and in etcd's Prometheus labels.
 */
export const GO_CODE_NAMES = [
  'OK',
  'Canceled',
  'Unknown',
  'InvalidArgument',
  'DeadlineExceeded',
  'NotFound',
  'AlreadyExists',
  'PermissionDenied',
  'ResourceExhausted',
  'FailedPrecondition',
  'Aborted',
  'OutOfRange',
  'Unimplemented',
  'Internal',
  'Unavailable',
  'DataLoss',
  'Unauthenticated',
] as const;

export interface WireErrorSpec {
  readonly code: GrpcCode;
  readonly message: string;
}

const e = (code: GrpcCode, message: string): WireErrorSpec => Object.freeze({ code, message });
const C = GrpcCode;

/** etcd's server errors, named after clientv3's `rpctypes.ErrGRPC*` variables. */
export const EtcdError = {
  EmptyKey: e(C.INVALID_ARGUMENT, 'etcdserver: key is not provided'),
  KeyNotFound: e(C.INVALID_ARGUMENT, 'etcdserver: key not found'),
  ValueProvided: e(C.INVALID_ARGUMENT, 'etcdserver: value is provided'),
  LeaseProvided: e(C.INVALID_ARGUMENT, 'etcdserver: lease is provided'),
  TooManyOps: e(C.INVALID_ARGUMENT, 'etcdserver: too many operations in txn request'),
  DuplicateKey: e(C.INVALID_ARGUMENT, 'etcdserver: duplicate key given in txn request'),
  Compacted: e(C.OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted'),
  FutureRev: e(C.OUT_OF_RANGE, 'etcdserver: mvcc: required revision is a future revision'),
  NoSpace: e(C.RESOURCE_EXHAUSTED, 'etcdserver: mvcc: database space exceeded'),

  LeaseNotFound: e(C.NOT_FOUND, 'etcdserver: requested lease not found'),
  LeaseExist: e(C.FAILED_PRECONDITION, 'etcdserver: lease already exists'),
  LeaseTTLTooLarge: e(C.OUT_OF_RANGE, 'etcdserver: too large lease TTL'),

  WatchCanceled: e(C.CANCELLED, 'etcdserver: watch canceled'),

  MemberExist: e(C.FAILED_PRECONDITION, 'etcdserver: member ID already exist'),
  PeerURLExist: e(C.FAILED_PRECONDITION, 'etcdserver: Peer URLs already exists'),
  MemberNotEnoughStarted: e(C.FAILED_PRECONDITION, 'etcdserver: re-configuration failed due to not enough started members'),
  MemberBadURLs: e(C.INVALID_ARGUMENT, 'etcdserver: given member URLs are invalid'),
  MemberNotFound: e(C.NOT_FOUND, 'etcdserver: member not found'),
  MemberNotLearner: e(C.FAILED_PRECONDITION, 'etcdserver: can only promote a learner member'),
  LearnerNotReady: e(C.FAILED_PRECONDITION, 'etcdserver: can only promote a learner member which is in sync with leader'),
  TooManyLearners: e(C.FAILED_PRECONDITION, 'etcdserver: too many learner members in cluster'),
  ClusterIdMismatch: e(C.FAILED_PRECONDITION, 'etcdserver: cluster ID mismatch'),

  RequestTooLarge: e(C.INVALID_ARGUMENT, 'etcdserver: request is too large'),
  TooManyRequests: e(C.RESOURCE_EXHAUSTED, 'etcdserver: too many requests'),

  RootUserNotExist: e(C.FAILED_PRECONDITION, 'etcdserver: root user does not exist'),
  RootRoleNotExist: e(C.FAILED_PRECONDITION, 'etcdserver: root user does not have root role'),
  UserAlreadyExist: e(C.FAILED_PRECONDITION, 'etcdserver: user name already exists'),
  UserEmpty: e(C.INVALID_ARGUMENT, 'etcdserver: user name is empty'),
  UserNotFound: e(C.FAILED_PRECONDITION, 'etcdserver: user name not found'),
  RoleAlreadyExist: e(C.FAILED_PRECONDITION, 'etcdserver: role name already exists'),
  RoleNotFound: e(C.FAILED_PRECONDITION, 'etcdserver: role name not found'),
  RoleEmpty: e(C.INVALID_ARGUMENT, 'etcdserver: role name is empty'),
  AuthFailed: e(C.INVALID_ARGUMENT, 'etcdserver: authentication failed, invalid user ID or password'),
  PermissionNotGiven: e(C.INVALID_ARGUMENT, 'etcdserver: permission not given'),
  PermissionDenied: e(C.PERMISSION_DENIED, 'etcdserver: permission denied'),
  RoleNotGranted: e(C.FAILED_PRECONDITION, 'etcdserver: role is not granted to the user'),
  PermissionNotGranted: e(C.FAILED_PRECONDITION, 'etcdserver: permission is not granted to the role'),
  AuthNotEnabled: e(C.FAILED_PRECONDITION, 'etcdserver: authentication is not enabled'),
  InvalidAuthToken: e(C.UNAUTHENTICATED, 'etcdserver: invalid auth token'),
  InvalidAuthMgmt: e(C.INVALID_ARGUMENT, 'etcdserver: invalid auth management'),
  AuthOldRevision: e(C.INVALID_ARGUMENT, 'etcdserver: revision of auth store is old'),

  NoLeader: e(C.UNAVAILABLE, 'etcdserver: no leader'),
  NotLeader: e(C.FAILED_PRECONDITION, 'etcdserver: not leader'),
  LeaderChanged: e(C.UNAVAILABLE, 'etcdserver: leader changed'),
  NotCapable: e(C.UNAVAILABLE, 'etcdserver: not capable'),
  Stopped: e(C.UNAVAILABLE, 'etcdserver: server stopped'),
  Timeout: e(C.UNAVAILABLE, 'etcdserver: request timed out'),
  TimeoutDueToLeaderFail: e(C.UNAVAILABLE, 'etcdserver: request timed out, possibly due to previous leader failure'),
  TimeoutDueToConnectionLost: e(C.UNAVAILABLE, 'etcdserver: request timed out, possibly due to connection lost'),
  TimeoutWaitAppliedIndex: e(C.UNAVAILABLE, 'etcdserver: request timed out, waiting for the applied index took too long'),
  Unhealthy: e(C.UNAVAILABLE, 'etcdserver: unhealthy cluster'),
  Corrupt: e(C.DATA_LOSS, 'etcdserver: corrupt cluster'),
  BadLeaderTransferee: e(C.FAILED_PRECONDITION, 'etcdserver: bad leader transferee'),
  RequestCanceled: e(C.CANCELLED, 'etcdserver: request canceled'),

  ElectionNoLeader: e(C.UNKNOWN, 'election: no leader'),
  ElectionNotLeader: e(C.UNKNOWN, 'election: not leader'),
  ElectionMissingLeader: e(C.UNKNOWN, '"leader" field must be provided'),
} as const satisfies Record<string, WireErrorSpec>;

export type EtcdErrorName = keyof typeof EtcdError;

/** Watch cancel_reason strings (not gRPC errors; carried inside a WatchResponse). */
export const WatchCancelReason = {
  EmptyRange: 'mvcc: watcher range is empty',
  DuplicateId: 'mvcc: duplicate watch ID provided on the WatchStream',
} as const;

const byMessage = new Map<string, EtcdErrorName>(
  Object.entries(EtcdError).map(([name, spec]) => [spec.message, name as EtcdErrorName]),
);

/** Finds the catalog entry whose exact message is `message` (used by clients to type errors). */
export function etcdErrorByMessage(message: string): EtcdErrorName | undefined {
  return byMessage.get(message);
}
