// What to tell a user whose browser has no WebGPU: by browser and OS, from the user agent.

/**
 * What to do to get WebGPU, one sentence per line, for the browser and OS named by the user agent
 * `ua` (Firefox, Safari, Chrome/Edge by version, Linux, Android, else a general line) and whether
 * the page is a secure context (WebGPU is exposed to https and localhost only). Heuristic UA
 * sniffing: a wrong guess yields general advice, never an error.
 */
export function webgpuHelp(ua: string, secureContext: boolean): string[] {
  const out: string[] = [];
  if (!secureContext) out.push('Open the studio over https or from localhost: browsers only expose WebGPU to secure pages.');
  const firefox = /Firefox\//.test(ua);
  const edge = /Edg\//.test(ua);
  const chrome = !edge && /Chrome\/(\d+)/.exec(ua);
  const safari = !chrome && !edge && /Version\/[\d.]+ .*Safari\//.test(ua);
  const linux = /Linux/.test(ua) && !/Android/.test(ua);
  const android = /Android/.test(ua);
  const chromeVersion = Number((/(?:Chrome|Edg)\/(\d+)/.exec(ua) ?? [])[1] ?? 0);
  if (firefox) {
    out.push('Firefox: WebGPU is on by default only in recent releases on Windows; elsewhere use Firefox Nightly or set dom.webgpu.enabled to true in about:config, or use Chrome or Edge.');
  } else if (safari) {
    out.push('Safari: WebGPU is on by default from Safari 26; on older versions enable "WebGPU" under Develop → Feature Flags, or use Chrome.');
  } else if (chrome || edge) {
    if (chromeVersion > 0 && chromeVersion < 113) out.push(`This is ${edge ? 'Edge' : 'Chrome'} ${chromeVersion}: update to version 113 or later.`);
    if (linux) {
      out.push('Linux: start the browser with --enable-unsafe-webgpu --enable-features=Vulkan (or enable chrome://flags/#enable-unsafe-webgpu) and install the Vulkan driver of your GPU.');
    } else if (android) {
      out.push('Android: WebGPU needs Chrome 121+ on Android 12 or later with a Qualcomm or ARM GPU.');
    } else {
      out.push('Open chrome://gpu (edge://gpu): if WebGPU is listed as disabled, update the GPU driver or enable chrome://flags/#enable-unsafe-webgpu.');
    }
  } else {
    out.push('Use a recent Chrome or Edge (113 or later) on Windows, macOS or ChromeOS; on Linux start it with --enable-unsafe-webgpu --enable-features=Vulkan.');
  }
  return out;
}
