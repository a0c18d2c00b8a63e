// A ring buffer bounded by count and by total size: pushing past either limit
// drops the oldest items. O(1) per push, no shifting of arrays.

export class Ring<T> {
  private readonly items: Array<T | undefined>;
  private head = 0;
  private count = 0;
  private bytes = 0;

  constructor(
    private readonly maxItems: number,
    private readonly maxBytes: number,
    private readonly sizeOf: (item: T) => number,
  ) {
    this.items = new Array<T | undefined>(maxItems);
  }

  get length(): number {
    return this.count;
  }

  push(item: T): void {
    if (this.count === this.maxItems) this.dropOldest();
    this.items[(this.head + this.count) % this.maxItems] = item;
    this.count++;
    this.bytes += this.sizeOf(item);
    // One item larger than the whole budget is still kept: the latest line is always there.
    while (this.bytes > this.maxBytes && this.count > 1) this.dropOldest();
  }

  /** The newest `n` items, oldest first. */
  last(n: number): T[] {
    const take = Math.min(n, this.count);
    const out: T[] = [];
    for (let i = this.count - take; i < this.count; i++) out.push(this.items[(this.head + i) % this.maxItems] as T);
    return out;
  }

  private dropOldest(): void {
    const item = this.items[this.head] as T;
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.maxItems;
    this.count--;
    this.bytes -= this.sizeOf(item);
  }
}
