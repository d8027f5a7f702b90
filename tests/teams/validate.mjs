// Validates what Baton sends Teams with Microsoft's own tools. Reads JSON from stdin:
//   {"cards": [card, ...], "manifest": manifest-or-null}
// and prints {"cards": [[problem, ...], ...], "manifest": [problem, ...]}: empty lists when valid.
//
// Cards: the Adaptive Cards SDK parses each as a 1.5 card; every parse event (an unknown element
// or property value, a feature newer than 1.5) and every validation failure is a problem.
// Manifest: the v1.17 schema from @microsoft/app-manifest, with ajv's draft-04 validator.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";

const require = createRequire(import.meta.url);
const AC = require("adaptivecards/dist/adaptivecards.js");
const Ajv = require("ajv-draft-04");
const addFormats = require("ajv-formats");

function cardProblems(json) {
  const card = new AC.AdaptiveCard();
  const context = new AC.SerializationContext(AC.Versions.v1_5);
  card.parse(json, context);
  const out = [];
  for (let i = 0; i < context.eventCount; i++) out.push(context.getEventAt(i).message);
  for (const e of card.validateProperties().validationEvents) out.push(e.message);
  if (json.version !== "1.5") out.push(`version is ${json.version}, not 1.5`);
  return out;
}

function manifestProblems(manifest) {
  const version = manifest.manifestVersion;
  const path = require.resolve(
    `@microsoft/app-manifest/build/json-schemas/teams/v${version}/MicrosoftTeams.schema.json`,
  );
  const schema = JSON.parse(readFileSync(path, "utf8"));
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats(ajv);
  const validate = ajv.compile(schema);
  if (validate(manifest)) return [];
  return validate.errors.map((e) => `${e.instancePath || "/"} ${e.message}`);
}

const input = JSON.parse(readFileSync(0, "utf8"));
const result = {
  cards: (input.cards || []).map(cardProblems),
  manifest: input.manifest ? manifestProblems(input.manifest) : [],
};
console.log(JSON.stringify(result));
