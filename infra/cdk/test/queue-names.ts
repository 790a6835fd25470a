// The Hangar construct's verdict on queue names: for each name given as an
// argument, an app with that one queue is synthesized (bundling skipped)
// under the longest prefix the construct accepts, and one JSON line is
// printed: {"name", "ok": true, "queueNames": [...], "functionNames": [...]}
// with the SQS and Lambda names it deploys, or {"name", "ok": false,
// "error"}. tests/tests/infra.rs holds it to the library's and the SAM
// template's verdicts.
//
//   npx tsx test/queue-names.ts NAME...
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, Stack } from 'aws-cdk-lib';
import { Hangar } from '../lib/hangar';

const LONGEST_PREFIX = 'p'.repeat(54);

for (const name of process.argv.slice(2)) {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'hangar-queue-name-'));
  try {
    const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'HangarStack', { stackName: LONGEST_PREFIX });
    new Hangar(stack, 'Hangar', { queues: [{ name }] }).addOutputs(stack);
    const assembly = app.synth();
    const template = assembly.getStackByName(stack.stackName).template;
    const names = (type: string, property: string): string[] =>
      Object.values<{ Type: string; Properties: Record<string, unknown> }>(template.Resources)
        .filter((r) => r.Type === type)
        .map((r) => String(r.Properties[property]));
    console.log(
      JSON.stringify({
        name,
        ok: true,
        queueNames: names('AWS::SQS::Queue', 'QueueName'),
        functionNames: names('AWS::Lambda::Function', 'FunctionName'),
      }),
    );
  } catch (e) {
    console.log(JSON.stringify({ name, ok: false, error: e instanceof Error ? e.message : String(e) }));
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
}
