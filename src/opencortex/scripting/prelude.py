"""The JavaScript that sets up the sandbox inside the engine before any user code runs.

``PRELUDE`` evaluates to a function ``setup(config, secret)`` that the child process calls once. It
defines the globals a Cortex script sees (``script``, ``console``, ``consts``, ``require`` and the
import helper the source transform targets), takes the native log sink out of the global scope,
and returns ``control(secret, command, argument)``: the child's only handle on the running script.

It reports facts, not verdicts: a thrown value comes back as its name, message and stack, and the
parent process decides which error name a caller sees. All output it produces is JSON text made by
its own serializer, which never throws, never follows a cycle, stops at a size budget and replaces
lone surrogates, so that the text is valid UTF-8 JSON whatever the script logged.

It captures the built-ins it relies on before user code runs; a script that later replaces
``JSON.stringify`` or ``Array.prototype`` methods can only spoil its own log output.
"""

from __future__ import annotations

from opencortex.scripting.transform import BUILTIN_MODULES, IMPORT_FUNCTION

# Access levels a script compares against (cortex-api.md section 6.2 and 9.4).
ACCESS_LEVELS = {
    "public": 1,
    "connected": 2,
    "read": 4,
    "share": 5,
    "update": 6,
    "delete": 7,
    "script": 8,
}

# Frames the logger itself puts on top of the stack it captures: captureStack(), record() and the
# level method (logger.info, console.log...).
LOGGER_FRAMES = 3

# The name of the function the script body is wrapped in; Cortex traces call the entry point main.
ENTRY_FUNCTION = "main"

