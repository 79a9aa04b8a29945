// Drives the real OHIF viewer in Debian's chromium with puppeteer-core (issue 8).
//
// Usage: node ohif_driver.mjs JOB.json  (prints one JSON object on stdout)
// JOB: {url, outDir, puppeteer (path of the puppeteer-core package), chromium, timeoutMs,
//       width, height, targets: [{name, sopInstanceUID, trackingUID, points: [[x, y], ...]}]}
//
// Opens `url` (OHIF's /basic route with an SR series as the initial series), waits for a
// condition (an SR annotation drawn in the viewport's SVG layer, OHIF's error boundary, or an SR
// loaded with nothing to draw, then network idle), never a fixed time; then for each target: makes it the viewport's image, waits until its annotation is
// drawn, reads the annotation's text lines from the DOM, maps the target's image points to
// page pixels with cornerstone's own transforms, and takes a screenshot.
//
// OHIF 3.13.2's SR viewport shows only the image of the SR's first measurement group and, in
// the basic mode, offers no control to step to a group on another image (each DX image is its
// own display set). The first target is therefore the one OHIF opens; the others are shown by
// setting the same viewport's stack through cornerstone's API, which OHIF exposes as
// window.cornerstone. Each result says which way its image was shown (`shownBy`).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

const job = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const require = createRequire(path.join(job.puppeteer, 'package.json'));
const puppeteer = require(job.puppeteer);

const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run',
];
const ERROR_TEXT = 'Something went wrong';

/** Runs in the page: what the viewport shows now, or null before an image is there. */
function viewportState() {
  const element = document.querySelector('.cornerstone-viewport-element');
  const errorShown = document.body.innerText.includes('Something went wrong');
  if (!element || !window.cornerstone) return { errorShown, imageId: null, labels: {} };
  const enabled = window.cornerstone.getEnabledElement(element);
  const imageId = enabled?.viewport?.getCurrentImageId?.() ?? null;
  const annotations = [...element.querySelectorAll('svg.svg-layer g[data-annotation-uid]')];
  return {
    errorShown,
    imageId,
    polylines: [...element.querySelectorAll('svg.svg-layer polyline')].map((p) => ({
      points: p.getAttribute('points'),
      stroke: p.getAttribute('stroke'),
    })),
    viewportRect: (({ left, top, width, height }) => ({ left, top, width, height }))(
      element.getBoundingClientRect()),
    textBoxes: Object.fromEntries(annotations.map((g) => {
      const { left, top, width, height } = g.getBoundingClientRect();
      return [g.getAttribute('data-annotation-uid'), { left, top, width, height }];
    })),
    labels: Object.fromEntries(annotations.map((g) => [
      g.getAttribute('data-annotation-uid'),
      [...g.querySelectorAll('tspan')].map((t) => t.textContent),
    ])),
  };
}

/** Runs in the page: image points of the current image -> page pixels (CSS px). */
function toPage(points) {
  const element = document.querySelector('.cornerstone-viewport-element');
  const { viewport } = window.cornerstone.getEnabledElement(element);
  const imageId = viewport.getCurrentImageId();
  const canvas = viewport.getCanvas?.() ?? element.querySelector('canvas');
  const rect = canvas.getBoundingClientRect();
  const { utilities } = window.cornerstone;
  return points.map(([x, y]) => {
    const [cx, cy] = viewport.worldToCanvas(utilities.imageToWorldCoords(imageId, [x, y]));
    return [rect.left + cx, rect.top + cy];
  });
}

/** Runs in the page: show the image of `sopInstanceUID` in the SR viewport's stack. */
async function showImage(sopInstanceUID) {
  const element = document.querySelector('.cornerstone-viewport-element');
  const { viewport } = window.cornerstone.getEnabledElement(element);
  const imageId = window.services.displaySetService
    .getActiveDisplaySets()
    .flatMap((ds) => ds.images ?? [])
    .find((image) => image.SOPInstanceUID === sopInstanceUID)?.imageId;
  if (!imageId) return null;
  await viewport.setStack([imageId]);
  viewport.render();
  return imageId;
}

function sopOf(imageId) {
  const match = /\/instances\/([0-9.]+)\//.exec(imageId ?? '');
  return match ? match[1] : null;
}

