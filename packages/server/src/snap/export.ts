import { open, rm } from 'node:fs/promises';
import type { Backend } from '../backend/backend.js';
import { BoltWriter } from './bbolt-writer.js';
import { writeEtcdLayout, type ExportContext } from './etcd-layout.js';

/**
 * Writes the backend's state, as of one read transaction, to `path` as an etcd backend database (bbolt): the
 * file `etcdctl snapshot save` expects, without the SHA-256 trailer (the Snapshot RPC appends it). Returns its
 * size in bytes. A failure removes the partial file.
 */
export async function writeEtcdSnapshot(backend: Backend, path: string, ctx: ExportContext): Promise<number> {
  const view = backend.readView();
  try {
    const fh = await open(path, 'w+');
    try {
      const w = new BoltWriter(fh);
      await writeEtcdLayout(view, w, ctx);
      const { size } = await w.finish();
      await fh.sync();
      return size;
    } finally {
      await fh.close();
    }
  } catch (err) {
    await rm(path, { force: true });
    throw err;
  } finally {
    view.close();
  }
}
