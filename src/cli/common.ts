// Shared plumbing of the Node command-line tools: argument parsing, model source resolution,
// one-line errors (never a stack trace unless DEBUG is set), progress lines.
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { GpuContext } from '../gpu/context';
import { readAdapterSource, type AdapterFiles } from '../lora/adapter-source';
import { AdapterError, importAdapter } from '../lora/peft';
import { LoraState } from '../lora/state';
import type { ModelSpec } from '../model/config';
import { hubSource } from '../model/hub-source';
import type { ModelSource } from '../model/source';
import { dirSource } from './fs-source';
import { parseQuantMode, type QuantMode } from '../quant/formats';
import { createNodeContext } from './node-gpu';
import { cliMessage } from './options';

export class UsageError extends Error {
  override name = 'UsageError';
}

type Options = NonNullable<ParseArgsConfig['options']>;

export function parseCli<O extends Options>(options: O, usage: string, argv = process.argv.slice(2)) {
  try {
    const r = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: false, strict: true });
    if ((r.values as Record<string, unknown>).help) {
      process.stdout.write(usage + '\n');
      process.exit(0);
    }
    return r.values as { [K in keyof O]?: O[K] extends { type: 'boolean' } ? boolean : string };
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n${usage}`);
  }
}

export function num(v: string | undefined, name: string, def: number, check?: (x: number) => string | null): number {
  if (v === undefined) return def;
  const x = Number(v);
  if (!Number.isFinite(x)) throw new UsageError(`--${name} must be a number, got '${v}'`);
  const err = check?.(x);
  if (err) throw new UsageError(`--${name} ${err}, got ${v}`);
  return x;
}

export const positiveInt = (x: number) => (Number.isInteger(x) && x > 0 ? null : 'must be a positive integer');
export const nonNegInt = (x: number) => (Number.isInteger(x) && x >= 0 ? null : 'must be a non-negative integer');

/** A local folder, or a Hub repo id ("org/name", optionally "org/name@revision"). */
export function openModelSource(model: string): ModelSource {
  if (existsSync(model)) {
    if (!statSync(model).isDirectory()) throw new UsageError(`--model ${model} is a file; give the model's folder (with config.json and *.safetensors or pytorch_model*.bin).`);
    return dirSource(model);
  }
  const m = /^([\w.-]+\/[\w.-]+)(?:@([\w./-]+))?$/.exec(model);
  if (!m) throw new UsageError(`--model ${model}: no such folder, and not a Hugging Face repo id like HuggingFaceTB/SmolLM2-135M.`);
  return hubSource(m[1], {
    revision: m[2],
    token: process.env.HF_TOKEN,
    onProgress: ({ file, loaded, total }) => progressLine(`downloading ${file}: ${fmtMB(loaded)}/${fmtMB(total)}`),
  });
}

export function writeFiles(dir: string, files: Map<string, Uint8Array | string>): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, data] of files) writeFileSync(join(dir, name), data);
}

export function fmtMB(n: number): string {
  return `${(n / 1e6).toFixed(1)} MB`;
}

export function fmtDuration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${s.toFixed(0)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

let lastProgress = 0;
/** Throttled progress to stderr (stdout stays machine-readable). */
export function progressLine(text: string, force = false): void {
  const now = Date.now();
  if (!force && now - lastProgress < 500) return;
  lastProgress = now;
  process.stderr.write(text + '\n');
}

let liveContext: GpuContext | null = null;

/**
 * The CLI's GPU context; `wantF16` asks for 'shader-f16' where the adapter has it (--matmul-math
 * f16); `subgroups` turns on the subgroup reductions (--subgroups; an Error saying to leave the
 * flag out when the adapter has no 'subgroups' feature).
 */
export async function gpuContext(wantTimestamps = false, wantF16 = false, subgroups = false): Promise<GpuContext> {
  const ctx = await createNodeContext((msg) => process.stderr.write(`error: ${msg}\n`), wantTimestamps, wantF16, subgroups);
  liveContext = ctx;
  const a = ctx.adapter;
  progressLine(`GPU: ${a.vendor} ${a.architecture} ${a.description}${a.isSoftware ? ' (software; slow)' : ''}${subgroups ? '; subgroup reductions' : ''}`, true);
  return ctx;
}

/** Runs a CLI main: prints one-line errors and sets the exit code; stack traces only with DEBUG=1. */
export function runCli(main: () => Promise<void>): void {
  main().then(
    async () => {
      // Let the GPU finish and release the device before exiting: exiting with SwiftShader's
      // worker threads still busy can crash the process after its work is done.
      if (liveContext) {
        await liveContext.device.queue.onSubmittedWorkDone();
        liveContext.destroy();
      }
      process.exit(0);
    },
    (e: unknown) => {
      const err = e as Error;
      if (process.env.DEBUG) console.error(err);
      const msg = (err ? cliMessage(err) : String(e)).trim();
      process.stderr.write(`error: ${msg}\n`);
      process.exit(err instanceof UsageError ? 2 : 1);
    },
  );
}

/**
 * --adapter DIR|ORG/NAME: a PEFT adapter folder on disk or a Hub repo holding one
 * (adapter_config.json + adapter_model.safetensors, or adapter_model.bin as older PEFT wrote it;
 * safetensors wins when both exist).
 */
export async function readAdapterDir(ref: string): Promise<AdapterFiles> {
  let src: ModelSource;
  if (existsSync(ref)) src = dirSource(ref);
  else if (/^[\w.-]+\/[\w.-]+(?:@[\w./-]+)?$/.test(ref)) src = openModelSource(ref);
  else throw new UsageError(`--adapter ${ref}: no such folder, and not a Hugging Face repo id like OWNER/NAME.`);
  try {
    return await readAdapterSource(src);
  } catch (e) {
    if (e instanceof AdapterError) throw new UsageError(`--adapter ${ref}: ${e.message.replace(`${src.name}: `, '')}`);
    throw e;
  }
}

/** --quant MODE --group-size G, shared by train, eval, generate and bench. */
export const QUANT_CLI_OPTIONS = { quant: { type: 'string' }, 'group-size': { type: 'string' } } as const;
export const QUANT_USAGE = '  --quant none|int8|nf4|nf4-dq|qalora-int4|qalora-int3|qalora-int2 (none)  --group-size G (32, QA-LoRA groups)';

export function quantFromArgs(a: { quant?: string; 'group-size'?: string }, prev: { quant?: string; groupSize?: number } = {}): { quant: QuantMode; groupSize: number } {
  let quant: QuantMode;
  try {
    quant = parseQuantMode(a.quant ?? prev.quant ?? 'none');
  } catch (e) {
    throw new UsageError(`--quant: ${(e as Error).message}`);
  }
  return { quant, groupSize: num(a['group-size'], 'group-size', prev.groupSize ?? 32, positiveInt) };
}

/** --adapter DIR as a LoraState on the GPU (eval, generate). */
export async function loadAdapterState(ctx: GpuContext, spec: ModelSpec, dir: string): Promise<LoraState> {
  const ad = await readAdapterDir(dir);
  const imp = importAdapter(spec, ad.configJson, ad.bytes, ad.file);
  const lora = new LoraState(ctx, imp.modules, imp.h);
  lora.load(imp.weights);
  return lora;
}
