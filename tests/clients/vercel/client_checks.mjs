// Runs the Vercel AI SDK (`ai` + `@ai-sdk/anthropic`, pinned in package.json) against the gateway and prints
// one JSON object with what each check saw; tests/e2e/clients/test_vercel_ai_sdk.py asserts on it.
//   node client_checks.mjs --base-url URL --api-key KEY --tag TAG --models a,b
import { readFileSync } from "node:fs";
import { createAnthropic } from "@ai-sdk/anthropic";
import { generateObject, generateText, Output, stepCountIs, streamText, tool } from "ai";
import { z } from "zod";

function args() {
  const out = {};
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) out[argv[i].replace(/^--/, "")] = argv[i + 1];
  return out;
}

globalThis.AI_SDK_LOG_WARNINGS = false; // e.g. "unknown model" for the GPT ids; the test reads the results
const { "base-url": baseUrl, "api-key": apiKey, tag, models } = args();
const provider = createAnthropic({ baseURL: `${baseUrl}/v1`, apiKey });
const version = (name) => JSON.parse(readFileSync(new URL(`./node_modules/${name}/package.json`, import.meta.url))).version;

const Person = z.object({
  name: z.string(),
  age: z.number().int(),
  role: z.enum(["admin", "user"]),
  tags: z.array(z.string()),
});

const weather = tool({
  description: "Current weather for a city",
  inputSchema: z.object({ city: z.string() }),
  execute: async ({ city }) => `4 degrees in ${city}`,
});

function usage(u) {
  return { input: u.inputTokens, output: u.outputTokens, total: u.totalTokens };
}

function steps(result) {
  return result.steps.map((step) => ({
    finishReason: step.finishReason,
    text: step.text,
    toolCalls: step.toolCalls.map((c) => ({ id: c.toolCallId, name: c.toolName, input: c.input })),
    toolResults: step.toolResults.map((r) => ({ name: r.toolName, output: r.output })),
  }));
}

async function check(fn) {
  try {
    return await fn();
  } catch (error) {
    return { unexpected: `${error?.name}: ${error?.message}` };
  }
}

async function checksFor(modelId) {
  const model = provider(modelId);
  const prompts = {
    text: `Hello from Vercel ${tag}`,
    stream: `Streaming through the AI SDK word after word ${tag}`,
    tool: `Weather in Oslo? ${tag} [[tool:get_weather {"city": "Oslo"}]]`,
    object: `Describe an admin ${tag}`,
    format: `Describe a user ${tag}`,
  };
  const out = { prompts };
  out.text = await check(async () => {
    const r = await generateText({ model, prompt: prompts.text, maxOutputTokens: 300, maxRetries: 0 });
    return { text: r.text, finishReason: r.finishReason, usage: usage(r.usage) };
  });
  out.stream = await check(async () => {
    const r = streamText({ model, prompt: prompts.stream, maxOutputTokens: 300, maxRetries: 0 });
    const chunks = [];
    for await (const piece of r.textStream) chunks.push(piece);
    const again = await generateText({ model, prompt: prompts.stream, maxOutputTokens: 300, maxRetries: 0 });
    return {
      chunks,
      text: await r.text,
      finishReason: await r.finishReason,
      usage: usage(await r.usage),
      generatedUsage: usage(again.usage),
    };
  });
  for (const [name, run] of [
    ["tool", (o) => generateText(o)],
    ["tool_stream", (o) => streamText(o)],
  ]) {
    out[name] = await check(async () => {
      const r = run({
        model,
        prompt: prompts.tool,
        tools: { get_weather: weather },
        stopWhen: stepCountIs(3),
        maxOutputTokens: 300,
        maxRetries: 0,
      });
      const result = name === "tool" ? await r : r;
      if (name === "tool_stream") await r.consumeStream();
      return { text: await result.text, steps: steps({ steps: await result.steps }) };
    });
  }
  out.object = await check(async () => {
    const r = await generateObject({ model, schema: Person, prompt: prompts.object, maxRetries: 0 });
    return { object: r.object, finishReason: r.finishReason, usage: usage(r.usage) };
  });
  out.output_object = await check(async () => {
    const r = await generateText({
      model,
      output: Output.object({ schema: Person }),
      prompt: prompts.object,
      maxRetries: 0,
    });
    return { object: r.output, usage: usage(r.usage) };
  });
  out.output_format = await check(async () => {
    // Anthropic's own structured output even where the SDK does not know the model (it would use a tool).
    const r = await generateText({
      model,
      output: Output.object({ schema: Person }),
      prompt: prompts.format,
      providerOptions: { anthropic: { structuredOutputMode: "outputFormat" } },
      maxRetries: 0,
    });
    return { object: r.output, usage: usage(r.usage) };
  });
  out.output_object_stream = await check(async () => {
    const r = streamText({ model, output: Output.object({ schema: Person }), prompt: prompts.object, maxRetries: 0 });
    const partials = [];
    for await (const partial of r.partialOutputStream) partials.push(partial);
    return { object: await r.output, partials: partials.length, usage: usage(await r.usage) };
  });
  return out;
}

const result = { tag, versions: { ai: version("ai"), "@ai-sdk/anthropic": version("@ai-sdk/anthropic") } };
for (const modelId of models.split(",")) result[modelId] = await checksFor(modelId);
process.stdout.write(JSON.stringify(result));
