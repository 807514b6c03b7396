#!/usr/bin/env node
// Generates TypeScript codecs for latchkey's .proto files (proto/etcd, proto/grpc, proto/internal) into
// proto/src/gen/<package>.ts.
//
//   node proto/codegen/main.mjs           regenerate
//   node proto/codegen/main.mjs --check   exit 1 if the committed files differ from what would be generated
//
// Supported proto3 subset (all the wire contract needs): packages, imports, messages (nested too), enums,
// oneofs, repeated fields (scalars packed), services with client/server streaming, and the scalar types
// bool, string, bytes, int32, uint32, int64, uint64. A field whose trailing comment contains `[js:number]`
// maps a 64-bit integer to a JS number instead of a bigint.
import { readFileSync, writeFileSync, readdirSync, statSync, mkdirSync } from 'node:fs';
import { join, relative, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const protoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(protoRoot, 'src', 'gen');
const SOURCES = ['etcd', 'grpc', 'internal'];

// ------------------------------------------------------------------------------------------------ parsing

function tokenize(text, file) {
  const tokens = [];
  const comments = []; // { line, text, trailing }
  let i = 0;
  let line = 1;
  let lastTokenLine = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '\n') { line++; i++; continue; }
    if (/\s/.test(c)) { i++; continue; }
    if (c === '/' && text[i + 1] === '/') {
      const end = text.indexOf('\n', i);
      const body = text.slice(i + 2, end < 0 ? text.length : end).trim();
      comments.push({ line, text: body, trailing: lastTokenLine === line });
      i = end < 0 ? text.length : end;
      continue;
    }
    if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      if (end < 0) throw new Error(`${file}:${line}: unterminated comment`);
      line += text.slice(i, end).split('\n').length - 1;
      i = end + 2;
      continue;
    }
    if (c === '"' || c === "'") {
      let j = i + 1;
      while (text[j] !== c) { if (text[j] === '\\') j++; j++; }
      tokens.push({ t: 'str', v: text.slice(i + 1, j), line });
      lastTokenLine = line;
      i = j + 1;
      continue;
    }
    const m = /^[A-Za-z_][A-Za-z0-9_.]*|^-?\d+/.exec(text.slice(i, i + 200));
    if (m) {
      tokens.push({ t: /^-?\d/.test(m[0]) ? 'num' : 'id', v: m[0], line });
      lastTokenLine = line;
      i += m[0].length;
      continue;
    }
    tokens.push({ t: 'sym', v: c, line });
    lastTokenLine = line;
    i++;
  }
  return { tokens, comments };
}

