export { startServer, type RunningServer, type StartOptions } from './server.js';
export { parseConfig, type Config, ConfigError } from './config.js';
export { FLAGS, type FlagSpec } from './flags.js';
export { createLogger } from './logger.js';
export { main } from './main.js';
