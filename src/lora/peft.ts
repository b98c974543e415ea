// The PEFT LoRA adapter format: adapter_config.json + adapter_model.safetensors, written so that
// `PeftModel.from_pretrained` loads them unchanged, and read back (from this engine or from PEFT,
// also as the PyTorch adapter_model.bin older PEFT versions wrote).
// Tensor keys: 'base_model.model.<module path>.lora_A.weight' [r, in] and '.lora_B.weight' [out, r],
// for Linear and GPT-2 Conv1D alike. Browser-safe (no Node APIs).

import type { ModelSpec } from '../model/config';
import { linearModules, type LinearModule } from '../model/modules';
import { serializeSafetensors, type TensorToWrite } from '../model/safetensors-writer';
import { readTensorFile, type TensorFile } from '../model/tensor-dir';
import { entryMatches, peftTargetList } from './targets';

/**
 * LoRA hyperparameters with PEFT's LoraConfig meanings (peft/tuners/lora/config.py): rank r, lora_alpha,
 * lora_dropout (probability in [0, 1)), use_rslora (scaling alpha/√r instead of alpha/r); plus the
 * QA-LoRA group size (QA-LoRA paper: A sees the input average-pooled in groups of g).
 */
export interface LoraHyper {
  r: number;
  loraAlpha: number;
  loraDropout: number;
  useRslora: boolean;
  /**
   * QA-LoRA: the adapter sees the group-average-pooled input (groups of this many input
   * channels), so A is [r, in/g]. Absent or 0: plain LoRA.
   */
  qaloraGroupSize?: number;
}

/**
 * A run's LoRA settings, as the studio's knobs (plan/knobs.ts Knobs) and a cluster hand-off
 * (export/cluster.ts ClusterRun) both hold them: PEFT's LoraConfig fields r, lora_alpha,
 * lora_dropout, use_rslora and target_modules in camelCase, plus LoRA+'s loraplus_lr_ratio (PEFT's
 * create_loraplus_optimizer). RunConfig carries the same values, targets as one parseTargets string.
 */
export interface LoraSettings {
  /** Rank of A [r, in] and B [out, r]. */
  r: number;
  loraAlpha: number;
  /** Dropout probability on the adapter's input, in [0, 1). */
  loraDropout: number;
  /** Scale by alpha / √r (rsLoRA) instead of alpha / r. */
  useRslora: boolean;
  /** PEFT's target_modules as a list of module names ('q_proj', 'v_proj', GPT-2's 'c_attn', 'attn.c_proj', …), 'lm_head' when the head trains. */
  targetModules: string[];
  /** LoRA+: B's learning rate over A's (1 = plain LoRA). */
  loraplusLrRatio: number;
}

/** Columns of A: in, or in/g for QA-LoRA. Throws AdapterError when g does not divide the module's in_features. */
export function loraInF(m: { inF: number; name: string }, h: LoraHyper): number {
  const g = h.qaloraGroupSize;
  if (!g) return m.inF;
  if (m.inF % g !== 0) {
    throw new AdapterError(
      `QA-LoRA group size ${g} does not divide ${m.name}'s ${m.inF} input features: choose a group size that divides the input width of every targeted module, or leave that module out of the targets.`,
    );
  }
  return m.inF / g;
}

/** s = alpha / r, or alpha / sqrt(r) with rsLoRA. */
export function loraScaling(h: LoraHyper): number {
  return h.useRslora ? h.loraAlpha / Math.sqrt(h.r) : h.loraAlpha / h.r;
}

/** One module's LoRA matrices, row-major f32 as PEFT stores lora_A.weight / lora_B.weight (A: in/g columns for QA-LoRA). */
export interface AdapterTensors {
  /** [r, inF] */
  A: Float32Array;
  /** [outF, r] */
  B: Float32Array;
}

const KEY_PREFIX = 'base_model.model.';

/** 'base_model.model.' + name + '.lora_A.weight' (or lora_B). */
export function adapterTensorKey(moduleName: string, which: 'A' | 'B'): string {
  return `${KEY_PREFIX}${moduleName}.lora_${which}.weight`;
}

/**
 * An adapter that cannot be read, written or used: invalid r / lora_alpha / lora_dropout, unsupported
 * PEFT options (DoRA, rank_pattern, alpha_pattern, ...), missing or wrong-sized lora_A / lora_B, a
 * QA-LoRA group size that does not divide a module's input width. The message names the file or module.
 */
export class AdapterError extends Error {
  override name = 'AdapterError';
}

