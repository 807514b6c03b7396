/**
 * @latchkey/client — a Node.js client for latchkey and etcd v3: KV, txn, watch, lease, and coordination recipes
 * (sessions, fair locks with fencing tokens, multi-locks, elections, barriers, semaphores, RW locks, queues, service
 * registry, prefix caches, counters).
 */
export { Client, TxnBuilder, type ClientOptions, type RangeResult, type PutResult, type DeleteResult, type TxnResult, type OpResult, type WriteOptions } from './client.js';
export { type CallOptions, type ConnectionOptions, type TlsOptions, parseEndpoint } from './connection.js';
export * from './errors.js';
export { type Bytes, toBytes, toText, prefixEnd, leaseHex } from './bytes.js';
export { Cmp, Op, Namespace, type Condition, type Operation, type GetOptions, type PutOptions, type DeleteOptions, type RangeSelector, type CompareOp, type SortOrder, type SortTarget } from './ops.js';
export { Watch, type WatchOptions, type WatchEvent, type WatchBatch } from './watch.js';
export { LeaseApi, type LeaseInfo, type TimeToLive } from './lease.js';
export { Session, SessionClosedError, type SessionOptions, type SessionState } from './recipes/session.js';
export { LockApi, LockHold, GuardedTxn, type AcquireOptions, type LockStatus, type LockHolder } from './recipes/lock.js';
export { Election, Leadership, type ElectionOptions, type CampaignOptions, type Observed } from './recipes/election.js';
export type { KeyValue, ResponseHeader } from '@latchkey/proto';
export { Barrier, BarrierHeldError } from './recipes/barrier.js';
export { DoubleBarrier, BarrierRound, TooManyParticipantsError } from './recipes/double-barrier.js';
export { Semaphore, SemaphoreLimitError, type SemaphoreStatus } from './recipes/semaphore.js';
export { RwLock, type RwMode } from './recipes/rwlock.js';
export { Queue, Delivery, type EnqueueOptions, type QueueStats } from './recipes/queue.js';
export { MultiLockHold } from './recipes/multi-lock.js';
export { Counter } from './recipes/counter.js';
export { PrefixCache, type PrefixCacheOptions, type CacheChange, type CacheEvent } from './recipes/prefix-cache.js';
export { Registry, Registration, ServiceSet, encodeInstance, decodeInstance, type ServiceInstance, type RegisterOptions, type RegistrationState, type ServiceSnapshot, type PickStrategy } from './recipes/registry.js';
export { type RecipeOptions } from './recipes/wait.js';
export { snapshot, type SnapshotChunk } from './maintenance.js';
