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
import { opt } from '../options';
import { ShapeError, type ChatMessage, type RecordShape, type Sample } from './shapes';
import { encodePromptText } from './tokenize';

interface Segment {
  text: string;
  /** Whether the tokens of this text are training targets. */
  train: boolean;
}

/**
 * A Sample formatted for training: its text as segments marked trained or not (the masked ones
 * get label -100, as in TRL's completion-only loss / assistant-only loss), plus whether an EOS is
 * appended. tokenize.ts tokenizes the joined text once and maps the marks onto tokens.
 */
export interface Formatted {
  /** The example's text in order; joined, it is tokenized once (tokenize.ts). */
  segments: Segment[];
  /** Append the tokenizer's EOS (trained with the last segment) unless the text already ends in it. */
  eos: boolean;
}

const ALPACA_PROMPT =
  'Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\n{instruction}\n\n### Response:\n';
const ALPACA_PROMPT_INPUT =
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

/**
 * How one dataset's Samples become text (makeFormatter): plain text as it is; pairs through the
 * Alpaca template, as they are ('none'), or a chat template; chat always through a chat template,
 * a Jinja template rendered with @huggingface/jinja as transformers' apply_chat_template renders
 * it (tokenization_utils_base.py: messages, add_generation_prompt, bos_token, eos_token).
 */
export interface Formatter {
  /** What is used, for the stats: 'alpaca', 'none', 'text', 'chat template (model)', ... */
  readonly name: string;
  /**
   * The sample as segments. Chat: the assistant turns are trained (everything with trainOnPrompt).
   * Throws ShapeError (a bad row, not a failed run) when the chat template fails on the
   * conversation or rewrites earlier turns so the assistant parts cannot be told apart, or when
   * chat data meets a formatting without a chat template.
   */
  format(s: Sample, trainOnPrompt: boolean): Formatted;
  /**
   * What a model trained on this formatting is shown before its answer, for one user prompt (the
   * playground): the Alpaca prompt, the chat template's user turn + generation prompt, or the
   * prompt as it is. Encoded with the tokenizer's BOS (once) and never an EOS (encodePrompt).
   */
  promptText(prompt: string): string;
  /**
   * A conversation so far, rendered for the assistant's next answer (the chat template with
   * add_generation_prompt; the chat playground). Throws a DatasetError for a formatting without
   * a chat template (Alpaca, none, plain text).
   */
  chatText(messages: ChatMessage[]): string;
  /** The chat template's end-of-turn token when it is one special token (`<|im_end|>`, `<|eot_id|>`), else null. */
  readonly endOfTurn: number | null;
}

class ChatRenderer {
  private readonly tmpl: Template;
  private readonly bos: string;
  private readonly eos: string;
  /** The EOS as text when it tokenizes back to the EOS id alone ('' otherwise): appended after assistant turns. */
  private readonly eosText: string;
  readonly endOfTurn: number | null;
  constructor(readonly source: string, private readonly tok: TextTokenizer, what: string) {
    try {
      this.tmpl = new Template(source);
    } catch (e) {
      throw new DatasetError(`the ${what} cannot be parsed as Jinja: ${(e as Error).message}`);
    }
    this.bos = tok.bos !== null ? tok.decode([tok.bos]) : '';
    this.eos = tok.eos.length ? tok.decode([tok.eos[0]]) : '';
    const e = tok.eos.length ? tok.encode(this.eos, false) : [];
    this.eosText = e.length === 1 && e[0] === tok.eos[0] ? this.eos : '';
    this.endOfTurn = this.probeEndOfTurn();
  }

  render(messages: ChatMessage[], addGenerationPrompt: boolean): string {
    try {
      return this.tmpl.render({ messages, add_generation_prompt: addGenerationPrompt, bos_token: this.bos, eos_token: this.eos });
    } catch (e) {
      throw new ShapeError(`the chat template fails on this conversation: ${(e as Error).message}`);
    }
  }

  /** What the template writes after an assistant's text, when that is one special token (ignoring white space). */
  private probeEndOfTurn(): number | null {
    const answer = 'Yes.';
    let turn: string;
    try {
      turn = this.segments([{ role: 'user', content: 'Hi' }, { role: 'assistant', content: answer }], false, false).find((x) => x.train)?.text ?? '';
    } catch {
      return null;
    }
    const at = turn.indexOf(answer);
    if (at < 0) return null;
    const ids = this.tok.encode(turn.slice(at + answer.length).trim(), false);
    return ids.length === 1 && this.tok.isSpecial(ids[0]) ? ids[0] : null;
  }

  /** Whether an assistant turn's text ends (white space aside) in a special token, which generation can stop on. */
  private endsInSpecial(turn: string): boolean {
    const ids = this.tok.encode(turn.trimEnd(), false);
    return ids.length > 0 && this.tok.isSpecial(ids[ids.length - 1]);
  }

