#!/bin/bash
# Reproduce benchmarks/results/study_small (CPU only; about 2 hours on 2 shared cores, one
# process per core). Run from the repository root with the venv active (`make test` builds it).
set -euo pipefail
STUDY=${STUDY:-/tmp/study}
export ALFWORLD_DATA=${ALFWORLD_DATA:-../shared/data/alfworld} TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
mkdir -p "$STUDY"

# ALFWorld: the two SFT runs of `cotdiag demo` (tiny Qwen2, 30 expert episodes of `train`, mixed
# response format, k = 0 and k = 0.3), checkpoints 50, 100, 150 and 200 of each.
cotdiag demo --out "$STUDY/demo"
for run in sft_k0 sft_k0.3; do
  mkdir -p "$STUDY/alfworld/$run"
  for c in 50 100 150 200; do cp -r "$STUDY/demo/$run/checkpoint-$c" "$STUDY/alfworld/$run/"; done
  cp "$STUDY/demo/$run/"{train_log,action_mask}.json "$STUDY/alfworld/$run/"
done
# Held-out expert states: 4 expert episodes per split, rendered like the training data (the demo's
# window protocol: one prompt per state, the last 3 steps; diagnose refuses data of another protocol).
for split in valid_seen valid_unseen; do
  cotdiag build-data --env CoTDiag-ALFWorld-v0 --split "$split" --episodes 4 --seed 0 --history window \
    --history_window 3 --out "$STUDY/alfworld/data_$split"
done
for split in valid_unseen valid_seen; do for run in sft_k0 sft_k0.3; do
  cotdiag diagnose --checkpoints "$STUDY/alfworld/$run" --env CoTDiag-ALFWorld-v0 --split "$split" \
    --data "$STUDY/alfworld/data_$split" --out "$STUDY/alfworld/out/$run/$split" --offline_states 40 --conflict_states 20 \
    --attribution_examples 10 --online_episodes 8 --online_max_steps 30 --max_new_tokens 96 --device cpu --seed 0
done; done

# BFCL and ScienceWorld: data, tiny model, two SFT runs and the diagnostics (benchmarks/study.py).
python benchmarks/study.py --response-format mixed --lr 2e-3 --history-window 3 --env CoTDiag-BFCL-v0 --train-split in_domain \
  --eval-splits in_domain,ood_long_context --train-episodes 300 --heldout-episodes 40 --epochs 2 --save-steps 60 \
  --max-length 768 --states 40 --conflict-states 20 --attribution-examples 10 --online-episodes 8 \
  --online-max-steps 20 --out "$STUDY/bfcl"
python benchmarks/study.py --response-format mixed --lr 2e-3 --history-window 3 --env CoTDiag-ScienceWorld-v0 --train-split train_id \
  --eval-splits test_id,test_ood_task_types --train-episodes 60 --heldout-episodes 12 --epochs 1 --save-steps 100 \
  --max-length 768 --states 30 --conflict-states 16 --attribution-examples 8 --online-episodes 4 \
  --online-max-steps 25 --out "$STUDY/sw"

# Collect ENV/RUN/SPLIT/{report.json, report.md, *.png, records/} and test the five findings.
DEST=benchmarks/results/study_small
for pair in "alfworld:$STUDY/alfworld" "bfcl:$STUDY/bfcl" "scienceworld:$STUDY/sw"; do
  env=${pair%%:*} root=${pair#*:}
  for splitdir in "$root"/out/*/*; do
    run=$(basename "$(dirname "$splitdir")") d="$DEST/$env/$run/$(basename "$splitdir")"
    mkdir -p "$d/records"
    cp "$splitdir"/report.json "$splitdir"/report.md "$splitdir"/*.png "$d/"
    cp "$splitdir"/records/*.json "$d/records/"
    cp "$root/$run/"{train_log,action_mask}.json "$DEST/$env/$run/"
  done
done
python benchmarks/study_summary.py "$DEST"
