// `shipper doctor [--since 10min] [--unit shipper.service] [--json]`: one screen, one line
// per check (OK / WARN / FAIL, SKIP when a check could not run), and for each WARN or FAIL
// the command that fixes it. The checks, in order: config, certificates, receiver (a real
// ping), folders, disk, queue (the `status` verdict), unit (systemctl show), journal
// (journalctl -u UNIT -o json --since=-10min, classified). A broken config skips the
// checks that need it and still reads the unit and its journal, which usually say why.
// Exit 0 when nothing is red (yellow is 0 too), 1 when anything is, 78 when the config
// itself is missing or broken (the report is still printed whole).

import { configPath, loadConfigFile } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { check, doctorExitCode, renderChecks, tallyLine, wantsColour, type Check } from '../doctor/check.js';
import { checkCertificates, checkDisk, checkFolders, checkReceiver, configFailure, queueCheck } from '../doctor/checks.js';
import { runProgram, type RunProgram } from '../doctor/exec.js';
import { oneLine } from '../doctor/format.js';
import { JournalClassifier } from '../doctor/journal.js';
import { deniedCheck, journalDenied, judgeJournal } from '../doctor/journal-judge.js';
import { parseSince, type Since } from '../doctor/since.js';
import { takeSnapshot } from '../doctor/snapshot.js';
import { checkUnit } from '../doctor/unit.js';
import { verdict } from '../doctor/verdict.js';
import { ExitCodes } from '../errors.js';
import type { Args } from './args.js';
import type { Io } from './io.js';

export interface DoctorDeps {
  run?: RunProgram;
  isTty?: boolean;
  now?: () => number;
}

async function checkJournal(run: RunProgram, io: Io, unit: string, since: Since, configFile: string): Promise<Check[]> {
  const classifier = new JournalClassifier();
  const r = await run('journalctl', ['-u', unit, '-o', 'json', `--since=${since.journal}`, '--no-pager'], {
    env: io.env,
    timeoutMs: 30_000,
    onLine: (line) => classifier.add(line),
    signal: io.signal,
  });
  if (r.missing) return [check('journal', 'skip', 'journalctl is not installed here; the journal was not read')];
  if (journalDenied(r.stderr)) return [deniedCheck(r.stderr)];
  if (r.timedOut) return [check('journal', 'warn', `journalctl did not finish within 30 s (a huge --since?)`, `journalctl -u ${unit} --since=${since.journal}`)];
  if (r.code !== 0) {
    const why = oneLine(r.stderr || `exit ${r.code}`, 100);
    if (/No journal files were found/i.test(r.stderr)) return [check('journal', 'skip', `no journal on this host (${why})`)];
    return [check('journal', 'warn', `journalctl failed: ${why}`, `journalctl -u ${unit} --since=${since.journal}`)];
  }
  return judgeJournal(classifier.summary(), { unit, since: since.label, configFile });
}

async function hostChecks(config: Config, io: Io, unit: string, now: number): Promise<Check[]> {
  const out: Check[] = [check('config', 'ok', `${config.file} is valid (host ${config.hostId}, receiver ${config.receiver.url})`)];
  const certs = await checkCertificates(config, new Date(now));
  out.push(certs.check);
  out.push(certs.tls ? await checkReceiver(config, certs.tls, io.signal) : check('receiver', 'skip', 'not pinged: the certificates must be fixed first'));
  out.push(await checkFolders(config));
  out.push(await checkDisk(config));
  try {
    const snap = await takeSnapshot(config, now);
    out.push(queueCheck(snap, verdict(snap, now), unit));
  } catch (err) {
    out.push(configFailure(err, config.file));
    out[out.length - 1]!.name = 'queue';
  }
  return out;
}

export async function doctorMode(args: Args, io: Io, deps: DoctorDeps = {}): Promise<number> {
  const since = parseSince(args.since);
  const run = deps.run ?? runProgram;
  const now = (deps.now ?? Date.now)();
  const file = configPath(args.config, io.env);

  const checks: Check[] = [];
  let config: Config | null = null;
  try {
    config = await loadConfigFile(file, io.env);
  } catch (err) {
    checks.push(configFailure(err, file));
    for (const name of ['certificates', 'receiver', 'folders', 'disk', 'queue']) checks.push(check(name, 'skip', 'needs a valid config'));
  }
  if (config) checks.push(...(await hostChecks(config, io, args.unit, now)));
  checks.push(await checkUnit(run, io.env, args.unit, file));
  checks.push(...(await checkJournal(run, io, args.unit, since, file)));

  // A broken config is exit 78 as in every other mode (the other red lines follow from it).
  const code = config === null ? ExitCodes.CONFIG : doctorExitCode(checks);
  if (args.json) {
    io.out(JSON.stringify({ config: file, unit: args.unit, since: since.label, exit_code: code, checks }, null, 2));
    return code;
  }
  io.out(`shipper doctor: ${file}, unit ${args.unit}, journal of the last ${since.label}`);
  io.out('');
  for (const line of renderChecks(checks, wantsColour(deps.isTty ?? process.stdout.isTTY === true, io.env))) io.out(line);
  io.out('');
  io.out(tallyLine(checks));
  return code;
}
