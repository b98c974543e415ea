// Placeholder studio page: checks WebGPU and shows what the engine will run on. The full studio
// (model picker, dataset drop zone, knobs, live charts, playground) comes with its own issue.
import { useEffect, useState } from 'react';
import { acquireDevice, type AdapterSummary } from '../gpu/device';

type GpuState = { kind: 'checking' } | { kind: 'ok'; adapter: AdapterSummary } | { kind: 'missing'; message: string };

export function App() {
  const [gpu, setGpu] = useState<GpuState>({ kind: 'checking' });
  useEffect(() => {
    if (!('gpu' in navigator) || !navigator.gpu) {
      setGpu({
        kind: 'missing',
        message:
          'This browser does not expose WebGPU. Use a recent Chrome or Edge (113+) on Windows, macOS or ChromeOS; ' +
          'on Linux start Chrome with --enable-unsafe-webgpu --enable-features=Vulkan. The page must be served over https or localhost.',
      });
      return;
    }
    acquireDevice(navigator.gpu)
      .then(({ device, adapter }) => {
        device.destroy();
        setGpu({ kind: 'ok', adapter });
      })
      .catch((e: Error) => setGpu({ kind: 'missing', message: e.message }));
  }, []);
  return (
    <main style={{ fontFamily: 'system-ui, sans-serif', maxWidth: 720, margin: '3rem auto', padding: '0 1rem' }}>
      <h1>LoRA Studio</h1>
      <p>Fine-tune language models with LoRA, QLoRA, LoRA+ and QA-LoRA on your own GPU. Nothing leaves your machine.</p>
      <section aria-live="polite" data-testid="gpu-status">
        {gpu.kind === 'checking' && <p>Checking WebGPU…</p>}
        {gpu.kind === 'missing' && <p role="alert">WebGPU unavailable: {gpu.message}</p>}
        {gpu.kind === 'ok' && (
          <dl>
            <dt>GPU</dt>
            <dd data-testid="gpu-name">
              {gpu.adapter.vendor} {gpu.adapter.architecture} {gpu.adapter.description}
              {gpu.adapter.isSoftware ? ' (software adapter: expect low speed)' : ''}
            </dd>
            <dt>shader-f16</dt>
            <dd>{gpu.adapter.hasF16 ? 'yes' : 'no (f16 weights are unpacked in the shaders)'}</dd>
            <dt>Largest storage binding</dt>
            <dd>{(gpu.adapter.maxStorageBufferBindingSize / 2 ** 20).toFixed(0)} MiB</dd>
          </dl>
        )}
      </section>
      <p>The training engine is available today from the command line: <code>npm run train -- --help</code>.</p>
    </main>
  );
}
