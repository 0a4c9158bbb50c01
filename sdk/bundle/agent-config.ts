/** Checks an agent's configuration against its manifest's `configSchema` (JSON Schema 2020-12): one rule for the server and the vendor CLI. */
import { Validator } from '@cfworker/json-schema';
import type { Manifest } from './manifest.ts';

/**
 * Largest configuration accepted, in bytes of JSON.
 * @example
 * JSON.stringify(config).length <= MAX_CONFIG_BYTES;
 */
export const MAX_CONFIG_BYTES = 64 * 1024;

/**
 * What is wrong with a configuration: the dotted field (`config.limit`) and a line naming it.
 * @example
 * const problem: ConfigProblem = { field: 'config.limit', message: 'config.limit: must be >= 1' };
 */
export interface ConfigProblem {
  field: string;
  message: string;
}

/**
 * Null when `config` is acceptable for `manifest`, else the most specific problem. A config is a
 * JSON object of at most {@link MAX_CONFIG_BYTES}; without a `configSchema` it must be `{}`.
 * @example
 * const problem = configProblem(manifest, { limit: 0 });
 * if (problem) console.error(problem.message);
 */
export function configProblem(manifest: Manifest, config: unknown): ConfigProblem | null {
  const whole = (message: string): ConfigProblem => ({ field: 'config', message: `config: ${message}` });
  let json: string | undefined;
  try {
    json = JSON.stringify(config);
  } catch {
    json = undefined;
  }
  if (json === undefined || config === null || typeof config !== 'object' || Array.isArray(config)) return whole('expected a JSON object');
  if (new TextEncoder().encode(json).byteLength > MAX_CONFIG_BYTES) return whole(`larger than ${MAX_CONFIG_BYTES} bytes of JSON`);
  const schema = manifest.configSchema;
  if (schema === undefined) return Object.keys(config).length === 0 ? null : whole(`${manifest.name} declares no configSchema, so its config must be {}`);
  const result = new Validator(schema as never, '2020-12', false).validate(config);
  if (result.valid) return null;
  // The deepest instance location is the most specific complaint.
  const error = [...result.errors].sort((a, b) => b.instanceLocation.length - a.instanceLocation.length)[0];
  const pointer = (error?.instanceLocation ?? '#').replace(/^#\/?/, '');
  const field = pointer === '' ? 'config' : `config.${pointer.split('/').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~')).join('.')}`;
  return { field, message: `${field}: ${error?.error ?? 'does not match the configSchema'}` };
}
