// Drives headless Chromium over the DevTools protocol against GET /docs:
// the Swagger UI must load from the server alone, list the operations, and
// "Try it out" on POST /plan must return 200 with PLANNED legs. Saves a
// screenshot. Prints PASS/FAIL lines; exit status 1 when any failed.
// Usage: node --experimental-websocket docs_test.mjs DOCS_URL SCREENSHOT.png
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

const [docsUrl, screenshotPath] = process.argv.slice(2);
let failures = 0;
const pass = (name) => console.log(`PASS ${name}`);
const fail = (name, why) => {
  failures++;
  console.log(`FAIL ${name}: ${why}`);
};
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const profile = mkdtempSync('/tmp/ptexec-chromium-');
const chrome = spawn(process.env.CHROMIUM || 'chromium', [
  '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  `--user-data-dir=${profile}`, '--remote-debugging-port=0', '--window-size=1280,1800',
  'about:blank',
], { stdio: ['ignore', 'ignore', 'ignore'] });

async function devtoolsPort() {
  const file = `${profile}/DevToolsActivePort`;
  for (let i = 0; i < 300; i++) {
    if (existsSync(file)) {
      const port = readFileSync(file, 'utf8').split('\n')[0];
      if (port) return port;
    }
    await sleep(100);
  }
  throw new Error('Chromium did not open its DevTools port');
}

function connect(url) {
  const socket = new WebSocket(url);
  const pending = new Map();
  const consoleErrors = [];
  let next = 1;
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.id && pending.has(message.id)) {
      const { resolve, reject } = pending.get(message.id);
      pending.delete(message.id);
      if (message.error) reject(new Error(message.error.message));
      else resolve(message.result);
    } else if (message.method === 'Runtime.exceptionThrown') {
      consoleErrors.push(message.params.exceptionDetails.text);
    } else if (message.method === 'Log.entryAdded' && message.params.entry.level === 'error') {
      consoleErrors.push(message.params.entry.text + ' ' + (message.params.entry.url || ''));
    }
  };
  const opened = new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = () => reject(new Error('DevTools socket error'));
  });
  const send = (method, params = {}) => new Promise((resolve, reject) => {
    const id = next++;
    pending.set(id, { resolve, reject });
    socket.send(JSON.stringify({ id, method, params }));
  });
  return { opened, send, socket, consoleErrors };
}

async function evaluate(session, expression) {
  const reply = await session.send('Runtime.evaluate', {
    expression, returnByValue: true, awaitPromise: true,
  });
  if (reply.exceptionDetails) throw new Error(reply.exceptionDetails.text);
  return reply.result.value;
}

// Polls `expression` until it returns a truthy value (or ~20 s pass).
async function waitFor(session, expression) {
  for (let i = 0; i < 200; i++) {
    const value = await evaluate(session, expression);
    if (value) return value;
    await sleep(100);
  }
  return null;
}

async function run() {
  const port = await devtoolsPort();
  const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
  const page = targets.find((t) => t.type === 'page');
  const session = connect(page.webSocketDebuggerUrl);
  await session.opened;
  await session.send('Runtime.enable');
  await session.send('Log.enable');
  await session.send('Page.enable');
  await session.send('Page.navigate', { url: docsUrl });

  const paths = await waitFor(session, `(() => {
    const found = [...document.querySelectorAll('.opblock-summary-path')]
      .map((e) => e.getAttribute('data-path') || e.textContent.trim());
    return found.length >= 8 ? found : null;
  })()`);
  const wanted = ['/execute', '/plan', '/holdings', '/brokers', '/health', '/metrics',
    '/openapi.json', '/docs'];
  const missing = paths ? wanted.filter((p) => !paths.includes(p)) : wanted;
  if (missing.length === 0) pass('Swagger UI lists every operation of /openapi.json');
  else fail('Swagger UI lists every operation', `missing ${missing.join(', ')}`);

  const title = await evaluate(session, `document.querySelector('.info .title')?.textContent || ''`);
  if (title.includes('ptexec')) pass('Swagger UI shows the API title from the document');
  else fail('Swagger UI title', `got '${title}'`);

  const overview = await session.send('Page.captureScreenshot', { format: 'png' });
  writeFileSync(screenshotPath.replace(/\.png$/, '-overview.png'), Buffer.from(overview.data, 'base64'));

  // Try it out on POST /plan with the example body (the seed example).
  const opened = await waitFor(session, `(() => {
    const block = document.getElementById('operations-execution-plan');
    if (!block) return false;
    if (!block.classList.contains('is-open'))
      (block.querySelector('.opblock-summary-control') || block.querySelector('.opblock-summary')).click();
    return true;
  })()`);
  const tried = opened && await waitFor(session, `(() => {
    const button = document.querySelector('#operations-execution-plan .try-out__btn');
    if (!button) return false;
    if (button.textContent.includes('Try it out')) button.click();
    return true;
  })()`);
  const executed = tried && await waitFor(session, `(() => {
    const button = document.querySelector('#operations-execution-plan .execute');
    if (!button) return false;
    button.click();
    return true;
  })()`);
  const response = executed && await waitFor(session, `(() => {
    const block = document.getElementById('operations-execution-plan');
    const status = block.querySelector('.live-responses-table .response .response-col_status');
    const body = block.querySelector('.live-responses-table .response-col_description pre');
    if (!status || !body) return null;
    return { status: status.textContent.trim(), body: body.textContent };
  })()`);
  if (response && response.status.startsWith('200') && response.body.includes('"PLANNED"') &&
      response.body.includes('RELIANCE')) {
    pass('"Try it out" on POST /plan returns 200 with PLANNED legs');
  } else {
    fail('"Try it out" on POST /plan', JSON.stringify(response).slice(0, 300));
  }

  await evaluate(session, `document.getElementById('operations-execution-plan')?.scrollIntoView()`);
  const shot = await session.send('Page.captureScreenshot', { format: 'png' });
  writeFileSync(screenshotPath, Buffer.from(shot.data, 'base64'));
  if (readFileSync(screenshotPath).length > 10000) pass(`screenshot saved to ${screenshotPath}`);
  else fail('screenshot', 'the PNG is suspiciously small');

  const errors = session.consoleErrors.filter((e) => !e.includes('favicon'));
  if (errors.length === 0) pass('no script errors or failed loads in the page (works offline)');
  else fail('page errors', errors.slice(0, 3).join(' | '));
  session.socket.close();
}

try {
  await run();
} catch (error) {
  fail('driving Chromium', error.message);
} finally {
  chrome.kill('SIGTERM');
  await sleep(300);
  rmSync(profile, { recursive: true, force: true });
}
process.exit(failures ? 1 : 0);
