// Drives the official TypeScript SDK (@anthropic-ai/sdk) against a running gateway and prints ONE JSON
// object of results to stdout. tests/e2e/clients/test_typescript_sdk.py runs it and asserts the results.
//
//   node client_checks.mjs --base-url URL [--api-key KEY] [--auth-base-url URL --auth-api-key KEY] [--tag WORD]
//
// Every option can also come from the environment: GATEWAY_BASE_URL, GATEWAY_API_KEY, GATEWAY_AUTH_BASE_URL
// (a gateway that has GATEWAY_API_KEYS set), GATEWAY_AUTH_API_KEY (one of its keys) and CHECK_TAG (a word
// that makes this run's prompts unique). Each check catches its own failure, so one broken check never hides
// the others: a failed check reports {"unexpected": {...}} instead of its values.

import Anthropic from '@anthropic-ai/sdk';
import { VERSION } from '@anthropic-ai/sdk/version';

const MODEL = 'claude-sonnet-4-5';
const WEATHER_TOOL = {
  name: 'get_weather',
  description: 'Current weather for a city',
  input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};

function options(argv) {
  const env = process.env;
  const opts = {
    baseURL: env.GATEWAY_BASE_URL,
    apiKey: env.GATEWAY_API_KEY || 'test-key',
    authBaseURL: env.GATEWAY_AUTH_BASE_URL,
    authApiKey: env.GATEWAY_AUTH_API_KEY,
    tag: env.CHECK_TAG || Math.random().toString(36).slice(2, 10),
  };
  const names = {
    '--base-url': 'baseURL',
    '--api-key': 'apiKey',
    '--auth-base-url': 'authBaseURL',
    '--auth-api-key': 'authApiKey',
    '--tag': 'tag',
  };
  for (let i = 0; i < argv.length; i += 2) {
    const name = names[argv[i]];
    if (!name || argv[i + 1] === undefined) throw new Error(`unknown or incomplete option ${argv[i]}`);
    opts[name] = argv[i + 1];
  }
  if (!opts.baseURL) throw new Error('the gateway base URL is required (--base-url or GATEWAY_BASE_URL)');
  return opts;
}

function describeError(err) {
  return {
    class: err?.constructor?.name ?? typeof err,
    isAPIError: err instanceof Anthropic.APIError,
    status: err?.status ?? null,
    type: err?.error?.error?.type ?? null,
    message: err?.error?.error?.message ?? String(err?.message ?? err),
    requestID: err?.requestID ?? null,
    retryAfter: err?.headers?.get?.('retry-after') ?? null,
  };
}

async function check(fn) {
  try {
    return await fn();
  } catch (err) {
    return { unexpected: describeError(err) };
  }
}

/** Runs fn, which must throw; reports the error it threw. */
async function expectError(fn) {
  try {
    const value = await fn();
    return { unexpected: { class: 'no error', value } };
  } catch (err) {
    return describeError(err);
  }
}

const user = (text) => [{ role: 'user', content: text }];
const texts = (message) =>
  message.content
    .filter((b) => b.type === 'text')
    .map((b) => b.text)
    .join('');
const summary = (message) => ({
  id: message.id,
  type: message.type,
  role: message.role,
  model: message.model,
  stop_reason: message.stop_reason,
  text: texts(message),
  content_types: message.content.map((b) => b.type),
  usage: { input_tokens: message.usage.input_tokens, output_tokens: message.usage.output_tokens },
});

