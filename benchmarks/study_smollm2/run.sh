#!/bin/bash
# The study of docs/concepts.md on a pretrained chat model, SmolLM2-135M-Instruct (`smollm2-135m`).
#
#   benchmarks/study_smollm2/run.sh              # all three envs, sized for one H100/H200 + 16 cores
#   benchmarks/study_smollm2/run.sh --cpu-small  # ALFWorld only, fewer states: about 36 min on 2 cores
#
# Run from the repository root (uses .venv/bin/python when `make venv` built it, else $PYTHON or python). Each stage resumes (benchmarks/study.py
# skips what exists), so a killed run is re-run with the same command. STUDY sets the work folder;
# results are copied to benchmarks/results/study_smollm2/ and the five findings are tested with
# paired CIs (benchmarks/study_summary.py).
set -euo pipefail
MODE=full
[ "${1:-}" = "--cpu-small" ] && MODE=cpu-small
STUDY=${STUDY:-/tmp/study_smollm2}
export ALFWORLD_DATA=${ALFWORLD_DATA:-../shared/data/alfworld} TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
mkdir -p "$STUDY"
# The project's venv when there is one (`make venv`), else the active python.
PY=${PYTHON:-python}
[ -z "${PYTHON:-}" ] && [ -x .venv/bin/python ] && PY=.venv/bin/python
ALF=(--env CoTDiag-ALFWorld-v0 --train-split train_id --eval-splits eval_id_task_types,eval_ood_task_types)
COMMON=(--model smollm2-135m --response-format cot --history-window 2)

if [ "$MODE" = cpu-small ]; then
  # Two SFT arms side by side, one core each. 160 expert episodes of train_id; 24 optimizer steps of
  # 4 examples (lr 2e-4, about 380 tokens each; 96 of the 2,332 training states), checkpoints 12 and
  # 24; 16 offline states, 10 conflicting states (swapped traces, fractions 0 and 1), 4 attribution
  # examples and 2 online episodes per mode (8 steps) per checkpoint and split. Measured on 2 cores:
  # one SFT step took about 40 s per arm in float32, 18 s in bfloat16 autocast (train sft's CPU default;
  # 2026-12-07: data 10 min, SFT 7.5 min, diagnostics 18 min).
  export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
  SIZE=(--train-episodes 160 --heldout-episodes 16 --max-steps 24 --batch-size 4 --lr 2e-4 --save-steps 12
        --no-gradient-checkpointing --max-length 640 --states 16 --conflict-states 10 --fractions 0,1
        --sources swap --attribution-examples 4 --online-episodes 2 --online-max-steps 8 --max-new-tokens 64
        --batch-size-generate 8 --device cpu)
  $PY benchmarks/study.py "${ALF[@]}" "${COMMON[@]}" "${SIZE[@]}" --stage data --out "$STUDY/alfworld"
  $PY benchmarks/study.py "${ALF[@]}" "${COMMON[@]}" "${SIZE[@]}" --mask-ratios 0 --out "$STUDY/alfworld" &
  $PY benchmarks/study.py "${ALF[@]}" "${COMMON[@]}" "${SIZE[@]}" --mask-ratios 0.3 --out "$STUDY/alfworld" &
  wait
  ENVS="alfworld:$STUDY/alfworld"
else
  # One GPU: bf16 (automatic on CUDA), batched generation. All 400 train_id games of the shipped train
  # subset, 3 epochs (lr 1e-5 as the paper's SFT, here x10 for the small model), >= 200 held-out
  # states per split, online episodes on tasks outside the training data.
  SIZE=(--epochs 3 --batch-size 16 --lr 1e-4 --save-steps 100 --max-length 1024 --states 200
        --conflict-states 60 --attribution-examples 40 --online-episodes 20 --max-new-tokens 96
        --batch-size-generate 64 --device cuda)
  $PY benchmarks/study.py "${ALF[@]}" "${COMMON[@]}" "${SIZE[@]}" --train-episodes 400 --heldout-episodes 40 \
    --online-max-steps 30 --out "$STUDY/alfworld"
  $PY benchmarks/study.py --env CoTDiag-BFCL-v0 --train-split in_domain --eval-splits in_domain,ood_long_context \
    "${COMMON[@]}" "${SIZE[@]}" --train-episodes 600 --heldout-episodes 300 --online-max-steps 20 --out "$STUDY/bfcl"
  $PY benchmarks/study.py --env CoTDiag-ScienceWorld-v0 --train-split train_id \
    --eval-splits test_id,test_ood_task_types "${COMMON[@]}" "${SIZE[@]}" --train-episodes 150 --heldout-episodes 30 \
    --online-max-steps 30 --out "$STUDY/sw"
  ENVS="alfworld:$STUDY/alfworld bfcl:$STUDY/bfcl scienceworld:$STUDY/sw"
fi

# Collect ENV/RUN/SPLIT/{report.json, report.md, *.png, records/} and test the five findings.
DEST=benchmarks/results/study_smollm2/$MODE
for pair in $ENVS; do
  env=${pair%%:*} root=${pair#*:}
  for splitdir in "$root"/out/*/*; do
    run=$(basename "$(dirname "$splitdir")") d="$DEST/$env/$run/$(basename "$splitdir")"
    mkdir -p "$d/records"
    cp "$splitdir"/report.json "$splitdir"/report.md "$d/"
    sed -i "s#${STUDY}#\$STUDY#g" "$d/report.json" "$d/report.md"  # reports name no path outside the repo
    cp "$splitdir"/*.png "$d/" 2>/dev/null || true
    cp "$splitdir"/records/*.json "$d/records/"
    cp "$root/$run/"{train_log,action_mask}.json "$DEST/$env/$run/"
    sed -i "s#${STUDY}#\$STUDY#g" "$DEST/$env/$run/train_log.json"
  done
done
$PY benchmarks/study_summary.py "$DEST" --splits alfworld=eval_id_task_types,eval_ood_task_types
$PY benchmarks/study_tables.py "$DEST" > /dev/null
