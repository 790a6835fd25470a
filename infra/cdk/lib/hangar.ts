// The Hangar construct: the whole stack of infra/template.yaml, reusable in
// any CDK app. Resource names, environment variables and IAM actions match
// the SAM template's (tests/tests/infra.rs checks both against the code).
import * as path from 'path';
import { Aws, CfnOutput, Duration, RemovalPolicy, Stack, Tags, Token } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { RustFunction } from 'cargo-lambda-cdk';
import { Construct } from 'constructs';

/** A Hangar queue: its SQS queue, dead-letter queue and event source. */
export interface HangarQueue {
  /** The Hangar queue name: 1 to 20 characters of a-z 0-9 (the library's rule, `QUEUE_NAME`). */
  readonly name: string;
  /** Most concurrent worker invocations for this queue (2 to 1000). Default: the construct's `workerMaxConcurrency`. */
  readonly maxConcurrency?: number;
  /** Messages per invocation (1 to 10). Default 10. */
  readonly batchSize?: number;
  /** How long to gather a batch. Default: none. */
  readonly batchingWindow?: Duration;
}

export interface HangarProps {
  /** The queues. Default: one queue, `default`. */
  readonly queues?: HangarQueue[];
  /** Prefix of every resource name (table `<prefix>-jobs`, queues `<prefix>-<queue>`, functions `<prefix>-worker`...); the CLI's `--stack`: 1 to 54 letters, digits, - and _. Default: the stack name. */
  readonly prefix?: string;
  /** The longest a job may run (the worker's timeout, ≤ 15 min). Default 15 min. */
  readonly workerTimeout?: Duration;
  /** Worker memory in MB. Default 256. */
  readonly workerMemorySize?: number;
  /** Most concurrent worker invocations per queue, unless the queue says. Default 50. */
  readonly workerMaxConcurrency?: number;
  /** Deliveries of one message before SQS moves it to the dead-letter queue. Default 5. */
  readonly maxReceiveCount?: number;
  /** How long Succeeded and Deleted jobs are kept. Default 1 day. */
  readonly retention?: Duration;
  /** How long the functions' logs are kept. Default one month. */
  readonly logRetention?: logs.RetentionDays;
  /** The admin API and dashboard refuse every action. Default false. */
  readonly adminReadOnly?: boolean;
  /** Queues routed to a job kind (docs/intake.md), e.g. `{ uploads: 'thumbnail' }`. */
  readonly queueKinds?: Record<string, string>;
  /** The Cargo.toml holding the scheduler and admin functions. Default: this repository's workspace. */
  readonly manifestPath?: string;
  /** The Cargo.toml of the worker: yours, with your job kinds. Default: `manifestPath`. */
  readonly workerManifestPath?: string;
  /** The worker binary. Default `hangar-worker`. */
  readonly workerBinary?: string;
  /** Default ARM_64. */
  readonly architecture?: lambda.Architecture;
  /** X-Ray tracing of the functions (ACTIVE adds X-Ray's write permissions to their roles); each job run's span links to the trace its job was created in. Default: unset (Lambda passes traces through; no X-Ray permission). */
  readonly tracing?: lambda.Tracing;
  /** What happens to the table when the stack goes. Default RETAIN. */
  readonly tableRemovalPolicy?: RemovalPolicy;
}

/**
 * The queue-name rule of the library (`hangar::job::validate_queue`) and the
 * SAM template (`Queues`' AllowedPattern): a name is part of logical ids and
 * output names (letters and digits only), and `<prefix>-<queue>-dlq` must
 * fit SQS's 80 characters under the longest prefix (`PREFIX`).
 */
export const QUEUE_NAME = /^[a-z0-9]{1,20}$/;
/**
 * A prefix the functions can be named with: `<prefix>-scheduler` within
 * Lambda's 64 characters, in the characters SQS, Lambda and DynamoDB names
 * share.
 */
export const PREFIX = /^[A-Za-z0-9_-]{1,54}$/;

