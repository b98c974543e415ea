// The one list of hosts: the policy is built from it (strict script-src, connect-src = self + the
// list), the Hub code uses its endpoints, and README.md names exactly these hosts.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { contentSecurityPolicy, DATASETS_SERVER, HUB_CONNECT_SOURCES, HUB_ENDPOINT } from './hosts';

const directive = (csp: string, name: string) => csp.split('; ').find((d) => d.startsWith(`${name} `))?.slice(name.length + 1).split(' ');

describe('hosts and the Content-Security-Policy', () => {
  it('builds the policy from the one list: own origin + the Hub for connections, own scripts only', () => {
    const built = contentSecurityPolicy();
    expect(directive(built, 'connect-src')).toEqual(["'self'", ...HUB_CONNECT_SOURCES]);
    expect(directive(built, 'script-src')).toEqual(["'self'"]);
    expect(directive(built, 'worker-src')).toEqual(["'self'", 'blob:']);
    expect(built).not.toMatch(/unsafe-(inline|eval)/);
    expect(directive(built, 'frame-ancestors')).toEqual(["'none'"]);
    expect(directive(contentSecurityPolicy({ meta: true }), 'frame-ancestors')).toBeUndefined(); // ignored in <meta>
    const dev = contentSecurityPolicy({ dev: { nonce: 'abc' } });
    expect(directive(dev, 'script-src')).toEqual(["'self'", "'nonce-abc'"]);
    expect(directive(dev, 'connect-src')).toEqual(["'self'", ...HUB_CONNECT_SOURCES, 'ws://localhost:*', 'ws://127.0.0.1:*']);
  });
  it('covers the endpoints the Hub code uses', () => {
    expect(HUB_CONNECT_SOURCES).toContain(HUB_ENDPOINT);
    expect(HUB_CONNECT_SOURCES).toContain(DATASETS_SERVER);
  });
  it('README.md lists exactly these hosts', () => {
    const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
    const block = /<!-- hosts:begin[^>]*-->([\s\S]*?)<!-- hosts:end -->/.exec(readme);
    expect(block, 'README.md has the hosts block').not.toBeNull();
    const listed = [...block![1].matchAll(/^- `([^`]+)`$/gm)].map((m) => m[1]);
    expect(listed).toEqual([...HUB_CONNECT_SOURCES]);
  });
});