function checkHyper(h: LoraHyper, where: string): void {
  if (!Number.isInteger(h.r) || h.r <= 0) throw new AdapterError(`${where}: LoRA rank r must be a positive integer, got ${h.r}`);
  if (!Number.isFinite(h.loraAlpha) || h.loraAlpha <= 0) throw new AdapterError(`${where}: lora_alpha must be a positive number, got ${h.loraAlpha}`);
  if (!Number.isFinite(h.loraDropout) || h.loraDropout < 0 || h.loraDropout >= 1) {
    throw new AdapterError(`${where}: lora_dropout must be in [0, 1), got ${h.loraDropout}`);
  }
}

/**
 * adapter_config.json contents: exactly the key set older PEFT (< 0.14) accepts, plus
 * "use_rslora": true only when used. fan_in_fan_out is true when a GPT-2 Conv1D is targeted.
 */
export function adapterConfig(spec: ModelSpec, h: LoraHyper, modules: LinearModule[], baseModel: string): Record<string, unknown> {
  checkHyper(h, 'adapterConfig');
  const cfg: Record<string, unknown> = {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: baseModel,
    revision: null,
    inference_mode: true,
    r: h.r,
    lora_alpha: h.loraAlpha,
    lora_dropout: h.loraDropout,
    target_modules: peftTargetList(spec, modules),
    fan_in_fan_out: modules.some((m) => m.conv1d),
    bias: 'none',
    modules_to_save: null,
    init_lora_weights: true,
    layers_to_transform: null,
    layers_pattern: null,
    rank_pattern: {},
    alpha_pattern: {},
    auto_mapping: null,
  };
  if (h.useRslora) cfg.use_rslora = true;
  if (h.qaloraGroupSize) {
    // PEFT's own QA-LoRA fields (newer PEFT): it feeds the adapter L·mean_group(x), L = in/g.
    cfg.use_qalora = true;
    cfg.qalora_group_size = h.qaloraGroupSize;
  }
  return cfg;
}

/**
 * adapter_config.json text and adapter_model.safetensors bytes (F32, __metadata__ {format: pt}).
 * Throws AdapterError for invalid hyperparameters or a module whose weights are missing or of the
 * wrong size (A [r, in or in/g], B [out, r]).
 */
export function exportAdapter(
  spec: ModelSpec,
  h: LoraHyper,
  modules: LinearModule[],
  weights: Map<string, AdapterTensors>,
  baseModel: string,
): { configJson: string; safetensors: Uint8Array } {
  const config = adapterConfig(spec, h, modules, baseModel);
  const tensors: TensorToWrite[] = [];
  for (const m of modules) {
    const w = weights.get(m.name);
    if (!w) throw new AdapterError(`exportAdapter: no LoRA weights for module "${m.name}"`);
    const aIn = loraInF(m, h);
    if (w.A.length !== h.r * aIn) {
      throw new AdapterError(`exportAdapter: ${m.name} lora_A has ${w.A.length} values, expected r*in = ${h.r}*${aIn} = ${h.r * aIn}`);
    }
    if (w.B.length !== m.outF * h.r) {
      throw new AdapterError(`exportAdapter: ${m.name} lora_B has ${w.B.length} values, expected out*r = ${m.outF}*${h.r} = ${m.outF * h.r}`);
    }
    // QA-LoRA is trained on the group average; PEFT feeds L·average, so its A is ours / L.
    const L = h.qaloraGroupSize ? aIn : 1;
    const A = L === 1 ? w.A : w.A.map((v) => v / L);
    tensors.push({ name: adapterTensorKey(m.name, 'A'), dtype: 'F32', shape: [h.r, aIn], data: A });
    tensors.push({ name: adapterTensorKey(m.name, 'B'), dtype: 'F32', shape: [m.outF, h.r], data: w.B });
  }
  return {
    configJson: JSON.stringify(config, null, 2) + '\n',
    safetensors: serializeSafetensors(tensors, { format: 'pt' }),
  };
}

const shortList = (v: unknown): string => {
  const items = Array.isArray(v) ? v.map(String) : typeof v === 'object' && v !== null ? Object.keys(v) : [String(v)];
  return items.slice(0, 4).map((x) => `"${x}"`).join(', ') + (items.length > 4 ? `, … (${items.length - 4} more)` : '');
};

/**
 * Refuses, one option per message, the PEFT LoRA options this engine cannot apply: DoRA, per-module
 * ranks or alphas, trained full modules (modules_to_save), trained biases. `init_lora_weights` only
 * matters when PEFT creates an adapter, and `layers_to_transform` / `layers_pattern` only choose
 * which modules got tensors (the tensor keys say which), so both are accepted.
 */
