// The dashboard in a real headless Chromium (Debian's, never a downloaded
// one): every first-release page loads without console errors or CSP
// violations and shows its heading, charts and tables; suite → run → test in
// three clicks; a history-strip cell lands on the run page at that test;
// branch and window controls change the page; pages work without scripts;
// sign-in works with a read token. Saves screenshots and timings.
//
// A stored report shows its report-metrics program's figures.
//
// Usage: node check.mjs BASE_URL SIGNED_BASE_URL READ_TOKEN OUT_DIR REPORT_ID
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

// playwright-core lives where run.sh installed it (PLAYWRIGHT_MODULES), not beside this file.
const { chromium } = createRequire(path.join(process.env.PLAYWRIGHT_MODULES, "noop.js"))("playwright-core");

const [base, signedBase, readToken, out, reportId] = process.argv.slice(2);
const shots = path.join(out, "screenshots");
fs.mkdirSync(shots, { recursive: true });
const failures = [];
const check = (ok, what) => {
  if (!ok) failures.push(what);
  console.log(`${ok ? "ok  " : "FAIL"} ${what}`);
};

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu"],
});

async function newPage(options = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, ...options });
  const page = await context.newPage();
  page.errors = [];
  page.on("console", (m) => { if (m.type() === "error") page.errors.push(m.text()); });
  page.on("pageerror", (e) => page.errors.push(String(e)));
  page.on("dialog", async (d) => { page.errors.push(`a dialog opened: ${d.message()}`); await d.dismiss(); });
  return page;
}

// Paint timings of the page just loaded (LCP through a buffered observer).
async function timings(page) {
  return page.evaluate(() => new Promise((resolve) => {
    const nav = performance.getEntriesByType("navigation")[0];
    const fcp = performance.getEntriesByName("first-contentful-paint")[0];
    let lcp = 0;
    new PerformanceObserver((list) => { for (const e of list.getEntries()) lcp = Math.max(lcp, e.startTime); })
      .observe({ type: "largest-contentful-paint", buffered: true });
    setTimeout(() => resolve({
      responseStart: nav.responseStart, domContentLoaded: nav.domContentLoadedEventEnd, load: nav.loadEventEnd,
      fcp: fcp ? fcp.startTime : null, lcp,
    }), 100);
  }));
}

async function visibleBoxes(page, selector) {
  return page.$$eval(selector, (els) => els.map((e) => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0; }));
}

const page = await newPage();
const report = {};
async function visit(name, url, { charts = true, rows = true } = {}) {
  page.errors = [];
  const response = await page.goto(url, { waitUntil: "load" });
  check(response.status() === 200, `${name}: 200 (${response.status()})`);
  check(await page.locator("h1").first().isVisible(), `${name}: h1 visible`);
  if (charts) {
    const boxes = await visibleBoxes(page, "svg[role=img]");
    check(boxes.length > 0 && boxes.every(Boolean), `${name}: ${boxes.length} charts drawn with a box`);
  }
  if (rows) check((await page.locator("tbody tr").count()) > 0, `${name}: table rows`);
  const t = await timings(page);
  report[name] = { url, ...t, bytes: (await page.content()).length };
  check(t.lcp > 0 && t.lcp <= 1000, `${name}: LCP ${t.lcp.toFixed(0)} ms ≤ 1000 ms`);
  check(page.errors.length === 0, `${name}: no console errors or CSP violations ${JSON.stringify(page.errors)}`);
  await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: false });
}

// The click path: suite summary → first recent run → a failed test → a strip cell.
await visit("overview", `${base}/`, { charts: true, rows: true });
await page.click("td.name a[href^='/s/web?']");
check(new URL(page.url()).pathname === "/s/web", "overview → suite summary");
await visit("suite", page.url());
// The newest run with a failure (a pytest-monitor session is a run without one).
const recent = page.locator("h2:has-text('Recent runs') + table tbody tr:has(.o.failed) a[href*='/runs/']").first();
await recent.click();
check(/\/s\/web\/runs\/\d+/.test(new URL(page.url()).pathname), `click 1: the run page (${page.url()})`);
await visit("run", page.url(), { charts: false });
await page.locator("tr:has(.o.failed) td.name a[href*='/tests/']").first().click();
const testUrl = new URL(page.url());
check(/\/s\/web\/tests\/\d+/.test(testUrl.pathname), `click 2: the test page (${page.url()})`);
await visit("test", page.url());
check((await page.locator("[data-owners]").textContent())?.trim() === "Owners: @web-team (primary)", "the test page names the test's owners");
const testId = testUrl.pathname.split("/").pop();
// The newest run where it failed (a cell of a run it did not run in links to that run, without a row).
const cell = page.locator("svg.strip a:has(rect.o-fail)").last();
await cell.click();
const landed = new URL(page.url());
check(/\/s\/web\/runs\/\d+/.test(landed.pathname) && landed.hash === `#t-${testId}`, `click 3: a strip cell lands on the run at the test (${page.url()})`);
check(await page.locator(`tr#t-${testId}`).isVisible(), "the targeted row is on the run page");
check(await page.evaluate((id) => document.querySelector(":target")?.id === `t-${id}`, testId), "CSS :target is that row");

