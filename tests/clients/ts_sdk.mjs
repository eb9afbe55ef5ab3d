// The official TypeScript SDK (@anthropic-ai/sdk, ESM build) against a live gateway, as a user
// writes it. Run by tests/clients/test_typescript_sdk.py, which makes the assertions: this script
// only observes. It prints one JSON line per check: {"check", "value"} or {"check", "error"}.
//
// env: SPECGATE_URL, SPECGATE_KEY, SPECGATE_MODEL, SPECGATE_NODE_MODULES (where `make
// node-clients` installed the SDK; ESM ignores NODE_PATH, so the import is resolved from there).

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const baseURL = env('SPECGATE_URL');
const apiKey = env('SPECGATE_KEY');
const model = env('SPECGATE_MODEL');

// the package's own "import" entry point, through its exports map
const require = createRequire(join(env('SPECGATE_NODE_MODULES'), 'noop.js'));
const packageDir = dirname(require.resolve('@anthropic-ai/sdk'));
const manifest = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8'));
const entry = manifest.exports['.'].default;
const sdk = await import(pathToFileURL(join(packageDir, entry)).href);
const Anthropic = sdk.default;

const client = new Anthropic({ baseURL, apiKey, maxRetries: 0, timeout: 30_000 });
const hello = [{ role: 'user', content: 'Hello from TypeScript' }];
const weather = {
  name: 'get_weather',
  description: 'The weather in a city',
  input_schema: {
    type: 'object',
    properties: { city: { type: 'string' } },
    required: ['city'],
  },
};

function describeError(err) {
  const out = { name: err?.constructor?.name, message: String(err?.message ?? err) };
  if (err instanceof Anthropic.APIError) {
    Object.assign(out, {
      status: err.status,
      body: err.error,
      requestID: err.requestID,
      isBadRequest: err instanceof Anthropic.BadRequestError,
      isAuthentication: err instanceof Anthropic.AuthenticationError,
    });
  }
  return out;
}

async function check(name, fn) {
  let line;
  try {
    line = { check: name, value: await fn() };
  } catch (err) {
    line = { check: name, error: describeError(err) };
  }
  process.stdout.write(JSON.stringify(line) + '\n');
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

await check('create', async () => {
  const { data, response, request_id } = await client.messages
    .create({ model, max_tokens: 64, messages: hello })
    .withResponse();
  return { message: data, request_id, provider: response.headers.get('x-specgate-provider') };
});

await check('stream', async () => {
  const stream = client.messages.stream({ model, max_tokens: 64, messages: hello });
  const events = [];
  let text = '';
  stream.on('streamEvent', (event) => events.push(event.type));
  stream.on('text', (delta) => (text += delta));
  const message = await stream.finalMessage();
  return { events, text, message };
});

await check('tools', async () => {
  const ask = [{ role: 'user', content: 'What is the weather in Paris?' }];
  const first = await client.messages.create({
    model,
    max_tokens: 256,
    tools: [weather],
    tool_choice: { type: 'any' },
    messages: ask,
  });
  const call = first.content.find((block) => block.type === 'tool_use');
  if (!call) return { first, second: null };
  // the response content goes back as is: what the SDK returned must be accepted as input
  const second = await client.messages.create({
    model,
    max_tokens: 256,
    tools: [weather],
    messages: [
      ...ask,
      { role: 'assistant', content: first.content },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: call.id, content: '15 degrees, clear' }] },
    ],
  });
  return { first, second };
});

await check('count_tokens', () => client.messages.countTokens({ model, messages: hello }));

await check('models_list', async () => {
  const models = [];
  for await (const info of client.models.list({ limit: 1 })) models.push(info); // one per page: pagination
  return { models };
});

await check('batches', async () => {
  const params = { model, max_tokens: 32, messages: hello };
  const created = await client.messages.batches.create({
    requests: [
      { custom_id: 'first', params },
      { custom_id: 'second', params: { ...params, messages: [{ role: 'user', content: 'Second one' }] } },
    ],
  });
  const retrieved = await client.messages.batches.retrieve(created.id);
  let ended = retrieved;
  const deadline = Date.now() + 30_000;
  while (ended.processing_status !== 'ended' && Date.now() < deadline) {
    await sleep(200);
    ended = await client.messages.batches.retrieve(created.id);
  }
  const results = [];
  if (ended.processing_status === 'ended') {
    for await (const line of await client.messages.batches.results(created.id)) results.push(line);
  }
  const listed = [];
  for await (const batch of client.messages.batches.list({ limit: 20 })) listed.push(batch.id);
  return { created, retrieved, ended, results, listed };
});

await check('beta_context_management', async () => {
  const { data, response } = await client.beta.messages
    .create({
      betas: ['context-management-2025-06-27'],
      model,
      max_tokens: 2048,
      thinking: { type: 'enabled', budget_tokens: 1024 },
      context_management: { edits: [{ type: 'clear_thinking_20251015', keep: 'all' }] },
      messages: hello,
    })
    .withResponse();
  return { message: data, url: response.url };
});

await check('bad_request', async () => {
  // what a JavaScript caller (no type checker) can send: max_tokens missing
  const message = await client.messages.create(/** @type {any} */ ({ model, messages: hello }));
  return { unexpected: message };
});

await check('wrong_key', async () => {
  const stranger = new Anthropic({ baseURL, apiKey: 'sk-not-a-configured-key', maxRetries: 0 });
  return { unexpected: await stranger.messages.create({ model, max_tokens: 16, messages: hello }) };
});
