// A recharts chart as a standalone SVG file: its <svg> cloned with the page's CSS variables
// resolved to colours (a file has no stylesheet), a white background, and the legend (HTML in
// recharts) drawn as SVG text below the plot.

const NS = 'http://www.w3.org/2000/svg';

/** Replaces var(--name) with the page's value of that custom property. */
function resolveVars(value: string, css: CSSStyleDeclaration): string {
  return value.replace(/var\((--[\w-]+)\)/g, (_, name: string) => css.getPropertyValue(name).trim() || '#888');
}

/**
 * The SVG text of the chart inside `figure` (its recharts surface), with width and height in CSS
 * pixels. Throws when the figure holds no chart.
 */
export function chartSvg(figure: HTMLElement): { text: string; width: number; height: number } {
  // The plot's surface (the legend's icons are small recharts surfaces too).
  const svg = figure.querySelector<SVGSVGElement>('.recharts-wrapper > svg.recharts-surface');
  if (!svg) throw new Error('the chart has not been drawn yet');
  const css = getComputedStyle(document.documentElement);
  const box = svg.getBoundingClientRect();
  const width = Math.round(box.width) || Number(svg.getAttribute('width')) || 600;
  const plotH = Math.round(box.height) || Number(svg.getAttribute('height')) || 260;
  const items = [...figure.querySelectorAll<HTMLElement>('.recharts-legend-item')].map((li) => ({
    text: li.textContent ?? '',
    color: resolveVars(li.querySelector('path, line')?.getAttribute('stroke') ?? li.querySelector('path')?.getAttribute('fill') ?? '#888', css),
  }));
  const title = figure.querySelector('h3')?.textContent ?? '';
  const top = title ? 24 : 0;
  const height = top + plotH + items.length * 18 + (items.length ? 8 : 0);
  const clone = svg.cloneNode(true) as SVGSVGElement;
  for (const el of [clone, ...clone.querySelectorAll('*')]) {
    for (const a of [...el.attributes]) if (a.value.includes('var(')) el.setAttribute(a.name, resolveVars(a.value, css));
    const style = el.getAttribute('style');
    if (style?.includes('var(')) el.setAttribute('style', resolveVars(style, css));
  }
  const out = document.createElementNS(NS, 'svg');
  out.setAttribute('xmlns', NS);
  out.setAttribute('width', String(width));
  out.setAttribute('height', String(height));
  out.setAttribute('viewBox', `0 0 ${width} ${height}`);
  out.setAttribute('font-family', 'sans-serif');
  const bg = document.createElementNS(NS, 'rect');
  bg.setAttribute('width', '100%');
  bg.setAttribute('height', '100%');
  bg.setAttribute('fill', '#ffffff');
  out.appendChild(bg);
  if (title) {
    const t = document.createElementNS(NS, 'text');
    t.setAttribute('x', '8');
    t.setAttribute('y', '17');
    t.setAttribute('font-size', '14');
    t.textContent = title;
    out.appendChild(t);
  }
  const g = document.createElementNS(NS, 'g');
  g.setAttribute('transform', `translate(0 ${top})`);
  clone.removeAttribute('class');
  clone.setAttribute('width', String(width));
  clone.setAttribute('height', String(plotH));
  g.appendChild(clone);
  out.appendChild(g);
  items.forEach((it, i) => {
    const y = top + plotH + 14 + i * 18;
    const line = document.createElementNS(NS, 'line');
    line.setAttribute('x1', '12');
    line.setAttribute('x2', '32');
    line.setAttribute('y1', String(y - 4));
    line.setAttribute('y2', String(y - 4));
    line.setAttribute('stroke', it.color);
    line.setAttribute('stroke-width', '2');
    const t = document.createElementNS(NS, 'text');
    t.setAttribute('x', '38');
    t.setAttribute('y', String(y));
    t.setAttribute('font-size', '12');
    t.textContent = it.text;
    out.append(line, t);
  });
  return { text: new XMLSerializer().serializeToString(out), width, height };
}
