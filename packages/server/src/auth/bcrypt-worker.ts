/** The bcrypt thread of `password.ts`: one job at a time, answered by id. */
import { parentPort } from 'node:worker_threads';
import { compute, type BcryptJob, type BcryptReply } from './password.js';

parentPort!.on('message', ({ id, job }: { id: number; job: BcryptJob }) => {
  let reply: BcryptReply;
  try {
    reply = { id, result: compute(job) };
  } catch (err) {
    reply = { id, error: err instanceof Error ? err.message : String(err) };
  }
  parentPort!.postMessage(reply);
});