  /**
   * The rendered conversation split into untrained text and assistant turns (all trained with
   * `trainOnPrompt`). With `closeTurns`, an assistant turn that does not end in a special token
   * (ChatML's `<|im_end|>` spelled out on a model without that token, any template ending turns
   * in plain text) is followed by the EOS, trained with it, so the model learns to stop (TRL
   * appends EOS likewise).
   */
  segments(messages: ChatMessage[], trainOnPrompt: boolean, closeTurns = true): Segment[] {
    try {
      return this.locate(messages, trainOnPrompt, closeTurns);
    } catch (e) {
      if (!(e instanceof ShapeError) || !trainOnPrompt) throw e;
      // The turns cannot be located, but everything is trained: the whole text, closed with EOS.
      const full = this.render(messages, false);
      const close = closeTurns && this.eosText && !this.endsInSpecial(full) ? this.eosText : '';
      return [{ text: full + close, train: true }];
    }
  }

  private locate(messages: ChatMessage[], trainOnPrompt: boolean, closeTurns: boolean): Segment[] {
    const full = this.render(messages, false);
    const out: Segment[] = [];
    const push = (text: string, train: boolean) => {
      if (!text) return;
      const last = out[out.length - 1];
      if (last && last.train === train) last.text += text;
      else out.push({ text, train });
    };
    let at = 0;
    for (let i = 0; i < messages.length; i++) {
      if (messages[i].role !== 'assistant') continue;
      const upto = this.render(messages.slice(0, i + 1), false);
      let before = this.render(messages.slice(0, i), true);
      if (!upto.startsWith(before)) before = this.render(messages.slice(0, i), false);
      if (!upto.startsWith(before) || !full.startsWith(upto) || before.length < at) {
        throw new ShapeError([
          `the chat template does not render this conversation turn by turn (at message ${i + 1}), so its assistant part cannot be located; ` +
            'train on the whole text (', opt('trainOnPrompt', true), ') or choose another ', opt('chatTemplate'),
        ]);
      }
      push(full.slice(at, before.length), trainOnPrompt);
      const turn = full.slice(before.length, upto.length);
      push(turn, true);
      if (closeTurns && this.eosText && turn && !this.endsInSpecial(turn)) push(this.eosText, true);
      at = upto.length;
    }
    push(full.slice(at), trainOnPrompt);
    return out;
  }
}

/** The model's own chat template's end-of-turn token (null without a template or when it cannot be parsed). */
function modelEndOfTurn(tok: TextTokenizer): number | null {
  if (!tok.chatTemplate) return null;
  try {
    return new ChatRenderer(tok.chatTemplate, tok, "model's chat template").endOfTurn;
  } catch {
    return null;
  }
}

