/**
 * The run wrapper: a small bash script that sits between the runner and a run's command.
 * NodeExecutor writes it once to `<dataDir>/gantry-wrapper.sh` and starts every run as
 *
 *     bash <dataDir>/gantry-wrapper.sh <attemptDir> <exitFile> <command> [args...]
 *
 * in a new session (the spawner starts it detached), so it outlives the runner. It:
 *
 * 1. sends its own messages (bash job notices) to `<attemptDir>/wrapper.log`, keeping the
 *    run's stdout/stderr (the files the runner opened as its fds 1 and 2) for the command.
 *    Its own files are made under `umask 077` (0600); the command is forked with the
 *    runner's umask (`GANTRY_UMASK`), and `jobs` is created up front, because the CHLD trap
 *    may first write it in the moment the command's umask is in effect;
 * 2. traps HUP, INT and TERM with a handler that only notes the signal (a handler, not an
 *    ignore: an ignored signal would stay ignored in the command, a handler resets on exec),
 *    and, once the command is forked (with the handler, so it execs with the defaults),
 *    ignores them: a signal cannot cut the wrapper's wait short any more. A cut wait returns
 *    128+that signal, and when the command had ended meanwhile its real status was lost
 *    (bash's next `wait` says -1): a signal to the wrapper racing the command's exit made a
 *    run that exited 5 read as killed by SIGTERM. The noting handler covers the moment
 *    between the fork and the ignore;
 * 3. turns job control on (`set -m`) so the command, started in the background, gets a process
 *    group of its own (pgid = its pid). The runner signals that group; the wrapper is not in it,
 *    so a stopped run's exit is still recorded;
 * 4. records `proc.json`: its own pid and start time, the command's pid, pgid and start time,
 *    and the boot id, so that a restarted runner can tell the wrapper from a recycled pid;
 * 5. waits for the command (again after a noted signal interrupted the wait), notes when it
 *    ended (`$EPOCHREALTIME`, a variable: no fork; in epoch ms) and writes the exit file:
 *    `{"exitCode":N,"signal":null,"status":N,"endedAt":MS}` or
 *    `{"exitCode":null,"signal":"SIGTERM","status":143,"endedAt":MS}`, by one `printf` (one small write: a
 *    reader sees the file empty, "not yet", or whole). Not a temporary file and `mv`: that
 *    forked a process on every run's exit path (about 1 ms of the exit → next start latency).
 *
 * `wait` reports a signal death as 128+N, just like `exit 128+N`. To tell the two apart, a
 * CHLD trap appends the job table (`jobs -l`, C locale) to `<attemptDir>/jobs` at every child
 * state change: a job that exited reads "Exit N" or "Done" there, a killed one the signal's
 * description. Bash may forget a finished job's table entry when it starts another child, so
 * nothing is forked between starting the command and the wait (builtins only: `proc.json` is
 * written in place by one `printf`, and readers treat an empty or partial file as "not yet").
 * Where the table says "Exit N" or "Done", N (or 0) is the status: a signal noted by the
 * wrapper can cut its last wait short just as the command ends, and that wait's status is
 * 128+the signal, not the command's. Where the table has no verdict, a status above 128
 * counts as a signal. That `jobs` may
 * clean the finished job out of the table while `wait` is still looking for it (bash then
 * says "wait_for: No record of process" and returns 127, about 1 in 300 quick jobs under
 * load); bash keeps the status of finished background jobs, so a 127 is checked by a
 * second `wait`, which returns the real status (127 again for a real 127).
 *
 * A run under another account (NodeExecutor's `accountOf`) starts the wrapper through setpriv,
 * as that account, from `/`, and names the run's working directory in GANTRY_CWD: the command's
 * fork enters it (as the account, so a folder the account may not reach stays out of reach; a
 * root `chdir` before the switch would hand it over) and execs the command; when it cannot,
 * the message is on stderr.log and the run exits 126. The spawner created the exit file empty
 * and the account's, in the root-owned `exits/`; the `printf` truncates and writes it.
 *
 * The runner hands the run's BASH_ENV over as GANTRY_BASH_ENV (bash would source it when the
 * wrapper starts) and the wrapper exports it back for the command. With bash older than 5.1 (no `wait -f`) a run stopped by SIGSTOP/SIGTSTP is reported as
 * ended by that signal.
 */