export class Hangar extends Construct {
  /** The jobs table. */
  readonly table: dynamodb.Table;
  /** SQS queues by Hangar queue name. */
  readonly queues: Record<string, sqs.Queue> = {};
  /** Dead-letter queues by Hangar queue name. */
  readonly deadLetterQueues: Record<string, sqs.Queue> = {};
  readonly worker: lambda.Function;
  readonly scheduler: lambda.Function;
  readonly admin: lambda.Function;
  /** The admin Function URL (AuthType AWS_IAM). */
  readonly adminUrl: lambda.FunctionUrl;
  /** Enqueue and read jobs, nothing more: attach it to an application's role. */
  readonly clientPolicy: iam.ManagedPolicy;
  /** The resource name prefix (the CLI's `--stack`). */
  readonly prefix: string;

  constructor(scope: Construct, id: string, props: HangarProps = {}) {
    super(scope, id);
    const prefix = props.prefix ?? Stack.of(this).stackName;
    if (!Token.isUnresolved(prefix) && !PREFIX.test(prefix)) {
      throw new Error(`prefix ${JSON.stringify(prefix)}: use 1 to 54 characters of A-Z a-z 0-9 _ - (it names every resource)`);
    }
    this.prefix = prefix;
    const queues = props.queues ?? [{ name: 'default' }];
    if (queues.length === 0) throw new Error('queues: name at least one queue');
    const names = new Set<string>();
    for (const q of queues) {
      if (!QUEUE_NAME.test(q.name)) {
        throw new Error(`queue name ${JSON.stringify(q.name)}: use 1 to 20 characters of a-z 0-9`);
      }
      if (names.has(q.name)) throw new Error(`queue ${q.name} is listed twice`);
      names.add(q.name);
    }
    const workerTimeout = props.workerTimeout ?? Duration.minutes(15);
    if (workerTimeout.toSeconds() > 900) throw new Error('workerTimeout: at most 15 minutes');
    const retention = props.retention ?? Duration.days(1);
    const logRetention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;
    const architecture = props.architecture ?? lambda.Architecture.ARM_64;
    const manifestPath = props.manifestPath ?? path.join(__dirname, '..', '..', '..', 'Cargo.toml');

    // ------------------------------------------------------------ storage
    this.table = new dynamodb.Table(this, 'Jobs', {
      tableName: `${prefix}-jobs`,
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: 'ttl',
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      removalPolicy: props.tableRemovalPolicy ?? RemovalPolicy.RETAIN,
    });
    // One index; a job's claim writes no entry of it (docs/architecture.md).
    this.table.addGlobalSecondaryIndex({
      indexName: 'by-bucket',
      partitionKey: { name: 'bucket', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'bucket_at', type: dynamodb.AttributeType.NUMBER },
      projectionType: dynamodb.ProjectionType.INCLUDE,
      nonKeyAttributes: ['kind', 'queue', 'created', 'runs', 'duration_ms'],
    });
    const indexArn = `${this.table.tableArn}/index/by-bucket`;
    const queueArns = `arn:${Aws.PARTITION}:sqs:${Aws.REGION}:${Aws.ACCOUNT_ID}:${prefix}-*`;

    // ------------------------------------------------------------ queues
    for (const q of queues) {
      const dlq = new sqs.Queue(this, `DeadLetterQueue-${q.name}`, {
        queueName: `${prefix}-${q.name}-dlq`,
        retentionPeriod: Duration.days(14),
        encryption: sqs.QueueEncryption.SQS_MANAGED,
      });
      this.deadLetterQueues[q.name] = dlq;
      this.queues[q.name] = new sqs.Queue(this, `Queue-${q.name}`, {
        queueName: `${prefix}-${q.name}`,
        // AWS's guidance for SQS event sources: six times the timeout.
        visibilityTimeout: Duration.seconds(6 * workerTimeout.toSeconds()),
        retentionPeriod: Duration.days(14),
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        deadLetterQueue: { queue: dlq, maxReceiveCount: props.maxReceiveCount ?? 5 },
      });
    }

    const environment: Record<string, string> = {
      HANGAR_STACK: prefix,
      HANGAR_TABLE: this.table.tableName,
      HANGAR_QUEUES: queues.map((q) => q.name).join(','),
      HANGAR_QUEUE_URL_PREFIX: `https://sqs.${Aws.REGION}.${Aws.URL_SUFFIX}/${Aws.ACCOUNT_ID}/${prefix}-`,
      HANGAR_RETENTION_SECONDS: String(retention.toSeconds()),
      HANGAR_QUEUE_KINDS: Object.entries(props.queueKinds ?? {})
        .map(([queue, kind]) => `${queue}=${kind}`)
        .join(','),
      RUST_LOG: 'info',
    };
    const fn = (
      role: string,
      binaryName: string,
      description: string,
      timeout: Duration,
      extra: Partial<lambda.FunctionOptions> = {},
      manifest = manifestPath,
    ) => {
      const f = new RustFunction(this, `${role[0].toUpperCase()}${role.slice(1)}Function`, {
        functionName: `${prefix}-${role}`,
        manifestPath: manifest,
        binaryName,
        description,
        architecture,
        timeout,
        memorySize: 256,
        environment,
        // Unset unless asked: CDK grants X-Ray's actions for PASS_THROUGH too.
        tracing: props.tracing,
        logGroup: new logs.LogGroup(this, `${role}-logs`, {
          logGroupName: `/aws/lambda/${prefix}-${role}`,
          retention: logRetention,
          removalPolicy: RemovalPolicy.DESTROY,
        }),
        ...extra,
      });
      Tags.of(f).add('hangar:function', role);
      return f;
    };
    const allow = (f: lambda.Function, sid: string, actions: string[], resources: string[]) =>
      f.addToRolePolicy(new iam.PolicyStatement({ sid, actions, resources }));

    // ------------------------------------------------------------ worker
    this.worker = fn(
      'worker',
      props.workerBinary ?? 'hangar-worker',
      'Runs Hangar jobs delivered by SQS.',
      workerTimeout,
      { memorySize: props.workerMemorySize ?? 256 },
      props.workerManifestPath ?? manifestPath,
    );
    // Running jobs, and creating follow-up jobs from handlers.
    allow(this.worker, 'JobState', ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:BatchWriteItem'], [this.table.tableArn]);
    allow(this.worker, 'WaitingLists', ['dynamodb:Query'], [indexArn]);
    allow(this.worker, 'JobQueues', ['sqs:SendMessage', 'sqs:GetQueueUrl'], [queueArns]);
    for (const q of queues) {
      this.worker.addEventSource(
        new SqsEventSource(this.queues[q.name], {
          batchSize: q.batchSize ?? 10,
          maxBatchingWindow: q.batchingWindow,
          reportBatchItemFailures: true,
          maxConcurrency: q.maxConcurrency ?? props.workerMaxConcurrency ?? 50,
        }),
      );
    }

    // ------------------------------------------------------------ admin
    this.admin = fn('admin', 'hangar-admin', "Hangar's JSON API and dashboard (Function URL, IAM auth).", Duration.seconds(30), {
      environment: {
        ...environment,
        HANGAR_ADMIN_READ_ONLY: props.adminReadOnly ? '1' : '0',
        HANGAR_WORKER_LOG_GROUP: this.worker.logGroup.logGroupName,
      },
    });
    allow(this.admin, 'ListIndex', ['dynamodb:Query'], [indexArn]);
    // BatchWriteItem: tag pointers whose job is gone, deleted by a listing.
    allow(this.admin, 'Jobs', ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'], [this.table.tableArn]);
    allow(
      this.admin,
      'Queues',
      ['sqs:SendMessage', 'sqs:GetQueueUrl', 'sqs:GetQueueAttributes', 'sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility'],
      [queueArns],
    );
    // A job's page: the lines its runs logged, found by its id.
    allow(this.admin, 'WorkerLogs', ['logs:FilterLogEvents'], [this.worker.logGroup.logGroupArn]);
    this.adminUrl = this.admin.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.AWS_IAM });

    // ------------------------------------------------------------ timer
    this.scheduler = fn('scheduler', 'hangar-scheduler', 'The Hangar timer tick (delayed jobs, retries, recurring jobs, repair).', Duration.seconds(60), {
      // One tick at a time; an overlapping tick would be safe, only wasted.
      reservedConcurrentExecutions: 1,
    });
    allow(this.scheduler, 'DueIndex', ['dynamodb:Query'], [indexArn]);
    allow(this.scheduler, 'JobState', ['dynamodb:UpdateItem', 'dynamodb:PutItem', 'dynamodb:BatchGetItem', 'dynamodb:GetItem'], [this.table.tableArn]);
    allow(this.scheduler, 'JobQueues', ['sqs:SendMessage', 'sqs:GetQueueUrl'], [queueArns]);
    const scheduleRole = new iam.Role(this, 'TimerScheduleRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
    });
    scheduleRole.addToPolicy(new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [this.scheduler.functionArn] }));
    new scheduler.CfnSchedule(this, 'TimerSchedule', {
      description: 'Runs the Hangar timer every minute.',
      scheduleExpression: 'rate(1 minute)',
      flexibleTimeWindow: { mode: 'OFF' },
      state: 'ENABLED',
      target: {
        arn: this.scheduler.functionArn,
        roleArn: scheduleRole.roleArn,
        input: '{"source":"hangar.timer"}',
        retryPolicy: { maximumRetryAttempts: 0, maximumEventAgeInSeconds: 60 },
      },
    });

    // A function's role is a GetAtt of it already: depend on the role's
    // policy only (cfn-lint W3005 flags the redundant dependency).
    for (const f of [this.worker, this.admin, this.scheduler]) {
      const policy = f.role?.node.tryFindChild('DefaultPolicy') as iam.Policy | undefined;
      if (policy) {
        (f.node.defaultChild as lambda.CfnFunction).addOverride('DependsOn', [
          (policy.node.defaultChild as iam.CfnPolicy).logicalId,
        ]);
      }
    }

    // ------------------------------------------------------------ clients
    this.clientPolicy = new iam.ManagedPolicy(this, 'ClientPolicy', {
      managedPolicyName: `${prefix}-client`,
      description: 'Enqueue and read Hangar jobs of this stack.',
      statements: [
        new iam.PolicyStatement({
          sid: 'Jobs',
          actions: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:BatchWriteItem'],
          resources: [this.table.tableArn],
        }),
        new iam.PolicyStatement({ sid: 'Lists', actions: ['dynamodb:Query'], resources: [indexArn] }),
        new iam.PolicyStatement({ sid: 'Enqueue', actions: ['sqs:SendMessage', 'sqs:GetQueueUrl'], resources: [queueArns] }),
      ],
    });
  }

  /** Outputs as the SAM template names them. */
  addOutputs(scope: Construct): void {
    new CfnOutput(scope, 'Stack', { value: this.prefix, description: 'Pass as --stack to the hangar CLI.' });
    new CfnOutput(scope, 'JobsTableName', { value: this.table.tableName });
    for (const [name, q] of Object.entries(this.queues)) {
      new CfnOutput(scope, `${name}QueueUrl`, { value: q.queueUrl, description: `The ${name} queue.` });
      new CfnOutput(scope, `${name}DeadLetterQueueUrl`, {
        value: this.deadLetterQueues[name].queueUrl,
        description: `The ${name} queue's dead-letter queue.`,
      });
    }
    new CfnOutput(scope, 'WorkerFunctionArn', { value: this.worker.functionArn });
    new CfnOutput(scope, 'SchedulerFunctionArn', { value: this.scheduler.functionArn });
    new CfnOutput(scope, 'AdminUrl', {
      value: this.adminUrl.url,
      description: 'The admin API and dashboard (IAM auth; open it with `hangar dashboard`).',
    });
    new CfnOutput(scope, 'ClientPolicyArn', {
      value: this.clientPolicy.managedPolicyArn,
      description: "Attach to an application's role to enqueue and read jobs.",
    });
  }
}
