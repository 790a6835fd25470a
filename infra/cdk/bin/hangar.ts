// The HangarStack app: `cdk deploy` (stack name HangarStack unless
// `-c stackName=...`), queues from `-c queues=default,emails:5` (name, or
// name:maxConcurrency).
import { App, Stack } from 'aws-cdk-lib';
import { Hangar, HangarQueue } from '../lib/hangar';

const app = new App();
const stackName = app.node.tryGetContext('stackName') ?? 'hangar';
const queues: HangarQueue[] = String(app.node.tryGetContext('queues') ?? 'default')
  .split(',')
  .map((q) => q.trim())
  .filter((q) => q)
  .map((q) => {
    const [name, concurrency] = q.split(':');
    return concurrency ? { name, maxConcurrency: Number(concurrency) } : { name };
  });
const stack = new Stack(app, 'HangarStack', {
  stackName,
  description: 'Hangar: background jobs on AWS (DynamoDB, SQS, Lambda, EventBridge Scheduler).',
});
const hangar = new Hangar(stack, 'Hangar', { queues });
hangar.addOutputs(stack);
