import { ConfigError, parseConfig, usage } from './config.js';
import { createLogger } from './logger.js';
import { startServer } from './server.js';
import { ETCD_VERSION, LATCHKEY_VERSION } from './version.js';

/** The `latchkey` command: flags and environment → config → a running member; SIGTERM/SIGINT stop it cleanly. */
export async function main(argv: string[]): Promise<void> {
  let parsed: ReturnType<typeof parseConfig>;
  try {
    parsed = parseConfig(argv);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`latchkey: ${err.message}\n\n${usage()}\n`);
      process.exit(2);
    }
    throw err;
  }
  if (parsed.help) {
    process.stdout.write(`${usage()}\n`);
    return;
  }
  if (parsed.version) {
    process.stdout.write(`latchkey Version: ${LATCHKEY_VERSION}\netcd API Version: ${ETCD_VERSION}\nNode Version: ${process.version}\n`);
    return;
  }
  const config = parsed.config!;
  const log = createLogger(config.logLevel, config.name, config.logOutputs);
  let running: Awaited<ReturnType<typeof startServer>>;
  try {
    running = await startServer(config, log);
  } catch (err) {
    log.error('failed to start', { err: err instanceof Error ? err.message : String(err) });
    process.exitCode = 1;
    // Give the logger a moment to flush, then leave even if handles are open.
    setTimeout(() => process.exit(1), 50).unref();
    return;
  }
  const shutdown = (signal: string): void => {
    log.info(`received ${signal}, shutting down`);
    running.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error('error during shutdown', { err: String(err) });
        process.exit(1);
      },
    );
  };
  void running.removed.then(() => process.exit(0));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}
