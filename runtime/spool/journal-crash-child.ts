// Child process for the SIGKILL test: accepts from 8 callers until killed, printing each id once its accept() resolved.
import { writeSync } from 'node:fs';
import { JournalStore } from './journal-store.ts';
import { makeEnvelope, messageFor, sizeFor } from './journal-test-kit.ts';

const dir = process.argv[process.argv.length - 1]!;
const store = new JournalStore({ dir, segmentBytes: 64 * 1024 });
await store.open();
writeSync(1, 'ready\n');

async function caller(): Promise<void> {
  for (;;) {
    const envelope = makeEnvelope();
    await store.accept(envelope, [messageFor(envelope.id, sizeFor(envelope.id))]);
    // Synchronous, so a line the parent sees was printed after the accept resolved, never before.
    writeSync(1, `${envelope.id}\n`);
  }
}

await Promise.all(Array.from({ length: 8 }, caller));
