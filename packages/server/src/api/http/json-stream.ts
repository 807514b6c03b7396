/**
 * Splits a byte stream holding a sequence of JSON values (concatenated, or one per line, as grpc-gateway accepts
 * on streaming routes) into the text of each complete top-level value. Strings and escapes are tracked so braces
 * inside strings do not count.
 */
export class JsonSplitter {
  private buf = '';
  private depth = 0;
  private inString = false;
  private escaped = false;
  private start = -1;
  private scanned = 0;

  /** Feeds a chunk; returns the complete values it finished. */
  push(chunk: string): string[] {
    this.buf += chunk;
    const out: string[] = [];
    for (let i = this.scanned; i < this.buf.length; i++) {
      const c = this.buf[i]!;
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === '\\') this.escaped = true;
        else if (c === '"') this.inString = false;
        continue;
      }
      if (this.depth === 0) {
        if (c === ' ' || c === '\n' || c === '\r' || c === '\t') continue;
        if (c !== '{' && c !== '[') {
          // A scalar at top level is not a message; hand it over so the caller reports the error.
          out.push(this.buf.slice(i));
          this.buf = '';
          this.scanned = 0;
          return out;
        }
        this.start = i;
      }
      if (c === '"') this.inString = true;
      else if (c === '{' || c === '[') this.depth++;
      else if (c === '}' || c === ']') {
        this.depth--;
        if (this.depth === 0) {
          out.push(this.buf.slice(this.start, i + 1));
          this.start = -1;
        }
      }
    }
    if (this.depth === 0 && !this.inString) {
      this.buf = '';
      this.scanned = 0;
    } else {
      // Keep only the unfinished value.
      this.buf = this.buf.slice(this.start);
      this.scanned = this.buf.length;
      this.start = 0;
    }
    return out;
  }

  /** Whatever is left when the stream ends: non-empty means a truncated value. */
  rest(): string {
    return this.buf.trim();
  }
}
