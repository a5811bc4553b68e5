// How a bench runs: its main phase, then its clean-up whatever happens (success, failure, Ctrl-C or
// SIGTERM), once. A bench that leaves a subscription or a consumer group behind loads every later one.

export async function runBench(options: {
  label: string;
  main: () => Promise<void>;
  cleanup: () => Promise<void>;
  say: (text: string) => void;
}): Promise<void> {
  let cleaning: Promise<void> | undefined;
  const cleanup = () => {
    cleaning ??= options.cleanup();
    return cleaning;
  };
  // `on`, not `once`: Ctrl-C reaches this process twice (from the terminal and relayed by tsx), and a
  // second signal must not end the process half-way through its clean-up.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      options.say(`${signal}: cleaning up`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  try {
    await options.main();
  } catch (error) {
    console.error(`[${options.label}] failed:`, error);
    process.exitCode = 1;
  } finally {
    await cleanup();
  }
}
