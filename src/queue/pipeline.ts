// One producer running ahead of N consumers through a queue of at most `depth` items: the
// shape of a pass, where one packer stays ahead of the uploads so that compressing the
// next episode overlaps sending the current ones, and packed archives never pile up on
// disk beyond `depth`.
//
// Workers sleep until something changes (an item queued or taken, a worker done, `wake()`)
// and stop taking work as soon as `stopped()` says so. An exception in produce or consume
// stops everything; `run()` rejects with the first one once every worker has returned.

export interface PipelineOptions<I, O> {
  readonly items: readonly I[];
  readonly depth: number;
  readonly consumers: number;
  /** Checked before every item: true = take no more work. */
  readonly stopped: () => boolean;
  /** The item's product, or null to skip it (the producer dealt with it). */
  readonly produce: (item: I) => Promise<O | null>;
  readonly consume: (item: I, product: O) => Promise<void>;
}

export class Pipeline<I, O> {
  readonly #o: PipelineOptions<I, O>;
  readonly #queue: { item: I; product: O }[] = [];
  #sleepers: (() => void)[] = [];
  #producerDone = false;
  #failure: { err: unknown } | null = null;

  constructor(options: PipelineOptions<I, O>) {
    this.#o = options;
  }

  /** Wake every sleeping worker to look at `stopped()` again. */
  wake(): void {
    const s = this.#sleepers;
    this.#sleepers = [];
    for (const w of s) w();
  }

  #sleep(): Promise<void> {
    return new Promise((r) => this.#sleepers.push(r));
  }

  #halted(): boolean {
    return this.#failure !== null || this.#o.stopped();
  }

  #guard(work: () => Promise<void>): Promise<void> {
    return work().then(
      () => this.wake(),
      (err: unknown) => {
        this.#failure ??= { err };
        this.wake();
      },
    );
  }

  async #producer(): Promise<void> {
    try {
      for (const item of this.#o.items) {
        while (this.#queue.length >= this.#o.depth && !this.#halted()) await this.#sleep();
        if (this.#halted()) break;
        const product = await this.#o.produce(item);
        if (product !== null) {
          this.#queue.push({ item, product });
          this.wake();
        }
      }
    } finally {
      this.#producerDone = true;
    }
  }

  async #consumer(): Promise<void> {
    for (;;) {
      while (this.#queue.length === 0 && !this.#producerDone && !this.#halted()) await this.#sleep();
      if (this.#halted() || (this.#queue.length === 0 && this.#producerDone)) return;
      const job = this.#queue.shift()!;
      this.wake();
      await this.#o.consume(job.item, job.product);
    }
  }

  async run(): Promise<void> {
    await Promise.all([this.#guard(() => this.#producer()), ...Array.from({ length: this.#o.consumers }, () => this.#guard(() => this.#consumer()))]);
    if (this.#failure) throw this.#failure.err;
  }
}
