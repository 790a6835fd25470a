// The HangarStack app: `cdk deploy` (stack name `hangar` unless
// `-c stackName=...`). Context:
//   queues=default,emails:5:1,reports::10:20   each queue as
//       name[:maxConcurrency[:batchSize[:batchingWindowSeconds]]]
//   workerManifestPath=../../my-worker/Cargo.toml workerBinary=my-worker
//       your own worker crate in place of functions/worker
//   tracing=active   X-Ray tracing of the functions (default: pass through)
import { App, Duration, Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Hangar, HangarQueue } from '../lib/hangar';

const app = new App();
const context = (key: string): string | undefined => {
  const value = app.node.tryGetContext(key);
  return value === undefined || value === '' ? undefined : String(value);
};

/** A queue from `name[:maxConcurrency[:batchSize[:batchingWindowSeconds]]]`. */
function queue(spec: string): HangarQueue {
  const [name, ...settings] = spec.split(':');
  const number = (i: number, what: string): number | undefined => {
    const text = settings[i];
    if (text === undefined || text === '') return undefined;
    if (!/^[0-9]+$/.test(text)) {
      throw new Error(`queues: ${JSON.stringify(spec)}: ${what} ${JSON.stringify(text)} is not a whole number`);
    }
    return Number(text);
  };
  if (settings.length > 3) {
    throw new Error(`queues: ${JSON.stringify(spec)}: use name[:maxConcurrency[:batchSize[:batchingWindowSeconds]]]`);
  }
  const window = number(2, 'batchingWindowSeconds');
  return {
    name,
    maxConcurrency: number(0, 'maxConcurrency'),
    batchSize: number(1, 'batchSize'),
    batchingWindow: window === undefined ? undefined : Duration.seconds(window),
  };
}

const queues = (context('queues') ?? 'default')
  .split(',')
  .map((q) => q.trim())
  .map(queue);
const stack = new Stack(app, 'HangarStack', {
  stackName: context('stackName') ?? 'hangar',
  description: 'Hangar: background jobs on AWS (DynamoDB, SQS, Lambda, EventBridge Scheduler).',
});
const hangar = new Hangar(stack, 'Hangar', {
  queues,
  workerManifestPath: context('workerManifestPath'),
  workerBinary: context('workerBinary'),
  tracing: context('tracing') === 'active' ? lambda.Tracing.ACTIVE : undefined,
});
hangar.addOutputs(stack);