function parseFile(path) {
  const text = readFileSync(path, 'utf8');
  const file = relative(protoRoot, path);
  const { tokens, comments } = tokenize(text, file);
  let p = 0;
  const peek = () => tokens[p];
  const next = () => tokens[p++];
  const expect = (v) => {
    const t = next();
    if (!t || t.v !== v) throw new Error(`${file}:${t?.line}: expected '${v}', got '${t?.v}'`);
    return t;
  };
  const leading = (line) => {
    // Consecutive non-trailing comments ending on the line just above `line`.
    const out = [];
    let l = line - 1;
    for (;;) {
      const c = comments.find((x) => x.line === l && !x.trailing);
      if (!c) break;
      out.unshift(c.text);
      l--;
    }
    return out;
  };
  const trailing = (line) => comments.filter((x) => x.line === line && x.trailing).map((x) => x.text);
  const skipOption = () => {
    // option ... ; possibly with a braced aggregate value
    let depth = 0;
    for (;;) {
      const t = next();
      if (t.v === '{') depth++;
      if (t.v === '}') depth--;
      if (t.v === ';' && depth === 0) return;
    }
  };

  const out = { file, package: '', imports: [], messages: [], enums: [], services: [] };

  function parseEnum(scope) {
    const start = next(); // 'enum'
    const name = next().v;
    const en = { kind: 'enum', name, scope, values: [], doc: leading(start.line) };
    expect('{');
    while (peek().v !== '}') {
      if (peek().v === 'option') { skipOption(); continue; }
      if (peek().v === 'reserved') { while (next().v !== ';'); continue; }
      const nameTok = next();
      expect('=');
      const num = Number(next().v);
      if (peek().v === '[') while (next().v !== ']');
      const semi = expect(';');
      en.values.push({ name: nameTok.v, number: num, doc: [...leading(nameTok.line), ...trailing(semi.line)] });
    }
    expect('}');
    return en;
  }

  function parseField(msg, oneof) {
    const first = peek();
    let repeated = false;
    if (first.v === 'repeated') { repeated = true; next(); }
    else if (first.v === 'optional') throw new Error(`${file}:${first.line}: proto3 optional is not supported`);
    const type = next().v;
    const name = next().v;
    expect('=');
    const number = Number(next().v);
    if (peek().v === '[') while (next().v !== ']');
    const semi = expect(';');
    const trail = trailing(semi.line);
    const field = {
      name, number, type, repeated, oneof,
      jsNumber: trail.some((t) => t.includes('[js:number]')),
      doc: [...leading(first.line), ...trail.map((t) => t.replace('[js:number]', '').trim()).filter(Boolean)],
    };
    msg.fields.push(field);
  }

  function parseMessage(scope) {
    const start = next(); // 'message'
    const name = next().v;
    const msg = { kind: 'message', name, scope, fields: [], oneofs: [], nestedMessages: [], nestedEnums: [], doc: leading(start.line) };
    const inner = [...scope, name];
    expect('{');
    while (peek().v !== '}') {
      const t = peek();
      if (t.v === 'message') msg.nestedMessages.push(parseMessage(inner));
      else if (t.v === 'enum') msg.nestedEnums.push(parseEnum(inner));
      else if (t.v === 'option') skipOption();
      else if (t.v === 'reserved') { while (next().v !== ';'); }
      else if (t.v === 'oneof') {
        next();
        const oname = next().v;
        msg.oneofs.push(oname);
        expect('{');
        while (peek().v !== '}') parseField(msg, oname);
        expect('}');
      } else parseField(msg, undefined);
    }
    expect('}');
    return msg;
  }

  function parseService() {
    const start = next();
    const name = next().v;
    const svc = { name, methods: [], doc: leading(start.line) };
    expect('{');
    while (peek().v !== '}') {
      if (peek().v === 'option') { skipOption(); continue; }
      const rpcTok = expect('rpc');
      const mname = next().v;
      expect('(');
      let clientStream = false;
      if (peek().v === 'stream') { clientStream = true; next(); }
      const input = next().v;
      expect(')');
      expect('returns');
      expect('(');
      let serverStream = false;
      if (peek().v === 'stream') { serverStream = true; next(); }
      const output = next().v;
      expect(')');
      if (peek().v === '{') { next(); let d = 1; while (d > 0) { const x = next(); if (x.v === '{') d++; if (x.v === '}') d--; } if (peek()?.v === ';') next(); }
      else expect(';');
      svc.methods.push({ name: mname, input, output, clientStream, serverStream, doc: leading(rpcTok.line) });
    }
    expect('}');
    return svc;
  }

  while (p < tokens.length) {
    const t = peek();
    if (t.v === 'syntax') { skipOption(); }
    else if (t.v === 'package') { next(); out.package = next().v; expect(';'); }
    else if (t.v === 'import') { next(); if (peek().v === 'public' || peek().v === 'weak') next(); out.imports.push(next().v); expect(';'); }
    else if (t.v === 'option') skipOption();
    else if (t.v === 'message') out.messages.push(parseMessage([]));
    else if (t.v === 'enum') out.enums.push(parseEnum([]));
    else if (t.v === 'service') out.services.push(parseService());
    else throw new Error(`${file}:${t.line}: unexpected '${t.v}'`);
  }
  return out;
}

// ------------------------------------------------------------------------------------------------ model

const SCALARS = new Set(['bool', 'string', 'bytes', 'int32', 'uint32', 'int64', 'uint64']);

