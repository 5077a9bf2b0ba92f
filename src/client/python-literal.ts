/**
 * Reads the `repr()` text EnSight returns for `EXEC_RETURN_PYTHON` into a JavaScript value,
 * the counterpart of the Python client's `eval(reply.value)`, but for literals only: nothing is
 * executed. Python → JS: int → number (bigint beyond 2^53), float → number (inf, nan), str → string,
 * bytes → Uint8Array, True/False → boolean, None → null, list and tuple → array,
 * dict → plain object (keys as strings), set/frozenset → Set.
 */
import { EnSightError } from '../errors.ts';

export type PythonValue =
  | number
  | bigint
  | string
  | boolean
  | null
  | Uint8Array
  | PythonValue[]
  | Set<PythonValue>
  | { [key: string]: PythonValue };

class NotALiteral extends Error {}

const SIMPLE_ESCAPES: Record<string, string> = {
  n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', v: '\v', '0': '\0',
};

class LiteralReader {
  private i = 0;
  constructor(private readonly s: string) {}

  read(): PythonValue {
    const v = this.value();
    this.ws();
    if (this.i !== this.s.length) this.fail();
    return v;
  }

  private fail(): never {
    throw new NotALiteral();
  }

  private ws(): void {
    while (this.i < this.s.length && /\s/.test(this.s[this.i] as string)) this.i++;
  }

  private eat(token: string): boolean {
    this.ws();
    if (this.s.startsWith(token, this.i)) {
      this.i += token.length;
      return true;
    }
    return false;
  }

  private value(): PythonValue {
    this.ws();
    const c = this.s[this.i];
    if (c === '[') return this.sequence(']');
    if (c === '(') return this.sequence(')');
    if (c === '{') return this.braces();
    if (c === "'" || c === '"') return this.string();
    if ((c === 'b' || c === 'B') && (this.s[this.i + 1] === "'" || this.s[this.i + 1] === '"')) {
      this.i++;
      return new Uint8Array([...this.string()].map((ch) => ch.charCodeAt(0)));
    }
    for (const [word, v] of [['True', true], ['False', false], ['None', null]] as const) {
      if (this.s.startsWith(word, this.i) && !/\w/.test(this.s[this.i + word.length] ?? '')) {
        this.i += word.length;
        return v;
      }
    }
    if (this.eat('set()')) return new Set();
    if (this.eat('frozenset(')) {
      const inner = this.value();
      if (!this.eat(')')) this.fail();
      return inner instanceof Set ? inner : new Set(Array.isArray(inner) ? inner : this.fail());
    }
    return this.number();
  }

  private number(): number | bigint {
    const m = /^[-+]?(inf|nan|\d[\d_]*(\.\d*)?([eE][-+]?\d+)?|\.\d+([eE][-+]?\d+)?)/.exec(this.s.slice(this.i));
    if (!m) this.fail();
    this.i += m[0].length;
    const text = m[0].replace(/_/g, '');
    if (/inf$/.test(text)) return text.startsWith('-') ? -Infinity : Infinity;
    if (/nan$/.test(text)) return NaN;
    if (/^[-+]?\d+$/.test(text)) {
      const big = BigInt(text);
      return big <= BigInt(Number.MAX_SAFE_INTEGER) && big >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(big) : big;
    }
    return Number(text);
  }

  private string(): string {
    const quote = this.s[this.i++];
    let out = '';
    for (;;) {
      const c = this.s[this.i++];
      if (c === undefined) this.fail();
      if (c === quote) return out;
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = this.s[this.i++] ?? this.fail();
      const hexLength = e === 'x' ? 2 : e === 'u' ? 4 : e === 'U' ? 8 : 0;
      if (hexLength) {
        const hex = this.s.slice(this.i, this.i + hexLength);
        if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== hexLength) this.fail();
        out += String.fromCodePoint(parseInt(hex, 16));
        this.i += hexLength;
      } else if (e in SIMPLE_ESCAPES) {
        out += SIMPLE_ESCAPES[e];
      } else {
        out += `\\${e}`;
      }
    }
  }

  /** Comma-separated items after the opening bracket at `i`, up to `close` (trailing comma allowed). */
  private items(close: string, item: () => void): void {
    this.i++;
    let separated = true;
    while (!this.eat(close)) {
      if (!separated) this.fail();
      item();
      separated = this.eat(',');
    }
  }

  private sequence(close: string): PythonValue[] {
    const out: PythonValue[] = [];
    this.items(close, () => out.push(this.value()));
    return out;
  }

  private braces(): PythonValue {
    const dict: Record<string, PythonValue> = {};
    const set = new Set<PythonValue>();
    let kind: 'dict' | 'set' | undefined;
    this.items('}', () => {
      const first = this.value();
      if (this.eat(':')) {
        if (kind === 'set') this.fail();
        kind = 'dict';
        dict[typeof first === 'string' ? first : JSON.stringify(first, jsonSafe)] = this.value();
      } else {
        if (kind === 'dict') this.fail();
        kind = 'set';
        set.add(first);
      }
    });
    return kind === 'set' ? set : dict;
  }
}

function jsonSafe(_key: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v;
}

/** Parse a Python `repr()` of a literal; throws `UNPARSABLE_RESULT` for anything else. */
export function parsePythonLiteral(text: string): PythonValue {
  try {
    return new LiteralReader(text).read();
  } catch (err) {
    if (!(err instanceof NotALiteral)) throw err;
    throw Object.assign(
      new EnSightError(
        `EnSight returned a value that is not a Python literal (${text.length > 80 ? `${text.slice(0, 77)}...` : text}); ` +
          `use { rawEval: true } for the repr() text or { json: true } for JSON`,
        'UNPARSABLE_RESULT',
      ),
      { value: text },
    );
  }
}
