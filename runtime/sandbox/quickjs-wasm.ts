/** The QuickJS-ng WebAssembly build: compiled once per process, instantiated once per agent with its own fixed-size memory. */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { newQuickJSWASMModuleFromVariant, newVariant, type QuickJSWASMModule } from 'quickjs-emscripten-core';
import variantExport from '@jitl/quickjs-ng-wasmfile-release-sync';

/** The release, synchronous build of QuickJS-ng (its ESM entry, which every runtime loads, default-exports the variant; its CJS typings say otherwise). */
type SyncVariant = Extract<Parameters<typeof newQuickJSWASMModuleFromVariant>[0], { type: 'sync' }>;
const variant = variantExport as unknown as SyncVariant;

// WebAssembly types as the library declares them: Deno's lib has them, this project's tsc lib does not.
type VariantOptions = NonNullable<Parameters<typeof newVariant>[1]>;
type WasmModule = Exclude<NonNullable<VariantOptions['wasmModule']>, () => unknown>;
type WasmMemory = Exclude<NonNullable<VariantOptions['wasmMemory']>, () => unknown>;
type InstantiateWasm = NonNullable<NonNullable<VariantOptions['emscriptenModule']>['instantiateWasm']>;
type WasmImports = Parameters<InstantiateWasm>[0];
type WasmInstance = Parameters<Parameters<InstantiateWasm>[1]>[0];

/** The WebAssembly API this file uses. */
interface WasmApi {
  compile(bytes: Uint8Array): Promise<WasmModule>;
  instantiate(module: WasmModule, imports: WasmImports): Promise<WasmInstance>;
  Memory: new (descriptor: { initial: number; maximum: number }) => WasmMemory;
}
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

const PAGE = 64 * 1024;
const MIB = 1024 * 1024;

/**
 * What the module needs besides the agent's heap: its static data and its 5 MiB C stack sit below
 * the heap (the build's stack pointer starts at ~5.1 MiB), plus room for the allocator's bookkeeping.
 */
export const ENGINE_OVERHEAD_MIB = 8;

/** The Emscripten glue refuses to grow a memory past 2 GiB (32-bit pointers kept positive). */
export const MAX_WASM_MEMORY_MIB = 2048;

let compiled: Promise<WasmModule> | undefined;

/** The compiled QuickJS-ng module, shared by every agent (compiling takes milliseconds; instantiating is cheap). */
export function compiledModule(): Promise<WasmModule> {
  if (compiled === undefined) {
    const compiling = (async () => {
      const path = createRequire(import.meta.url).resolve('@jitl/quickjs-ng-wasmfile-release-sync/wasm');
      return wasm.compile(await readFile(path));
    })();
    // A failure is not remembered: the next agent tries again.
    compiling.catch(() => {
      if (compiled === compiling) compiled = undefined;
    });
    compiled = compiling;
  }
  return compiled;
}

/** The module declares a minimum memory of 16 MiB; smaller agents still get that much. */
export const MIN_WASM_MEMORY_MIB = 16;

/** Pages of linear memory an agent with `memoryMiB` may use in all: its heap plus the engine's fixed overhead. */
export function memoryPages(memoryMiB: number): { initial: number; maximum: number } {
  const mib = Math.max(MIN_WASM_MEMORY_MIB, Math.min(memoryMiB + ENGINE_OVERHEAD_MIB, MAX_WASM_MEMORY_MIB));
  return { initial: (MIN_WASM_MEMORY_MIB * MIB) / PAGE, maximum: (mib * MIB) / PAGE };
}

/**
 * A fresh QuickJS WebAssembly instance whose linear memory can never grow past `memoryMiB` plus the
 * engine overhead: when it is full, allocations fail inside the engine (an `out of memory` error), and
 * nothing the agent does can make the process allocate more for it.
 */
export async function newAgentModule(memoryMiB: number): Promise<QuickJSWASMModule> {
  const wasmModule = await compiledModule();
  const wasmMemory = new wasm.Memory(memoryPages(memoryMiB));
  // Instantiated here rather than by the library's `wasmModule` option: its loader leaves a failed
  // instantiation as an unhandled rejection and never settles, where this one rejects.
  let fail: (error: unknown) => void = () => {};
  const failed = new Promise<never>((_, reject) => {
    fail = reject;
  });
  const emscriptenModule = {
    instantiateWasm(imports: WasmImports, onSuccess: (instance: WasmInstance) => void): Promise<never> {
      // The exports reach Emscripten through onSuccess; the returned promise is not used by this build.
      wasm.instantiate(wasmModule, imports).then(onSuccess).catch(fail);
      return failed;
    },
  };
  return Promise.race([newQuickJSWASMModuleFromVariant(newVariant(variant, { wasmMemory, emscriptenModule })), failed]);
}
