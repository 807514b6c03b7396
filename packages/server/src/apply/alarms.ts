import { AlarmType, type AlarmMember } from '@latchkey/proto';
import { type Backend, Table } from '../backend/backend.js';

const KEY = Buffer.from('alarms');

/**
 * Replicated alarms (etcd's alarm store): which member raised which alarm. Changed only by applying Alarm
 * requests; persisted with the batch that changed them.
 */
export class AlarmStore {
  private list: AlarmMember[] = [];

  constructor(private readonly backend: Backend) {
    const v = backend.get(Table.Meta, KEY);
    if (v) {
      for (let i = 0; i + 12 <= v.length; i += 12) this.list.push({ memberID: v.readBigUInt64BE(i), alarm: v.readUInt32BE(i + 8) });
    }
  }

  all(): readonly AlarmMember[] {
    return this.list;
  }

  has(alarm: AlarmType): boolean {
    return this.list.some((a) => a.alarm === alarm);
  }

  /** Raises an alarm; returns it if it was not already raised. Inside a backend batch. */
  activate(memberID: bigint, alarm: AlarmType): AlarmMember | undefined {
    if (alarm === AlarmType.NONE || this.list.some((a) => a.memberID === memberID && a.alarm === alarm)) return undefined;
    const m = { memberID, alarm };
    this.list.push(m);
    this.persist();
    return m;
  }

  /** Clears an alarm; returns it if it was raised. Inside a backend batch. */
  deactivate(memberID: bigint, alarm: AlarmType): AlarmMember | undefined {
    const i = this.list.findIndex((a) => a.memberID === memberID && a.alarm === alarm);
    if (i < 0) return undefined;
    const [m] = this.list.splice(i, 1);
    this.persist();
    return m;
  }

  private persist(): void {
    const v = Buffer.allocUnsafe(12 * this.list.length);
    this.list.forEach((a, i) => {
      v.writeBigUInt64BE(a.memberID, i * 12);
      v.writeUInt32BE(a.alarm, i * 12 + 8);
    });
    this.backend.put(Table.Meta, KEY, v);
  }
}
