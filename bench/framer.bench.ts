/**
 * SMTP DATA framing throughput (runtime/smtp/framer.ts) against a same-run baseline that only
 * looks for the line ends with Buffer.indexOf: a ratio far above the baseline means framing has
 * gone superlinear again (it once scanned to the end of the buffer for every line).
 * Run: node --import tsx bench/framer.bench.ts
 */
import { Buffer } from 'node:buffer';
import { bench, do_not_optimize, run, summary } from 'mitata';
import { Framer } from '../runtime/smtp/framer.ts';

const LF = 0x0a;

function message(bytes: number, lineLength: number): Buffer {
  const line = Buffer.from(`${'m'.repeat(lineLength - 2)}\r\n`);
  const count = Math.ceil(bytes / line.length);
  return Buffer.concat([...Array.from({ length: count }, () => line), Buffer.from('.\r\n')]);
}

/** The data arrives in `chunk`-octet pieces, and the session drains the framer after each. */
function frame(data: Buffer, chunk: number): number {
  const f = new Framer(512);
  f.startData();
  let out = 0;
  for (let i = 0; i < data.length; i += chunk) {
    f.push(data.subarray(i, i + chunk));
    for (let ev = f.next(); ev !== null; ev = f.next()) if (ev.type === 'content') out += ev.chunk.length;
  }
  return out;
}

/** The least any framer must do: find every line end. */
function scanLines(data: Buffer, chunk: number): number {
  let lines = 0;
  for (let i = 0; i < data.length; i += chunk) {
    const piece = data.subarray(i, i + chunk);
    for (let at = piece.indexOf(LF); at !== -1; at = piece.indexOf(LF, at + 1)) lines++;
  }
  return lines;
}

for (const [label, lineLength] of [['76-octet lines', 76], ['998-octet lines', 998]] as const) {
  const data = message(1024 * 1024, lineLength);
  summary(() => {
    bench(`baseline: find line ends, 1 MiB of ${label}`, () => do_not_optimize(scanLines(data, 65536)));
    bench(`framer: DATA, 1 MiB of ${label}, 64 KiB reads`, () => do_not_optimize(frame(data, 65536)));
    bench(`framer: DATA, 1 MiB of ${label}, one 1 MiB read`, () => do_not_optimize(frame(data, data.length)));
  });
}

await run();