async function main() {
  const started = Date.now();
  const result = { ok: false, error: null, pageErrors: [], views: [], timings: {} };
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cervi-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: job.chromium ?? '/usr/bin/chromium',
    args: FLAGS,
    headless: true,
    userDataDir,
    defaultViewport: { width: job.width ?? 1280, height: job.height ?? 800 },
  });
  let page = null;
  try {
    page = await browser.newPage();
    page.setDefaultTimeout(job.timeoutMs ?? 45000);
    page.on('pageerror', (e) => result.pageErrors.push(String(e.message).slice(0, 500)));
    await page.goto(job.url, { waitUntil: 'domcontentloaded' });
    result.timings.navigatedMs = Date.now() - started;

    // The first condition: OHIF drew an SR annotation, or gave up, or loaded an SR that has
    // nothing to draw (then the page is left to settle until the network is idle).
    await page.waitForFunction(
      (text) => document.body.innerText.includes(text) ||
        document.querySelector('.cornerstone-viewport-element svg.svg-layer :is(polyline, tspan)') ||
        window.services?.displaySetService?.getActiveDisplaySets()
          .some((ds) => ds.Modality === 'SR' && ds.isLoaded && !ds.measurements?.length),
      { polling: 100 }, ERROR_TEXT,
    );
    result.timings.firstAnnotationMs = Date.now() - started;
    let state = await page.evaluate(viewportState);
    if (!state.errorShown && !state.polylines?.length) {
      await page.waitForNetworkIdle({ idleTime: 500 });
      state = await page.evaluate(viewportState);
    }
    if (state.errorShown) {
      result.error = `OHIF: ${ERROR_TEXT}`;
      await page.screenshot({ path: path.join(job.outDir, 'error.png') });
      return result;
    }
    if (!job.targets.length) await page.screenshot({ path: path.join(job.outDir, 'opened.png') });

    const pending = [...job.targets];
    const firstSop = sopOf(state.imageId);
    pending.sort((a, b) => (b.sopInstanceUID === firstSop) - (a.sopInstanceUID === firstSop));
    for (const target of pending) {
      let shownBy = 'ohif';
      if (sopOf(state.imageId) !== target.sopInstanceUID) {
        shownBy = 'cornerstone.setStack';
        const imageId = await page.evaluate(showImage, target.sopInstanceUID);
        if (!imageId) {
          result.views.push({ name: target.name, error: 'image not among the display sets' });
          continue;
        }
        // The DOM condition for this image: it is current and its annotation's text is drawn.
        await page.waitForFunction(
          (sop, uid) => {
            const el = document.querySelector('.cornerstone-viewport-element');
            const id = window.cornerstone.getEnabledElement(el)?.viewport?.getCurrentImageId();
            return id?.includes(`/instances/${sop}/`) &&
              el.querySelector(`svg.svg-layer g[data-annotation-uid="${uid}"] tspan`);
          },
          { polling: 100 }, target.sopInstanceUID, target.trackingUID,
        );
        state = await page.evaluate(viewportState);
      }
      const screenshot = path.join(job.outDir, `${target.name}.png`);
      await page.screenshot({ path: screenshot });
      result.views.push({
        name: target.name,
        shownBy,
        sopInstanceUID: sopOf(state.imageId),
        labels: state.labels[target.trackingUID] ?? null,
        otherLabels: Object.keys(state.labels).filter((uid) => uid !== target.trackingUID),
        textBox: state.textBoxes[target.trackingUID] ?? null,
        viewportRect: state.viewportRect,
        polylines: state.polylines,
        expected: await page.evaluate(toPage, target.points),
        screenshot,
      });
    }
    result.timings.doneMs = Date.now() - started;
    result.ok = true;
    return result;
  } catch (error) {
    result.error = String(error?.stack ?? error);
    if (page) await page.screenshot({ path: path.join(job.outDir, 'failure.png') }).catch(() => {});
    return result;
  } finally {
    await browser.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}

main()
  .then((result) => process.stdout.write(JSON.stringify(result) + '\n'))
  .catch((error) => {
    process.stdout.write(JSON.stringify({ ok: false, error: String(error?.stack ?? error) }) + '\n');
    process.exitCode = 1;
  });
