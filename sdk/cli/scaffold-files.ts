/** The files `sluice-agent init` writes: a small working receive agent project, as text keyed by relative path. */
import type { ManifestDraft } from '../bundle/manifest.ts';
import { VERSION } from '../../runtime/version.ts';
import { DEFAULT_CODE_FILE, DEFAULT_ENTRY, PROJECT_FILE } from './agent-project.ts';
import { samplePayloads } from './sample-payloads.ts';

/** What a scaffold is made from. */
export interface ScaffoldInput {
  /** `vendor/agent`. */
  name: string;
  kind: 'receive';
  /** Path from the new project to this sluice package, POSIX separators (for the `file:` dependency). */
  sluicePath: string;
}

const json = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;

function manifestDraft(name: string): ManifestDraft & { entry: string } {
  return {
    name,
    version: '0.1.0',
    kind: 'receive',
    events: ['onRcptTo', 'onEndOfData'],
    budgets: { onRcptTo: 20, onEndOfData: 50 },
    memoryMiB: 32,
    capabilities: ['log'],
    sdk: `^${VERSION}`,
    entry: DEFAULT_ENTRY,
  };
}

function agentSource(name: string): string {
  return `/**
 * ${name}: refuses mail for blocked@ recipients and stamps every accepted message with a header.
 * The default export is the agent; \`sluice-agent build\` bundles it for the sandbox.
 */
import { accept, addHeader, defineReceiveAgent, reject } from 'sluice/sdk';

export default defineReceiveAgent({
  onRcptTo(event) {
    if (event.recipient.toLowerCase().startsWith('blocked@')) {
      return reject(550, '5.7.1', 'Recipient blocked by policy');
    }
    // Returning nothing lets the command continue.
  },

  onEndOfData(event) {
    const count = event.envelope.recipients.length;
    return accept([addHeader('X-Stamp', \`${name} saw \${count} recipient\${count === 1 ? '' : 's'}\`)]);
  },
});
`;
}

function sampleEvents(): unknown[] {
  const p = samplePayloads();
  const allowed = p.onRcptTo.recipient;
  return [
    { event: 'onRcptTo', payload: p.onRcptTo },
    { event: 'onRcptTo', payload: { ...p.onRcptTo, recipient: 'blocked@example.com', accepted: [allowed] } },
    { event: 'onEndOfData', payload: { ...p.onEndOfData, envelope: { ...p.onEndOfData.envelope, recipients: [allowed] } } },
  ];
}

function readme(name: string): string {
  return `# ${name}

A Sluice receive agent. It refuses \`blocked@…\` recipients (550 5.7.1) and adds an \`X-Stamp\`
header to every message it accepts.

\`\`\`sh
sluice-agent build                  # bundle src/agent.ts into ${DEFAULT_CODE_FILE}
sluice-agent test                   # run events/sample.json through the real sandbox
sluice-agent test --eml message.eml # or a whole SMTP session for one message
sluice-agent bench                  # per-event latency against the budgets
sluice-agent keygen --out vendor    # once: vendor.key (secret) and vendor.pub (for admins)
sluice-agent sign --key vendor.key  # dist/<name>-<version>.sluice
sluice-agent verify dist/*.sluice --pub vendor.pub
\`\`\`

\`npm install\` links the \`sluice\` package (for the \`sluice-agent\` command and editor types);
building does not need it.

- \`${PROJECT_FILE}\`: the manifest draft: name, version, kind, the events the agent subscribes to
  and a time budget (ms) for each, memory (MiB), capabilities, the SDK range, and optionally a
  \`configSchema\`. \`entry\` (not signed) names the module whose default export is the agent.
- Agent code runs in a V8 sandbox: no Node, Bun or Deno APIs, no \`setTimeout\`. Import helpers from
  \`sluice/sdk\` only; the build refuses Node built-ins and runtime globals.
- Keep \`*.key\` files out of version control.
`;
}

/** The project's files by relative path. */
export function scaffoldFiles(input: ScaffoldInput): Record<string, string> {
  const packageName = input.name.replace('/', '-');
  return {
    'package.json': json({
      name: packageName,
      version: '0.1.0',
      private: true,
      type: 'module',
      scripts: {
        build: 'sluice-agent build',
        test: 'sluice-agent test',
        bench: 'sluice-agent bench',
        sign: 'sluice-agent build && sluice-agent sign --key vendor.key',
        typecheck: 'tsc --noEmit',
      },
      devDependencies: { sluice: `file:${input.sluicePath}`, typescript: '^5.9.0' },
    }),
    'tsconfig.json': json({
      compilerOptions: {
        target: 'ES2022',
        module: 'ESNext',
        moduleResolution: 'Bundler',
        // No DOM and no Node types: agent code has neither.
        lib: ['ES2022'],
        types: [],
        strict: true,
        noEmit: true,
        allowImportingTsExtensions: true,
        verbatimModuleSyntax: true,
        isolatedModules: true,
        skipLibCheck: true,
      },
      include: ['src'],
    }),
    [PROJECT_FILE]: json(manifestDraft(input.name)),
    [DEFAULT_ENTRY]: agentSource(input.name),
    'events/sample.json': json(sampleEvents()),
    'README.md': readme(input.name),
    '.gitignore': 'node_modules/\ndist/\n*.key\n',
  };
}