function listProtoFiles(dir) {
  const res = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) res.push(...listProtoFiles(p));
    else if (name.endsWith('.proto')) res.push(p);
  }
  return res;
}

const files = SOURCES.flatMap((d) => listProtoFiles(join(protoRoot, d))).map(parseFile);

// Registry of every type by fully qualified name: pkg.Outer.Inner -> { kind, pkg, tsName, def }
const registry = new Map();
function register(pkg, def, scope) {
  const fq = [pkg, ...scope, def.name].join('.');
  const tsName = [...scope, def.name].join('_');
  registry.set(fq, { kind: def.kind, pkg, tsName, def, fq });
  def.fq = fq;
  def.tsName = tsName;
  def.pkg = pkg;
  if (def.kind === 'message') {
    for (const e of def.nestedEnums) register(pkg, e, [...scope, def.name]);
    for (const m of def.nestedMessages) register(pkg, m, [...scope, def.name]);
  }
}
for (const f of files) {
  for (const e of f.enums) register(f.package, e, []);
  for (const m of f.messages) register(f.package, m, []);
}

function resolve(typeName, pkg, scope) {
  if (typeName.includes('.')) {
    const hit = registry.get(typeName);
    if (hit) return hit;
  }
  for (let i = scope.length; i >= 0; i--) {
    const hit = registry.get([pkg, ...scope.slice(0, i), typeName].join('.'));
    if (hit) return hit;
  }
  throw new Error(`unknown type ${typeName} in ${pkg}.${scope.join('.')}`);
}

function camel(name) {
  // protoc's JSON name: drop underscores and capitalise the letter after each one.
  return name.replace(/_([a-zA-Z0-9])/g, (_, c) => c.toUpperCase());
}

// ------------------------------------------------------------------------------------------------ emit

function moduleName(pkg) {
  return pkg.replace(/\./g, '_');
}

function doc(lines, indent = '') {
  const ls = lines.filter((l) => l.length > 0);
  if (ls.length === 0) return '';
  if (ls.length === 1) return `${indent}/** ${ls[0]} */\n`;
  return `${indent}/**\n${ls.map((l) => `${indent} * ${l}`).join('\n')}\n${indent} */\n`;
}

