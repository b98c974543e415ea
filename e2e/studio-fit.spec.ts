// Text fits: at 1024 px no select box cuts its chosen text (Settings, Dataset), and table cells
// break between words, never inside one.
import { expect, test, type Page } from '@playwright/test';
import { dropFile, FROG_TEXTS, jsonl, loadLocalModel, openStudio, setUpFrogRun, startTraining, tab } from './studio-helpers';

/** Selects whose chosen option's text is wider than the box can show (label: text width > room). */
async function cutSelects(page: Page): Promise<string[]> {
  return page.locator('main select').evaluateAll((els) =>
    (els as HTMLSelectElement[]).flatMap((s) => {
      const text = s.selectedOptions[0]?.text ?? '';
      const cs = getComputedStyle(s);
      const probe = document.createElement('span');
      probe.style.cssText = `position:absolute;visibility:hidden;white-space:pre;font:${cs.font};letter-spacing:${cs.letterSpacing}`;
      probe.textContent = text;
      document.body.append(probe);
      const need = probe.getBoundingClientRect().width;
      probe.remove();
      // The room for text: the box minus its padding and the drop-down arrow (about 1.2em).
      const room = s.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight) - 1.2 * parseFloat(cs.fontSize);
      const all = s.scrollWidth <= s.clientWidth && need <= room;
      return all ? [] : [`${s.id || s.dataset.testid}: “${text}” needs ${Math.ceil(need)} px, has ${Math.floor(room)}`];
    }),
  );
}

test('at 1024 px no select cuts its text on Settings and Dataset', async ({ page }) => {
  await page.setViewportSize({ width: 1024, height: 900 });
  await openStudio(page);
  await loadLocalModel(page);
  await tab(page, 'Dataset');
  await dropFile(page, 'dataset-dropzone', 'frogs.jsonl', jsonl(FROG_TEXTS));
  await expect(page.getByTestId('dataset-examples')).toHaveText('24');
  const shapes = page.getByTestId('ds-format');
  for (const value of await shapes.locator('option').evaluateAll((os) => (os as HTMLOptionElement[]).map((o) => o.value))) {
    await shapes.selectOption(value);
    expect(await cutSelects(page)).toEqual([]);
  }
  await shapes.selectOption('auto');
  await tab(page, 'Settings');
  const quant = page.getByTestId('knob-quant');
  for (const value of await quant.locator('option').evaluateAll((os) => (os as HTMLOptionElement[]).map((o) => o.value))) {
    await quant.selectOption(value);
    expect(await cutSelects(page)).toEqual([]);
  }
});

/** Words of table cells that the layout splits over two lines ("attentio / n"). */
async function brokenWords(page: Page): Promise<string[]> {
  return page.locator('table.data td').evaluateAll((cells) => {
    const out: string[] = [];
    for (const td of cells) {
      const walk = document.createTreeWalker(td, NodeFilter.SHOW_TEXT);
      for (let n = walk.nextNode(); n; n = walk.nextNode()) {
        const text = n.textContent ?? '';
        for (const m of text.matchAll(/\S+/g)) {
          const range = document.createRange();
          range.setStart(n, m.index!);
          range.setEnd(n, m.index! + m[0].length);
          const tops = new Set([...range.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.top)));
          if (tops.size > 1) out.push(m[0]);
        }
      }
    }
    return out;
  });
}

test('Runs at 1024 px: no word cut inside a cell; a long run name is kept whole, shown with an ellipsis and its full text on hover', async ({ page }) => {
  await page.setViewportSize({ width: 1024, height: 900 });
  await openStudio(page);
  await setUpFrogRun(page, { steps: '2', evalEvery: '0' });
  await tab(page, 'Train');
  await startTraining(page);
  await expect(page.getByTestId('run-view')).toHaveAttribute('data-status', 'done', { timeout: 240_000 });
  await tab(page, 'Runs');
  expect(await brokenWords(page)).toEqual([]);
  const long = 'A very long run name that says which data, which rank and which learning rate were used, and why, in full detail';
  await page.getByRole('button', { name: /^Rename / }).click();
  await page.getByLabel('New run name').fill(long);
  await page.getByRole('button', { name: 'Save' }).click();
  const name = page.getByTestId('run-name');
  await expect(name).toHaveAttribute('title', long);
  await expect(name).toHaveText(long);
  expect(await name.evaluate((el) => el.scrollWidth > el.clientWidth && getComputedStyle(el).textOverflow === 'ellipsis')).toBe(true);
  expect(await brokenWords(page)).toEqual([]);
});
