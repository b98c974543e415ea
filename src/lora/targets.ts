// LoRA target selection with PEFT semantics: parse the user's target string, resolve it to the
// model's linear modules, count trainable parameters, and produce the explicit target_modules
// list written into adapter_config.json.

import type { ModelSpec } from '../model/config';
import { layerKinds, linearModules, type LinearModule } from '../model/modules';

/**
 * Which linears get LoRA: module names (PEFT target_modules entries, matched as PEFT does), or the
 * keywords 'attention' / 'all-linear' (PEFT's "all-linear" excludes the output head); lmHead adds lm_head.
 */
interface TargetSpec {
  modules: string[] | 'attention' | 'all-linear';
  lmHead: boolean;
}

/** Target modules that cannot be used: an empty or invalid list, names this model does not have (the message lists the available ones). */
export class TargetError extends Error {
  override name = 'TargetError';
}

const KEYWORDS = ['attention', 'all-linear'] as const;

/**
 * Parses "q_proj,v_proj", "attention", "all-linear", "all-linear,lm_head", "attention,lm_head".
 * Throws TargetError for an empty list, a keyword combined with module names, or an invalid module
 * name.
 */
export function parseTargets(s: string): TargetSpec {
  const entries = [...new Set(s.split(',').map((e) => e.trim()).filter((e) => e.length > 0))];
  if (entries.length === 0) {
    throw new TargetError(
      'no LoRA target modules given. Use a comma-separated list of module names (e.g. "q_proj,v_proj"), "attention" or "all-linear" (optionally with ",lm_head")',
    );
  }
  const lmHead = entries.includes('lm_head');
  const rest = entries.filter((e) => e !== 'lm_head');
  const keywords = rest.filter((e) => (KEYWORDS as readonly string[]).includes(e));
  if (keywords.length > 0) {
    if (rest.length > 1) {
      throw new TargetError(
        `"${keywords[0]}" cannot be combined with ${rest
          .filter((e) => e !== keywords[0])
          .map((e) => `"${e}"`)
          .join(', ')} in "${s}". Use "${keywords[0]}" alone (optionally with ",lm_head") or an explicit list of module names`,
      );
    }
    return { modules: keywords[0] as 'attention' | 'all-linear', lmHead };
  }
  for (const e of rest) {
    if (!/^[A-Za-z0-9_.]+$/.test(e) || e.startsWith('.') || e.endsWith('.')) {
      throw new TargetError(`invalid target module name "${e}" in "${s}". Module names are dot-separated identifiers such as "q_proj" or "mlp.c_proj"`);
    }
  }
  return { modules: rest, lmHead };
}

/** PEFT matching: a list entry matches a module whose name equals it or ends with '.' + entry. */
export function entryMatches(name: string, entry: string): boolean {
  return name === entry || name.endsWith('.' + entry);
}

function availableNames(spec: ModelSpec): string {
  const kinds: string[] = layerKinds(spec);
  if (spec.arch === 'gpt2') kinds.push('c_proj (= attn.c_proj and mlp.c_proj)');
  kinds.push('lm_head');
  return kinds.join(', ');
}

/**
 * attention = q_proj,v_proj (llama) / c_attn (gpt2); all-linear = every linear except lm_head;
 * lmHead adds lm_head. Throws TargetError for entries matching no module of the model (listing the
 * available ones) or an empty selection.
 */
export function resolveTargets(spec: ModelSpec, t: TargetSpec): LinearModule[] {
  const all = linearModules(spec);
  const body = all.filter((m) => m.kind !== 'lm_head');
  const head = all.find((m) => m.kind === 'lm_head')!;
  let lmHead = t.lmHead;
  let selected: LinearModule[];
  if (t.modules === 'all-linear') selected = body;
  else if (t.modules === 'attention') {
    const kinds = spec.arch === 'gpt2' ? ['c_attn'] : ['q_proj', 'v_proj'];
    selected = body.filter((m) => kinds.includes(m.kind));
  } else {
    const keep = new Set<LinearModule>();
    const unmatched: string[] = [];
    for (const e of t.modules) {
      if (e === 'lm_head') {
        lmHead = true;
        continue;
      }
      const hits = body.filter((m) => entryMatches(m.name, e));
      if (hits.length === 0) unmatched.push(e);
      for (const m of hits) keep.add(m);
    }
    if (unmatched.length > 0) {
      throw new TargetError(
        `LoRA target${unmatched.length > 1 ? 's' : ''} ${unmatched.map((e) => `"${e}"`).join(', ')} match${unmatched.length > 1 ? '' : 'es'} no module of this ${spec.modelType} model. Available: ${availableNames(spec)}; or "attention", "all-linear"`,
      );
    }
    selected = body.filter((m) => keep.has(m));
  }
  if (lmHead) selected = [...selected, head];
  if (selected.length === 0) {
    throw new TargetError(`no LoRA target modules selected. Available: ${availableNames(spec)}; or "attention", "all-linear"`);
  }
  return selected;
}

/**
 * The explicit target_modules list for adapter_config.json: the distinct short names of the
 * resolved modules (["q_proj","v_proj"], GPT-2 ["c_attn","c_proj","c_fc"]). When the short names
 * would make PEFT wrap a module that was not trained (GPT-2 'c_proj' is both attn.c_proj and
 * mlp.c_proj; a subset of layers), the unambiguous kind suffixes ("attn.c_proj") are used, and
 * failing that the full module names.
 */
export function peftTargetList(spec: ModelSpec, modules: LinearModule[]): string[] {
  const all = linearModules(spec);
  const byName = new Map(all.map((m) => [m.name, m]));
  const trained = new Set<string>();
  for (const m of modules) {
    if (!byName.has(m.name)) throw new TargetError(`module "${m.name}" is not part of this ${spec.modelType} model`);
    trained.add(m.name);
  }
  if (trained.size === 0) throw new TargetError('no modules to export');
  const ordered = all.filter((m) => trained.has(m.name));
  const exact = (list: string[]): boolean =>
    all.every((m) => list.some((e) => entryMatches(m.name, e)) === trained.has(m.name));
  const distinct = (f: (m: LinearModule) => string): string[] => [...new Set(ordered.map(f))];
  const shortNames = distinct((m) => m.name.slice(m.name.lastIndexOf('.') + 1));
  if (exact(shortNames)) return shortNames;
  const kinds = distinct((m) => m.kind);
  if (exact(kinds)) return kinds;
  return ordered.map((m) => m.name);
}

/** r * (inF + outF) summed. */
export function countLoraParams(modules: LinearModule[], r: number): number {
  let n = 0;
  for (const m of modules) n += r * (m.inF + m.outF);
  return n;
}
