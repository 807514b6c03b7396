import { Event, Writer, withWriter } from '@latchkey/proto';

/** WatchResponse.events is field 11, length-delimited. */
const EVENTS_TAG = (11 << 3) | 2;

/**
 * The events one watcher is told about for one delivery. When many watchers match the same changes (a thousand
 * watchers on one prefix), they share one batch, and the protobuf encoding of the events is done once: a
 * WatchResponse is then the small per-watcher part (header, watch id) followed by these shared bytes, which is
 * valid protobuf because fields may appear in any order.
 */
export class EventBatch {
  private bytes: Buffer | undefined;

  constructor(readonly events: readonly Event[]) {}

  /** Several batches as one (their events in order; the encoding is the concatenation of theirs). */
  static concat(batches: readonly EventBatch[]): EventBatch {
    if (batches.length === 1) return batches[0]!;
    const merged = new EventBatch(batches.flatMap((b) => b.events));
    merged.bytes = Buffer.concat(batches.map((b) => b.encoded()));
    return merged;
  }

  /** The events as repeated field 11 records, ready to append to an encoded WatchResponse. */
  encoded(): Buffer {
    this.bytes ??= withWriter((w: Writer) => {
      for (const e of this.events) {
        w.uint(EVENTS_TAG);
        w.fork();
        Event.write(e, w);
        w.join();
      }
    });
    return this.bytes;
  }
}
