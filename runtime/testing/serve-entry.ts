/** Runs the `sluice` CLI from TypeScript, so tests can start it as a child process on any runtime. */
import { main } from '../cli.ts';

process.exitCode = await main(process.argv.slice(2));
