// A model folder without tokenizer.json: its tokenizer.json object is built once at load from the
// files a slow transformers tokenizer reads (tokenizer.model, or vocab.json + merges.txt), as
// transformers converts them (convert_slow_tokenizer.py), so loading continues unchanged.

import { checkVocab, gpt2ToTokenizerJson, parseMerges } from './gpt2-bpe';
import { parseSentencePieceModel, sentencePieceToTokenizerJson, spmSpecialTokens } from './sentencepiece';
import type { ModelSource } from './source';
import { TokenizerError } from './tokenizer-error';

async function readJsonFile(src: ModelSource, file: string): Promise<unknown> {
  try {
    return JSON.parse(await src.text(file));
  } catch (e) {
    if (e instanceof SyntaxError) throw new TokenizerError(`${src.name}/${file}: not valid JSON (${e.message}); download the file again.`);
    throw e;
  }
}

/** GPT2Tokenizer classes the GPT2Converter handles; other classes need their own converter. */
const GPT2_CLASSES = new Set(['GPT2Tokenizer', 'GPT2TokenizerFast']);

/**
 * tokenizer.json content for a folder that has none, and tokenizer_config.json (`cfg`, {} when the
 * folder has none) completed as the slow tokenizer completes it: special_tokens_map.json's entries
 * (which win, as in transformers' from_pretrained), then for SentencePiece the special pieces of the
 * model file where the config names none; clean_up_tokenization_spaces defaults to false.
 * tokenizer.model is used when present (SentencePiece; see sentencepiece.ts), else vocab.json +
 * merges.txt (GPT-2 byte-level BPE; see gpt2-bpe.ts). Throws TokenizerError naming what is missing.
 */
export async function convertSlowTokenizer(
  src: ModelSource,
  config: Record<string, unknown>,
): Promise<{ json: Record<string, unknown>; cfg: Record<string, unknown> }> {
  let cfg = { ...config };
  if (await src.has('special_tokens_map.json')) {
    const map = await readJsonFile(src, 'special_tokens_map.json');
    if (map && typeof map === 'object' && !Array.isArray(map)) cfg = { ...cfg, ...(map as Record<string, unknown>) };
  }
  cfg.clean_up_tokenization_spaces ??= false;
  const cfgFile = `${src.name}/tokenizer_config.json`;

  if (await src.has('tokenizer.model')) {
    const file = `${src.name}/tokenizer.model`;
    const bytes = await src.range('tokenizer.model', 0, await src.size('tokenizer.model'));
    const model = parseSentencePieceModel(bytes, file);
    for (const [k, v] of Object.entries(spmSpecialTokens(model))) if (!(k in cfg)) cfg[k] = v;
    return { json: sentencePieceToTokenizerJson(model, cfg, file, cfgFile), cfg };
  }

  if (await src.has('vocab.json')) {
    if (!(await src.has('merges.txt'))) {
      throw new TokenizerError(`${src.name}: vocab.json is there but merges.txt is missing; download merges.txt (or tokenizer.json) from the model's repository.`);
    }
    const cls = typeof cfg.tokenizer_class === 'string' ? cfg.tokenizer_class : null;
    if (cls !== null && !GPT2_CLASSES.has(cls)) {
      throw new TokenizerError(
        `${cfgFile}: tokenizer_class ${cls} from vocab.json + merges.txt is not supported (only GPT-2 style); download the model's tokenizer.json.`,
      );
    }
    const vocab = checkVocab(await readJsonFile(src, 'vocab.json'), `${src.name}/vocab.json`);
    const merges = parseMerges(await src.text('merges.txt'), `${src.name}/merges.txt`);
    return { json: gpt2ToTokenizerJson(vocab, merges, cfg, cfgFile), cfg };
  }

  throw new TokenizerError(
    `${src.name}: no tokenizer.json, tokenizer.model (SentencePiece) or vocab.json + merges.txt found; add the tokenizer files of the model's Hugging Face repository to the folder.`,
  );
}
