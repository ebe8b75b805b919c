// End to end in a real browser: open the result page, then the vote page in another tab,
// click button "a", and wait (without reloading) until the result page shows the expected
// total. Drives Debian's chromium through playwright-core.
// Usage: node vote-and-watch.mjs VOTE_URL RESULT_URL "1 vote" [screenshot-dir]
import { chromium } from "playwright-core";

const [voteUrl, resultUrl, expected, shots] = process.argv.slice(2);
if (!voteUrl || !resultUrl || !expected) {
  console.error('usage: node vote-and-watch.mjs VOTE_URL RESULT_URL "1 vote" [screenshot-dir]');
  process.exit(2);
}
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
let failed = false;
try {
  const context = await browser.newContext();
  const results = await context.newPage();
  await results.goto(resultUrl);
  await results.waitForFunction(() => document.getElementById("total") !== null);
  const before = await results.textContent("#total");
  console.log(`result page before voting: ${before.trim()}`);

  const vote = await context.newPage();
  await vote.goto(voteUrl);
  console.log(`vote page title: ${await vote.title()}`);
  await vote.click("#a");
  await vote.waitForSelector("#a.chosen");
  console.log("clicked a; the vote page marks it chosen");

  const started = Date.now();
  await results.waitForFunction(
    (text) => document.getElementById("total").textContent.trim() === text,
    expected,
    { timeout: 15000 },
  );
  console.log(`result page shows "${expected}" after ${Date.now() - started} ms, no reload`);
  if (shots) {
    await vote.screenshot({ path: `${shots}/vote.png` });
    await results.screenshot({ path: `${shots}/result.png` });
  }
} catch (err) {
  console.error(`FAILED: ${err.message}`);
  failed = true;
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
