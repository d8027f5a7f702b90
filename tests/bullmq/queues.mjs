// Writes and reads BullMQ queues with the real Node BullMQ, for Baton's interop test
// (tests/e2e/admin/bullmq.rs). It only ever talks to the Redis port it is given.
//
//   node queues.mjs seed   <major> <port> <prefix>          queues in every state; prints failed ids
//   node queues.mjs counts <major> <port> <prefix> <name>…  prints BullMQ's own view of each queue
//
// <major> picks the package: 5 -> bullmq@5 (npm alias bullmq5), 6 -> bullmq@6 (bullmq6).

const [command, major, port, prefix, ...names] = process.argv.slice(2);
if (!command || !['5', '6'].includes(major) || !/^\d+$/.test(port ?? '') || !prefix) {
  console.error('usage: node queues.mjs seed|counts <5|6> <redis port> <prefix> [queue...]');
  process.exit(2);
}
const { Queue, Worker } = await import(major === '5' ? 'bullmq5' : 'bullmq6');
const { Redis } = await import('ioredis');
const connection = { host: '127.0.0.1', port: Number(port), maxRetriesPerRequest: null };
const opts = { connection, prefix };
const open = [];
const queue = (name) => {
  const q = new Queue(name, opts);
  open.push(q);
  return q;
};

// Takes `n` jobs the way a worker does and fails or completes them; returns their ids.
async function finish(name, n, outcome) {
  const worker = new Worker(name, null, { ...opts, autorun: false });
  open.push(worker);
  const token = `seed-${outcome}`;
  const ids = [];
  for (let i = 0; i < n; i++) {
    const job = await worker.getNextJob(token, { block: false });
    if (!job) throw new Error(`no job to ${outcome} in ${name}`);
    if (outcome === 'fail') {
      await job.moveToFailed(new Error(`SMTP 550 mailbox ${i} unavailable`), token, false);
    } else if (outcome === 'complete') {
      await job.moveToCompleted('sent', token, false);
    }
    ids.push(job.id);
  }
  return ids;
}

async function seed() {
  const v = `v${major}`;
  const failed = {};

  // Every state at once: active, failed, completed, waiting, delayed, prioritized.
  const mixed = queue(`${v}-mixed`);
  for (let i = 0; i < 5; i++) await mixed.add('send-email', { to: `user${i}@example.com` });
  failed[`${v}-mixed`] = await finish(`${v}-mixed`, 3, 'fail');
  await finish(`${v}-mixed`, 2, 'complete');
  await mixed.add('send-email', { to: 'busy@example.com' });
  await finish(`${v}-mixed`, 1, 'hold'); // stays active
  for (let i = 0; i < 4; i++) await mixed.add('send-email', { to: `wait${i}@example.com` });
  for (let i = 0; i < 2; i++) await mixed.add('reminder', { i }, { delay: 3_600_000 });
  for (let i = 1; i <= 3; i++) await mixed.add('urgent', { i }, { priority: i });

  // Paused: BullMQ 5 moves the jobs to its `paused` list; BullMQ 6 keeps them in `wait`.
  const paused = queue(`${v}-paused`);
  for (let i = 0; i < 4; i++) await paused.add('report', { i });
  await paused.pause();
  await paused.add('report', { late: true });

  // Failed jobs on a running queue, for `admin queue retry`.
  const retry = queue(`${v}-retry`);
  for (let i = 0; i < 3; i++) await retry.add('charge', { i });
  failed[`${v}-retry`] = await finish(`${v}-retry`, 3, 'fail');

  // Failed jobs on a paused queue: retrying it is refused for BullMQ 5.
  const pausedFailed = queue(`${v}-paused-failed`);
  for (let i = 0; i < 4; i++) await pausedFailed.add('export', { i });
  failed[`${v}-paused-failed`] = await finish(`${v}-paused-failed`, 2, 'fail');
  await pausedFailed.pause();

  console.log(JSON.stringify({ failed }));
}

async function counts() {
  const out = {};
  const redis = new Redis(connection);
  open.push({ close: () => redis.quit() });
  for (const name of names) {
    const q = queue(name);
    out[name] = {
      counts: await q.getJobCounts(),
      paused: await q.isPaused(),
      version: await redis.hget(`${prefix}:${name}:meta`, 'version'),
      waiting: (await q.getWaiting()).map((j) => j.id),
      failed: (await q.getFailed()).map((j) => j.id),
    };
  }
  console.log(JSON.stringify(out));
}

try {
  if (command === 'seed') await seed();
  else if (command === 'counts') await counts();
  else throw new Error(`unknown command ${command}`);
} finally {
  await Promise.allSettled(open.map((o) => o.close(true)));
}
process.exit(0);
