/** `version`: latchctl's version and the etcd API version it speaks. */
import { createRequire } from 'node:module';
import type { CommandSpec } from '../command.js';

const pkg = createRequire(import.meta.url)('../../package.json') as { version: string };

export const LATCHCTL_VERSION: string = pkg.version;
/** The etcd API version whose commands and output latchctl reproduces (etcdctl 3.4). */
export const API_VERSION = '3.4';

export const versionCommand: CommandSpec = {
  name: 'version',
  use: 'version',
  short: 'Prints the version of latchctl',
  async run(ctx) {
    ctx.io.out(`latchctl version: ${LATCHCTL_VERSION}\nAPI version: ${API_VERSION}\n`);
  },
};
