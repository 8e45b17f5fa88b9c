// Largest contentful paint of the suite, run and test pages, cold cache, in
// Debian's headless Chromium: node bench/ui_lcp.mjs BASE_URL (target ≤ 1 s).
import { createRequire } from "node:module";
import path from "node:path";

const { chromium } = createRequire(path.join(process.env.PLAYWRIGHT_MODULES, "noop.js"))("playwright-core");
const base = process.argv[2];
const get = async (p) => (await fetch(base + p)).json();
const runs = await get("/api/v1/suites/bench/runs?branch=main&window=14d&per_page=1");
const tests = await get("/api/v1/suites/bench/tests/search?branch=main&window=14d&sort=failing");
const heavy = await get("/api/v1/suites/bench/tests/search?branch=main&window=14d&q=test_heavy");
const pages = {
  suite: "/s/bench?branch=main&window=14d",
  run: `/s/bench/runs/${runs[0].id}?branch=main&window=14d`,
  test: `/s/bench/tests/${tests.rows[0].test.id}?branch=main&window=14d`,
  "test heavy 90d": `/s/bench/tests/${heavy.rows[0].test.id}?branch=main&window=90d`,
};
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: ["--no-sandbox", "--disable-gpu"] });
let missed = 0;
for (const [name, p] of Object.entries(pages)) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.goto(base + p, { waitUntil: "load" });
  const lcp = await page.evaluate(() => new Promise((resolve) => {
    let v = 0;
    new PerformanceObserver((l) => { for (const e of l.getEntries()) v = Math.max(v, e.startTime); }).observe({ type: "largest-contentful-paint", buffered: true });
    setTimeout(() => resolve(v), 100);
  }));
  const ok = lcp > 0 && lcp <= 1000;
  if (!ok) missed++;
  console.log(`LCP ${name.padEnd(16)} ${lcp.toFixed(0).padStart(5)} ms  (≤ 1000 ms: ${ok ? "met" : "MISSED"})`);
  await context.close();
}
await browser.close();
process.exit(missed ? 1 : 0);
