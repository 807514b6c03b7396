/**
 * A latency histogram in the HDR style: values (microseconds, integers ≥ 1) fall into buckets whose width grows
 * with the value so that every recorded value is represented within a relative error of 2^-(subBucketBits-1)
 * (1/128 ≈ 0.8 % with the default 8 bits), in constant memory and O(1) per record, at any range up to 2^53 µs.
 *
 * Layout: values below 2^subBucketBits have exact buckets; above, each power-of-two range [2^k, 2^(k+1)) is split
 * into 2^(subBucketBits-1) equal sub-buckets. A quantile returns the highest value of its bucket (never reporting
 * a latency lower than one actually seen), clamped to the recorded maximum.
 */
export class Histogram {
  private readonly counts = new Map<number, number>();
  private total = 0;
  private minValue = Number.POSITIVE_INFINITY;
  private maxValue = 0;
  private sum = 0;

  constructor(readonly subBucketBits = 8) {}

  get count(): number {
    return this.total;
  }
  get min(): number {
    return this.total === 0 ? 0 : this.minValue;
  }
  get max(): number {
    return this.maxValue;
  }
  get mean(): number {
    return this.total === 0 ? 0 : this.sum / this.total;
  }

  /** Records `value` (rounded up to an integer ≥ 1) `n` times. */
  record(value: number, n = 1): void {
    const v = Math.max(1, Math.ceil(value));
    const b = this.bucketOf(v);
    this.counts.set(b, (this.counts.get(b) ?? 0) + n);
    this.total += n;
    this.sum += v * n;
    if (v < this.minValue) this.minValue = v;
    if (v > this.maxValue) this.maxValue = v;
  }

  /** Adds every count of `other` (same `subBucketBits`). */
  merge(other: Histogram): void {
    if (other.subBucketBits !== this.subBucketBits) throw new Error('histograms differ in precision');
    for (const [b, n] of other.counts) this.counts.set(b, (this.counts.get(b) ?? 0) + n);
    this.total += other.total;
    this.sum += other.sum;
    if (other.total > 0) {
      this.minValue = Math.min(this.minValue, other.minValue);
      this.maxValue = Math.max(this.maxValue, other.maxValue);
    }
  }

  /** The value at quantile `q` (0..1): the smallest bucket upper bound covering ⌈q·count⌉ values. */
  quantile(q: number): number {
    if (this.total === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (const b of [...this.counts.keys()].sort((x, y) => x - y)) {
      seen += this.counts.get(b)!;
      if (seen >= rank) return Math.min(this.upperOf(b), this.maxValue);
    }
    return this.maxValue;
  }

  /** Bucket index of value v ≥ 1: monotonic in v. */
  bucketOf(v: number): number {
    const exact = 2 ** this.subBucketBits;
    if (v < exact) return v;
    const k = Math.floor(Math.log2(v)); // v in [2^k, 2^(k+1))
    const half = 2 ** (this.subBucketBits - 1);
    const width = 2 ** k / half;
    const sub = Math.floor((v - 2 ** k) / width);
    return exact + (k - this.subBucketBits) * half + sub;
  }

  /** The largest value that falls into bucket `b`. */
  upperOf(b: number): number {
    const exact = 2 ** this.subBucketBits;
    if (b < exact) return b;
    const half = 2 ** (this.subBucketBits - 1);
    const i = b - exact;
    const k = Math.floor(i / half) + this.subBucketBits;
    const sub = i % half;
    const width = 2 ** k / half;
    return 2 ** k + (sub + 1) * width - 1;
  }
}
