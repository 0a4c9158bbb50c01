/** Tiny shape predicates for the hand-written hot-path frame checks (each side of the sandbox host wire). */

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Own enumerable keys, counted without building an array; valibot's objects drop unknown keys, so extra keys leave the fast path. */
export function keyCount(value: object): number {
  let n = 0;
  for (const key in value) if (Object.hasOwn(value, key)) n++;
  return n;
}
