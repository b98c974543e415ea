// encodeChat: a conversation for the chat playground, rendered with the chat template training
// uses for chat data (the model's own, else the built-in ChatML) and encoded once: one BOS, no EOS.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { dirSource } from '../cli/fs-source';
import { readSpec } from '../model/load';
import { memorySource, type ModelSource } from '../model/source';
import { loadTokenizer, type TextTokenizer } from '../model/tokenizer';
import { chatTurnEndText, encodeChat, encodePrompt, stopIdsFor, CHAT_FORMAT } from './format';
import type { ChatMessage } from './shapes';

const STORIES = fileURLToPath(new URL('../../../shared/models/stories260K/', import.meta.url));

async function tokenizerOf(src: ModelSource): Promise<TextTokenizer> {
  const spec = await readSpec(src);
  return loadTokenizer(src, { bos_token_id: spec.bos, eos_token_id: spec.eos });
}

/** stories260K with a chat template of its own in tokenizer_config.json. */
function storiesWithTemplate(template: string): ModelSource {
  const files = new Map<string, string>();
  for (const f of ['config.json', 'tokenizer.json']) files.set(f, readFileSync(STORIES + f, 'utf8'));
  const cfg = JSON.parse(readFileSync(STORIES + 'tokenizer_config.json', 'utf8')) as Record<string, unknown>;
  files.set('tokenizer_config.json', JSON.stringify({ ...cfg, chat_template: template }));
  return memorySource('stories260K-chat', files);
}

const twoTurns: ChatMessage[] = [
  { role: 'user', content: 'Tell me about a frog.' },
  { role: 'assistant', content: 'The frog was purple.' },
  { role: 'user', content: 'What did it eat?' },
];

describe('encodeChat', () => {
  it('two turns with the built-in ChatML (the model has no template): the rendering encoded once, one BOS, no EOS', async () => {
    const tok = await tokenizerOf(dirSource(STORIES));
    expect(tok.chatTemplate).toBeFalsy();
    const { ids, text } = encodeChat(tok, twoTurns);
    const want =
      '<|im_start|>user\nTell me about a frog.<|im_end|>\n<|im_start|>assistant\nThe frog was purple.<|im_end|>\n' +
      '<|im_start|>user\nWhat did it eat?<|im_end|>\n<|im_start|>assistant\n';
    expect(text).toBe(want);
    expect(tok.bos).toBe(1);
    expect(ids).toEqual([1, ...tok.encode(want, false)]);
    expect(ids.filter((x) => x === tok.bos)).toHaveLength(1);
    expect(tok.eos.includes(ids[ids.length - 1])).toBe(false);
    // The first exchange's prompt is where the second turn's prompt starts.
    const first = encodeChat(tok, twoTurns.slice(0, 1));
    expect(text.startsWith(first.text)).toBe(true);
    // The same choice as a one-turn chat-formatted prompt and the same stop ids.
    expect(first).toEqual(encodePrompt(tok, 'Tell me about a frog.', CHAT_FORMAT));
    expect(stopIdsFor(tok, CHAT_FORMAT)).toEqual(tok.stop);
    // <|im_end|> is no token of stories260K: the answer ends where its text appears.
    expect(chatTurnEndText(tok)).toBe('<|im_end|>');
  });

  it('a system prompt and a model template that writes {{ bos_token }}: rendered with it, still one BOS', async () => {
    const template =
      "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'system' %}<<SYS>>{{ m['content'] }}<</SYS>>\n" +
      "{% elif m['role'] == 'user' %}[INST] {{ m['content'] }} [/INST]{% else %} {{ m['content'] }}{{ eos_token }}{% endif %}{% endfor %}" +
      "{% if add_generation_prompt %} {% endif %}";
    const tok = await tokenizerOf(storiesWithTemplate(template));
    const messages: ChatMessage[] = [{ role: 'system', content: 'You tell tiny stories.' }, ...twoTurns];
    const { ids, text } = encodeChat(tok, messages);
    const want = '<s><<SYS>>You tell tiny stories.<</SYS>>\n[INST] Tell me about a frog. [/INST] The frog was purple.</s>[INST] What did it eat? [/INST] ';
    expect(text).toBe(want);
    expect(ids).toEqual([1, ...tok.encode(want.slice('<s>'.length), false)]);
    expect(ids.filter((x) => x === 1)).toHaveLength(1);
    expect(ids.filter((x) => x === 2)).toHaveLength(1); // the first answer's EOS, written by the template
    expect(ids[ids.length - 1]).not.toBe(2);
    expect(chatTurnEndText(tok)).toBe(''); // the template ends answers with EOS, a stop id
  });

  it('refuses an empty conversation and a format without a chat template', async () => {
    const tok = await tokenizerOf(dirSource(STORIES));
    expect(() => encodeChat(tok, [])).toThrow(/at least one turn/);
    expect(() => encodeChat(tok, twoTurns, { shape: 'alpaca', chatTemplate: 'alpaca' })).toThrow(/no chat template/);
  });
});