function checkPeftOptions(cfg: Record<string, unknown>, cfgName: string): void {
  if (cfg.use_dora === true) {
    throw new AdapterError(`${cfgName}: "use_dora": true (DoRA) is not supported: its magnitude vectors have no plain-LoRA form; merge it in Python (merge_and_unload) and load the merged model, or retrain with use_dora=False`);
  }
  if (!isEmpty(cfg.rank_pattern)) {
    throw new AdapterError(`${cfgName}: "rank_pattern" gives ${shortList(cfg.rank_pattern)} their own rank, which is not supported (one rank for all modules): retrain without rank_pattern`);
  }
  if (!isEmpty(cfg.alpha_pattern)) {
    throw new AdapterError(`${cfgName}: "alpha_pattern" gives ${shortList(cfg.alpha_pattern)} their own alpha, which is not supported (one alpha for all modules): retrain without alpha_pattern`);
  }
  if (!isEmpty(cfg.modules_to_save)) {
    throw new AdapterError(`${cfgName}: "modules_to_save" lists ${shortList(cfg.modules_to_save)}, fully trained copies (embeddings, head) that a LoRA adapter here cannot carry: retrain without modules_to_save, or merge in Python and load the merged model`);
  }
  if (cfg.bias !== undefined && cfg.bias !== null && cfg.bias !== 'none') {
    throw new AdapterError(`${cfgName}: "bias": ${JSON.stringify(cfg.bias)} trains bias vectors, which are not supported: retrain with bias="none"`);
  }
}

/**
 * Throws when adapter_config.json's target_modules (a list) names nothing in this model: the
 * adapter was trained for another architecture. Names the first few entries and this model's
 * module kinds. A string target (a regex, "all-linear") is left to the tensor keys.
 */
function checkTargetNames(spec: ModelSpec, cfg: Record<string, unknown>, cfgName: string): void {
  const t = cfg.target_modules;
  if (!Array.isArray(t) || t.length === 0) return;
  const names = linearModules(spec).map((m) => m.name);
  if (t.some((e) => names.some((n) => entryMatches(n, String(e))))) return;
  const kinds = [...new Set(linearModules(spec).map((m) => m.kind))];
  const base = typeof cfg.base_model_name_or_path === 'string' ? ` (it was trained on ${cfg.base_model_name_or_path})` : '';
  throw new AdapterError(`${cfgName}: target_modules ${shortList(t)} match no module of this ${spec.modelType} model, whose modules are ${kinds.join(', ')}: load the adapter onto the base it was trained for${base}`);
}

const KEY_RE = /^base_model\.model\.(.+)\.lora_([AB])(?:\.default)?\.weight$/;

function isEmpty(v: unknown): boolean {
  if (v === undefined || v === null) return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === 'object') return Object.keys(v as object).length === 0;
  return false;
}

/**
 * Reads an adapter's two files back (adapter_config.json text; the weights file's bytes, either
 * adapter_model.safetensors or a PyTorch adapter_model.bin, told apart by their first bytes;
 * `fileName` names the adapter in error messages). Validates the config, maps every tensor key
 * to a module of this model, checks shapes [r, in] / [out, r], and returns the hyperparameters,
 * the modules (model order) and the tensors (as f32) by module name.
 */
