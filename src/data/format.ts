// Prompt formatting: a Sample becomes text segments, each marked trained or not. Pairs use the
// Alpaca template, the prompt and response as they are, or a chat template (the tokenizer's own
// tokenizer_config.json chat_template, a built-in ChatML one, or a user's Jinja file), rendered
// with @huggingface/jinja. Chat data always goes through a chat template.
//
// Where the assistant turns are in a rendered conversation (no {% generation %} tags needed):
// for each assistant message i, render messages[0..i) with add_generation_prompt=true ("before")
// and messages[0..i] without it ("upto"). The assistant part is upto minus its prefix before,
// provided before ⊑ upto ⊑ the whole rendering (⊑: is a prefix of). Templates that rewrite earlier
// turns when later ones are added (e.g. stripping reasoning from past turns) break the prefix
// property; such a conversation is reported as a bad row (train on everything with trainOnPrompt).

import { Template } from '@huggingface/jinja';
import type { TextTokenizer } from '../model/tokenizer';
import { DatasetError } from './input';
import { ShapeError, type ChatMessage, type RecordShape, type Sample } from './shapes';

export interface Segment {
  text: string;
  /** Whether the tokens of this text are training targets. */
  train: boolean;
}

export interface Formatted {
  segments: Segment[];
  /** Encode with the tokenizer's own special tokens (BOS); false for chat templates, which write their own. */
  addSpecial: boolean;
  /** Append the tokenizer's EOS (trained) after the last segment. */
  eos: boolean;
}

export const ALPACA_PROMPT =
  'Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\n{instruction}\n\n### Response:\n';
export const ALPACA_PROMPT_INPUT =
  'Below is an instruction that describes a task, paired with an input that provides further context. ' +
  'Write a response that appropriately completes the request.\n\n### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n';

/** The Alpaca prompt (Stanford Alpaca's two templates: with and without input). */
export function alpacaPrompt(instruction: string, input = ''): string {
  return input.trim() !== ''
    ? ALPACA_PROMPT_INPUT.replace('{instruction}', () => instruction).replace('{input}', () => input)
    : ALPACA_PROMPT.replace('{instruction}', () => instruction);
}

/** A ChatML template, used for chat data when the model has no chat template of its own. */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/**
 * --chat-template values: 'auto' (the model's chat template when it has one, else Alpaca for
 * prompt/response data and ChatML for chat data), 'model', 'alpaca', 'none' (prompt and response as
 * they are), 'chatml', or the Jinja source of a template.
 */
export const CHAT_TEMPLATE_CHOICES = ['auto', 'model', 'alpaca', 'none', 'chatml'] as const;

export interface Formatter {
  /** What is used, for the stats: 'alpaca', 'none', 'text', 'chat template (model)', ... */
  readonly name: string;
  format(s: Sample, trainOnPrompt: boolean): Formatted;
  /**
   * What a model trained on this formatting is shown before its answer, for one user prompt (the
   * playground): the Alpaca prompt, the chat template's user turn + generation prompt, or the
   * prompt as it is. `addSpecial`: encode with the tokenizer's own BOS.
   */
  promptText(prompt: string): { text: string; addSpecial: boolean };
}

class ChatRenderer {
  private readonly tmpl: Template;
  private readonly bos: string;
  private readonly eos: string;
  constructor(readonly source: string, tok: TextTokenizer, what: string) {
    try {
      this.tmpl = new Template(source);
    } catch (e) {
      throw new DatasetError(`the ${what} cannot be parsed as Jinja: ${(e as Error).message}`);
    }
    this.bos = tok.bos !== null ? tok.decode([tok.bos]) : '';
    this.eos = tok.eos.length ? tok.decode([tok.eos[0]]) : '';
  }

  render(messages: ChatMessage[], addGenerationPrompt: boolean): string {
    try {
      return this.tmpl.render({ messages, add_generation_prompt: addGenerationPrompt, bos_token: this.bos, eos_token: this.eos });
    } catch (e) {
      throw new ShapeError(`the chat template fails on this conversation: ${(e as Error).message}`);
    }
  }

  /** The rendered conversation split into untrained text and assistant turns. */
  segments(messages: ChatMessage[], trainOnPrompt: boolean): Segment[] {
    const full = this.render(messages, false);
    if (trainOnPrompt) return [{ text: full, train: true }];
    const out: Segment[] = [];
    let at = 0;
    for (let i = 0; i < messages.length; i++) {
      if (messages[i].role !== 'assistant') continue;
      const upto = this.render(messages.slice(0, i + 1), false);
      let before = this.render(messages.slice(0, i), true);
      if (!upto.startsWith(before)) before = this.render(messages.slice(0, i), false);
      if (!upto.startsWith(before) || !full.startsWith(upto) || before.length < at) {
        throw new ShapeError(
          `the chat template does not render this conversation turn by turn (at message ${i + 1}), so its assistant part cannot be located; ` +
            'train on the whole text (--train-on-prompt) or give another --chat-template',
        );
      }
      if (before.length > at) out.push({ text: full.slice(at, before.length), train: false });
      if (upto.length > before.length) out.push({ text: full.slice(before.length, upto.length), train: true });
      at = upto.length;
    }
    if (at < full.length) out.push({ text: full.slice(at), train: false });
    return out;
  }
}

