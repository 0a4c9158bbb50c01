// Sets damaged journal bytes aside as `quarantine/<segment>-<offset>.bad`, with the reason beside them.
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { segmentFileName } from './segment-header.ts';

/** Writes the bytes and a `.reason` file, both synced; returns the `.bad` file's path. */
export async function quarantineBytes(
  quarantineDir: string,
  segment: number,
  offset: number,
  bytes: Uint8Array,
  reason: string,
): Promise<string> {
  const base = `${segmentFileName(segment).replace(/\.log$/, '')}-${offset}.bad`;
  const file = join(quarantineDir, base);
  await writeSynced(file, bytes);
  const note = `segment ${segmentFileName(segment)}, offset ${offset}, ${bytes.length} bytes: ${reason}\n`;
  await writeSynced(`${file}.reason`, Buffer.from(note));
  return file;
}

async function writeSynced(path: string, bytes: Uint8Array): Promise<void> {
  const handle = await open(path, 'w');
  try {
    let done = 0;
    while (done < bytes.length) done += (await handle.write(bytes, done, bytes.length - done, done)).bytesWritten;
    await handle.sync();
  } finally {
    await handle.close();
  }
}
