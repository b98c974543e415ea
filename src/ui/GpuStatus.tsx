// Start: the WebGPU check — adapter name, f16 support and limits, or why WebGPU is missing and how
// to get it.
import { useStudio } from '../store';
import { fmtBytes } from '../store/plan';

export function GpuStatus() {
  const gpu = useStudio((s) => s.gpu);
  const notice = useStudio((s) => s.deviceNotice);
  return (
    <section aria-live="polite" data-testid="gpu-status" className={gpu.status === 'ok' ? 'gpu-badge' : undefined}>
      {gpu.status === 'checking' && <span>Checking WebGPU…</span>}
      {gpu.status === 'missing' && (
        <div className="panel" role="alert" data-testid="gpu-missing">
          <h2>WebGPU is not available</h2>
          <p>{gpu.message}</p>
          <ul>
            {gpu.help.map((h) => (
              <li key={h}>{h}</li>
            ))}
          </ul>
          <p className="muted small">The studio trains on your own GPU through WebGPU; nothing can run without it.</p>
        </div>
      )}
      {gpu.status === 'ok' && (
        <details>
          <summary>
            GPU: <span data-testid="gpu-name">{[gpu.adapter.vendor, gpu.adapter.architecture, gpu.adapter.description].filter(Boolean).join(' ')}</span>
            {gpu.adapter.isSoftware ? ' (software adapter: expect low speed)' : ''}
          </summary>
          <dl className="kv small" data-testid="gpu-details">
            <dt>shader-f16</dt>
            <dd data-testid="gpu-f16">{gpu.adapter.hasF16 ? 'supported' : 'not supported (f16 weights are unpacked in the shaders)'}</dd>
            <dt>Largest buffer</dt>
            <dd data-testid="gpu-max-buffer">{fmtBytes(gpu.adapter.maxBufferSize)}</dd>
            <dt>Largest storage binding</dt>
            <dd>{fmtBytes(gpu.adapter.maxStorageBufferBindingSize)}</dd>
            <dt>Workgroup memory</dt>
            <dd>{fmtBytes(gpu.adapter.maxComputeWorkgroupStorageSize)}</dd>
            <dt>Subgroups</dt>
            <dd>{gpu.adapter.hasSubgroups ? 'yes' : 'no'}</dd>
          </dl>
        </details>
      )}
      {notice && (
        <p className="note" role="status">
          {notice}
        </p>
      )}
    </section>
  );
}
