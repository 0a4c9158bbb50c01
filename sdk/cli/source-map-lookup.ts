/** Maps a position in generated code back to its source through a version 3 source map (for build errors that name a line). */

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const DIGIT = new Map([...BASE64].map((c, i) => [c, i]));

/** The fields of a source map this lookup reads. */
export interface SourceMapV3 {
  sources: string[];
  mappings: string;
}

/** A position in a source file: 1-based line, 0-based column, as esbuild reports them. */
export interface SourcePosition {
  source: string;
  line: number;
  column: number;
}

/** Decodes one segment's base64 VLQ fields; undefined when malformed. */
function decodeSegment(text: string): number[] | undefined {
  const fields: number[] = [];
  let value = 0;
  let shift = 0;
  for (const char of text) {
    const digit = DIGIT.get(char);
    if (digit === undefined) return undefined;
    value += (digit & 31) * 2 ** shift;
    if (digit & 32) {
      shift += 5;
      continue;
    }
    fields.push(value % 2 === 1 ? -(value - 1) / 2 : value / 2);
    value = 0;
    shift = 0;
  }
  return shift === 0 ? fields : undefined;
}

/**
 * The source position of generated `line` (0-based) and `column`: the last mapping at or before the
 * column on that line. Undefined when the line has no mapping.
 */
export function originalPosition(map: SourceMapV3, line: number, column: number): SourcePosition | undefined {
  let source = 0;
  let sourceLine = 0;
  let sourceColumn = 0;
  const lines = map.mappings.split(';');
  let found: SourcePosition | undefined;
  for (let l = 0; l <= line && l < lines.length; l++) {
    let generatedColumn = 0;
    for (const segment of (lines[l] ?? '').split(',')) {
      if (segment === '') continue;
      const f = decodeSegment(segment);
      if (f === undefined) return undefined;
      generatedColumn += f[0] ?? 0;
      if (f.length < 4) continue;
      source += f[1]!;
      sourceLine += f[2]!;
      sourceColumn += f[3]!;
      if (l === line && generatedColumn <= column) {
        found = { source: map.sources[source] ?? '?', line: sourceLine + 1, column: sourceColumn };
      }
    }
  }
  return found;
}
