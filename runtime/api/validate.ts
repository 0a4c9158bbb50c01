/** Runs a valibot schema over one request input and turns its issues into a problem that names every bad field. */
import * as v from 'valibot';
import { ApiProblem, type FieldError } from './problem.ts';

/** Where an input came from: decides the problem's status, code and title. */
export type InputPart = 'path' | 'query' | 'body';

const PARTS: Record<InputPart, { status: number; code: string; title: string }> = {
  path: { status: 404, code: 'INVALID_PATH', title: 'No such resource' },
  query: { status: 400, code: 'INVALID_QUERY', title: 'Invalid query parameter' },
  body: { status: 422, code: 'INVALID_BODY', title: 'Invalid request body' },
};

/** `config.limits[2].max`: object keys dotted, array indices bracketed (the registry's `field` style). */
export function fieldPath(issue: v.BaseIssue<unknown>): string {
  let out = '';
  for (const item of issue.path ?? []) {
    const key = item.key;
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out;
}

function describe(issue: v.BaseIssue<unknown>): string {
  // An unknown key in a strict object: say so instead of "Expected never".
  if (issue.type === 'strict_object' && issue.expected === 'never') return 'unknown field';
  return issue.message;
}

/** The input's parsed output, or throws a problem whose `errors[]` name each invalid field. */
export function validateInput<S extends v.GenericSchema<unknown, unknown>>(part: InputPart, schema: S, input: unknown): v.InferOutput<S> {
  const result = v.safeParse(schema, input);
  if (result.success) return result.output;
  const errors: FieldError[] = result.issues.map((issue) => ({ field: fieldPath(issue) || part, message: describe(issue) }));
  const { status, code, title } = PARTS[part];
  const detail = errors.map((e) => `${e.field}: ${e.message}`).join('; ');
  throw new ApiProblem(status, code, detail, { title, errors });
}
