/**
 * The tracking log's file names: one series per UTC day, `tracking-2024-05-01.0001.jsonl`, the
 * sequence number rising each time a file reaches its size limit. The name alone says which day's
 * entries a file holds, so a search skips files outside its time range without opening them.
 */
import { readdir } from 'node:fs/promises';

export const DAY_MS = 86_400_000;

/** Timestamps a day file can be named for (years 0000–9999). */
export const MAX_AT = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

const NAME = /^tracking-(\d{4}-\d{2}-\d{2})\.(\d{4,9})\.jsonl$/;

export interface TrackingFile {
  name: string;
  /** `YYYY-MM-DD`, UTC. */
  day: string;
  seq: number;
  /** Epoch ms of the day's first millisecond. */
  dayStart: number;
}

/** The UTC day of an epoch-ms time, `YYYY-MM-DD`. */
export function dayOf(at: number): string {
  return new Date(at).toISOString().slice(0, 10);
}

/** The epoch ms at which a `YYYY-MM-DD` day starts. */
export function dayStartOf(day: string): number {
  return Date.parse(`${day}T00:00:00.000Z`);
}

export function trackingFileName(day: string, seq: number): string {
  return `tracking-${day}.${String(seq).padStart(4, '0')}.jsonl`;
}

/** The day and sequence a file name stands for, or null for any other file. */
export function parseTrackingFileName(name: string): TrackingFile | null {
  const m = NAME.exec(name);
  if (m === null) return null;
  const day = m[1]!;
  const dayStart = dayStartOf(day);
  if (!Number.isFinite(dayStart) || dayOf(dayStart) !== day) return null;
  return { name, day, seq: Number(m[2]), dayStart };
}

/** Orders files as they were written: by day, then by sequence number. */
export function compareTrackingFiles(a: TrackingFile, b: TrackingFile): number {
  return a.dayStart - b.dayStart || a.seq - b.seq;
}

/** The tracking files in `dir`, oldest first (none when `dir` does not exist); other files are left alone. */
export async function listTrackingFiles(dir: string): Promise<TrackingFile[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return [];
    throw error;
  }
  const files: TrackingFile[] = [];
  for (const name of names) {
    const file = parseTrackingFileName(name);
    if (file !== null) files.push(file);
  }
  return files.sort(compareTrackingFiles);
}
