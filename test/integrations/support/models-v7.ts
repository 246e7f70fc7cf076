/**
 * The AI SDK 7 flavor (`ai-v7`, i.e. `ai@7`, with its own `MockLanguageModelV4` from `ai/test`).
 * AI SDK 7 needs Node 22 or later, so tests import this module only there: see {@link aiSdkFlavors}.
 */
import { generateText, streamText, wrapLanguageModel } from "ai-v7";
import { MockLanguageModelV4 } from "ai-v7/test";
import { type Flavor, flavor, mockOptions3 } from "./models.js";

export const v7: Flavor = flavor("ai@7 (LanguageModelV4)", {
  Mock: MockLanguageModelV4,
  mockOptions: mockOptions3,
  wrapLanguageModel,
  generateText,
  streamText,
});