function generatePackage(pkg, pkgFiles) {
  const imports = new Map(); // module -> Set(names)
  const ref = (entry) => {
    if (entry.pkg !== pkg) {
      const mod = moduleName(entry.pkg);
      if (!imports.has(mod)) imports.set(mod, new Set());
      imports.get(mod).add(entry.tsName);
      if (entry.kind === 'enum') imports.get(mod).add(`${entry.tsName}_names`);
    }
    return entry.tsName;
  };
  let body = '';

  const allEnums = [];
  const allMessages = [];
  const collect = (m) => {
    allMessages.push(m);
    allEnums.push(...m.nestedEnums);
    m.nestedMessages.forEach(collect);
  };
  for (const f of pkgFiles) {
    allEnums.push(...f.enums);
    f.messages.forEach(collect);
  }

  for (const en of allEnums) {
    body += doc(en.doc);
    body += `export enum ${en.tsName} {\n`;
    for (const v of en.values) body += doc(v.doc, '  ') + `  ${v.name} = ${v.number},\n`;
    body += `}\n`;
    body += `/** Names of {@link ${en.tsName}} values by number and numbers by name, for the JSON mapping. */\n`;
    body += `export const ${en.tsName}_names: { readonly byNumber: Readonly<Record<number, string>>; readonly byName: Readonly<Record<string, number>>; readonly goName: string } = {\n`;
    body += `  byNumber: { ${en.values.map((v) => `${v.number}: '${v.name}'`).join(', ')} },\n`;
    body += `  byName: { ${en.values.map((v) => `${v.name}: ${v.number}`).join(', ')} },\n`;
    body += `  goName: '${pkg}.${en.tsName}',\n`;
    body += `};\n\n`;
  }

  for (const msg of allMessages) {
    const fields = [...msg.fields].sort((a, b) => a.number - b.number);
    const info = fields.map((f) => {
      const scalar = SCALARS.has(f.type);
      const target = scalar ? undefined : resolve(f.type, pkg, [...msg.fqScope()]);
      const kind = scalar ? f.type : target.kind; // scalar name | 'enum' | 'message'
      const tsName = kind === 'message' || kind === 'enum' ? ref(target) : undefined;
      const prop = camel(f.name);
      const num64 = (f.type === 'int64' || f.type === 'uint64') && f.jsNumber;
      let tsType;
      switch (kind) {
        case 'bool': tsType = 'boolean'; break;
        case 'string': tsType = 'string'; break;
        case 'bytes': tsType = 'Uint8Array'; break;
        case 'int32': case 'uint32': tsType = 'number'; break;
        case 'int64': case 'uint64': tsType = num64 ? 'number' : 'bigint'; break;
        default: tsType = tsName;
      }
      const optional = !f.repeated && (kind === 'message' || f.oneof !== undefined);
      return { f, kind, tsName, prop, tsType, num64, optional, jsonName: camel(f.name) };
    });

    // interface
    body += doc(msg.doc);
    body += `export interface ${msg.tsName} {\n`;
    for (const x of info) {
      const extra = x.f.oneof ? [`Member of oneof \`${x.f.oneof}\`: at most one member is set.`] : [];
      body += doc([...x.f.doc, ...extra], '  ');
      body += `  ${x.prop}${x.optional ? '?' : ''}: ${x.f.repeated ? `${x.tsType}[]` : x.tsType};\n`;
    }
    body += `}\n\n`;

    const zero = (x) => {
      if (x.f.repeated) return '[]';
      switch (x.kind) {
        case 'bool': return 'false';
        case 'string': return "''";
        case 'bytes': return 'EMPTY_BYTES';
        case 'int32': case 'uint32': case 'enum': return '0';
        case 'int64': case 'uint64': return x.num64 ? '0' : '0n';
        default: return 'undefined';
      }
    };
    // Every field is present in a decoded message, optional ones as `undefined`: all messages of one type then
    // share one hidden class, so the code that reads them (encoders, the applier's dispatch) stays monomorphic.
    // (A missing property read through a megamorphic inline cache costs ~0.3 µs in a large process.)
    const defaults = `{ ${info.map((x) => `${x.prop}: ${x.optional ? 'undefined' : zero(x)}`).join(', ')} }`;
    const wireType = (x) => {
      if (x.f.repeated && !['string', 'bytes', 'message'].includes(x.kind)) return 2; // packed
      return ['string', 'bytes', 'message'].includes(x.kind) ? 2 : 0;
    };
    const writeScalar = (x, v) => {
      switch (x.kind) {
        case 'bool': return `w.bool(${v})`;
        case 'string': return `w.string(${v})`;
        case 'bytes': return `w.bytes(${v})`;
        case 'int32': case 'enum': return `w.int32(${v})`;
        case 'uint32': return `w.uint(${v})`;
        case 'int64': case 'uint64': return x.num64 ? `w.int64Number(${v})` : `w.int64(${v})`;
        default: throw new Error(x.kind);
      }
    };
    const readScalar = (x) => {
      switch (x.kind) {
        case 'bool': return 'r.bool()';
        case 'string': return 'r.string()';
        case 'bytes': return 'r.bytes()';
        case 'int32': case 'enum': return 'r.int32()';
        case 'uint32': return 'r.uint32()';
        case 'int64': return x.num64 ? 'r.int64Number()' : 'r.int64()';
        case 'uint64': return x.num64 ? 'r.int64Number()' : 'r.uint64()';
        default: throw new Error(x.kind);
      }
    };
    const isDefault = (x, v) => {
      switch (x.kind) {
        case 'bool': return `${v}`;
        case 'string': case 'bytes': return `${v}.length > 0`;
        case 'int64': case 'uint64': return x.num64 ? `${v} !== 0` : `${v} !== 0n`;
        default: return `${v} !== 0`;
      }
    };

    // write
    let write = `  write(m: Init<${msg.tsName}>, w: Writer): void {\n`;
    if (info.length === 0) write = `  write(_m: Init<${msg.tsName}>, _w: Writer): void {\n`;
    for (const x of info) {
      const n = x.f.number;
      const v = `m.${x.prop}`;
      if (x.f.repeated) {
        write += `    if (${v} !== undefined) {\n`;
        if (x.kind === 'message') {
          write += `      for (const e of ${v}) { w.tag(${n}, 2); w.fork(); ${x.tsName}.write(e, w); w.join(); }\n`;
        } else if (x.kind === 'string' || x.kind === 'bytes') {
          write += `      for (const e of ${v}) { w.tag(${n}, 2); ${writeScalar(x, 'e')}; }\n`;
        } else {
          write += `      if (${v}.length > 0) { w.tag(${n}, 2); w.fork(); for (const e of ${v}) ${writeScalar(x, 'e')}; w.join(); }\n`;
        }
        write += `    }\n`;
      } else if (x.kind === 'message') {
        write += `    if (${v} !== undefined) { w.tag(${n}, 2); w.fork(); ${x.tsName}.write(${v}, w); w.join(); }\n`;
      } else if (x.f.oneof) {
        write += `    if (${v} !== undefined) { w.tag(${n}, ${wireType(x)}); ${writeScalar(x, v)}; }\n`;
      } else {
        write += `    if (${v} !== undefined && ${isDefault(x, v)}) { w.tag(${n}, ${wireType(x)}); ${writeScalar(x, v)}; }\n`;
      }
    }
    write += `  },\n`;

    // read
    let read = `  read(r: Reader, end: number): ${msg.tsName} {\n`;
    read += `    const m: ${msg.tsName} = ${defaults};\n`;
    read += `    while (r.pos < end) {\n      const tag = r.uint32();\n      const wt = tag & 7;\n      switch (tag >>> 3) {\n`;
    for (const x of info) {
      read += `        case ${x.f.number}:\n`;
      if (x.f.repeated && !['string', 'bytes', 'message'].includes(x.kind)) {
        read += `          if (wt === 2) { const e = r.subEnd(); while (r.pos < e) m.${x.prop}.push(${readScalar(x)}); if (r.pos !== e) throw new WireError('proto: bad packed field ${x.f.name}'); }\n`;
        read += `          else if (wt === 0) m.${x.prop}.push(${readScalar(x)});\n`;
        read += `          else throw new WireError('proto: wrong wire type for field ${msg.tsName}.${x.f.name}');\n`;
        read += `          break;\n`;
        continue;
      }
      read += `          if (wt !== ${wireType(x)}) throw new WireError('proto: wrong wire type for field ${msg.tsName}.${x.f.name}');\n`;
      const value = x.kind === 'message' ? `${x.tsName}.read(r, r.subEnd())` : readScalar(x);
      if (x.f.repeated) read += `          m.${x.prop}.push(${value});\n`;
      else if (x.f.oneof) {
        // The other members are cleared by assignment, not `delete`: the object keeps the shape of its literal
        // (a deleted property would turn every decoded message with a oneof into a slow dictionary object).
        for (const o of info.filter((y) => y.f.oneof === x.f.oneof && y !== x)) read += `          m.${o.prop} = undefined;\n`;
        read += `          m.${x.prop} = ${value};\n`;
      } else read += `          m.${x.prop} = ${value};\n`;
      read += `          break;\n`;
    }
    read += `        default:\n          r.skip(wt);\n      }\n    }\n`;
    read += `    if (r.pos !== end) throw new WireError('proto: ${msg.tsName} overruns its length');\n`;
    read += `    return m;\n  },\n`;

    // toJSON
    let toJson = `  toJSON(m: Init<${msg.tsName}>): JsonObject {\n    const o: JsonObject = {};\n`;
    if (info.length === 0) toJson = `  toJSON(_m: Init<${msg.tsName}>): JsonObject {\n    const o: JsonObject = {};\n`;
    const jsonOf = (x, v) => {
      switch (x.kind) {
        case 'bytes': return `bytesToJson(${v})`;
        case 'int64': case 'uint64': return `${v}.toString()`;
        case 'enum': return `enumToJson(${v}, ${x.tsName}_names.byNumber)`;
        case 'message': return `${x.tsName}.toJSON(${v})`;
        default: return v;
      }
    };
    for (const x of info) {
      const v = `m.${x.prop}`;
      const key = JSON.stringify(x.f.name);
      if (x.f.repeated) toJson += `    if (${v} !== undefined && ${v}.length > 0) o[${key}] = ${v}.map((e) => ${jsonOf(x, 'e')});\n`;
      else if (x.kind === 'message' || x.f.oneof) toJson += `    if (${v} !== undefined) o[${key}] = ${jsonOf(x, v)};\n`;
      else toJson += `    if (${v} !== undefined && ${isDefault(x, v)}) o[${key}] = ${jsonOf(x, v)};\n`;
    }
    toJson += `    return o;\n  },\n`;

    // fromJSON
    let fromJson = `  fromJSON(j: unknown): ${msg.tsName} {\n    const o = jsonObject(j, '${msg.fq}');\n    const m: ${msg.tsName} = ${defaults};\n`;
    if (info.length > 0) {
      fromJson += `    for (const k of Object.keys(o)) {\n      const v = o[k];\n      switch (k) {\n`;
      const fromOne = (x, v) => {
        switch (x.kind) {
          case 'bool': return `boolFromJson(${v}, '${x.f.name}')`;
          case 'string': return `stringFromJson(${v}, '${x.f.name}')`;
          case 'bytes': return `bytesFromJson(${v}, '${x.f.name}')`;
          case 'int32': return `int32FromJson(${v}, '${x.f.name}')`;
          case 'uint32': return `int32FromJson(${v}, '${x.f.name}', true)`;
          case 'int64': return x.num64 ? `int64NumberFromJson(${v}, '${x.f.name}')` : `int64FromJson(${v}, '${x.f.name}')`;
          case 'uint64': return x.num64 ? `int64NumberFromJson(${v}, '${x.f.name}', true)` : `int64FromJson(${v}, '${x.f.name}', true)`;
          case 'enum': return `enumFromJson(${v}, '${x.f.name}', ${x.tsName}_names)`;
          case 'message': return `${x.tsName}.fromJSON(${v})`;
          default: throw new Error(x.kind);
        }
      };
      for (const x of info) {
        const names = [...new Set([x.f.name, x.jsonName])];
        fromJson += `        ${names.map((n) => `case ${JSON.stringify(n)}:`).join(' ')}\n`;
        if (x.f.repeated) fromJson += `          m.${x.prop} = jsonArray(v, '${x.f.name}').map((e) => ${fromOne(x, 'e')});\n`;
        else if (x.optional) fromJson += `          if (v !== null && v !== undefined) m.${x.prop} = ${fromOne(x, 'v')};\n`;
        else fromJson += `          m.${x.prop} = ${fromOne(x, 'v')};\n`;
        fromJson += `          break;\n`;
      }
      fromJson += `        default:\n          break; // unknown fields are ignored, as etcd's gateway does\n      }\n    }\n`;
    } else {
      fromJson += `    void o;\n`;
    }
    fromJson += `    return m;\n  },\n`;

    body += `export const ${msg.tsName}: MessageType<${msg.tsName}> = {\n`;
    body += `  typeName: '${msg.fq}',\n`;
    body += `  create(init: Init<${msg.tsName}> = {}): ${msg.tsName} {\n    return ${msg.tsName}.decode(${msg.tsName}.encode(init));\n  },\n`;
    body += `  encode(m: Init<${msg.tsName}>): Buffer {\n    return withWriter((w) => ${msg.tsName}.write(m, w));\n  },\n`;
    body += `  decode(buf: Uint8Array): ${msg.tsName} {\n    return ${msg.tsName}.read(new Reader(buf), buf.length);\n  },\n`;
    body += write + read + toJson + fromJson;
    body += `};\n\n`;
  }

  for (const f of pkgFiles) {
    for (const svc of f.services) {
      body += doc(svc.doc);
      body += `export const ${svc.name}Service = {\n`;
      for (const m of svc.methods) {
        const input = ref(resolve(m.input, pkg, []));
        const output = ref(resolve(m.output, pkg, []));
        body += doc(m.doc, '  ');
        body += `  ${m.name}: {\n`;
        body += `    path: '/${pkg}.${svc.name}/${m.name}',\n`;
        body += `    requestStream: ${m.clientStream},\n    responseStream: ${m.serverStream},\n`;
        body += `    requestType: ${input},\n    responseType: ${output},\n  },\n`;
      }
      body += `} as const satisfies ServiceDesc;\n\n`;
    }
  }

  const usesWire = allMessages.length > 0;
  let head = `// Code generated by proto/codegen/main.mjs from ${pkgFiles.map((f) => f.file).join(', ')}. DO NOT EDIT.\n`;
  head += `/* eslint-disable */\n`;
  if (usesWire) {
    head += `import { EMPTY_BYTES, Reader, WireError, withWriter, type Writer } from '../runtime/wire.js';\n`;
    head += `import { boolFromJson, bytesFromJson, bytesToJson, enumFromJson, enumToJson, int32FromJson, int64FromJson, int64NumberFromJson, jsonArray, jsonObject, stringFromJson, type JsonObject } from '../runtime/json.js';\n`;
    head += `import type { Init, MessageType } from '../runtime/types.js';\n`;
  }
  if (pkgFiles.some((f) => f.services.length > 0)) head += `import type { ServiceDesc } from '../runtime/types.js';\n`;
  for (const [mod, names] of [...imports].sort()) {
    head += `import { ${[...names].sort().join(', ')} } from './${mod}.js';\n`;
  }
  return `${head}\n${body}`.replace(/\n+$/, '\n');
}

