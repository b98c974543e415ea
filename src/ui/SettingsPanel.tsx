// Knobs: every training setting with a one-line explanation; the trainable-parameter count and the
// memory estimate update as they change.
import { useId } from 'react';
import { useStudio } from '../store';
import { SCHEDULE_KINDS, type ScheduleKind, KNOB_HELP, KNOB_LABEL, KNOB_OPTION, matmulMathUnavailable, subgroupsKnobUnavailable, moduleKinds, presetOf, type KnobName, type Knobs, isQalora, QUANT_MODES, type QuantMode } from '../store/plan';
import { ErrorLine, Field, MemoryCard, NumberInput } from './controls';
import { SavedSettingsPanel } from './SavedSettings';
import { StorageFit } from './StoragePanel';
import { TimeEstimate } from './TimeEstimate';
import { usePlan } from './usePlan';

type NumKnob = { [K in KnobName]: Knobs[K] extends number ? K : never }[KnobName];

function Num(props: { name: NumKnob; integer?: boolean; min?: number; max?: number; step?: number | 'any' }) {
  const value = useStudio((s) => s.knobs[props.name]);
  const setKnob = useStudio((s) => s.setKnob);
  return (
    <Field label={KNOB_LABEL[props.name]} help={KNOB_HELP[props.name]}>
      {(id, helpId) => (
        <NumberInput id={id} value={value} integer={props.integer} min={props.min} max={props.max} step={props.step} describedBy={helpId} testId={`knob-${props.name}`} option={KNOB_OPTION[props.name]} onCommit={(v) => setKnob(props.name, v)} />
      )}
    </Field>
  );
}

function Check(props: { name: 'useRslora' | 'gradCheckpointing' }) {
  const value = useStudio((s) => s.knobs[props.name]);
  const setKnob = useStudio((s) => s.setKnob);
  const id = useId();
  return (
    <div className="field">
      <label className="check" htmlFor={id}>
        <input id={id} type="checkbox" checked={value} onChange={(e) => setKnob(props.name, e.target.checked)} aria-describedby={`${id}-h`} data-testid={`knob-${props.name}`} data-option={KNOB_OPTION[props.name]} />
        {KNOB_LABEL[props.name]}
      </label>
      <span className="help" id={`${id}-h`}>
        {KNOB_HELP[props.name]}
      </span>
    </div>
  );
}

function Targets() {
  const kinds = useStudio((s) => s.knobs.targetModules);
  const arch = useStudio((s) => (s.loaded?.spec ?? s.candidate.spec)?.arch ?? 'llama');
  const toggle = useStudio((s) => s.toggleKind);
  const applyPreset = useStudio((s) => s.applyPreset);
  const preset = presetOf(kinds, arch);
  const withHead = kinds.includes('lm_head');
  return (
    <fieldset>
      <legend>{KNOB_LABEL.targetModules}</legend>
      <p className="help small muted">{KNOB_HELP.targetModules}</p>
      <div className="row" role="group" aria-label="Target presets">
        <button type="button" aria-pressed={preset?.preset === 'attention'} onClick={() => applyPreset('attention', withHead)}>
          Attention
        </button>
        <button type="button" aria-pressed={preset?.preset === 'all-linear'} onClick={() => applyPreset('all-linear', withHead)}>
          All linear
        </button>
        <label className="check">
          <input type="checkbox" checked={withHead} onChange={(e) => toggle('lm_head', e.target.checked)} />+ lm_head
        </label>
      </div>
      <div className="row" role="group" aria-label="Target modules" style={{ marginTop: '0.5rem' }}>
        {moduleKinds(arch)
          .filter((k) => k !== 'lm_head')
          .map((k, i) => (
            <label className="check" key={k}>
              <input type="checkbox" checked={kinds.includes(k)} onChange={(e) => toggle(k, e.target.checked)} data-testid={`target-${k}`} data-option={i === 0 ? 'targetModules' : undefined} />
              <code>{k}</code>
            </label>
          ))}
      </div>
    </fieldset>
  );
}

/**
 * “Matmul math”: f16 only where the adapter has shader-f16. Elsewhere the choice is disabled at f32
 * with the reason beside it (enabled while it says f16, e.g. from a settings file, to set it back).
 */