await visit("runs", `${base}/s/web/runs?branch=main&window=14d`, { charts: false });
await visit("tests", `${base}/s/web/tests?branch=main&window=14d`, { charts: false });
// Flaky tests: ranked, each explained; the test page says why.
await visit("flaky", `${base}/s/web/flaky?branch=main&window=14d`);
check((await page.locator("tbody tr .o.flaky, tbody tr .o.failed").count()) > 0, "flaky: flaky or broken tests listed");
await page.locator("tbody tr td.name a").first().click();
check(/\/s\/web\/tests\/\d+/.test(new URL(page.url()).pathname) && (await page.locator("p.state-line").isVisible()), "flaky → a test page with its state line");

// The test-suite report: its totals are its twin's; a bar opens its run.
await visit("report", `${base}/s/web/report?branch=main&window=14d`);
const reportTwin = await (await page.request.get(`${base}/api/v1/suites/web/report?branch=main&window=14d`)).json();
const shownRuns = Number(await page.locator("[data-json='totals.batches']").textContent());
check(reportTwin.totals.batches > 0 && shownRuns === reportTwin.totals.batches, `report: ${shownRuns} runs, as its twin says (${reportTwin.totals.batches})`);
check((await page.locator("h2:has-text('Tests, most failing first') + table tbody tr").count()) > 0, "report: tests, most failing first");
check(await page.locator("h2:has-text('Resource use per run')").isVisible(), "report: the sampled run's memory and CPU");
check((await page.locator("h2:has-text('Stored reports') + p + table tbody tr").count()) === 1, "report: the stored report is listed");
await page.locator("h2:has-text('Resource use per run') + p + svg").screenshot({ path: path.join(shots, "report-resources.png") });
await page.locator("h2:has-text('Stored reports') + p + table").screenshot({ path: path.join(shots, "report-stored-list.png") });
await page.locator("svg.chart a[href*='/runs/']").first().click();
check(/\/s\/web\/runs\/\d+/.test(new URL(page.url()).pathname), `report: a bar opens its run (${page.url()})`);

// A stored report with its program's metrics (the captured default_report_metrics file).
await visit("stored-report", `${base}/reports/${reportId}`);
const metricHeads = await page.locator("#program-metrics h3.metric").allTextContents();
check(metricHeads.length === 7 && metricHeads[0].startsWith("test_status_over_time"), `stored report: the program's 7 metrics in its order (${metricHeads.length})`);
const figures = await visibleBoxes(page, "#program-metrics svg.chart");
check(figures.length === 3 && figures.every(Boolean), `stored report: the batchwise bars, the box and the line drawn (${figures.length})`);
check((await page.locator("#program-metrics table tbody tr").count()) >= 6, "stored report: its plotly tables as tables");
await page.locator("#program-metrics").screenshot({ path: path.join(shots, "stored-report-metrics.png") });

// Failures by cause: the list, then one cause with its tests and latest failures.
await visit("webhooks", `${base}/s/web/webhooks`, { charts: false, rows: false });
check((await page.locator("section.endpoint h2 code").first().textContent()).startsWith("ep_"), "webhooks: the endpoint is listed");
check(!(await page.content()).includes("127.0.0.1:9/hook"), "webhooks: the URL shows its host only");
await visit("failures", `${base}/s/web/failures?branch=main&window=14d`, { charts: false });
await page.locator("td.name a[href*='/failures/']").first().click();
check(/\/s\/web\/failures\/[0-9a-f]+/.test(new URL(page.url()).pathname), `failures → a cluster page (${page.url()})`);
await visit("cluster", page.url());

