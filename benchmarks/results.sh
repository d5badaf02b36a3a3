#!/usr/bin/env bash
# Reproduce docs/results.md: every `gram eval` run behind it, resumable (a rerun skips what is
# done). DATA is the folder of the evaluation sets; by default the embedded model is started
# by each command, or set BASE_URL and MODEL to use a running server (e.g. `gram serve-local
# --port 8765` and MODEL=qwen2.5-coder-1.5b), which saves the model start per command.
#
#   bash benchmarks/results.sh                      # everything (many hours on 2 CPU cores)
#   LIMIT_SCALE=full bash benchmarks/results.sh     # the sizes the evaluation issue asks for
set -euo pipefail
DATA=${DATA:-../shared/data}
OUT=${OUT:-docs/results}
MODEL_ARGS=()
if [[ -n "${BASE_URL:-}" ]]; then MODEL_ARGS=(--base-url "$BASE_URL" --model "${MODEL:?set MODEL}"); fi
ALL=direct,cot,self_consistency,react,gram

if [[ "${LIMIT_SCALE:-session}" == full ]]; then
  FM=150 HP=100 GSM=100 G24=30 LL=30 SW=50 SHAPES=5
else  # what one 3-hour session on 2 cores measured (see docs/results.md)
  FM=40 HP=4 GSM=4 G24=2 LL=1 SW=12 SHAPES=1  # GSM8K, letters, game24: not reached
fi

# Multi-hop QA over the fictional world (BM25 over its 580 documents).
gram eval --dataset fictional_multihop --data "$DATA/fictional_multihop" --limit "$FM" \
  --methods direct,cot,react,gram --out "$OUT/fictional_multihop" "${MODEL_ARGS[@]}"
# Width 3 beside width 1 (same items, same folder: paired).
gram eval --dataset fictional_multihop --data "$DATA/fictional_multihop" --limit "$SW" \
  --methods "gram[width=3]" --out "$OUT/fictional_multihop" "${MODEL_ARGS[@]}"
# Held-out question shapes over the same world (none of the six development templates).
python benchmarks/fictional_shapes.py --corpus "$DATA/fictional_multihop/corpus.jsonl" \
  --per-shape "$SHAPES" --seed 1 --out "$OUT/fictional_shapes.questions.jsonl"
gram eval --questions "$OUT/fictional_shapes.questions.jsonl" \
  --corpus "$DATA/fictional_multihop/corpus.jsonl" --methods direct,cot,react,gram \
  --out "$OUT/fictional_shapes" "${MODEL_ARGS[@]}"
# HotpotQA distractor (each question searches its own ten paragraphs).
gram eval --dataset hotpotqa --data "$DATA/hotpotqa" --limit "$HP" \
  --methods direct,cot,react,gram --out "$OUT/hotpotqa" "${MODEL_ARGS[@]}"
# Math, symbolic and puzzle sets.
gram eval --dataset gsm8k --data "$DATA/gsm8k" --limit "$GSM" --methods direct,cot,gram \
  --out "$OUT/gsm8k" "${MODEL_ARGS[@]}"
gram eval --dataset last_letters --data "$DATA/last_letters" --types L4,L8,L12 \
  --per-type "$LL" --methods direct,cot,gram --out "$OUT/last_letters" "${MODEL_ARGS[@]}"
gram eval --dataset game24 --data "$DATA/game24" --limit "$G24" --methods direct,cot,gram \
  --out "$OUT/game24" "${MODEL_ARGS[@]}"
if [[ "${LIMIT_SCALE:-session}" == full ]]; then  # every method on every set
  for spec in fictional_multihop:150 hotpotqa:100 gsm8k:100 game24:30; do
    gram eval --dataset "${spec%%:*}" --data "$DATA/${spec%%:*}" --limit "${spec##*:}" \
      --methods "$ALL" --out "$OUT/${spec%%:*}" "${MODEL_ARGS[@]}"
  done
  gram eval --dataset last_letters --data "$DATA/last_letters" --types L4,L8,L12 \
    --per-type 30 --methods "$ALL" --out "$OUT/last_letters" "${MODEL_ARGS[@]}"
  gram eval --dataset fictional_multihop --data "$DATA/fictional_multihop" --limit 50 \
    --methods "" --sweep max_depth=1,2,3 width=1,3 --out "$OUT/fictional_sweep" "${MODEL_ARGS[@]}"
fi
