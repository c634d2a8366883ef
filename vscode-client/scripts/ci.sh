#!/usr/bin/env bash
# CI for the VS Code extension: install, scenario schema, type-check, lint, unit tests,
# server contract test, bundle, package. Writes dist/go-incident-harness.vsix.
# Every step runs even when an earlier one failed (a failed check still leaves a .vsix for
# the end-to-end test); a step that needs a failed one is skipped and says so. Ends with a
# table of the steps and exits non-zero when any failed. Run from anywhere; needs Node 20 and npm.
set -u
HERE="$(cd "$(dirname "$0")/.." && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
BUILD="$HERE/scripts/build.sh"
cd "$HERE"

SKIP=77            # exit code of a step that had nothing to run (see the contract test)
ORDER=()
# Per step ID: title_ID, result_ID (ok, FAILED, skipped), secs_ID, note_ID. Plain variables and
# printf -v rather than associative arrays, so that the bash 3.2 of macOS runs this too.
set_() { printf -v "$1_$2" '%s' "$3"; }
get_() { local v="$1_$2"; printf '%s' "${!v}"; }
now() { if [ -n "${EPOCHREALTIME:-}" ]; then echo "${EPOCHREALTIME/,/.}"; else date +%s; fi; }

# step ID "TITLE" [NEEDED-ID ...] -- COMMAND [ARG ...]
# Runs COMMAND (in a subshell with errexit) unless a step it needs did not end ok.
step() {
  local id="$1" title="$2" dep rc t0 note=""
  shift 2
  local needs=()
  while [ "$1" != "--" ]; do needs+=("$1"); shift; done
  shift
  ORDER+=("$id")
  set_ title "$id" "$title"
  set_ secs "$id" "-"
  printf '\n== %s\n' "$title"
  for dep in ${needs[@]+"${needs[@]}"}; do
    case "$(get_ result "$dep")" in
      ok) ;;
      FAILED) note="because '$(get_ title "$dep")' failed" ;;
      *) note="because '$(get_ title "$dep")' was skipped" ;;
    esac
    if [ -n "$note" ]; then
      set_ result "$id" skipped
      set_ note "$id" "$note"
      echo "-- skipped: $title, $note"
      return 0
    fi
  done
  t0="$(now)"
  ( set -e; "$@" )
  rc=$?
  set_ secs "$id" "$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')"
  if [ "$rc" -eq 0 ]; then
    set_ result "$id" ok
  elif [ "$rc" -eq "$SKIP" ]; then
    set_ result "$id" skipped
    note="nothing to run, see its output"
  else
    set_ result "$id" FAILED
    note="exit code $rc"
  fi
  set_ note "$id" "$note"
  echo "-- $(get_ result "$id"): $title ($(get_ secs "$id") s)${note:+, $note}"
  return 0
}

schema() {
  # The scenario JSON Schema comes from the harness CLI when it is installed; otherwise
  # the committed file is kept as it is.
  local harness="${HARNESS_BIN:-$REPO/.venv/bin/harness}"
  if [ -x "$harness" ] && "$harness" schema > schemas/scenario.schema.json.new 2>/dev/null \
     && node -e 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))' schemas/scenario.schema.json.new; then
    mv schemas/scenario.schema.json.new schemas/scenario.schema.json
    echo "schemas/scenario.schema.json from $harness schema"
  else
    rm -f schemas/scenario.schema.json.new
    echo "harness schema not available; keeping the committed schemas/scenario.schema.json"
  fi
}

contract() {
  local py="${HARNESS_PYTHON:-$REPO/.venv/bin/python}"
  if [ -x "$py" ] && "$py" -c "import lsp.__main__" 2>/dev/null; then
    HARNESS_PYTHON="$py" npm run -s test:contract
  else
    echo "SKIPPED: no interpreter with the language server at $py (set HARNESS_PYTHON or create the project's .venv)"
    return "$SKIP"
  fi
}

step deps      "npm ci"                                                    -- "$BUILD" deps
step schema    "scenario schema"                                           -- schema
step typecheck "type-check (tsc --noEmit, strict)"          deps           -- npm run -s typecheck
step lint      "lint (eslint)"                              deps           -- npm run -s lint
step unit      "unit tests (node --test)"                   deps           -- npm test -s
step contract  "server contract test (the real harness-lsp subprocess)" deps -- contract
step bundle    "bundle (esbuild)"                           deps           -- "$BUILD" bundle
step package   "package (vsce)"                             deps bundle    -- "$BUILD" package

printf '\n== summary\n'
failed=0
skipped=0
printf '%-58s %-8s %8s\n' "step" "result" "seconds"
for id in "${ORDER[@]}"; do
  note="$(get_ note "$id")"
  printf '%-58s %-8s %8s%s\n' "$(get_ title "$id")" "$(get_ result "$id")" "$(get_ secs "$id")" "${note:+  $note}"
  case "$(get_ result "$id")" in
    FAILED) failed=$((failed + 1)) ;;
    skipped) skipped=$((skipped + 1)) ;;
  esac
done
if [ "$failed" -gt 0 ]; then
  echo "ci: $failed step(s) FAILED, $skipped skipped"
  exit 1
fi
if [ "$skipped" -gt 0 ]; then
  echo "ci: no step failed; $skipped skipped"
else
  echo "ci: all steps ok"
fi
