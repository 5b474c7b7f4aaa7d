#!/usr/bin/env bash
# Mutation score of the pure, central modules (mutmut; not in CI: it takes tens of minutes).
#
#   bash scripts/mutation.sh                  # every module listed in pyproject.toml [tool.mutmut]
#   bash scripts/mutation.sh forget metrics   # only these (unlearn_core/forget.py, unlearn_core/metrics/*)
#
# mutmut first runs the fast tests of those modules once to learn which test calls which function,
# then runs, for each mutant, only the fast tests that reach the mutated function. One worker
# (MUTATION_CHILDREN=2 for two on an otherwise idle machine), at low priority, one thread per
# process. A mutant times out after (estimated test time + 1 s) x 15 x 2 CPU seconds, or half that
# in wall time, so a heavily loaded machine can turn slow survivors into timeouts: run it alone.
# Workers fork from mutmut's forkserver (pyproject.toml), not from the main process: torch is not
# fork-safe, and forked workers deadlocked. Results: mutants/ and the summary
# printed at the end (killed = a test failed; survived = no test noticed).
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
declare -A PATTERN=(
  [forget]="unlearn_core.forget.*"
  [masks]="unlearn_core.localize.masks.*"
  [scores]="unlearn_core.localize.scores.*"
  [metrics]="unlearn_core.metrics.*"
  [store]="unlearn_core.workspace.store.*"
  [checkpoint]="unlearn_core.models.checkpoint.*"
  [inspect]="unlearn_core.inspect.*"
  [study]="unlearn_core.study.* unlearn_core.metrics.epsilon.* unlearn_core.metrics.verdict.* unlearn_core.workspace.studies.* unlearn_core.bench.members.*"
)
modules=("$@")
[ ${#modules[@]} -eq 0 ] && modules=(forget masks scores metrics store checkpoint inspect study)
patterns=()
for m in "${modules[@]}"; do
  [ -n "${PATTERN[$m]:-}" ] || { echo "unknown module '$m'; use: ${!PATTERN[*]}" >&2; exit 2; }
  read -ra split <<< "${PATTERN[$m]}"
  patterns+=("${split[@]}")
done
nice -n 10 python -m mutmut run --max-children "${MUTATION_CHILDREN:-1}" "${patterns[@]}"
python -m mutmut results --all true | python scripts/mutation_summary.py ${MUTATION_STORE:+--store "$MUTATION_STORE"} "${patterns[@]}"
