// Wrapper for shaders/embedding.wgsl: out[n, :] = wte[tokens[n], :] (+ wpe[pos[n], :]).
import { grid1d, type Bindable, type Dispatch, type GpuContext } from '../gpu/context';
import type { WeightDType } from '../gpu/tensor';

/**
 * Embedding lookup; tokens and pos are u32 [N]; wte (and wpe) share the storage type wDType. No
 * backward (frozen tables). Throws Error when only one of pos and wpe is given.
 */
export function embeddingForward(
  ctx: GpuContext,
  label: string,
  a: { N: number; C: number; tokens: Bindable; wte: Bindable; wDType?: WeightDType; out: Bindable; pos?: Bindable; wpe?: Bindable },
): Dispatch {
  if (!!a.pos !== !!a.wpe) throw new Error(`${label}: pos and wpe must be given together`);
  const hasPos = !!a.wpe;
  const k = ctx.kernel({
    shader: 'embedding',
    bindings: hasPos ? ['uniform', 'read', 'read', 'rw', 'read', 'read'] : ['uniform', 'read', 'read', 'rw'],
    defines: { W_F16: a.wDType === 'f16', HAS_POS: hasPos },
  });
  const u = ctx.uniform('uu', [a.N, a.C]);
  const res: Bindable[] = [u, a.tokens, a.wte, a.out];
  if (hasPos) res.push(a.pos!, a.wpe!);
  return ctx.dispatch(label, k, res, grid1d(Math.ceil((a.N * a.C) / 256)));
}