function MatmulMath() {
  const value = useStudio((s) => s.knobs.matmulMath);
  const hasF16 = useStudio((s) => (s.gpu.status === 'ok' ? s.gpu.adapter.hasF16 : undefined));
  const setKnob = useStudio((s) => s.setKnob);
  const why = matmulMathUnavailable(hasF16);
  return (
    <Field label={KNOB_LABEL.matmulMath} help={KNOB_HELP.matmulMath}>
      {(id, helpId) => (
        <>
          <select
            id={id} value={value} aria-describedby={helpId} data-testid="knob-matmulMath" data-option={KNOB_OPTION.matmulMath}
            disabled={hasF16 !== true && value === 'f32'}
            onChange={(e) => setKnob('matmulMath', e.target.value as Knobs['matmulMath'])}
          >
            <option value="f32">f32</option>
            <option value="f16">f16 (half precision, f32 sums)</option>
          </select>
          {why && (
            <span className="note small" data-testid="matmulMath-unavailable">
              {why}
            </span>
          )}
        </>
      )}
    </Field>
  );
}

/**
 * “Subgroup reductions”: on only where the adapter has the subgroups feature. Elsewhere the box is
 * disabled while off, with the reason beside it (enabled while on, e.g. from a settings file, to turn it off).
 */
function SubgroupReductions() {
  const value = useStudio((s) => s.knobs.subgroups);
  const hasSubgroups = useStudio((s) => (s.gpu.status === 'ok' ? s.gpu.adapter.hasSubgroups : undefined));
  const setKnob = useStudio((s) => s.setKnob);
  const why = subgroupsKnobUnavailable(hasSubgroups);
  const id = useId();
  return (
    <div className="field">
      <label className="check" htmlFor={id}>
        <input
          id={id} type="checkbox" checked={value} aria-describedby={`${id}-h`} data-testid="knob-subgroups" data-option={KNOB_OPTION.subgroups}
          disabled={hasSubgroups !== true && !value} onChange={(e) => setKnob('subgroups', e.target.checked)}
        />
        {KNOB_LABEL.subgroups}
      </label>
      <span className="help" id={`${id}-h`}>
        {KNOB_HELP.subgroups}
      </span>
      {why && (
        <span className="note small" data-testid="subgroups-unavailable">
          {why}
        </span>
      )}
    </div>
  );
}