/** Picks the formatting for a record shape; `chatTemplate` is one of CHAT_TEMPLATE_CHOICES or Jinja source. */
export function makeFormatter(shape: RecordShape, tok: TextTokenizer, chatTemplate = 'auto'): Formatter {
  const isChat = shape === 'messages' || shape === 'sharegpt';
  const choice = chatTemplate.trim();
  if (shape === 'text') {
    return {
      name: 'text',
      format: (s) => ({ segments: [{ text: (s as { text: string }).text, train: true }], eos: false }),
      promptText: (prompt) => prompt,
      chatText: () => {
        throw new DatasetError('plain text has no chat template to render a conversation with; use a chat format');
      },
      get endOfTurn() {
        return modelEndOfTurn(tok);
      },
    };
  }
  let renderer: ChatRenderer | null = null;
  let name: string;
  if (choice === 'alpaca' || choice === 'none') {
    if (isChat) throw new DatasetError([opt('chatTemplate', choice), ` cannot format chat (${shape}) data; use auto, model, chatml or a Jinja template.`]);
    name = choice;
  } else if (choice === 'model') {
    if (!tok.chatTemplate) throw new DatasetError(['the model has no chat template (no chat_template in tokenizer_config.json); set ', opt('chatTemplate'), ' to chatml, alpaca, none or a Jinja template.']);
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
    throw new DatasetError([opt('chatTemplate'), ` must be auto, model, alpaca, none, chatml or a Jinja template (file), got '${chatTemplate}'.`]);
  }

  return {
    name,
    endOfTurn: renderer?.endOfTurn ?? null,
    format(s: Sample, trainOnPrompt: boolean): Formatted {
      if (s.kind === 'text') return { segments: [{ text: s.text, train: true }], eos: false };
      if (renderer) {
        const messages: ChatMessage[] =
          s.kind === 'chat'
            ? s.messages
            : [
                { role: 'user', content: s.input && s.input.trim() !== '' ? `${s.prompt}\n\n${s.input}` : s.prompt },
                { role: 'assistant', content: s.response },
              ];
        return { segments: renderer.segments(messages, trainOnPrompt), eos: false };
      }
      if (s.kind === 'chat') throw new ShapeError('chat data needs a chat template');
      const prompt = name === 'alpaca' ? alpacaPrompt(s.prompt, s.input) : s.input ? `${s.prompt}\n\n${s.input}` : s.prompt;
      return { segments: [{ text: prompt, train: trainOnPrompt }, { text: s.response, train: true }], eos: true };
    },
    promptText(prompt: string) {
      if (renderer) return renderer.render([{ role: 'user', content: prompt }], true);
      return name === 'alpaca' ? alpacaPrompt(prompt) : prompt;
    },
    chatText(messages: ChatMessage[]) {
      if (!renderer) throw new DatasetError(`the ${name} format has no chat template to render a conversation with; use auto, model, chatml or a Jinja template`);
      return renderer.render(messages, true);
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
 * the text they encode: the tokenizer's BOS once (not doubled when a chat template writes it),
 * never an EOS at the end. An empty prompt as typed is the tokenizer's BOS alone.
 */
export function encodePrompt(tok: TextTokenizer, prompt: string, format?: PromptFormat): { ids: number[]; text: string } {
  const text = format ? makeFormatter(format.shape, tok, format.chatTemplate).promptText(prompt) : prompt;
  let ids = encodePromptText(tok, text);
  if (ids.length === 0 && tok.bos !== null) ids = [tok.bos];
  if (ids.length === 0) throw new DatasetError('Give a prompt: this tokenizer has no BOS token to start from.');
  return { ids, text };
}

/** How the chat playground formats a conversation: chat data's choice (the model's template, else the built-in ChatML). */
export const CHAT_FORMAT: PromptFormat = { shape: 'messages', chatTemplate: 'auto' };

/**
 * Token ids of a conversation for the assistant's next answer, and the text they encode: the
 * messages (system, user and assistant turns) rendered with the chat template of `format` (by
 * default the one training uses for chat data: the model's own, else the built-in ChatML) with
 * add_generation_prompt, encoded once with the tokenizer's BOS once and no EOS at the end.
 */
export function encodeChat(tok: TextTokenizer, messages: ChatMessage[], format: PromptFormat = CHAT_FORMAT): { ids: number[]; text: string } {
  if (messages.length === 0) throw new DatasetError('Give a message: a conversation needs at least one turn.');
  const text = makeFormatter(format.shape, tok, format.chatTemplate).chatText(messages);
  const ids = encodePromptText(tok, text);
  if (ids.length === 0) throw new DatasetError('The chat template rendered this conversation as empty text: give a message.');
  return { ids, text };
}

/**
 * What the chat template of `format` writes right after an assistant's answer when that is plain
 * text (ChatML's `<|im_end|>` on a model without such a token; white space trimmed), else ''. A
 * chat answer ends where this text appears: generation stops there and it is not part of the answer.
 */
export function chatTurnEndText(tok: TextTokenizer, format: PromptFormat = CHAT_FORMAT): string {
  const answer = 'Yes.';
  let turn: string;
  try {
    const f = makeFormatter(format.shape, tok, format.chatTemplate);
    turn = f.format({ kind: 'chat', messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: answer }] }, false).segments.find((x) => x.train)?.text ?? '';
  } catch {
    return '';
  }
  const at = turn.indexOf(answer);
  if (at < 0) return '';
  let end = turn.slice(at + answer.length).trim();
  const eos = tok.eos.length ? tok.decode([tok.eos[0]]) : '';
  if (eos && end.endsWith(eos)) end = end.slice(0, -eos.length).trim(); // the EOS training appends: a stop id already
  const ids = tok.encode(end, false);
  return ids.length > 0 && !(ids.length === 1 && tok.isSpecial(ids[0])) ? end : '';
}

/**
 * The ids that end generation for text formatted as `format` (or the model's own chat template when
 * none is given): the tokenizer's stop ids (config.json and generation_config.json eos_token_id)
 * and the chat template's end-of-turn token when it is a single special token.
 */
export function stopIdsFor(tok: TextTokenizer, format?: PromptFormat): number[] {
  const stop = [...tok.stop];
  let eot: number | null = null;
  try {
    eot = makeFormatter(format?.shape ?? 'text', tok, format?.chatTemplate ?? 'auto').endOfTurn;
  } catch {
    eot = null; // a template that cannot be parsed has no end-of-turn token to add
  }
  if (eot !== null && !stop.includes(eot)) stop.push(eot);
  return stop;
}
