#!/bin/bash
# Reproduce benchmarks/results/study_small (CPU, about 30 minutes on 2 shared cores).
# Inputs: the SFT runs of `cotdiag demo --out DEMO` (tiny Qwen2, 2.0M parameters, trained on 30
# expert episodes of ALFWorld train, history window 3, response format cot; k = 0 and k = 0.3),
# checkpoints 50, 100 and 200 of each copied to $STUDY/sft_k0 and $STUDY/sft_k0.3.
set -euo pipefail
STUDY=${STUDY:-/tmp/study}
export ALFWORLD_DATA=${ALFWORLD_DATA:-/work/shared/data/alfworld} TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
# Held-out expert states: 4 expert episodes per split, rendered exactly like the training data.
for split in valid_seen valid_unseen; do
  python - "$split" <<'PY'
import sys
from cotdiag.baselines.data import DataConfig, build_dataset, save_dataset, data_config_dict
cfg, split = DataConfig(history_window=3), sys.argv[1]
ds = build_dataset("CoTDiag-ALFWorld-v0", split, episodes=4, config=cfg, seed=0)
save_dataset(ds, f"{__import__('os').environ['STUDY']}/data_{split}",
             {"env": "CoTDiag-ALFWorld-v0", "split": split, "config": data_config_dict(cfg)})
PY
done
for run in sft_k0 sft_k0.3; do
  for split in valid_seen valid_unseen; do
    cotdiag diagnose --checkpoints "$STUDY/$run" --env CoTDiag-ALFWorld-v0 --split "$split" \
      --data "$STUDY/data_$split" --out "$STUDY/out/$run/$split" --states 30 --conflict-states 20 \
      --attribution-examples 10 --max-new-tokens 96 --device cpu --seed 0
  done
done