// Scope helper for resolution: the message's own path (so nested enums resolve).
function attachScopes(msg) {
  msg.fqScope = () => [...msg.scope, msg.name];
  msg.nestedMessages.forEach(attachScopes);
}
files.forEach((f) => f.messages.forEach(attachScopes));

const byPkg = new Map();
for (const f of files) {
  if (!byPkg.has(f.package)) byPkg.set(f.package, []);
  byPkg.get(f.package).push(f);
}

const outputs = new Map();
for (const [pkg, pkgFiles] of [...byPkg].sort()) {
  outputs.set(join(outDir, `${moduleName(pkg)}.ts`), generatePackage(pkg, pkgFiles));
}

// Tidy unused helper imports so the strict compiler (noUnusedLocals is off, but readers care) sees only what is used.
for (const [path, text] of outputs) {
  const lines = text.split('\n');
  const fixed = lines.map((line) => {
    const m = /^import (type )?\{ (.*) \} from '(\.\.\/runtime\/[a-z]+\.js)';$/.exec(line);
    if (!m) return line;
    const rest = lines.filter((l) => !l.startsWith('import ')).join('\n');
    const names = m[2].split(', ').filter((n) => {
      const bare = n.replace(/^type /, '');
      return new RegExp(`\\b${bare}\\b`).test(rest);
    });
    if (names.length === 0) return null;
    return `import ${m[1] ?? ''}{ ${names.join(', ')} } from '${m[3]}';`;
  });
  outputs.set(path, fixed.filter((l) => l !== null).join('\n'));
}

const check = process.argv.includes('--check');
let stale = [];
mkdirSync(outDir, { recursive: true });
for (const [path, text] of outputs) {
  let current = null;
  try { current = readFileSync(path, 'utf8'); } catch { /* missing */ }
  if (current === text) continue;
  if (check) stale.push(relative(process.cwd(), path));
  else writeFileSync(path, text);
}
if (check && stale.length > 0) {
  console.error(`generated code is stale; run npm run gen and commit:\n  ${stale.join('\n  ')}`);
  process.exit(1);
}
if (!check) console.log(`generated ${outputs.size} files in ${relative(process.cwd(), outDir)}`);