async function main() {
  const opts = options(process.argv.slice(2));
  const tag = opts.tag;
  const client = new Anthropic({ baseURL: opts.baseURL, apiKey: opts.apiKey, maxRetries: 0, timeout: 60_000 });
  const prompts = {
    create: `Hello from the TypeScript SDK ${tag}`,
    stream: `Streaming from TypeScript, word by word, ${tag}`,
    tool: `What is the weather in Paris? ${tag} [[tool:get_weather {"city":"Paris"}]]`,
    count: `Count these words please ${tag}`,
    retry: `Retry me ${tag} [[error:429:first-1]]`,
  };
  const results = {
    sdk_version: VERSION,
    node_version: process.version,
    tag,
    prompts,
  };

  results.create = await check(async () => {
    const { data, request_id } = await client.messages
      .create({ model: MODEL, max_tokens: 256, messages: user(prompts.create) })
      .withResponse();
    return { ...summary(data), request_id };
  });

  results.stream = await check(async () => {
    const stream = client.messages.stream({ model: MODEL, max_tokens: 256, messages: user(prompts.stream) });
    const deltas = [];
    const eventTypes = [];
    stream.on('text', (delta) => deltas.push(delta));
    stream.on('streamEvent', (event) => eventTypes.push(event.type));
    const final = await stream.finalMessage();
    return { ...summary(final), deltas, event_types: eventTypes, final_text: await stream.finalText() };
  });

  results.tool_stream = await check(async () => {
    const stream = client.messages.stream({
      model: MODEL,
      max_tokens: 256,
      tools: [WEATHER_TOOL],
      messages: user(prompts.tool),
    });
    const partials = [];
    const snapshots = [];
    stream.on('inputJson', (partialJson, jsonSnapshot) => {
      partials.push(partialJson);
      snapshots.push(jsonSnapshot);
    });
    const final = await stream.finalMessage();
    const toolUses = final.content.filter((b) => b.type === 'tool_use');
    return {
      ...summary(final),
      input_json_partials: partials,
      last_input_snapshot: snapshots.length ? snapshots[snapshots.length - 1] : null,
      tool_uses: toolUses.map((b) => ({ id: b.id, name: b.name, input: b.input })),
    };
  });

  results.tool_create = await check(async () => {
    const message = await client.messages.create({
      model: MODEL,
      max_tokens: 256,
      tools: [WEATHER_TOOL],
      messages: user(prompts.tool),
    });
    const toolUses = message.content.filter((b) => b.type === 'tool_use');
    return { ...summary(message), tool_uses: toolUses.map((b) => ({ id: b.id, name: b.name, input: b.input })) };
  });

  results.count_tokens = await check(async () => {
    const counted = await client.messages.countTokens({
      model: MODEL,
      tools: [WEATHER_TOOL],
      messages: user(prompts.count),
    });
    return { input_tokens: counted.input_tokens };
  });

  results.models = await check(async () => {
    const ids = [];
    for await (const model of client.models.list({ limit: 2 })) ids.push(model.id);
    const pageSizes = [];
    const firstPage = await client.models.list({ limit: 2 });
    for await (const page of firstPage.iterPages()) pageSizes.push(page.data.length);
    const first = ids.length ? await client.models.retrieve(ids[0]) : null;
    return { ids, page_sizes: pageSizes, retrieved_first: first && { id: first.id, type: first.type } };
  });

  results.retry = await check(async () => {
    const retrying = client.withOptions({ maxRetries: 2 });
    const started = Date.now();
    const message = await retrying.messages.create({ model: MODEL, max_tokens: 64, messages: user(prompts.retry) });
    return { ...summary(message), elapsed_ms: Date.now() - started };
  });

  results.errors = {
    not_found: await expectError(() =>
      client.messages.create({ model: 'no-such-model', max_tokens: 16, messages: user(`hi ${tag}`) }),
    ),
    not_found_stream: await expectError(() =>
      client.messages.stream({ model: 'no-such-model', max_tokens: 16, messages: user(`hi ${tag}`) }).finalMessage(),
    ),
    bad_request: await expectError(() =>
      client.messages.create({ model: MODEL, max_tokens: 16, messages: [] }),
    ),
    rate_limit: await expectError(() =>
      client.messages.create({
        model: MODEL,
        max_tokens: 16,
        messages: user(`slow down ${tag} [[error:429:no-retry-after]]`),
      }),
    ),
    rate_limit_retry_after: await expectError(() =>
      client.messages.create({ model: MODEL, max_tokens: 16, messages: user(`slow down ${tag} [[error:429]]`) }),
    ),
    overloaded_stream: await expectError(() =>
      client.messages
        .stream({ model: MODEL, max_tokens: 16, messages: user(`busy ${tag} [[error:503]]`) })
        .finalMessage(),
    ),
    internal: await expectError(() =>
      client.messages.create({ model: MODEL, max_tokens: 16, messages: user(`broken ${tag} [[error:500]]`) }),
    ),
  };

  if (opts.authBaseURL) {
    const wrong = new Anthropic({ baseURL: opts.authBaseURL, apiKey: `wrong-${tag}`, maxRetries: 0 });
    results.errors.authentication = await expectError(() =>
      wrong.messages.create({ model: MODEL, max_tokens: 16, messages: user(`let me in ${tag}`) }),
    );
    results.errors.authentication_models = await expectError(() => wrong.models.list({ limit: 2 }));
    if (opts.authApiKey) {
      const ask = (c) => c.messages.create({ model: MODEL, max_tokens: 64, messages: user(`keyed ${tag}`) });
      results.auth_api_key = await check(async () =>
        summary(await ask(new Anthropic({ baseURL: opts.authBaseURL, apiKey: opts.authApiKey, maxRetries: 0 }))),
      );
      results.auth_token = await check(async () =>
        summary(
          await ask(new Anthropic({ baseURL: opts.authBaseURL, authToken: opts.authApiKey, apiKey: null, maxRetries: 0 })),
        ),
      );
    }
  }

  process.stdout.write(JSON.stringify(results) + '\n');
}

main().catch((err) => {
  process.stderr.write(`client_checks failed: ${err?.stack ?? err}\n`);
  process.exit(1);
});
