import winston from 'winston';
import type { Logger } from './node/etcd-server.js';

/** JSON log lines on stderr, one per event, in the spirit of etcd's zap output. */
export function createLogger(level: string, member: string): Logger {
  const w = winston.createLogger({
    level,
    format: winston.format.combine(winston.format.timestamp({ alias: 'ts' }), winston.format.json()),
    defaultMeta: { member },
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug'] })],
  });
  return {
    debug: (msg, meta) => w.debug(msg, meta),
    info: (msg, meta) => w.info(msg, meta),
    warn: (msg, meta) => w.warn(msg, meta),
    error: (msg, meta) => w.error(msg, meta),
  };
}