export function importAdapter(
  spec: ModelSpec,
  configJson: string,
  weightsFile: Uint8Array,
  fileName: string,
): { h: LoraHyper; modules: LinearModule[]; weights: Map<string, AdapterTensors>; baseModel: string | null } {
  const cfgName = `${fileName} (adapter_config.json)`;
  let cfg: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(configJson);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a JSON object');
    cfg = parsed as Record<string, unknown>;
  } catch (e) {
    throw new AdapterError(`${cfgName}: not valid JSON: ${e instanceof Error ? e.message : String(e)}. Select the adapter's adapter_config.json`);
  }
  if (cfg.peft_type !== 'LORA') {
    throw new AdapterError(`${cfgName}: peft_type is ${JSON.stringify(cfg.peft_type)}, only "LORA" adapters are supported`);
  }
  const r = cfg.r;
  const alpha = cfg.lora_alpha ?? 8; // PEFT's default
  const dropout = cfg.lora_dropout ?? 0;
  if (typeof r !== 'number' || !Number.isInteger(r) || r <= 0) throw new AdapterError(`${cfgName}: "r" must be a positive integer, got ${JSON.stringify(r)}`);
  if (typeof alpha !== 'number' || !Number.isFinite(alpha) || alpha <= 0) {
    throw new AdapterError(`${cfgName}: "lora_alpha" must be a positive number, got ${JSON.stringify(alpha)}`);
  }
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1)) {
    throw new AdapterError(`${cfgName}: "lora_dropout" must be a number in [0, 1), got ${JSON.stringify(dropout)}`);
  }
  const rslora = cfg.use_rslora === true;
  let qaloraGroupSize: number | undefined;
  if (cfg.use_qalora === true) {
    const g = cfg.qalora_group_size;
    if (typeof g !== 'number' || !Number.isInteger(g) || g <= 0) {
      throw new AdapterError(`${cfgName}: "use_qalora" needs a positive integer "qalora_group_size", got ${JSON.stringify(g)}`);
    }
    qaloraGroupSize = g;
  }
  checkPeftOptions(cfg, cfgName);
  checkTargetNames(spec, cfg, cfgName);
  const baseModel = typeof cfg.base_model_name_or_path === 'string' ? cfg.base_model_name_or_path : null;
  const h: LoraHyper = qaloraGroupSize ? { r, loraAlpha: alpha, loraDropout: dropout, useRslora: rslora, qaloraGroupSize } : { r, loraAlpha: alpha, loraDropout: dropout, useRslora: rslora };

  let file: TensorFile;
  try {
    file = readTensorFile(weightsFile, fileName);
  } catch (e) {
    throw new AdapterError(e instanceof Error ? e.message : String(e));
  }

  const all = linearModules(spec);
  const byName = new Map(all.map((m) => [m.name, m]));
  const found = new Map<string, { A?: string; B?: string }>();
  const unknown: string[] = [];
  for (const key of file.names()) {
    const m = KEY_RE.exec(key);
    if (!m || !byName.has(m[1])) {
      unknown.push(key);
      continue;
    }
    const slot = found.get(m[1]) ?? {};
    const which = m[2] as 'A' | 'B';
    if (slot[which]) throw new AdapterError(`${fileName}: tensors "${slot[which]}" and "${key}" are both lora_${which} of ${m[1]}`);
    slot[which] = key;
    found.set(m[1], slot);
  }
  const emb = unknown.find((k) => /\.lora_embedding_[AB]/.test(k));
  if (emb) {
    throw new AdapterError(`${fileName}: "${emb}" is a LoRA on an embedding (target_modules names embed_tokens / wte), which is not supported: retrain with linear targets only`);
  }
  if (unknown.length > 0) {
    const shown = unknown.slice(0, 8).map((k) => `"${k}"`).join(', ');
    throw new AdapterError(
      `${fileName}: ${unknown.length} tensor key(s) do not map to a LoRA module of this ${spec.modelType} model: ${shown}${unknown.length > 8 ? `, ... (${unknown.length - 8} more)` : ''}. Expected keys like "${adapterTensorKey(all[0].name, 'A')}"; load the adapter onto the base it was trained for${baseModel ? ` (${baseModel})` : ''}`,
    );
  }
  if (found.size === 0) throw new AdapterError(`${fileName}: the adapter holds no LoRA tensors`);

  const modules: LinearModule[] = [];
  const weights = new Map<string, AdapterTensors>();
  for (const mod of all) {
    const slot = found.get(mod.name);
    if (!slot) continue;
    if (!slot.A || !slot.B) {
      throw new AdapterError(`${fileName}: module ${mod.name} has lora_${slot.A ? 'A' : 'B'} but no lora_${slot.A ? 'B' : 'A'} tensor`);
    }
    const tensors: Partial<AdapterTensors> = {};
    const aIn = loraInF(mod, h);
    for (const [which, key, want] of [
      ['A', slot.A, [r, aIn]],
      ['B', slot.B, [mod.outF, r]],
    ] as const) {
      const info = file.info(key)!;
      if (info.dtype !== 'F32' && info.dtype !== 'F16' && info.dtype !== 'BF16') {
        throw new AdapterError(`${fileName}: tensor "${key}" has dtype ${info.dtype}; only F32, F16 and BF16 are supported`);
      }
      if (info.shape.length !== 2 || info.shape[0] !== want[0] || info.shape[1] !== want[1]) {
        throw new AdapterError(
          `${fileName}: tensor "${key}" has shape [${info.shape.join(', ')}], expected [${want.join(', ')}] (r = ${r} from adapter_config.json, ${mod.name} is ${mod.inF} -> ${mod.outF} in this model); load the adapter onto the base it was trained for${baseModel ? ` (${baseModel})` : ''}`,
        );
      }
      try {
        tensors[which] = file.get(key);
      } catch (e) {
        throw new AdapterError(e instanceof Error ? e.message : String(e));
      }
    }
    if (qaloraGroupSize) tensors.A = tensors.A!.map((v) => v * aIn); // PEFT's A_peft = A / L
    modules.push(mod);
    weights.set(mod.name, tensors as AdapterTensors);
  }
  return { h, modules, weights, baseModel };
}
