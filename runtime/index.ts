/** Sluice's public API: run the server from code, load and validate configuration, the CLI entry. */
export { startServer, StartupError, type RunningServer } from './server.ts';
export { loadConfig, parseConfig, ConfigError, type Overrides } from './config/load-config.ts';
export { ConfigSchema, type Config, type ConfigInput } from './config/schema.ts';
export { createLogger, type LogFn, type LogLevel, type LoggerOptions } from './log/logger.ts';
export { hashPassword } from './smtp/password.ts';
export { main } from './cli.ts';
export { VERSION } from './version.ts';
