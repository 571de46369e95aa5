// node --test reporter: one line per test, failures in full, and the closing
// line "N passed, N failed" (non-zero exit when any failed, as node sets it).
export default async function* reporter(source) {
  let passed = 0, failed = 0;
  const failures = [];
  for await (const ev of source) {
    if (ev.type === "test:pass" && ev.data.details?.type !== "suite") {
      passed++;
      yield `  ok  ${ev.data.name} (${Math.round(ev.data.details.duration_ms)} ms)\n`;
    } else if (ev.type === "test:fail" && ev.data.details?.type !== "suite") {
      failed++;
      const err = ev.data.details.error;
      const msg = String(err?.cause?.stack ?? err?.cause ?? err?.message ?? err);
      failures.push(`${ev.data.name} (${ev.data.file ?? ""})\n${msg}`);
      yield `  FAIL ${ev.data.name}\n`;
    } else if (ev.type === "test:stderr" || ev.type === "test:stdout") {
      yield ev.data.message;
    }
  }
  for (const f of failures) yield `\n--- ${f}\n`;
  yield `console (${process.env.CONSOLE_DB ?? "?"}): ${passed} passed, ${failed} failed\n`;
}
