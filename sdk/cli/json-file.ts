/** Reads a JSON file named by a command-line option; every failure is a CommandError naming the option and the file. */
import { readFile } from 'node:fs/promises';
import { CommandError } from './cli-io.ts';

/** The parsed JSON of `file`, which `option` (e.g. `--config`) named. */
export async function readJsonFile(file: string, option: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new CommandError(`${option} ${file}: cannot read it: ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CommandError(`${option} ${file}: not valid JSON: ${(error as Error).message}`);
  }
}
