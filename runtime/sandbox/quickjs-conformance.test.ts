// Runs the sandbox driver conformance suite against the portable QuickJS-ng WebAssembly driver (every runtime).
import { sandboxDriverConformance } from './conformance-cases.ts';
import { QuickJsDriver } from './quickjs-driver.ts';

sandboxDriverConformance('quickjs-wasm in-process', () => new QuickJsDriver());
