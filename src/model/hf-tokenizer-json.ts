// Pieces of a Hugging Face tokenizer.json shared by the slow→fast converters (sentencepiece.ts,
// gpt2-bpe.ts): added tokens, the TemplateProcessing post-processor, special tokens of
// tokenizer_config.json. The JSON shapes are those the `tokenizers` library serializes.

/** One entry of tokenizer.json's "added_tokens" (tokenizers' AddedToken with its id). */
export interface AddedTokenJson {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

/** A special token in tokenizer_config.json / special_tokens_map.json: "<s>" or {"content": "<s>", ...}. */
export function tokenContent(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return null;
}

/**
 * The special tokens transformers registers on a tokenizer (SpecialTokensMixin: bos, eos, unk, sep,
 * pad, cls, mask and additional_special_tokens), as strings, from tokenizer_config.json.
 */
function specialTokensOf(cfg: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const k of ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token']) {
    const s = tokenContent(cfg[k]);
    if (s !== null && !out.includes(s)) out.push(s);
  }
  const extra = cfg.additional_special_tokens;
  if (Array.isArray(extra)) {
    for (const v of extra) {
      const s = tokenContent(v);
      if (s !== null && !out.includes(s)) out.push(s);
    }
  }
  return out;
}

/**
 * Added tokens as a fast tokenizer built from a slow one holds them: `base` (from the model file:
 * SentencePiece control / user-defined pieces), then tokenizer_config.json's added_tokens_decoder
 * (id → AddedToken, as transformers ≥ 4.34 saves them; these win), then every special token of the
 * config (special, not normalized; ids from `idOf`, or appended after the largest id, as
 * `add_special_tokens` does for a token the vocabulary lacks). Sorted by id.
 */
export function collectAddedTokens(
  base: AddedTokenJson[],
  cfg: Record<string, unknown>,
  idOf: (content: string) => number | undefined,
  vocabSize: number,
): AddedTokenJson[] {
  const byId = new Map<number, AddedTokenJson>();
  for (const t of base) byId.set(t.id, t);
  const dec = cfg.added_tokens_decoder;
  if (dec && typeof dec === 'object' && !Array.isArray(dec)) {
    for (const [k, v] of Object.entries(dec as Record<string, unknown>)) {
      const id = Number(k);
      const content = tokenContent(v);
      if (!Number.isInteger(id) || id < 0 || content === null) continue;
      const o = v as Record<string, unknown>;
      byId.set(id, {
        id, content, single_word: o.single_word === true, lstrip: o.lstrip === true, rstrip: o.rstrip === true,
        normalized: typeof o.normalized === 'boolean' ? o.normalized : o.special !== true, special: o.special === true,
      });
    }
  }
  const known = new Map<string, number>();
  for (const t of byId.values()) known.set(t.content, t.id);
  let next = Math.max(vocabSize, ...[...byId.keys()].map((i) => i + 1));
  for (const content of specialTokensOf(cfg)) {
    const existing = known.get(content);
    if (existing !== undefined) {
      byId.get(existing)!.special = true;
      continue;
    }
    const id = idOf(content) ?? next++;
    byId.set(id, { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
    known.set(content, id);
  }
  return [...byId.values()].sort((a, b) => a.id - b.id);
}

/**
 * The post-processor LlamaTokenizerFast.update_post_processor builds (transformers
 * models/llama/tokenization_llama_fast.py): "<bos>:0 $A:0 <eos>:0" with each special token present
 * only when add_bos_token / add_eos_token say so; the pair template repeats it for $B:1.
 */
export function templateProcessing(bos: { content: string; id: number } | null, eos: { content: string; id: number } | null): Record<string, unknown> {
  const seq = (id: 'A' | 'B', typeId: number) => {
    const items: unknown[] = [];
    if (bos) items.push({ SpecialToken: { id: bos.content, type_id: typeId } });
    items.push({ Sequence: { id, type_id: typeId } });
    if (eos) items.push({ SpecialToken: { id: eos.content, type_id: typeId } });
    return items;
  };
  const special: Record<string, unknown> = {};
  for (const t of [bos, eos]) if (t) special[t.content] = { id: t.content, ids: [t.id], tokens: [t.content] };
  return { type: 'TemplateProcessing', single: seq('A', 0), pair: [...seq('A', 0), ...seq('B', 1)], special_tokens: special };
}

/** A boolean setting of tokenizer_config.json, or `dflt` when absent or not a boolean. */
export function flag(cfg: Record<string, unknown>, key: string, dflt: boolean): boolean {
  const v = cfg[key];
  return typeof v === 'boolean' ? v : dflt;
}
