import winston from 'winston';
import type { Logger } from './node/etcd-server.js';

/**
 * JSON log lines, one per event, in the spirit of etcd's zap output, to each of `outputs` (etcd's --log-outputs):
 * 'stderr', 'stdout', or a file path (appended to).
 */
export function createLogger(level: string, member: string, outputs: readonly string[] = ['stderr']): Logger {
  const transports = outputs.map((o) =>
    o === 'stderr'
      ? new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug'] })
      : o === 'stdout'
        ? new winston.transports.Console({ stderrLevels: [] })
        : new winston.transports.File({ filename: o }),
  );
  const w = winston.createLogger({
    level,
    format: winston.format.combine(winston.format.timestamp({ alias: 'ts' }), winston.format.json()),
    defaultMeta: { member },
    transports,
  });
  return {
    debug: (msg, meta) => w.debug(msg, meta),
    info: (msg, meta) => w.info(msg, meta),
    warn: (msg, meta) => w.warn(msg, meta),
    error: (msg, meta) => w.error(msg, meta),
  };
}