/** Picks the formatting for a record shape; `chatTemplate` is one of CHAT_TEMPLATE_CHOICES or Jinja source. */
export function makeFormatter(shape: RecordShape, tok: TextTokenizer, chatTemplate = 'auto'): Formatter {
  const isChat = shape === 'messages' || shape === 'sharegpt';
  const choice = chatTemplate.trim();
  if (shape === 'text') {
    return {
      name: 'text',
      format: (s) => ({ segments: [{ text: (s as { text: string }).text, train: true }], addSpecial: true, eos: false }),
      promptText: (prompt) => ({ text: prompt, addSpecial: true }),
    };
  }
  let renderer: ChatRenderer | null = null;
  let name: string;
  if (choice === 'alpaca' || choice === 'none') {
    if (isChat) throw new DatasetError(`--chat-template ${choice} cannot format chat (${shape}) data; use auto, model, chatml or a Jinja template file.`);
    name = choice;
  } else if (choice === 'model') {
    if (!tok.chatTemplate) throw new DatasetError('the model has no chat template (no chat_template in tokenizer_config.json); use --chat-template chatml, alpaca, none or a Jinja template file.');
    renderer = new ChatRenderer(tok.chatTemplate, tok, "model's chat template");
    name = 'chat template (model)';
  } else if (choice === 'chatml') {
    renderer = new ChatRenderer(CHATML_TEMPLATE, tok, 'ChatML template');
    name = 'chat template (chatml)';
  } else if (choice === 'auto' || choice === '') {
    if (tok.chatTemplate) {
      renderer = new ChatRenderer(tok.chatTemplate, tok, "model's chat template");
      name = 'chat template (model)';
    } else if (isChat) {
      renderer = new ChatRenderer(CHATML_TEMPLATE, tok, 'ChatML template');
      name = 'chat template (chatml; the model has none)';
    } else name = 'alpaca';
  } else if (/\{[{%]/.test(choice)) {
    renderer = new ChatRenderer(chatTemplate, tok, 'chat template');
    name = 'chat template (custom)';
  } else {
    throw new DatasetError(`--chat-template must be auto, model, alpaca, none, chatml or a Jinja template (file), got '${chatTemplate}'.`);
  }

  return {
    name,
    format(s: Sample, trainOnPrompt: boolean): Formatted {
      if (s.kind === 'text') return { segments: [{ text: s.text, train: true }], addSpecial: true, eos: false };
      if (renderer) {
        const messages: ChatMessage[] =
          s.kind === 'chat'
            ? s.messages
            : [
                { role: 'user', content: s.input && s.input.trim() !== '' ? `${s.prompt}\n\n${s.input}` : s.prompt },
                { role: 'assistant', content: s.response },
              ];
        return { segments: renderer.segments(messages, trainOnPrompt), addSpecial: false, eos: false };
      }
      if (s.kind === 'chat') throw new ShapeError('chat data needs a chat template');
      const prompt = name === 'alpaca' ? alpacaPrompt(s.prompt, s.input) : s.input ? `${s.prompt}\n\n${s.input}` : s.prompt;
      return { segments: [{ text: prompt, train: trainOnPrompt }, { text: s.response, train: true }], addSpecial: true, eos: true };
    },
    promptText(prompt: string) {
      if (renderer) return { text: renderer.render([{ role: 'user', content: prompt }], true), addSpecial: false };
      return { text: name === 'alpaca' ? alpacaPrompt(prompt) : prompt, addSpecial: true };
    },
  };
}

/** How a prompt is wrapped for generation: the record shape and chat-template choice of the training data. */
export interface PromptFormat {
  shape: RecordShape;
  chatTemplate: string;
}

/**
 * Token ids of a generation prompt, as typed or wrapped as the training data was (`format`), and
 * the text they encode. An empty prompt as typed is the tokenizer's BOS alone.
 */
export function encodePrompt(tok: TextTokenizer, prompt: string, format?: PromptFormat): { ids: number[]; text: string } {
  let text = prompt;
  let addSpecial = true;
  if (format) ({ text, addSpecial } = makeFormatter(format.shape, tok, format.chatTemplate).promptText(prompt));
  let ids = text === '' ? [] : tok.encode(text, addSpecial);
  if (ids.length === 0 && tok.bos !== null) ids = [tok.bos];
  if (ids.length === 0) throw new DatasetError('Give a prompt: this tokenizer has no BOS token to start from.');
  return { ids, text };
}
