// Drives Debian's Chromium (never a downloaded browser) through the status page for
// tests/e2e/status_page.rs, on a 1920×1080 wall screen. Usage: node status_page.mjs '<json>':
//   {"url": page URL, "envs": how many cards, "zone": the zone the page must name,
//    "expect": [texts that must appear after the change], "absent": [texts that must not, before],
//    "changed": env whose card must show `expect`, "frozenFree": [envs frozen with no holder],
//    "truncated": [{"env", "text"}: text cut with an ellipsis on env's card, whole in its title],
//    "screenshot": PNG path}
// Protocol on stdout: prints `ready` once the page is loaded and its event stream is live, then
// waits (up to 5 s) for every `expect` text to appear without a reload, checks the page (it fits
// the screen, one state per env, no markup from users, a running countdown, the same markup as
// the server's first paint), takes the screenshots and prints one JSON line. Any failure exits
// non-zero with the reason on stderr.
import { chromium } from "playwright-core";

const job = JSON.parse(process.argv[2]);
const { url, expect, absent, screenshot } = job;
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

// The page fits the screen: nothing to scroll, either way.
async function fits(page, when) {
  const size = await page.evaluate(() => ({
    scrollHeight: document.documentElement.scrollHeight, height: window.innerHeight,
    scrollWidth: document.documentElement.scrollWidth, width: window.innerWidth,
  }));
  if (size.scrollHeight > size.height || size.scrollWidth > size.width) {
    await page.screenshot({ path: screenshot, fullPage: true });
    fail(`${when}, the page scrolls: ${JSON.stringify(size)}`);
  }
  return size;
}

// Each env's card: its name, its state word, its visible text.
const cards = (page) => page.$$eval("#envs article.env", (list) => list.map((c) => ({
  env: c.querySelector(".name").title,
  state: c.querySelector(".state").textContent,
  text: c.innerText,
  classes: c.className,
})));

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
    ({ texts, env }) => {
      const card = [...document.querySelectorAll("#envs article.env")]
        .find((c) => c.querySelector(".name").title === env);
      return card && texts.every((t) => card.textContent.includes(t));
    },
    { texts: expect, env: job.changed }, { timeout: 5_000 },
  ).catch(async () => {
    await page.screenshot({ path: screenshot });
    fail(`within 5 s ${job.changed} did not show ${JSON.stringify(expect)}; the page shows:\n${await page.textContent("#envs")}`);
  });

  const same = await page.evaluate(() => window.__sameDocument === true);
  if (!same || loads !== 1) fail(`the page reloaded (loads: ${loads}); it must update in place`);
  if (await page.$("#envs img, #envs script")) fail("markup from a reason became an element");
  if (await page.evaluate(() => window.__xss !== undefined)) fail("script from a reason ran");

  // A wall screen: every env on one 1920×1080 screen, nothing to scroll.
  const size = await fits(page, "with every env shown");
  const shown = await cards(page);
  if (shown.length !== job.envs) fail(`${shown.length} cards, not ${job.envs}`);
  const changed = shown.find((c) => c.env === job.changed);
  if (changed.state !== "LOCKED") fail(`${job.changed} says ${changed.state} after the lock`);

  // One state per env, never a contradiction: frozen with no holder says FROZEN, never Free.
  for (const env of job.frozenFree) {
    const card = shown.find((c) => c.env === env);
    if (!card) fail(`no card for ${env}`);
    if (card.state !== "FROZEN" || /free/i.test(card.text)) {
      fail(`${env} is frozen with no holder but reads:\n${card.text}`);
    }
  }
  for (const card of shown) {
    const words = ["LOCKED", "CLAIMED", "FROZEN", "FREE"].filter((w) => card.state.includes(w));
    const held = /LOCKED|CLAIMED/.test(card.state);
    if (!words.length || (held && card.state.includes("FREE"))) fail(`${card.env}: state "${card.state}"`);
  }

  // Long text is cut with an ellipsis on one line, and whole in its title.
  for (const { env, text } of job.truncated) {
    const found = await page.$$eval("#envs article.env", (list, { env, text }) => {
      const card = list.find((c) => c.querySelector(".name").title === env);
      const e = card && [...card.querySelectorAll("[title]")].find((x) => x.title === text);
      if (!e) return null;
      const style = getComputedStyle(e);
      return {
        cut: e.scrollWidth > e.clientWidth, ellipsis: style.textOverflow,
        height: e.getBoundingClientRect().height, fontSize: style.fontSize,
      };
    }, { env, text });
    if (!found) fail(`${env}: no element whose title is the whole of "${text}"`);
    if (!found.cut || found.ellipsis !== "ellipsis") fail(`${env}: "${text}" is not cut: ${JSON.stringify(found)}`);
    if (found.height > parseFloat(found.fontSize) * 2) fail(`${env}: "${text}" wraps: ${JSON.stringify(found)}`);
  }

  // Times in the page's zone, named in the header; no time labelled as UTC.
  const zone = await page.textContent("#zone");
  if (zone !== job.zone) fail(`the page names zone "${zone}", not ${job.zone}`);
  if ((await page.innerText("body")).includes(" UTC")) fail("a time is labelled UTC");

  // The strip: the next 24 hours, with the holds and the freezes on it.
  const bars = await page.$$eval("#envs svg.strip rect.bar", (list) => list.map((r) => r.getAttribute("class")));
  for (const kind of ["bar locked", "bar claimed", "bar frozen"]) {
    if (!bars.includes(kind)) fail(`no ${kind} on any strip: ${bars}`);
  }

  // The countdown runs in the browser, between fetches.
  const first = await page.textContent("[data-until]");
  await page.waitForFunction(
    (was) => document.querySelector("[data-until]").textContent !== was, first, { timeout: 3_000 },
  ).catch(() => fail(`the countdown did not move in 3 s: ${first}`));
  const second = await page.textContent("[data-until]");

  // The server's first paint (JavaScript off) and the script's render build the same markup,
  // up to the countdowns' text and where "now" puts things on the strips.
  const still = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1920, height: 1080 } });
  const staticPage = await still.newPage();
  const firstPaint = await staticPage.goto(url).then((r) => r.frame().innerHTML("#envs"));
  await fits(staticPage, "without JavaScript");
  await still.close();
  const untimed = (html) => html
    .replace(/(data-(?:until|since|in)="[^"]*">)[^<]*</g, "$1<")
    .replace(/ class="left soon"/g, ' class="left"')
    .replace(/ (x|x1|x2|width)="[0-9.]+%"/g, ' $1=""');
  const rendered = await page.innerHTML("#envs");
  if (untimed(firstPaint) !== untimed(rendered)) {
    fail(`the first paint and the script render differently:\n${firstPaint}\n---\n${rendered}`);
  }

  await page.screenshot({ path: screenshot });
  await page.setViewportSize({ width: 420, height: 900 });
  await page.screenshot({ path: screenshot.replace(/\.png$/, "-narrow.png"), fullPage: true });
  if (problems.length) fail(problems.join("\n"));
  console.log(JSON.stringify({ ok: true, loads, size, countdown: [first, second] }));
} finally {
  await browser.close();
}
