// Drives Debian's Chromium (never a downloaded browser) through the status page for
// tests/e2e/status_page.rs. Usage: node status_page.mjs '<json>' where the JSON is
//   {"url": page URL, "expect": [texts that must appear], "absent": [texts that must not, yet],
//    "screenshot": PNG path}
// Protocol on stdout: prints `ready` once the page is loaded and its event stream is live, then
// waits (up to 5 s) for every `expect` text to appear without a reload, checks the page (no
// markup from users, a running countdown, the same markup as the server's first paint), takes the
// screenshots and prints one JSON line. Any failure exits non-zero with the reason on stderr.
import { chromium } from "playwright-core";

const { url, expect, absent, screenshot } = JSON.parse(process.argv[2]);
const fail = (why) => {
  console.error(why);
  process.exitCode = 1;
  throw new Error(why);
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
try {
  const page = await browser.newPage({ viewport: { width: 1920, height: 1080 } });
  const problems = [];
  page.on("console", (m) => { if (m.type() === "error") problems.push(`console: ${m.text()}`); });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  let loads = 0;
  page.on("load", () => { loads += 1; });

  await page.goto(url);
  await page.waitForSelector("#live.on", { timeout: 10_000 })
    .catch(() => fail("the page's event stream never went live (#live.on)"));
  const before = await page.textContent("#envs");
  for (const text of absent) if (before.includes(text)) fail(`\`${text}\` is on the page before the lock`);
  await page.evaluate(() => { window.__sameDocument = true; });

  console.log("ready");
  await page.waitForFunction(
    (texts) => texts.every((t) => document.getElementById("envs").textContent.includes(t)),
    expect, { timeout: 5_000 },
  ).catch(async () => {
    await page.screenshot({ path: screenshot });
    fail(`within 5 s the page did not show ${JSON.stringify(expect)}; it shows:\n${await page.textContent("#envs")}`);
  });

  const same = await page.evaluate(() => window.__sameDocument === true);
  if (!same || loads !== 1) fail(`the page reloaded (loads: ${loads}); it must update in place`);
  if (await page.$("#envs img, #envs script")) fail("markup from a reason became an element");
  if (await page.evaluate(() => window.__xss !== undefined)) fail("script from a reason ran");

  // The countdown runs in the browser, between fetches.
  const first = await page.textContent("[data-until]");
  await page.waitForFunction(
    (was) => document.querySelector("[data-until]").textContent !== was, first, { timeout: 3_000 },
  ).catch(() => fail(`the countdown did not move in 3 s: ${first}`));
  const second = await page.textContent("[data-until]");

  // The server's first paint (JavaScript off) and the script's render build the same markup.
  const still = await browser.newContext({ javaScriptEnabled: false });
  const firstPaint = await (await still.newPage()).goto(url).then((r) => r.frame().innerHTML("#envs"));
  await still.close();
  const untimed = (html) => html.replace(/(data-(?:until|since)="[^"]*">)[^<]*</g, "$1<");
  const rendered = await page.innerHTML("#envs");
  if (untimed(firstPaint) !== untimed(rendered)) {
    fail(`the first paint and the script render differently:\n${firstPaint}\n---\n${rendered}`);
  }

  await page.screenshot({ path: screenshot });
  await page.setViewportSize({ width: 420, height: 900 });
  await page.screenshot({ path: screenshot.replace(/\.png$/, "-narrow.png"), fullPage: true });
  if (problems.length) fail(problems.join("\n"));
  console.log(JSON.stringify({ ok: true, loads, countdown: [first, second] }));
} finally {
  await browser.close();
}
