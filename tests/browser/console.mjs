// Drives Debian's Chromium (never a downloaded browser) through the web console for
// tests/e2e/web/browser.rs: sign in at the real OpenID provider, lock an env from the console's
// form, see it held, sign out through the provider and land back on Baton.
// Usage: node console.mjs '{"base": Baton's URL, "issuer": the provider's, "who": login,
//   "env": env to lock, "reason": text, "screenshot": PNG path}'
// Prints one JSON line; any failure exits non-zero with the reason on stderr.
import { chromium } from "playwright-core";

const job = JSON.parse(process.argv[2]);
const fail = (why) => { console.error(why); process.exitCode = 1; throw new Error(why); };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});

try {
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 }, javaScriptEnabled: false });
  const problems = [];
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) problems.push(`console: ${m.text()}`);
  });
  // Every answer that failed, but a browser's own favicon request.
  page.on("response", (r) => {
    if (r.status() >= 400 && !r.url().endsWith("/favicon.ico")) problems.push(`${r.status()} ${r.url()}`);
  });
  // The authorization request, as the browser sent it to the provider.
  let auth = null;
  page.on("request", (r) => { if (r.url().startsWith(`${job.issuer}/auth?`)) auth = new URL(r.url()); });

  // No session: the console sends the browser to the provider's sign-in form.
  await page.goto(`${job.base}/console`);
  if (!page.url().startsWith(job.issuer)) fail(`expected the provider's sign-in page, at ${page.url()}`);
  if (!auth) fail("the browser never sent an authorization request");
  await page.fill("#login", job.who);
  await Promise.all([page.waitForURL(`${job.base}/console`), page.click("#signin")]);

  // Signed in: the env's row offers Lock; fill in the form and press it.
  const row = page.locator(`#env-${job.env}`);
  const form = row.locator('form[data-action="lock"]');
  if (await form.count() !== 1) fail(`no Lock form on ${job.env}: ${await row.innerHTML()}`);
  await form.locator('input[name="duration"]').fill("30m");
  await form.locator('input[name="reason"]').fill(job.reason);
  await Promise.all([page.waitForURL(`${job.base}/console/act`), form.locator("button").click()]);
  const reply = await page.locator("#reply").innerText();
  if (!reply.includes("locked")) fail(`the lock's answer: ${reply}`);

  await page.goto(`${job.base}/console`);
  const holder = await page.locator(`#env-${job.env} .holder`).innerText();
  const state = await page.locator(`#env-${job.env} .state`).innerText();
  await page.screenshot({ path: job.screenshot, fullPage: true });
  // The env's history: a timeline bar for the hold just taken.
  await page.goto(`${job.base}/console/env/${job.env}`);
  const holds = await page.locator("svg.timeline rect.hold").count();
  await page.screenshot({ path: job.screenshot.replace(/\.png$/, "-history.png"), fullPage: true });

  // Sign out: through the provider's logout, back to Baton's signed-out page.
  await page.click('form.signout button[type="submit"]');
  await page.waitForSelector("#yes");
  await Promise.all([page.waitForURL(`${job.base}/web/signed-out`), page.click("#yes")]);
  await page.goto(`${job.base}/console`);
  const afterOut = page.url();

  console.log(JSON.stringify({
    ok: problems.length === 0,
    problems,
    pkce: auth.searchParams.get("code_challenge_method"),
    holder,
    state,
    holds,
    afterOut,
  }));
} finally {
  await browser.close();
}
