import { describe, expect, it } from 'vitest';
import { webgpuHelp } from './gpuHelp';

describe('WebGPU help', () => {
  it('names the fix for each browser and OS', () => {
    const linuxChrome = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36';
    expect(webgpuHelp(linuxChrome, true).join(' ')).toMatch(/--enable-unsafe-webgpu --enable-features=Vulkan/);
    const oldChrome = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/110.0.0.0 Safari/537.36';
    expect(webgpuHelp(oldChrome, true).join(' ')).toMatch(/Chrome 110: update to version 113/);
    const firefox = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
    expect(webgpuHelp(firefox, true).join(' ')).toMatch(/dom\.webgpu\.enabled/);
    const safari = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15';
    expect(webgpuHelp(safari, true).join(' ')).toMatch(/Feature Flags/);
    const edge = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0';
    expect(webgpuHelp(edge, true).join(' ')).toMatch(/edge:\/\/gpu/);
    expect(webgpuHelp(linuxChrome, false)[0]).toMatch(/https or from localhost/);
  });
});