export function SettingsPanel() {
  const k = useStudio((s) => s.knobs);
  const setKnob = useStudio((s) => s.setKnob);
  const reset = useStudio((s) => s.resetKnobs);
  const plan = usePlan();
  const evalName = useStudio((s) => s.evalFile.file?.name ?? null);
  const qalora = isQalora(k.quant);
  const loadedQuant = useStudio((s) => (s.loaded ? `${s.loaded.info.quant}${isQalora(s.loaded.info.quant) ? ` (group size ${s.loaded.info.groupSize})` : ''}` : null));
  const quantMismatch = loadedQuant !== null && loadedQuant !== `${k.quant}${qalora ? ` (group size ${k.groupSize})` : ''}`;
  return (
    <div>
      <section className="panel" aria-labelledby="knobs-h">
        <div className="row" style={{ justifyContent: 'space-between' }}>
          <h2 id="knobs-h">Training settings</h2>
          <button type="button" onClick={reset}>
            Reset to this model&apos;s defaults
          </button>
        </div>
        {plan?.problems.map((p) => <ErrorLine key={p} message={p} />)}
        <fieldset>
          <legend>Adapter</legend>
          <div className="grid2">
            <Num name="r" integer min={1} max={1024} />
            <Num name="loraAlpha" min={0} />
            <Num name="loraDropout" min={0} max={0.99} step={0.01} />
            <Num name="loraplusLrRatio" min={0.01} />
            <Check name="useRslora" />
          </div>
        </fieldset>
        <Targets />
        <fieldset>
          <legend>Base model storage</legend>
          <div className="grid2">
            <Field label={KNOB_LABEL.quant} help={KNOB_HELP.quant}>
              {(id, helpId) => (
                <select id={id} value={k.quant} aria-describedby={helpId} data-testid="knob-quant" data-option="quant" onChange={(e) => setKnob('quant', e.target.value as QuantMode)}>
                  {QUANT_MODES.map((q) => (
                    <option key={q} value={q}>
                      {q === 'none' ? 'none (f16/f32)' : q}
                    </option>
                  ))}
                </select>
              )}
            </Field>
            {qalora && <Num name="groupSize" integer min={1} />}
          </div>
          {quantMismatch && (
            <p className="note small" data-testid="quant-reload">
              The base is loaded as {loadedQuant}: load the model again (Model tab) to train on a {k.quant} base.
            </p>
          )}
        </fieldset>
        <fieldset>
          <legend>Optimizer</legend>
          <div className="grid2">
            <Num name="lr" min={0} />
            <Field label={KNOB_LABEL.schedule} help={KNOB_HELP.schedule}>
              {(id, helpId) => (
                <select id={id} value={k.schedule} aria-describedby={helpId} onChange={(e) => setKnob('schedule', e.target.value as ScheduleKind)}>
                  {SCHEDULE_KINDS.map((s) => (
                    <option key={s} value={s}>
                      {s}
                    </option>
                  ))}
                </select>
              )}
            </Field>
            <Num name="warmup" integer min={0} />
            <Num name="maxGradNorm" min={0} />
            <Num name="weightDecay" min={0} />
          </div>
        </fieldset>
        <fieldset>
          <legend>Length and batches</legend>
          <div className="grid2">
            <Field label={KNOB_LABEL.lengthBy} help={KNOB_HELP.lengthBy}>
              {(id, helpId) => (
                <select id={id} value={k.lengthBy} aria-describedby={helpId} data-testid="knob-lengthBy" onChange={(e) => setKnob('lengthBy', e.target.value as 'epochs' | 'steps')}>
                  <option value="epochs">epochs</option>
                  <option value="steps">steps</option>
                </select>
              )}
            </Field>
            {k.lengthBy === 'epochs' ? <Num key="epochs" name="epochs" integer min={1} /> : <Num key="steps" name="steps" integer min={1} />}
            <Num name="batchSize" integer min={1} />
            <Num name="gradAccum" integer min={1} />
            <Num name="seqLen" integer min={2} />
            <Check name="gradCheckpointing" />
            <Field label={KNOB_LABEL.saveActivations} help={KNOB_HELP.saveActivations}>
              {(id, helpId) => (
                <select
                  id={id} value={k.saveActivations ?? 'f32'} aria-describedby={helpId} data-testid="knob-saveActivations" data-option={KNOB_OPTION.saveActivations}
                  onChange={(e) => setKnob('saveActivations', e.target.value as Knobs['saveActivations'])}
                >
                  <option value="f32">f32 (exact)</option>
                  <option value="f16">f16 (half memory)</option>
                </select>
              )}
            </Field>
            <MatmulMath />
            <SubgroupReductions />
          </div>
        </fieldset>
        <fieldset>
          <legend>Evaluation</legend>
          <div className="grid2">
            <Num name="evalSplit" min={0} max={0.9} step={0.05} />
            {evalName && (
              <p className="note small" data-testid="eval-split-unused">
                Unused: the evaluation file {evalName} (Dataset tab) replaces the eval split.
              </p>
            )}
            <Num name="evalEvery" integer min={0} />
            <Num name="seed" integer min={0} />
            <Num name="sampleTokens" integer min={1} max={512} />
          </div>
          <Field label={KNOB_LABEL.samplePrompt} help={KNOB_HELP.samplePrompt}>
            {(id, helpId) => (
              <textarea id={id} value={k.samplePrompt} aria-describedby={helpId} data-testid="knob-samplePrompt" onChange={(e) => setKnob('samplePrompt', e.target.value)} rows={2} />
            )}
          </Field>
        </fieldset>
      </section>
      <SavedSettingsPanel />
    </div>
  );
}

export function PlanAside() {
  return (
    <aside className="panel" aria-labelledby="plan-h">
      <h2 id="plan-h">Memory estimate</h2>
      <MemoryCard compact />
      <TimeEstimate />
      <StorageFit kind="run" />
    </aside>
  );
}