export const WRAPPER_SCRIPT = `# gantry run wrapper, written by @gantry/platform-node (see its src/wrapper.ts).
# usage: bash gantry-wrapper.sh ATTEMPT_DIR EXIT_FILE COMMAND [ARG...]
dir=$1 exitfile=$2
shift 2
# the wrapper's own files are private (0600); the command gets the runner's umask back
runumask=\${GANTRY_UMASK:-}
runcwd=\${GANTRY_CWD:-}
unset GANTRY_UMASK GANTRY_CWD
umask 077
exec 3>&1 4>&2 >>"$dir/wrapper.log" 2>&1
: >>"$dir/jobs"
if [ -n "\${GANTRY_BASH_ENV+x}" ]; then export BASH_ENV=$GANTRY_BASH_ENV; fi
unset GANTRY_BASH_ENV
interrupted=0
trap 'interrupted=1' HUP INT TERM
set -m -f
waitf=
if ((BASH_VERSINFO[0] > 5 || (BASH_VERSINFO[0] == 5 && BASH_VERSINFO[1] >= 1))); then waitf=-f; fi
trap 'LC_ALL=C jobs -l >>"$dir/jobs"' CHLD
if [ -n "$runumask" ]; then umask "$runumask"; fi
if [ -n "$runcwd" ]; then
  # entered as the run's account (see src/wrapper.ts); the same one fork, which execs the command
  { cd -- "$runcwd" || exit 126; exec "$@"; } 1>&3 2>&4 3>&- 4>&- &
else
  "$@" 1>&3 2>&4 3>&- 4>&- &
fi
pid=$!
umask 077
trap '' HUP INT TERM
exec 3>&- 4>&-
# builtins only until the wait (see src/wrapper.ts)
read -r boot </proc/sys/kernel/random/boot_id
read -r stat </proc/$$/stat; stat=\${stat##*) }; set -- $stat; wstart=\${20}
pstart=
read -r stat </proc/$pid/stat && { stat=\${stat##*) }; set -- $stat; pstart=\${20}; }
printf '{"wrapperPid":%d,"wrapperStart":"%s","pid":%d,"pgid":%d,"processStart":"%s","bootId":"%s"}\\n' \\
  "$$" "$wstart" "$pid" "$pid" "$pstart" "$boot" >"$dir/proc.json"
while :; do
  interrupted=0
  wait $waitf "$pid"; status=$?
  [ "$interrupted" = 1 ] && kill -0 "$pid" 2>/dev/null || break
done
# when it ended, in epoch ms (the digits of $EPOCHREALTIME are microseconds, whatever the
# locale's point); null with a bash older than 5.0, which has no $EPOCHREALTIME
us=\${EPOCHREALTIME-}
us=\${us//[!0-9]/}
case $us in ''|*[!0-9]*) endedat=null ;; *) endedat=$((10#$us / 1000)) ;; esac
if [ "$status" = 127 ]; then wait "$pid"; status=$?; fi
trap - CHLD
killed=1
exited=
if [ -f "$dir/jobs" ]; then
  while read -r line; do
    case $line in
      *" $pid Done "*|*" $pid Done") killed=0 exited=0 ;;
      *" $pid Exit "*) killed=0 exited=\${line#*" $pid Exit "} exited=\${exited%% *} ;;
    esac
  done <"$dir/jobs"
fi
# the job table's own record of the exit wins: a noted signal can cut the last wait short
# just as the command ends, and then that wait's status is 128+the signal, not the command's
case $exited in ''|*[!0-9]*) ;; *) status=$exited ;; esac
if [ "$status" -gt 128 ] && [ "$killed" = 1 ] && sig=$(kill -l $((status - 128)) 2>/dev/null); then
  json="{\\"exitCode\\":null,\\"signal\\":\\"SIG$sig\\",\\"status\\":$status,\\"endedAt\\":$endedat}"
else
  json="{\\"exitCode\\":$status,\\"signal\\":null,\\"status\\":$status,\\"endedAt\\":$endedat}"
fi
printf '%s\\n' "$json" >"$exitfile"
`