// The "can this ship?" pages: a batch in progress explains each failing test, the grid drills down.
await visit("aggregate-batches", `${base}/s/web/aggregate`, { charts: false });
await page.click("td.name a[href*='job=e2e']");
await visit("aggregate", `${page.url()}&expected=12`);
check((await page.locator("text=/needs \d+ more pass|can no longer pass|has the passes it needs/").count()) > 0, "aggregate: passes still needed are shown");
await page.locator("details:has-text('Why this threshold?') > summary").first().click();
check(await page.locator("details[open] tr.observed").first().isVisible(), "aggregate: the threshold table marks this batch's pass count");
await visit("compare", `${base}/s/web/compare?basis=main:28d&sample=release:28d`, { charts: false });
await page.locator("td.name a[href*='scope=']").first().click();
check(new URL(page.url()).searchParams.get("scope") !== null && (await page.locator("h2:has-text('Tests of')").isVisible()), "compare: a scope drills down");

// The hostile test: its heading is the literal text, and nothing ran.
await page.goto(`${base}/s/web/tests?branch=main&window=14d&q=script`);
await page.locator("td.name a").first().click();
check((await page.locator("h1 code").textContent()) === "<script>alert(1)</script>", "the hostile name is shown as text");
check(page.errors.length === 0, `no alert, no error on the hostile test ${JSON.stringify(page.errors)}`);
await page.screenshot({ path: path.join(shots, "test-hostile.png") });

// Branch picker and window links change the URL and the content.
await page.goto(`${base}/s/web?branch=main&window=14d`);
const mainRuns = await page.locator("[data-json='kpis.runs.value']").textContent();
await page.selectOption("form.controls select[name=branch]", "release");
await Promise.all([page.waitForURL(/branch=release/), page.click("form.controls button[type=submit]")]);
const releaseRuns = await page.locator("[data-json='kpis.runs.value']").textContent();
check(mainRuns !== releaseRuns, `the branch picker changes the content (${mainRuns} → ${releaseRuns} runs)`);
await page.click(".windows a:has-text('7d')");
check(page.url().includes("window=7d") && (await page.locator(".windows a.on").textContent()) === "7d", "a window link changes the URL");

// Without scripts, tables and charts are still there.
const noJs = await newPage({ javaScriptEnabled: false });
for (const [name, url] of [["suite", `${base}/s/web?branch=main&window=14d`], ["test", `${base}${testUrl.pathname}?branch=main&window=14d`]]) {
  await noJs.goto(url);
  const charts = await visibleBoxes(noJs, "svg[role=img]");
  check(charts.length > 0 && charts.every(Boolean) && (await noJs.locator("tbody tr").count()) > 0, `${name} without scripts: charts and tables`);
}

// Phone-sized screenshots of the suite and test pages.
const phone = await newPage({ viewport: { width: 390, height: 844 } });
for (const [name, url] of [["suite-phone", `${base}/s/web?branch=main&window=14d`], ["test-phone", `${base}${testUrl.pathname}?branch=main&window=14d`]]) {
  await phone.goto(url);
  await phone.screenshot({ path: path.join(shots, `${name}.png`) });
}

// Sign-in on a server with a read token.
const guest = await newPage();
await guest.goto(`${signedBase}/s/web?branch=main&window=14d`);
check(await guest.locator("input[name=token]").isVisible(), "a read-token server shows the sign-in form");
check(!(await guest.content()).includes("test_broken"), "and no data");
await guest.screenshot({ path: path.join(shots, "signin.png") });
// The form is answered 401 on purpose (Chromium logs that as a failed load); what follows must be clean.
guest.errors = [];
await guest.fill("input[name=token]", readToken);
await Promise.all([guest.waitForURL(/\/s\/web\?/), guest.click("form[action='/signin'] button")]);
check((await guest.locator("h1").textContent()).includes("Web"), "signed in, the page it asked for");
check(guest.errors.length === 0, `no console errors while signing in ${JSON.stringify(guest.errors)}`);

fs.writeFileSync(path.join(out, "timings.json"), JSON.stringify(report, null, 2));
await browser.close();
if (failures.length) {
  console.error(`browser: ${failures.length} check(s) failed:\n  ${failures.join("\n  ")}`);
  process.exit(1);
}
console.log(`browser: all checks passed; screenshots in ${shots}`);
