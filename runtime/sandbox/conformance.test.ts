// Runs the sandbox driver conformance suite against the isolated-vm host process driver.
import { sandboxDriverConformance } from './conformance-cases.ts';
import { SandboxHost } from './sandbox-host.ts';

// The host's stderr (V8's OOM reports from the abort cases) is dropped to keep the test output readable.
sandboxDriverConformance('isolated-vm host process', () => new SandboxHost({ onLog: () => {} }));
