/** Aligned plain-text tables for the CLI's reports: columns padded to their widest cell, numbers right-aligned. */

/** Column alignment: `right` for numbers. */
export type Align = 'left' | 'right';

/** Lines of a table: the header row, then one line per row; trailing spaces trimmed. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[], align: readonly Align[] = []): string[] {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, c) => (align[c] === 'right' ? cell.padStart(widths[c] ?? 0) : cell.padEnd(widths[c] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}