PRELUDE = r"""
(function setup(config, secret) {
  "use strict";
  const emitNative = globalThis.__oc_emit;
  delete globalThis.__oc_emit;

  const G = globalThis;
  const defineProperty = Object.defineProperty;
  const freeze = Object.freeze;
  const objectKeys = Object.keys;
  const isArray = Array.isArray;
  const isView = ArrayBuffer.isView;
  const jsonStringify = JSON.stringify;
  const ErrorRef = Error;
  const captureStackTrace = Error.captureStackTrace;
  const StringRef = String;
  const numberIsFinite = Number.isFinite;
  const indirectEval = eval;
  // Bound now, so that later changes to Function.prototype.call cannot reach these calls:
  // uncurry(f)(self, ...args) is f.call(self, ...args), invoke(f, self, ...args) likewise.
  const call = Function.prototype.call;
  const uncurry = (fn) => call.bind(fn);
  const invoke = call.bind(call);
  const sliceString = uncurry(String.prototype.slice);
  const wellFormed = uncurry(String.prototype.toWellFormed);
  const bigintToString = uncurry(BigInt.prototype.toString);
  const symbolToString = uncurry(Symbol.prototype.toString);
  const includes = uncurry(Array.prototype.includes);
  const objectToString = uncurry(Object.prototype.toString);
  const isArrayBuffer = (value) => {
    try { return objectToString(value) === "[object ArrayBuffer]"; } catch (e) { return false; }
  };

  const limits = config.limits;
  const MAX_DEPTH = 64;
  const MAX_ARGS = 100;
  const PREVIEW = 1024;
  const STACK_TEXT = 4096;

  // --- serializer ---------------------------------------------------------------------------

  const text = (value) => StringRef(value);
  const quote = (value) => jsonStringify(wellFormed(value));
  // Strings handed to Python go through this: it replaces lone surrogates, and it flattens the
  // engine's rope strings (long concatenations), which the Python binding cannot convert.
  const flat = (value) => wellFormed(value);

  // Whether the last serialize() call hit its budget.
  let lastTruncated = false;

  // JSON.stringify's rules (toJSON, dropped undefined properties), plus: cycles, functions,
  // symbols, BigInts, errors and binary data become descriptive strings, depth is capped, and a
  // getter, proxy trap or toJSON that throws marks its value instead of failing the whole call.
  function serialize(value, budget) {
    const ancestors = [];
    let used = 0;
    let over = false;
    const BROKEN = {};

    // Output is produced strictly left to right, so a cut-off result is a prefix of the JSON.
    function leaf(str) {
      if (over) return "";
      if (used + str.length > budget) {
        over = true;
        str = sliceString(str, 0, budget - used);
      }
      used += str.length;
      return str;
    }

    function stringLeaf(str) {
      if (over) return "";
      // A long string is cut before it is quoted, so logging 100 MB costs only the budget.
      if (str.length > budget - used) str = sliceString(str, 0, budget - used + 1);
      return leaf(quote(str));
    }

    // holder[key] after toJSON, or BROKEN if a getter, proxy trap or toJSON threw.
    function resolve(holder, key) {
      try {
        let v = holder[key];
        if (v !== null && (typeof v === "object" || typeof v === "bigint")) {
          const toJSON = v.toJSON;
          if (typeof toJSON === "function") v = invoke(toJSON, v, key);
        }
        return v;
      } catch (e) {
        return BROKEN;
      }
    }

    // The JSON text of a resolved value; undefined for values JSON leaves out.
    function render(v) {
      if (v === BROKEN) return stringLeaf("[Unserializable]");
      try {
        switch (typeof v) {
          case "undefined": return undefined;
          case "string": return stringLeaf(v);
          case "number": return leaf(numberIsFinite(v) ? text(v) : "null");
          case "boolean": return leaf(v ? "true" : "false");
          case "bigint": return stringLeaf(bigintToString(v));
          case "symbol": return stringLeaf(symbolToString(v));
          case "function": return stringLeaf("[Function: " + functionName(v) + "]");
        }
        if (v === null) return leaf("null");
        if (includes(ancestors, v)) return stringLeaf("[Circular]");
        if (ancestors.length >= MAX_DEPTH) return stringLeaf("[Too deep]");
        if (isView(v)) return stringLeaf("[" + constructorName(v) + " of " + text(v.byteLength) + " bytes]");
        if (isArrayBuffer(v)) return stringLeaf("[ArrayBuffer of " + text(v.byteLength) + " bytes]");
      } catch (e) {
        return stringLeaf("[Unserializable]");
      }
      ancestors[ancestors.length] = v;
      try {
        if (isArray(v)) return list(v);
        if (v instanceof ErrorRef) return members(v, ["name", "message"]);
        return members(v, []);
      } catch (e) {
        // Only reachable when enumerating keys or the length failed; keep the output well-formed.
        return undefined;
      } finally {
        ancestors.length = ancestors.length - 1;
      }
    }

    function list(v) {
      let out = leaf("[");
      const length = v.length;
      for (let i = 0; i < length && !over; i++) {
        if (i > 0) out += leaf(",");
        const item = render(resolve(v, text(i)));
        out += item === undefined ? leaf("null") : item;
      }
      return out + leaf("]");
    }

    // An object's own enumerable properties; an Error also keeps its name and message.
    function members(v, first) {
      let out = leaf("{");
      let count = 0;
      const names = objectKeys(v);
      for (let i = 0; i < first.length + names.length && !over; i++) {
        const name = i < first.length ? first[i] : names[i - first.length];
        if (i >= first.length && includes(first, name)) continue;
        let item = resolve(v, name);
        if (i < first.length) item = item === BROKEN ? item : text(item);
        if (item === undefined) continue;
        out += leaf(count++ > 0 ? "," : "") + stringLeaf(name) + leaf(":");
        const json = render(item);
        out += json === undefined ? leaf("null") : json;
      }
      return out + leaf("}");
    }

    function functionName(fn) {
      try { const name = fn.name; return typeof name === "string" ? name : ""; } catch (e) { return ""; }
    }

    function constructorName(v) {
      try { return text(v.constructor.name); } catch (e) { return "TypedArray"; }
    }

    // The top-level value goes through toJSON too, as JSON.stringify does with its holder.
    const json = render(resolve({ "": value }, ""));
    const result = json === undefined ? "null" : json;
    lastTruncated = over;
    if (!over) return result;
    const preview = quote(sliceString(result, 0, PREVIEW));
    return "{\"truncated\":true,\"limit\":" + text(budget) + ",\"preview\":" + preview + "}";
  }

  // --- logging ------------------------------------------------------------------------------

  let logCut = false;
  let exited = false;
  let exitValue;

  function captureStack() {
    const saved = [ErrorRef.stackTraceLimit, ErrorRef.prepareStackTrace];
    try {
      ErrorRef.stackTraceLimit = 10 + 2;
      ErrorRef.prepareStackTrace = undefined;
    } catch (e) {
      // The script made these read-only; the trace is then whatever the engine gives us.
    }
    try {
      const stack = new ErrorRef().stack;
      return typeof stack === "string" ? wellFormed(sliceString(stack, 0, STACK_TEXT)) : "";
    } catch (e) {
      return "";
    } finally {
      try {
        ErrorRef.stackTraceLimit = saved[0];
        ErrorRef.prepareStackTrace = saved[1];
      } catch (e) {
        // As above.
      }
    }
  }

  function record(level, args) {
    if (logCut || exited) return;
    const stack = captureStack();
    let dat;
    if (args.length === 0) dat = "null";
    else if (args.length === 1) dat = serialize(args[0], limits.maxRecordBytes);
    else {
      const items = [];
      const count = args.length < MAX_ARGS ? args.length : MAX_ARGS;
      for (let i = 0; i < count; i++) items[i] = args[i];
      dat = serialize(items, limits.maxRecordBytes);
    }
    // A truncated record costs its whole allowance, so a flood of huge values is cut quickly.
    const charge = lastTruncated ? limits.maxRecordBytes : 0;
    if (emitNative("log", level, flat(dat), quote(stack), charge) !== true) logCut = true;
  }

  const logger = freeze({
    version: "1.0.0",
    error(...args) { record(0, args); },
    warn(...args) { record(1, args); },
    info(...args) { record(2, args); },
    debug(...args) { record(3, args); },
    trace(...args) { record(4, args); },
  });

  const consoleModule = freeze({
    log(...args) { record(2, args); },
    info(...args) { record(2, args); },
    warn(...args) { record(1, args); },
    error(...args) { record(0, args); },
  });

  // --- modules and globals ------------------------------------------------------------------

  const modules = { logger: logger, console: consoleModule };
  const moduleNames = __MODULES__;
  const moduleList = moduleNames.join(", ");

  // Also what rewritten import declarations call, so that both forms fail with the same error.
  function require(name) {
    name = text(name);
    if (!includes(moduleNames, name)) {
      const error = new ErrorRef("module '" + name + "' is not available; the built-in modules are "
        + moduleList);
      error.name = "ImportError";
      // The trace starts at the script's call, not inside this built-in.
      try { captureStackTrace(error, require); } catch (e) { /* keep the full trace */ }
      throw error;
    }
    return modules[name];
  }

  const EXIT = freeze({});
  const script = freeze({
    arguments: config.arguments,
    principal: config.principal,
    exit(value) {
      if (!exited) {
        exited = true;
        exitValue = value;
        emitNative("exit");
      }
      throw EXIT;
    },
  });

  const accessLevels = config.accessLevels;
  const consts = freeze({ accessLevels: freeze(accessLevels) });

  const readOnly = (name, value) =>
    defineProperty(G, name, { value: value, writable: false, enumerable: false, configurable: false });
  readOnly("script", script);
  readOnly("console", consoleModule);
  readOnly("consts", consts);
  readOnly("require", require);
  readOnly("__IMPORT__", require);

  // No waiting in a single-threaded sandbox; the engine refuses it anyway, this removes the API.
  try { delete G.Atomics.wait; delete G.Atomics.waitAsync; } catch (e) { /* already gone */ }

  // --- running ------------------------------------------------------------------------------

  let main;
  let thrown;
  let threw = false;
  let result;
  let phase = "compile";

  function describe(value) {
    if (value === null) return { kind: "null" };
    if (value === undefined) return { kind: "undefined" };
    if (value instanceof ErrorRef) {
      const read = (key, cap) => {
        try { const v = value[key]; return typeof v === "string" ? wellFormed(sliceString(v, 0, cap)) : ""; }
        catch (e) { return ""; }
      };
      return {
        kind: "error",
        name: read("name", 200),
        message: read("message", 4000),
        stack: read("stack", STACK_TEXT),
      };
    }
    return { kind: "value", value: serialize(value, limits.maxRecordBytes) };
  }

  // The child's only handle on the run. Stack-trace hooks (Error.prepareStackTrace) can hand
  // script code a reference to this function, so it acts only for the caller that knows the
  // secret the child chose for this run.
  function control(token, command, argument) {
    if (token !== secret) return undefined;
    if (command === "compile") {
      try {
        main = indirectEval(argument);
        if (typeof main !== "function") throw new ErrorRef("the script did not compile to a function");
      } catch (e) {
        threw = true;
        thrown = e;
      }
      return !threw;
    }
    if (command === "run") {
      phase = "run";
      try {
        result = invoke(main, undefined);
      } catch (e) {
        if (e !== EXIT || !exited) {
          threw = true;
          thrown = e;
        }
      }
      return;
    }
    if (command === "finish") {
      try {
        return flat(finish());
      } catch (e) {
        // Only a script that sabotaged the built-ins gets here; report what is certain.
        return "{\"phase\":\"run\",\"outcome\":\"threw\",\"kind\":\"unknown\"}";
      }
    }
    return undefined;
  }

  function finish() {
    // The parent parses this; everything in it is serializer output or a quoted string.
    let out = "{\"phase\":" + quote(phase);
    if (exited) {
      out += ",\"outcome\":\"exit\",\"result\":" + serialize(exitValue, limits.maxResultBytes);
    } else if (threw) {
      const d = describe(thrown);
      out += ",\"outcome\":\"threw\",\"kind\":" + quote(d.kind);
      if (d.kind === "error") {
        out += ",\"name\":" + quote(d.name) + ",\"message\":" + quote(d.message);
        out += ",\"stack\":" + quote(d.stack);
      }
      if (d.kind === "value") out += ",\"value\":" + d.value;
    } else {
      out += ",\"outcome\":\"ok\",\"result\":" + serialize(result, limits.maxResultBytes);
    }
    return out + "}";
  }
  return control;
})
"""

PRELUDE = PRELUDE.replace("__MODULES__", "[" + ", ".join(f'"{m}"' for m in BUILTIN_MODULES) + "]")
PRELUDE = PRELUDE.replace("__IMPORT__", IMPORT_FUNCTION)
