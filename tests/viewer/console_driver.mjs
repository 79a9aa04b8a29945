// Clicks through Cervi's operator console in Debian's chromium with puppeteer-core.
//
// Usage: node console_driver.mjs JOB.json   (stdin/stdout: see "live arrivals" below)
// JOB: {base, token, puppeteer, chromium, outDir, width, height, timeoutMs, finding, studyUid}
//
// Steps, each waiting for a condition in the page (never a fixed time):
//  1. open the console: redirected to the login form; type the token, submit;
//  2. the live arrivals panel fills (htmx's first poll);
//  3. filter: choose `finding`, click Filter; the studies table is swapped by htmx;
//  4. live arrivals: print {"waiting": "arrival"} on stdout, read one line (a SOP Instance UID)
//     from stdin, and wait until the polled panel shows that instance, without a reload;
//  5. open study `studyUid`, click Reprocess, read the message;
//  6. deliveries page filtered to failed ones, click the first Retry, read the message, reload
//     and read that delivery's state;
//  7. back to the unfiltered studies page for the screenshot (console.png; study.png and
//     deliveries.png are taken on the way).
// Prints one JSON object with what it saw as its last stdout line.
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { createRequire } from 'node:module';

const job = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const require = createRequire(path.join(job.puppeteer, 'package.json'));
const puppeteer = require(job.puppeteer);

const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run',
];

const lines = readline.createInterface({ input: process.stdin });
const nextLine = () => new Promise((resolve) => lines.once('line', resolve));

const seen = { steps: [] };
const browser = await puppeteer.launch({
  executablePath: job.chromium,
  args: [...FLAGS, `--window-size=${job.width},${job.height}`],
  defaultViewport: { width: job.width, height: job.height },
});
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(job.timeoutMs);
  const consoleErrors = [];
  page.on('pageerror', (error) => consoleErrors.push(String(error)));

  // 1. login
  await page.goto(`${job.base}/`, { waitUntil: 'load' });
  seen.loginUrl = page.url();
  await page.type('input[name=token]', job.token);
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  seen.afterLogin = page.url();
  seen.steps.push('login');

  // 2. arrivals panel filled by htmx
  await page.waitForSelector('#arrivals table tbody tr');
  seen.steps.push('arrivals');

  // 3. filter by finding
  const rowsBefore = await page.$$eval('#studies tr.study', (rows) => rows.length);
  await page.select('select[name=finding]', job.finding);
  await page.click('#apply-filters');
  await page.waitForFunction(
    (finding) => location.search.includes(`finding=${finding}`), {}, job.finding);
  await page.waitForFunction(
    (before) => document.querySelectorAll('#studies tr.study').length < before, {}, rowsBefore);
  seen.filtered = await page.$$eval(
    '#studies tr.study', (rows) => rows.map((r) => r.dataset.studyUid));
  seen.rowsBefore = rowsBefore;
  seen.filterUrl = page.url();
  seen.steps.push('filter');

  // 4. live arrivals
  process.stdout.write(JSON.stringify({ waiting: 'arrival' }) + '\n');
  const sop = (await nextLine()).trim();
  await page.evaluate(() => { window.cerviSamePage = true; });  // a reload would drop it
  await page.waitForFunction(
    (uid) => document.querySelector(`#arrivals tr[data-sop-instance-uid="${uid}"]`), {}, sop);
  seen.arrivalShown = sop;
  seen.reloaded = !(await page.evaluate(() => window.cerviSamePage === true));
  seen.steps.push('live');

  // 5. reprocess a study
  await page.goto(`${job.base}/studies/${job.studyUid}`, { waitUntil: 'load' });
  await page.click('#reprocess');
  await page.waitForFunction(() => document.querySelector('#message').innerText.trim() !== '');
  seen.reprocessMessage = await page.$eval('#message', (e) => e.innerText.trim());
  await page.screenshot({ path: path.join(job.outDir, 'study.png'), fullPage: true });
  seen.steps.push('reprocess');

  // 6. retry a failed delivery
  await page.goto(`${job.base}/deliveries?state=failed`, { waitUntil: 'load' });
  const deliveryId = await page.$eval('tr.delivery', (r) => r.dataset.deliveryId);
  seen.failedShown = await page.$$eval('tr.delivery', (rows) => rows.map((r) => ({
    id: r.dataset.deliveryId, text: r.innerText,
  })));
  await page.click(`tr.delivery[data-delivery-id="${deliveryId}"] button.retry`);
  await page.waitForFunction(() => document.querySelector('#message').innerText.trim() !== '');
  seen.retryMessage = await page.$eval('#message', (e) => e.innerText.trim());
  await page.goto(`${job.base}/deliveries`, { waitUntil: 'load' });
  seen.retriedId = deliveryId;
  await page.screenshot({ path: path.join(job.outDir, 'deliveries.png'), fullPage: true });
  seen.retriedState = await page.$eval(
    `tr.delivery[data-delivery-id="${deliveryId}"] .state`, (e) => e.innerText.trim());
  seen.steps.push('retry');

  // 7. the screenshot
  await page.goto(`${job.base}/`, { waitUntil: 'load' });
  await page.waitForSelector('#arrivals table tbody tr');
  await page.screenshot({ path: path.join(job.outDir, 'console.png') });
  seen.pageErrors = consoleErrors;
  seen.ok = true;
} catch (error) {
  seen.ok = false;
  seen.error = String(error && error.stack || error);
} finally {
  await browser.close();
  lines.close();
}
process.stdout.write(JSON.stringify(seen) + '\n');
